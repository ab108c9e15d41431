#!/usr/bin/env python3
"""`metatoken invoke` against a fake Invoke API (tests/support/fake_invoke_api.py):
the request it sends, and its output and exit status for each kind of answer.
The one-shot form runs against the fake as its "metatokend" (METATOKEN_DAEMON):
the configuration it writes, the log it passes on, and that nothing outlives it.

usage: test_cli_invoke.py PATH/TO/metatoken
"""
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
import fake_invoke_api  # noqa: E402

CLI = None
FAKE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support",
                    "fake_invoke_api.py")
BOUND_S = 20  # no run takes this long unless it hangs


def run(args, stdin=subprocess.DEVNULL, env=None, input=None):
    e = dict(os.environ)
    e.pop("METATOKEN_SERVER", None)
    e.update(env or {})
    p = subprocess.run([CLI, "invoke"] + args, stdin=None if input is not None else stdin,
                       input=input, capture_output=True, env=e, timeout=BOUND_S)
    return p.returncode, p.stdout, p.stderr.decode(errors="replace")


def gone(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


class Remote(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = fake_invoke_api.serve()
        cls.ep = ["--endpoint", cls.srv.address]

    @classmethod
    def tearDownClass(cls):
        fake_invoke_api.stop(cls.srv)

    def setUp(self):
        self.srv.requests.clear()

    def last(self):
        self.assertEqual(len(self.srv.requests), 1)
        return self.srv.requests[0]

    def test_event_argument_is_the_body_and_the_result_is_stdout(self):
        rc, out, err = run(self.ep + ["echo", '{"a": 1}'])
        self.assertEqual((rc, out, err), (0, b'{"a": 1}', ""))
        r = self.last()
        self.assertEqual(r["path"], "/2015-03-31/functions/echo/invocations")
        self.assertEqual(r["headers"]["X-Amz-Invocation-Type"], "RequestResponse")
        self.assertNotIn("X-Amz-Client-Context", r["headers"])
        self.assertEqual(r["body"], b'{"a": 1}')

    def test_event_from_a_file_passes_its_bytes_as_they_are(self):
        with tempfile.NamedTemporaryFile() as f:
            f.write(b"not json \x00\xff\n")
            f.flush()
            rc, out, _ = run(self.ep + ["--event", f.name, "echo"])
        self.assertEqual((rc, out), (0, b"not json \x00\xff\n"))
        self.assertEqual(self.last()["body"], b"not json \x00\xff\n")

    def test_event_from_stdin(self):
        rc, out, _ = run(self.ep + ["echo"], input=b'{"from":"pipe"}')
        self.assertEqual((rc, out), (0, b'{"from":"pipe"}'))
        self.srv.requests.clear()
        rc, out, _ = run(self.ep + ["--event", "-", "echo"], input=b"[1,2]")
        self.assertEqual((rc, out), (0, b"[1,2]"))

    def test_no_event_is_an_empty_object(self):
        rc, out, _ = run(self.ep + ["echo"])
        self.assertEqual((rc, out), (0, b"{}"))
        self.assertEqual(self.last()["body"], b"{}")

    def test_client_context_is_base64_json(self):
        ctx = '{"custom":{"k":"v"},"client":{"app_title":"t"}}'
        rc, _, _ = run(self.ep + ["--client-context", ctx, "echo"])
        self.assertEqual(rc, 0)
        h = self.last()["headers"]["X-Amz-Client-Context"]
        self.assertEqual(base64.b64decode(h, validate=True).decode(), ctx)

    def test_client_context_must_be_json(self):
        rc, _, err = run(self.ep + ["--client-context", "{nope", "echo"])
        self.assertEqual(rc, 2)
        self.assertIn("--client-context", err)
        self.assertEqual(self.srv.requests, [])

    def test_async_and_dry_run(self):
        rc, out, _ = run(self.ep + ["--async", "echo"])
        self.assertEqual((rc, out), (0, b""))
        self.assertEqual(self.last()["headers"]["X-Amz-Invocation-Type"], "Event")
        self.srv.requests.clear()
        rc, out, _ = run(self.ep + ["--dry-run", "echo"])
        self.assertEqual((rc, out), (0, b""))
        self.assertEqual(self.last()["headers"]["X-Amz-Invocation-Type"], "DryRun")

    def test_function_error_is_exit_1_with_the_document_on_stderr(self):
        rc, out, err = run(self.ep + ["fails"])
        self.assertEqual((rc, out), (1, b""))
        self.assertEqual(json.loads(err), fake_invoke_api.ERROR_DOC)

    def test_timeout_is_exit_3(self):
        rc, out, err = run(self.ep + ["slow"])
        self.assertEqual((rc, out), (3, b""))
        self.assertEqual(json.loads(err)["errorType"], "Sandbox.Timedout")

    def test_api_errors_are_exit_4_with_type_and_message(self):
        rc, _, err = run(self.ep + ["missing"])
        self.assertEqual(rc, 4)
        self.assertIn("HTTP 404 ResourceNotFoundException: Function not found: missing", err)
        rc, _, err = run(self.ep + ["busy"])
        self.assertEqual(rc, 4)
        self.assertIn("HTTP 429 TooManyRequestsException: Rate Exceeded.", err)

    def test_endpoint_must_be_host_port(self):
        self.srv.requests.clear()
        rc, _, err = run(["--endpoint", self.srv.address + "/x", "echo"])
        self.assertEqual(rc, 2)  # not HOST:PORT

    def test_connection_refused_names_the_address_and_is_exit_5(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        addr = "127.0.0.1:%d" % s.getsockname()[1]
        s.close()
        rc, _, err = run(["--endpoint", addr, "echo"])
        self.assertEqual(rc, 5)
        self.assertIn("cannot connect to " + addr, err)

    def test_endpoint_from_the_environment_and_the_banner_spelling(self):
        rc, out, _ = run(["echo", "1"], env={"METATOKEN_SERVER": self.srv.address})
        self.assertEqual((rc, out), (0, b"1"))
        rc, out, _ = run(["--endpoint", "http://%s/" % self.srv.address, "echo", "2"])
        self.assertEqual((rc, out), (0, b"2"))

    def test_the_name_is_escaped_into_the_path(self):
        rc, _, _ = run(self.ep + ["a b"])
        self.assertEqual(rc, 0)
        self.assertEqual(self.last()["path"], "/2015-03-31/functions/a%20b/invocations")

    def test_no_answer_within_timeout_is_exit_5(self):
        rc, _, err = run(self.ep + ["--timeout", "0.2", "hang"])
        self.assertEqual(rc, 5)
        self.assertIn("no answer from " + self.srv.address, err)

    def test_bad_command_lines_are_exit_2(self):
        for args in ([], ["--event", "x", "echo", "{}"], ["--memory", "256", "echo"],
                     ["--handler", "a.so:f", "--async"], ["--timeout", "0", "echo"],
                     ["--timeout", "x", "echo"], ["echo", "{}", "extra"],
                     ["--service-account", "a", "--no-token", "--handler", "a.so:f"],
                     ["--handler", "nocolon.so"], ["--env", "NOEQUALS", "--handler", "a.so:f"],
                     ["index.handler"], ["--python", "/usr/bin/python3", "echo"]):
            rc, _, err = run(self.ep + args)
            self.assertEqual(rc, 2, args)
            self.assertIn("metatoken invoke", err)
        self.assertEqual(self.srv.requests, [])


class HandlerCommandLine(unittest.TestCase):
    """What a handler may be, and the options that go with each kind."""

    def test_bad_handlers_and_options_are_exit_2_before_any_server(self):
        env = {"METATOKEN_DAEMON": "/nonexistent/metatokend"}
        for args, says in (
                (["index.py"], 'not a file: "index.py"'),
                (["--handler", "index"], 'expected module.function (Python) or LIB.so'),
                (["index.1x"], 'not a handler'),
                (["index.handler."], 'not a handler'),
                (["fn.so:"], 'expected LIB.so or LIB.so:SYMBOL, got "fn.so:"'),
                (["--handler", ":h"], 'expected LIB.so or LIB.so:SYMBOL'),
                (["fn.so:h", "--python", "/usr/bin/python3"],
                 '--python is for a Python handler (MODULE.FUNCTION), not "fn.so:h"'),
                (["index.handler", "--python", ""], "--python: the interpreter's path is empty"),
                (["index.handler", "--endpoint", "127.0.0.1:1"], "does not go with"),
                (["echo", "--python", "python3"], "this option is for a handler")):
            rc, _, err = run(args, env=env)
            self.assertEqual(rc, 2, (args, err))
            self.assertIn(says, err, args)
            self.assertNotIn("cannot run", err)

    def test_help_names_both_kinds(self):
        rc, out, _ = run(["--help"])
        self.assertEqual(rc, 0)
        text = out.decode()
        for needle in ("MODULE.FUNCTION", "LIB.so[:SYMBOL]", "--python PATH",
                       "index.handler is the function handler in"):
            self.assertIn(needle, text)
        self.assertEqual([l for l in text.splitlines() if len(l) > 79], [])


class OneShot(unittest.TestCase):
    """The --handler form, with the fake standing in for metatokend."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="invoke-test-")
        self.scratch = os.path.join(self.tmp, "tmp")
        os.mkdir(self.scratch)
        self.record = os.path.join(self.tmp, "record.json")
        self.env = {"METATOKEN_DAEMON": FAKE, "FAKE_DAEMON_RECORD": self.record,
                    "TMPDIR": self.scratch}

    def tearDown(self):
        subprocess.run(["rm", "-rf", self.tmp])

    def recorded(self):
        with open(self.record) as f:
            return json.load(f)

    def assert_clean(self):
        self.assertEqual(os.listdir(self.scratch), [], "the private folder is left")
        self.assertTrue(gone(self.recorded()["pid"]), "the daemon outlived the CLI")

    def test_config_and_log(self):
        rc, out, err = run(["--handler", "lib/fn.so:handle", "--timeout", "0.5",
                            "--memory", "256", "--env", "A=1", "--env", "B=x=y",
                            "--no-token", '{"x":1}'], env=self.env)
        self.assertEqual((rc, out), (0, b'{"x":1}'), err)
        rec = self.recorded()
        self.assertEqual(rec["argv"][:3], ["--listen", "127.0.0.1:0", "--config"])
        self.assertIn("--no-control", rec["argv"])
        self.assertEqual((rec["config_mode"], rec["dir_mode"]), (0o600, 0o700))
        self.assertEqual(rec["config"], {"functions": [{
            "name": "function", "handler": os.getcwd() + "/lib/fn.so:handle",
            "runtime": "c", "code_dir": os.path.realpath("."), "timeout_s": 0.5,
            "memory_mb": 256, "service_account": None,
            "environment": {"A": "1", "B": "x=y"}}]})
        self.assertIn("REPORT RequestId: 1", err)
        self.assertIn("START RequestId: 1", err)
        self.assertNotIn("POST /2015-03-31", err)  # the request log is --verbose's
        self.assert_clean()

    def test_a_python_handler_as_the_argument(self):
        code = os.path.join(self.tmp, "code")
        os.mkdir(code)
        rc, out, err = run(["pkg/mod.handle", "--code-dir", code, "--python", "bin/py", "[1]"],
                           env=self.env)
        self.assertEqual((rc, out), (0, b"[1]"), err)
        # The module name stays a name (found in the code directory); the
        # interpreter's path is taken from where the user is.
        self.assertEqual(self.recorded()["config"], {"functions": [{
            "name": "function", "handler": "pkg/mod.handle", "runtime": "python",
            "code_dir": os.path.realpath(code), "python": os.getcwd() + "/bin/py"}]})
        self.assert_clean()
        rc, _, err = run(["--handler", "index.handler", "--python", "python3.11"],
                         env=self.env)
        self.assertEqual(rc, 0, err)
        fn = self.recorded()["config"]["functions"][0]
        self.assertEqual((fn["runtime"], fn["python"]), ("python", "python3.11"))

    def test_which_handler_is_c_and_which_python(self):
        for handler, runtime in (("index.handler", "python"), ("a.b.c", "python"),
                                 ("./libfn.so", "c"), ("libfn.so.1", "c"),
                                 ("dir.d/fn.so:h", "c"), ("fn.x:sym", "c")):
            rc, _, err = run([handler], env=self.env)
            self.assertEqual(rc, 0, (handler, err))
            self.assertEqual(self.recorded()["config"]["functions"][0]["runtime"], runtime,
                             handler)

    def test_a_handlers_event_must_be_json_and_no_server_starts(self):
        path = os.path.join(self.tmp, "event.json")
        with open(path, "w") as f:
            f.write('{"a": 1,\n "b": nope}')
        rc, out, err = run(["index.handler", "--event", path], env=self.env)
        self.assertEqual((rc, out), (2, b""))
        self.assertIn("--event %s: not JSON (line 2, column 7)" % path, err)
        rc, _, err = run(["--handler", "f.so:h", "{'a': 1}"], env=self.env)
        self.assertEqual(rc, 2)
        self.assertIn("the EVENT argument: not JSON (line 1, column ", err)
        rc, _, err = run(["index.handler", "--event", "-"], env=self.env, input=b"{} {}")
        self.assertEqual(rc, 2)
        self.assertIn("the event from stdin: not JSON (line 1, column 4)", err)
        rc, _, err = run(["index.handler", "--event", "-"], env=self.env, input=b"{}\0")
        self.assertEqual(rc, 2)
        self.assertFalse(os.path.exists(self.record), "a daemon was started")
        self.assertEqual(os.listdir(self.scratch), [])
        rc, out, err = run(["index.handler", "--event", "-"], env=self.env, input=b"")
        self.assertEqual((rc, out), (0, b"{}"), err)  # no event at all is {}

    def test_verbose_shows_the_request_log_and_defaults_are_left_out(self):
        code = os.path.join(self.tmp, "code")
        os.mkdir(code)
        rc, _, err = run(["--handler", "/abs/fn.so:h", "--code-dir", code, "--verbose",
                          "--service-account", "ci"], env=self.env)
        self.assertEqual(rc, 0, err)
        self.assertIn("POST /2015-03-31/functions/function/invocations 200 41us", err)
        fn = self.recorded()["config"]["functions"][0]
        self.assertEqual(fn, {"name": "function", "handler": "/abs/fn.so:h", "runtime": "c",
                              "code_dir": os.path.realpath(code), "service_account": "ci"})
        self.assert_clean()

    def test_function_error_and_timeout_exit_codes(self):
        rc, _, err = run(["--handler", "f.so:h", '"fail"'], env=self.env)
        self.assertEqual(rc, 1)
        self.assertIn('"errorType": "TestError"', err)
        rc, _, err = run(["--handler", "f.so:h", '"timeout"'], env=self.env)
        self.assertEqual(rc, 3)
        self.assert_clean()

    def test_a_daemon_that_dies_at_start(self):
        rc, _, err = run(["--handler", "f.so:h"], env=dict(self.env, FAKE_DAEMON_MODE="die"))
        self.assertEqual(rc, 5)
        self.assertIn("functions[0].memory_mb: bad (fake)", err)
        self.assertIn("exited before it was ready", err)
        self.assert_clean()

    def test_a_daemon_that_says_something_else_is_stopped(self):
        rc, _, err = run(["--handler", "f.so:h"],
                         env=dict(self.env, FAKE_DAEMON_MODE="garbage"))
        self.assertEqual(rc, 5)
        self.assertIn("unexpected first line: hello, I am not metatokend", err)
        self.assert_clean()

    def test_no_daemon_binary(self):
        rc, _, err = run(["--handler", "f.so:h"],
                         env=dict(self.env, METATOKEN_DAEMON=self.tmp + "/none"))
        self.assertEqual(rc, 5)
        self.assertIn("cannot run " + self.tmp + "/none", err)
        self.assertEqual(os.listdir(self.scratch), [])

    def start_hanging(self):
        e = dict(os.environ, **self.env)
        p = subprocess.Popen([CLI, "invoke", "--handler", "f.so:h", '"hang"'], env=e,
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        deadline = time.monotonic() + BOUND_S
        for line in p.stderr:  # bounded wait: the function has started
            if b"START" in line or time.monotonic() > deadline:
                break
        return p

    def test_a_signal_stops_the_daemon_and_cleans_up(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            p = self.start_hanging()
            p.send_signal(sig)
            self.assertEqual(p.wait(BOUND_S), 128 + sig)
            p.stdout.close()
            p.stderr.close()
            self.assert_clean()

    def test_a_killed_cli_takes_the_daemon_with_it(self):
        p = self.start_hanging()
        p.kill()
        p.wait(BOUND_S)
        p.stdout.close()
        p.stderr.close()
        pid, deadline = self.recorded()["pid"], time.monotonic() + BOUND_S
        while not gone(pid) and time.monotonic() < deadline:
            time.sleep(0.01)  # bounded wait for PR_SET_PDEATHSIG's SIGTERM
        self.assertTrue(gone(pid))


if __name__ == "__main__":
    CLI = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
