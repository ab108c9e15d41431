#!/usr/bin/env python3
"""`metatoken invoke --handler` end to end: the real metatokend, the real
metatoken-bootstrap and a C handler (invoke_fn.c), with nothing left behind.

usage: test_cli_invoke_local.py PATH/TO/metatoken PATH/TO/metatokend [PATH/TO/invoke_fn.so]

"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

CLI = DAEMON = HANDLER = None
BOUND_S = 30  # no run takes this long unless it hangs


def processes_with(needle):
    """Pids whose command line or environment holds needle (ours are readable)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        for what in ("cmdline", "environ"):
            try:
                with open("/proc/%s/%s" % (pid, what), "rb") as f:
                    if needle.encode() in f.read():
                        with open("/proc/%s/stat" % pid) as s:
                            if s.read().split(")")[-1].split()[0] not in "ZX":
                                found.append(int(pid))
                        break
            except OSError:
                pass
    return found


class OneShot(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="invoke-local-")
        self.scratch = os.path.join(self.tmp, "tmp")
        self.code = os.path.join(self.tmp, "code")  # LAMBDA_TASK_ROOT marks our runtimes
        os.mkdir(self.scratch)
        os.mkdir(self.code)
        self.env = dict(os.environ, TMPDIR=self.scratch)
        self.env.pop("METATOKEN_DAEMON", None)  # found next to the CLI, in ../server/

    def tearDown(self):
        subprocess.run(["rm", "-rf", self.tmp])

    def args(self, *more, symbol="invoke_fn_handle"):
        handler = "%s:%s" % (HANDLER, symbol) if symbol else HANDLER
        return [CLI, "invoke", "--handler", handler, "--code-dir", self.code] + list(more)

    def run_cli(self, *more, **kw):
        p = subprocess.run(self.args(*more, **kw), env=self.env, stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=BOUND_S)
        return p.returncode, p.stdout, p.stderr.decode(errors="replace")

    def assert_clean(self):
        self.assertEqual(os.listdir(self.scratch), [], "the private folder is left")
        self.assertEqual(processes_with(self.code) + processes_with(self.scratch), [],
                         "a process outlived the CLI")

    def test_result_on_stdout_log_and_report_on_stderr(self):
        rc, out, err = self.run_cli("--env", "INVOKE_FN_VAR=hi", '{"x":1}')
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out), {"event": {"x": 1}, "var": "hi"})
        self.assertIn("invoke_fn: got 7 bytes", err)
        self.assertIn("REPORT", err)
        self.assertNotIn("GET /2018-06-01/runtime/invocation/next", err)
        self.assert_clean()

    def test_event_from_stdin(self):
        p = subprocess.run(self.args("--event", "-"), env=self.env, input=b'[1, 2]',
                           capture_output=True, timeout=BOUND_S)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout)["event"], [1, 2])

    def test_function_error_is_exit_1(self):
        rc, out, err = self.run_cli('"fail"')
        self.assertEqual((rc, out), (1, b""), err)
        self.assertIn("TestError", err)
        self.assertIn("asked to fail", err)
        self.assert_clean()

    def test_timeout_is_exit_3(self):
        t0 = time.monotonic()
        rc, out, err = self.run_cli("--timeout", "0.5", '"sleep"')
        self.assertEqual((rc, out), (3, b""), err)
        self.assertIn("Sandbox.Timedout", err)
        self.assertLess(time.monotonic() - t0, 15)
        self.assert_clean()

    def test_missing_symbol_is_an_error_naming_it(self):
        rc, out, err = self.run_cli(symbol="no_such_symbol")
        self.assertIn(rc, (1, 4), err)
        self.assertIn("no_such_symbol", err)
        self.assert_clean()

    def test_a_library_alone_means_its_symbol_handler(self):
        # invoke_fn.so has no `handler`: the error names the default symbol.
        rc, out, err = self.run_cli(symbol=None)
        self.assertEqual(rc, 1, err)
        self.assertIn("has no symbol handler", err)
        self.assert_clean()

    def test_sigint_mid_invocation_stops_everything(self):
        p = subprocess.Popen(self.args("--timeout", "60", '"sleep"'), env=self.env,
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
        deadline = time.monotonic() + BOUND_S
        for line in p.stderr:  # bounded wait: the handler is running
            if b"invoke_fn: sleeping" in line or time.monotonic() > deadline:
                break
        p.send_signal(signal.SIGINT)
        self.assertEqual(p.wait(BOUND_S), 130)
        p.stderr.close()
        self.assert_clean()


def main():
    global CLI, DAEMON, HANDLER
    CLI, DAEMON = os.path.abspath(sys.argv[1]), sys.argv[2]
    HANDLER = sys.argv[3] if len(sys.argv) > 3 else ""
    if not HANDLER:
        print("FAIL: invoke_fn.so was not built")
        sys.exit(1)
    del sys.argv[1:]
    unittest.main(verbosity=2)


if __name__ == "__main__":
    main()
