#!/usr/bin/python3
"""Python functions in the real metatokend, end to end (issue 12).

usage: test_python_functions.py PATH/TO/metatokend PATH/TO/metatoken

metatokend runs "runtime": "python" functions with metatoken-python-runtime,
which it finds in its build tree (../python/). The handlers run under
Debian's /usr/bin/python3, whose python3-google-auth and python3-requests
they use.

- User story 1: a function calls metatokend's /protected/ (standing in for
  a cloud API) with context.token["access_token"]; three invocations, with
  `metatoken admin expire default` between the second and the third: all
  succeed, the third with a new token, in the same warm process (so the
  function cached nothing: the context carried the new token).
- User story 2: the same with google-auth inside the function (it finds the
  metadata server through the environment metatokend gave it) and the
  server clock advanced 43201 s through the control API.
- Bad input: a missing module or function, a handler that is not callable,
  a result that is not JSON, a handler that exits or hangs past its
  timeout, an event or result over the size caps, an event that is not
  JSON: each gives the caller a clear error in the cloud's shape, and the
  next invocation works.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import metatokend  # noqa: E402

BOUND_S = metatokend.BOUND_S
SERVER = CLI = CODE = None
PY = "/usr/bin/python3"

INDEX_PY = r'''
import hashlib, json, logging, os, sys, threading, urllib.request

log = logging.getLogger("story")
NOT_CALLABLE = {"a": "dict"}


def fingerprint(token):
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def call_protected(token):
    """What a cloud API answers this token: (status, document)."""
    req = urllib.request.Request("http://%s/protected/story" % os.environ["YC_METADATA_ADDR"],
                                 headers={"Authorization": "Bearer " + token})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, {"error": e.read().decode()}


def story(event, context):
    print("calling the API, invocation", event["n"])
    status, doc = call_protected(context.token["access_token"])
    log.info("the API answered %s", status)
    return {"status": status, "account": doc.get("account"), "pid": os.getpid(),
            "token": fingerprint(context.token["access_token"]),
            "expires_in": context.token["expires_in"],
            "function_name": context.function_name, "memory": context.memory_limit_in_mb,
            "folder": context.function_folder_id}


def misc(event, context):
    what = event.get("do") if isinstance(event, dict) else None
    if what == "set":
        return {1, 2}
    if what == "sys.exit":
        sys.exit(3)
    if what == "os._exit":
        os._exit(5)
    if what == "hang":
        print("hanging")
        threading.Event().wait()
    if what == "big":
        return "x" * event["n"]
    if what == "print":
        print("line one of", event["n"])
        print("line two of", event["n"], file=sys.stderr)
        return event["n"]
    if what == "raise":
        raise LookupError("no such thing: %s" % event.get("key"))
    return {"pid": os.getpid(), "python": sys.executable, "event": event}
'''

GAUTH_PY = r'''
import hashlib, os
import google.auth
import google.auth.transport.requests
import index


def handler(event, context):
    credentials, project = google.auth.default()
    credentials.refresh(google.auth.transport.requests.Request())
    status, doc = index.call_protected(credentials.token)
    return {"status": status, "account": doc.get("account"), "pid": os.getpid(),
            "project": project, "token": index.fingerprint(credentials.token),
            "same_as_context": credentials.token == context.token["access_token"]}
'''


class Case(unittest.TestCase):
    def ok(self, name, event):
        status, headers, body = SERVER.invoke(name, event)
        self.assertEqual(status, 200, body)
        self.assertIsNone(headers.get("X-Amz-Function-Error"), body)
        return json.loads(body), headers["X-Amzn-RequestId"]

    def function_error(self, name, event, error_type):
        status, headers, body = SERVER.invoke(name, event)
        self.assertEqual(status, 200, body)
        self.assertEqual(headers.get("X-Amz-Function-Error"), "Unhandled", body)
        doc = json.loads(body)
        self.assertEqual(doc["errorType"], error_type, doc)
        self.assertIsInstance(doc["errorMessage"], str)
        return doc


class UserStories(Case):
    def test_1_a_token_expired_between_invocations_is_a_new_one_in_the_context(self):
        first, rid1 = self.ok("story", {"n": 1})
        second, rid2 = self.ok("story", {"n": 2})
        admin = subprocess.run([CLI, "admin", "expire", "default"], capture_output=True,
                               timeout=BOUND_S, env=dict(
                                   os.environ, METATOKEN_SERVER=SERVER.addr,
                                   METATOKEN_ADMIN_SECRET=SERVER.secret))
        self.assertEqual(admin.returncode, 0, admin.stderr)
        third, rid3 = self.ok("story", {"n": 3})
        for doc in (first, second, third):
            self.assertEqual(doc["status"], 200, doc)  # the API took the context's token
            self.assertEqual(doc["account"], "ajepytestdefault")
            self.assertGreater(doc["expires_in"], 0)
        self.assertEqual(first["token"], second["token"])
        self.assertNotEqual(third["token"], second["token"], "the expired token came again")
        # One warm process throughout: the new token came with the context.
        self.assertEqual(first["pid"], second["pid"])
        self.assertEqual(second["pid"], third["pid"])
        self.assertEqual((first["function_name"], first["memory"], first["folder"]),
                         ("story", 256, "b1gpytestfolder"))
        # Its print and logging lines reached the log with the request id,
        # before the invocation's END.
        for n, rid in enumerate((rid1, rid2, rid3), 1):
            lines = SERVER.wait_log("END RequestId: " + rid)
            mine = [i for i, l in enumerate(lines) if " story %s " % rid in l]
            self.assertEqual(len(mine), 2, lines)
            self.assertTrue(lines[mine[0]].endswith("calling the API, invocation %d" % n))
            self.assertTrue(lines[mine[1]].endswith("\t%s\tthe API answered 200" % rid))
            self.assertIn("[INFO]\t", lines[mine[1]])
            end = [i for i, l in enumerate(lines) if "END RequestId: " + rid in l][0]
            self.assertLess(mine[1], end)

    def test_every_line_is_tagged_and_logged_before_its_end(self):
        # The runtime writes its lines, then posts the answer at once: the
        # lines must not lose the race to the END that answer causes.
        rids = [self.ok("misc", {"do": "print", "n": n})[1] for n in range(40)]
        lines = SERVER.wait_log("END RequestId: " + rids[-1])
        for n, rid in enumerate(rids):
            tagged = [i for i, l in enumerate(lines) if " misc %s line " % rid in l]
            end = [i for i, l in enumerate(lines) if "END RequestId: " + rid in l]
            self.assertEqual(len(tagged), 2, "invocation %d: %s" % (n, lines[-200:]))
            self.assertLess(max(tagged), end[0])

    def test_2_google_auth_in_the_function_after_the_clock_moves_12_hours(self):
        first, _ = self.ok("gauth", {})
        second, _ = self.ok("gauth", {})
        SERVER.control("POST", "clock", {"advance_s": 43201})
        third, _ = self.ok("gauth", {})
        for doc in (first, second, third):
            self.assertEqual(doc["status"], 200, doc)
            self.assertEqual(doc["account"], "ajepytestdefault")
            self.assertEqual(doc["project"], "py-test-project")
            self.assertTrue(doc["same_as_context"], doc)
        self.assertEqual(first["token"], second["token"])
        self.assertNotEqual(third["token"], second["token"])
        self.assertEqual(first["pid"], third["pid"])


class BadInput(Case):
    def test_a_missing_module_then_the_module_written(self):
        doc = self.function_error("later", {}, "Runtime.ImportModuleError")
        self.assertEqual(doc["errorMessage"],
                         "Unable to import module 'later': No module named 'later'")
        with open(os.path.join(CODE, "later.py"), "w") as f:
            f.write("def handler(event, context):\n    return 'now here'\n")
        self.assertEqual(self.ok("later", {})[0], "now here")

    def test_a_missing_function(self):
        doc = self.function_error("nofn", {}, "Runtime.HandlerNotFound")
        self.assertEqual(doc["errorMessage"], "Handler 'nothere' missing on module 'index'")
        self.ok("misc", {})

    def test_a_handler_that_is_not_callable(self):
        doc = self.function_error("notcallable", {}, "Runtime.HandlerNotFound")
        self.assertIn("is not callable (it is a dict)", doc["errorMessage"])
        self.ok("misc", {})

    def test_an_exception_is_the_error_document(self):
        doc = self.function_error("misc", {"do": "raise", "key": "k1"}, "LookupError")
        self.assertEqual(doc["errorMessage"], "no such thing: k1")
        self.assertIn('index.py", line', doc["stackTrace"][-1])
        self.ok("misc", {})

    def test_a_result_that_is_not_json(self):
        before, _ = self.ok("misc", {})
        doc = self.function_error("misc", {"do": "set"}, "Runtime.MarshalError")
        self.assertIn("Object of type set is not JSON serializable", doc["errorMessage"])
        after, _ = self.ok("misc", {})
        self.assertEqual(before["pid"], after["pid"])

    def test_a_handler_that_exits(self):
        for what, status in (("sys.exit", 3), ("os._exit", 5)):
            before, _ = self.ok("misc", {})
            doc = self.function_error("misc", {"do": what}, "Runtime.ExitError")
            self.assertIn("exit status %d" % status, doc["errorMessage"])
            after, _ = self.ok("misc", {})
            self.assertNotEqual(before["pid"], after["pid"])

    def test_a_handler_that_hangs_past_its_timeout(self):
        before, _ = self.ok("hang", {})
        doc = self.function_error("hang", {"do": "hang"}, "Sandbox.Timedout")
        self.assertIn("Task timed out after 0.50 seconds", doc["errorMessage"])
        after, _ = self.ok("hang", {"do": "nothing"})
        self.assertNotEqual(before["pid"], after["pid"])

    def test_an_event_over_the_cap(self):
        status, headers, body = SERVER.invoke("caps", {"pad": "x" * 2000})
        self.assertEqual(status, 413, body)
        self.assertEqual(headers["X-Amzn-ErrorType"], "RequestEntityTooLargeException")
        self.ok("caps", {})

    def test_a_result_over_the_cap(self):
        before, _ = self.ok("caps", {})
        doc = self.function_error("caps", {"do": "big", "n": 2000},
                                  "Function.ResponseSizeTooLarge")
        self.assertIn("exceeded maximum allowed payload size (1024 bytes)", doc["errorMessage"])
        after, _ = self.ok("caps", {})
        self.assertEqual(before["pid"], after["pid"], "the runtime went on after the 413")

    def test_an_event_that_is_not_json(self):
        status, headers, body = SERVER.invoke("misc", b"not json")
        self.assertEqual(status, 400, body)
        self.assertEqual(headers["X-Amzn-ErrorType"], "InvalidRequestContentException")
        self.ok("misc", {})

    def test_the_interpreter_defaults_to_python3_from_the_path(self):
        doc, _ = self.ok("plain", {})
        want = subprocess.run(["python3", "-c", "import sys; print(sys.executable)"],
                              cwd=CODE, capture_output=True, text=True, timeout=BOUND_S,
                              env={"PATH": os.environ["PATH"], "HOME": SERVER.home})
        self.assertEqual(doc["python"], want.stdout.strip(), want.stderr)


def main():
    global SERVER, CLI, CODE
    if len(sys.argv) != 3:
        sys.exit("usage: test_python_functions.py PATH/TO/metatokend PATH/TO/metatoken")
    binary, CLI = sys.argv[1], os.path.abspath(sys.argv[2])
    del sys.argv[1:]
    tmp = tempfile.mkdtemp(prefix="metatoken-pyfn-")
    CODE = os.path.join(tmp, "code")
    os.mkdir(CODE)
    for name, text in (("index.py", INDEX_PY), ("gauth.py", GAUTH_PY)):
        with open(os.path.join(CODE, name), "w") as f:
            f.write(text)

    def fn(name, handler, **more):
        d = {"name": name, "runtime": "python", "python": PY, "handler": handler,
             "code_dir": CODE, "timeout_s": 20}
        d.update(more)
        return d

    config = {
        "project": {"id": "py-test-project", "numeric_id": 123},
        "yandex": {"folder_id": "b1gpytestfolder", "cloud_id": "b1gpytestcloud"},
        "service_accounts": [{"id": "ajepytestdefault",
                              "email": "py@py-test-project.iam.gserviceaccount.com"}],
        "functions": [
            fn("story", "index.story", memory_mb=256),
            fn("gauth", "gauth.handler"),
            fn("later", "later.handler"),
            fn("nofn", "index.nothere"),
            fn("notcallable", "index.NOT_CALLABLE"),
            fn("misc", "index.misc"),
            fn("hang", "index.misc", timeout_s=0.5),
            fn("caps", "index.misc", max_event_bytes=1024, max_response_bytes=1024),
            {"name": "plain", "runtime": "python", "handler": "index.misc", "code_dir": CODE},
        ]}
    SERVER = metatokend.Server(binary, config, tmp, level="warn")
    try:
        prog = unittest.main(exit=False, verbosity=2)
    finally:
        code = SERVER.stop()
    ok = prog.result.wasSuccessful()
    if not ok:
        print("--- metatokend's log ---\n" + SERVER.log_text())
    shutil.rmtree(tmp)
    if code:
        print("metatokend exited with status %s after SIGTERM" % code)
        sys.exit(1)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
