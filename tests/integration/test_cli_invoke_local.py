#!/usr/bin/env python3
"""`metatoken invoke` with a handler, end to end: the real metatokend, with
the real metatoken-bootstrap and a C handler (invoke_fn.c), and the real
metatoken-python-runtime and Python handlers under Debian's /usr/bin/python3,
with nothing left behind.

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
import zipfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from metatokend import processes_with  # noqa: E402

CLI = DAEMON = HANDLER = None
BOUND_S = 30  # no run takes this long unless it hangs
PY = "/usr/bin/python3"

# A user's function: it calls a cloud API (metatokend's /protected/ stands
# in for one) with the token its context carries.
INDEX_PY = r'''
import json, os, sys, threading, urllib.request


def handler(event, context):
    print("handling", json.dumps(event))
    req = urllib.request.Request(
        "http://%s/protected/fn" % os.environ["YC_METADATA_ADDR"],
        headers={"Authorization": "Bearer " + context.token["access_token"]})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(req, timeout=10) as resp:
        api = resp.status
    return {"event": event, "api": api, "python": sys.executable, "cwd": os.getcwd(),
            "function_name": context.function_name, "stage": os.environ.get("STAGE")}


def fails(event, context):
    raise KeyError("no such key: %s" % event.get("key"))


def sleeps(event, context):
    print("sleeping", flush=True)
    threading.Event().wait()
'''

BROKEN_PY = "def handler(event, context):\n    return 1\n  x = 2\n"


def error_document(err):
    """The error document among the log lines on stderr."""
    docs = [json.loads(l) for l in err.splitlines() if l.startswith('{"errorMessage"')]
    assert len(docs) == 1, err
    return docs[0]


class Scratch(unittest.TestCase):
    """A code directory and a TMPDIR of the test's own, and the check that
    nothing is left in or running from them."""

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

    def assert_clean(self):
        self.assertEqual(os.listdir(self.scratch), [], "the private folder is left")
        self.assertEqual(processes_with(self.code) + processes_with(self.scratch), [],
                         "a process outlived the CLI")


class OneShot(Scratch):
    """`metatoken invoke --handler LIB.so:SYMBOL`: the C runtime, run once."""

    def args(self, *more, symbol="invoke_fn_handle"):
        handler = "%s:%s" % (HANDLER, symbol) if symbol else HANDLER
        return [CLI, "invoke", "--handler", handler, "--code-dir", self.code] + list(more)

    def run_cli(self, *more, **kw):
        p = subprocess.run(self.args(*more, **kw), env=self.env, stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=BOUND_S)
        return p.returncode, p.stdout, p.stderr.decode(errors="replace")

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


@unittest.skipUnless(os.access(PY, os.X_OK), "no Debian python3")
class PythonOneShot(Scratch):
    """`metatoken invoke MODULE.FUNCTION`: the Python runtime, run once."""

    def setUp(self):
        Scratch.setUp(self)
        with open(os.path.join(self.code, "index.py"), "w") as f:
            f.write(INDEX_PY)
        with open(os.path.join(self.code, "broken.py"), "w") as f:
            f.write(BROKEN_PY)
        os.makedirs(os.path.join(self.code, "pkg", "sub"))
        for init in ("pkg", "pkg/sub"):
            open(os.path.join(self.code, init, "__init__.py"), "w").close()
        with open(os.path.join(self.code, "pkg", "sub", "mod.py"), "w") as f:
            f.write("def fn(event, context):\n    return ['pkg', event]\n")

    def py(self, *args, cwd=None, python=PY, env=None, input=None):
        cmd = [CLI, "invoke"] + (["--python", python] if python else []) + list(args)
        p = subprocess.run(cmd, env=env or self.env, cwd=cwd or self.code, input=input,
                           stdin=None if input is not None else subprocess.DEVNULL,
                           capture_output=True, timeout=BOUND_S)
        return p.returncode, p.stdout, p.stderr.decode(errors="replace")

    def test_in_the_code_directory_with_an_event_file(self):
        with open(os.path.join(self.code, "event.json"), "w") as f:
            f.write('{"name": "world"}\n')
        rc, out, err = self.py("index.handler", "--event", "event.json", "--env", "STAGE=dev")
        self.assertEqual(rc, 0, err)
        doc = json.loads(out)
        self.assertEqual(doc["event"], {"name": "world"})
        self.assertEqual(doc["api"], 200)  # the context's token is a live one
        self.assertEqual((doc["python"], doc["cwd"]), (PY, os.path.realpath(self.code)))
        self.assertEqual((doc["function_name"], doc["stage"]), ("function", "dev"))
        self.assertIn('handling {"name": "world"}', err)
        self.assertRegex(err, r"REPORT RequestId: \S+\tDuration: ")
        self.assert_clean()

    def test_with_a_code_dir_and_a_package(self):
        rc, out, err = self.py("pkg.sub.mod.fn", "--code-dir", self.code, "[1]", cwd=self.tmp)
        self.assertEqual((rc, json.loads(out)), (0, ["pkg", [1]]), err)
        rc, out, err = self.py("--handler", "pkg/sub/mod.fn", "--code-dir", self.code,
                               cwd=self.tmp)
        self.assertEqual((rc, json.loads(out)), (0, ["pkg", {}]), err)
        self.assert_clean()

    def test_a_zip_of_modules_in_the_code_directory(self):
        # The runtime's own finder for the code directory leaves a .zip
        # on sys.path to zipimport.
        with zipfile.ZipFile(os.path.join(self.code, "deps.zip"), "w") as z:
            z.writestr("zipped.py", "def fn(event, context):\n    return 'from the zip'\n")
        with open(os.path.join(self.code, "usezip.py"), "w") as f:
            f.write("import os, sys\n"
                    "sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'deps.zip'))\n"
                    "from zipped import fn\n")
        rc, out, err = self.py("usezip.fn")
        self.assertEqual((rc, json.loads(out)), (0, "from the zip"), err)

    def test_the_interpreter_defaults_to_python3_from_the_path(self):
        bin_dir = os.path.join(self.tmp, "bin")
        os.mkdir(bin_dir)
        os.symlink(PY, os.path.join(bin_dir, "python3"))
        env = dict(self.env, PATH=bin_dir + ":" + os.environ.get("PATH", "/usr/bin:/bin"))
        rc, out, err = self.py("index.handler", python=None, env=env)
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out)["python"], os.path.join(bin_dir, "python3"))

    def test_python_relative_to_the_current_directory(self):
        os.symlink(PY, os.path.join(self.tmp, "py"))
        rc, out, err = self.py("index.handler", "--code-dir", "code", python="./py",
                               cwd=self.tmp)
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out)["python"], os.path.join(self.tmp, "py"))
        rc, out, err = self.py("index.handler", python=os.path.join(self.tmp, "nope"))
        self.assertEqual((rc, out), (1, b""), err)
        self.assertIn("cannot run %s/nope" % self.tmp, err)
        self.assertIn("Runtime.InvalidEntrypoint", err)
        self.assert_clean()

    def test_a_missing_module_or_function(self):
        rc, out, err = self.py("nothere.handler")
        self.assertEqual((rc, out), (1, b""), err)
        doc = error_document(err)
        self.assertEqual(doc["errorType"], "Runtime.ImportModuleError")
        self.assertEqual(doc["errorMessage"],
                         "Unable to import module 'nothere': No module named 'nothere'")
        rc, out, err = self.py("index.nothere")
        self.assertEqual((rc, out), (1, b""), err)
        doc = error_document(err)
        self.assertEqual((doc["errorType"], doc["errorMessage"]),
                         ("Runtime.HandlerNotFound", "Handler 'nothere' missing on module 'index'"))
        self.assert_clean()

    def test_a_syntax_error_names_the_file_and_line(self):
        rc, out, err = self.py("broken.handler")
        self.assertEqual((rc, out), (1, b""), err)
        doc = error_document(err)
        self.assertEqual(doc["errorType"], "Runtime.UserCodeSyntaxError")
        self.assertIn("Syntax error in module 'broken'", doc["errorMessage"])
        self.assertIn("(broken.py, line 3)", doc["errorMessage"])
        self.assert_clean()

    def test_an_exception_is_exit_1_with_the_document(self):
        rc, out, err = self.py("index.fails", '{"key": "k1"}')
        self.assertEqual((rc, out), (1, b""), err)
        doc = error_document(err)
        self.assertEqual((doc["errorType"], doc["errorMessage"]), ("KeyError", "'no such key: k1'"))
        self.assertIn('index.py", line', doc["stackTrace"][-1])
        self.assert_clean()

    def test_an_event_that_is_not_json_starts_nothing(self):
        with open(os.path.join(self.code, "event.json"), "w") as f:
            f.write("name=world\n")
        env = dict(self.env, METATOKEN_DAEMON=os.path.join(self.tmp, "no-daemon"))
        rc, out, err = self.py("index.handler", "--event", "event.json", env=env)
        self.assertEqual((rc, out), (2, b""), err)
        self.assertIn("--event event.json: not JSON (line 1, column 1)", err)
        self.assertNotIn("no-daemon", err)

    def test_a_timeout_is_exit_3(self):
        rc, out, err = self.py("index.sleeps", "--timeout", "0.5")
        self.assertEqual((rc, out), (3, b""), err)
        self.assertIn("sleeping", err)  # it timed out in the handler, not before
        self.assertIn("Task timed out after 0.50 seconds", err)
        self.assert_clean()

    def test_sigint_mid_invocation_stops_everything(self):
        p = subprocess.Popen([CLI, "invoke", "--python", PY, "index.sleeps", "--timeout", "60"],
                             env=self.env, cwd=self.code, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + BOUND_S
        for line in p.stderr:  # bounded wait: the handler is running
            if b"sleeping" in line or time.monotonic() > deadline:
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
