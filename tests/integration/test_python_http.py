#!/usr/bin/python3
"""Python functions called over HTTP with curl, and reloaded on change, end
to end (issue 12): the real metatokend (with --reload), the real
metatoken-python-runtime, handlers under Debian's /usr/bin/python3.

usage: test_python_http.py PATH/TO/metatokend

- User story 3: a Python function that calls a cloud API (metatokend's
  /protected/) with context.token["access_token"], called at
  /functions/NAME/... with curl: the HTTP event it gets, its answer mapped
  to status, headers and body, a binary body both ways, an unhandled
  exception (502, X-Function-Error: true), a timeout (504), and the call
  after each of those works.
- Reload: a function's index.py rewritten between two invocations answers
  the second with the new code, metatokend still the same process; Python's
  own writes under __pycache__ restart nothing; and a rewrite at the same
  size within the same second (which Python's byte code check cannot see)
  runs the new code too.
"""
import base64
import json
import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import metatokend  # noqa: E402

PY = "/usr/bin/python3"
SERVER = WEB = RELOAD = SAME = None

WEB_PY = r'''
import base64, json, os, threading, urllib.request


def call_api(token):
    req = urllib.request.Request("http://%s/protected/web" % os.environ["YC_METADATA_ADDR"],
                                 headers={"Authorization": "Bearer " + token})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(req, timeout=10) as resp:
        return resp.status


def handler(event, context):
    what = (event.get("queryStringParameters") or {}).get("do")
    if what == "raise":
        raise ValueError("cannot do that: %s" % event["path"])
    if what == "sleep":
        print("sleeping", flush=True)
        threading.Event().wait()
    if what == "binary":
        got = base64.b64decode(event["body"]) if event["isBase64Encoded"] else b""
        return {"statusCode": 200, "headers": {"Content-Type": "application/octet-stream"},
                "body": base64.b64encode(got[::-1]).decode(), "isBase64Encoded": True}
    seen = {k: event[k] for k in ("httpMethod", "path", "url", "queryStringParameters",
                                  "multiValueQueryStringParameters", "body",
                                  "isBase64Encoded")}
    seen["header"] = event["headers"].get("X-Greeting")
    seen["userAgent"] = event["requestContext"]["identity"]["userAgent"]
    seen["requestId"] = event["requestContext"]["requestId"]
    seen["context_request_id"] = context.request_id
    seen["api"] = call_api(context.token["access_token"])
    return {"statusCode": 201,
            "headers": {"Content-Type": "application/json", "X-Single": "one",
                        "X-Both": "from headers"},
            "multiValueHeaders": {"X-Both": ["from multi 1", "from multi 2"]},
            "body": json.dumps(seen)}
'''

RELOAD_PY = '''import os


def handler(event, context):
    return {"version": %s, "pid": os.getpid()}
'''


class HttpPython(unittest.TestCase):
    def test_the_event_and_the_answer(self):
        status, headers, body = SERVER.curl(
            "/functions/web/items/42?tag=a&tag=b", "-X", "PUT", "-A", "curl-test/2",
            "-H", "Content-Type: application/json", "-H", "X-Greeting: hello",
            data=b'{"name": "world"}')
        self.assertEqual(status, 201, body)
        self.assertEqual(headers["content-type"], ["application/json"])
        self.assertEqual(headers["x-single"], ["one"])
        # multiValueHeaders wins for a name in both.
        self.assertEqual(headers["x-both"], ["from multi 1", "from multi 2"])
        seen = json.loads(body)
        self.assertEqual(seen["api"], 200)  # the context's token is a live one
        self.assertEqual((seen["httpMethod"], seen["path"], seen["url"]),
                         ("PUT", "/items/42", "/items/42?tag=a&tag=b"))
        self.assertEqual(seen["queryStringParameters"], {"tag": "b"})
        self.assertEqual(seen["multiValueQueryStringParameters"], {"tag": ["a", "b"]})
        self.assertEqual((seen["body"], seen["isBase64Encoded"]), ('{"name": "world"}', False))
        self.assertEqual((seen["header"], seen["userAgent"]), ("hello", "curl-test/2"))
        # One request id: the event's, the context's, the response's.
        self.assertEqual(seen["requestId"], seen["context_request_id"])
        self.assertEqual(headers["x-request-id"], [seen["requestId"]])

    def test_a_binary_body_both_ways(self):
        sent = b"\x89PNG\r\n\x1a\n\x00\xff\xfe"
        status, headers, body = SERVER.curl("/functions/web/img?do=binary",
                                            "-H", "Content-Type: image/png", data=sent)
        self.assertEqual(status, 200, body)
        self.assertEqual(headers["content-type"], ["application/octet-stream"])
        self.assertEqual(body, sent[::-1])

    def test_an_exception_is_502_then_the_next_call_works(self):
        status, headers, body = SERVER.curl("/functions/web/x?do=raise")
        self.assertEqual(status, 502, body)
        self.assertEqual(headers["x-function-error"], ["true"])
        doc = json.loads(body)
        self.assertEqual((doc["errorType"], doc["errorMessage"]),
                         ("ValueError", "cannot do that: /x"))
        self.assertIn('index.py", line', doc["stackTrace"][-1])
        status, headers, body = SERVER.curl("/functions/web/after")
        self.assertEqual(status, 201, body)
        self.assertNotIn("x-function-error", headers)
        self.assertEqual(json.loads(body)["path"], "/after")

    def test_a_timeout_is_504_then_the_next_call_works(self):
        status, headers, body = SERVER.curl("/functions/slow?do=sleep")
        self.assertEqual(status, 504, body)
        doc = json.loads(body)
        self.assertEqual(doc["errorType"], "Sandbox.Timedout")
        self.assertIn("Task timed out after 0.30 seconds", doc["errorMessage"])
        self.assertNotIn("x-function-error", headers)
        # It timed out in the handler (not starting): the handler ran.
        self.assertTrue(any(" slow " in l and l.endswith("sleeping")
                            for l in SERVER.wait_log("sleeping")))
        status, _, body = SERVER.curl("/functions/slow/next")
        self.assertEqual(status, 201, body)
        self.assertEqual(json.loads(body)["path"], "/next")


class Reload(unittest.TestCase):
    def invoke(self):
        status, headers, body = SERVER.invoke("reload", {})
        self.assertEqual(status, 200, body)
        self.assertIsNone(headers.get("X-Amz-Function-Error"), body)
        return json.loads(body)

    def changed(self):
        return SERVER.log_text().count("code changed in " + RELOAD)

    def test_new_code_answers_without_a_restart_and_pycache_is_not_a_change(self):
        first = self.invoke()
        self.assertEqual(first["version"], 1)
        # Its import wrote the module's byte code under __pycache__: no change.
        cache = os.path.join(RELOAD, "__pycache__")
        self.assertTrue([n for n in os.listdir(cache) if n.startswith("index.")], cache)
        self.assertEqual(self.invoke()["pid"], first["pid"])
        # Nor is anything else written there.
        with open(os.path.join(cache, "other.cpython-311.pyc"), "wb") as f:
            f.write(b"not byte code")
        self.assertEqual(self.invoke()["pid"], first["pid"])
        self.assertEqual(self.changed(), 0)

        with open(os.path.join(RELOAD, "index.py"), "w") as f:
            f.write(RELOAD_PY % "'two, rewritten'")
        second = self.invoke()
        self.assertEqual(second["version"], "two, rewritten")
        self.assertNotEqual(second["pid"], first["pid"])
        self.assertEqual(self.changed(), 1)
        self.assertEqual(self.invoke()["pid"], second["pid"])  # warm again
        self.assertTrue(SERVER.alive())

    def test_a_rewrite_at_the_same_size_within_the_same_second(self):
        # Python checks byte code against its source's mtime in whole
        # seconds and its size: the runtime started for the new code must
        # not run the old byte code.
        status, _, body = SERVER.invoke("same", {})
        self.assertEqual((status, json.loads(body)["version"]), (200, 1), body)
        path = os.path.join(SAME, "index.py")
        self.assertTrue([n for n in os.listdir(os.path.join(SAME, "__pycache__"))
                         if n.startswith("index.")], "no byte code was written")
        before = os.stat(path)
        with open(path, "w") as f:
            f.write(RELOAD_PY % 2)
        # A millisecond later or earlier, in the same second.
        ns = before.st_mtime_ns
        ns = ns + 10**6 if (ns + 10**6) // 10**9 == ns // 10**9 else ns - 10**6
        os.utime(path, ns=(ns, ns))
        self.assertEqual(os.stat(path).st_size, before.st_size)
        status, _, body = SERVER.invoke("same", {})
        self.assertEqual((status, json.loads(body)["version"]), (200, 2), body)


def main():
    global SERVER, WEB, RELOAD, SAME
    if len(sys.argv) != 2:
        sys.exit("usage: test_python_http.py PATH/TO/metatokend")
    binary = sys.argv.pop(1)
    tmp = tempfile.mkdtemp(prefix="metatoken-pyhttp-")
    WEB, RELOAD, SAME = (os.path.join(tmp, name) for name in ("web", "reload", "same"))
    for folder, text in ((WEB, WEB_PY), (RELOAD, RELOAD_PY % 1), (SAME, RELOAD_PY % 1)):
        os.mkdir(folder)
        with open(os.path.join(folder, "index.py"), "w") as f:
            f.write(text)
    fn = {"runtime": "python", "python": PY, "handler": "index.handler"}
    SERVER = metatokend.Server(binary, {"functions": [
        dict(fn, name="web", code_dir=WEB),
        dict(fn, name="slow", code_dir=WEB, timeout_s=0.3),
        dict(fn, name="reload", code_dir=RELOAD),
        dict(fn, name="same", code_dir=SAME)]}, tmp, args=["--reload"])
    try:
        ok = unittest.main(exit=False, verbosity=2).result.wasSuccessful()
    finally:
        code = SERVER.stop()
    if not ok:
        print("--- metatokend's log ---\n" + SERVER.log_text())
    shutil.rmtree(tmp)
    sys.exit(0 if ok and code == 0 else 1)


if __name__ == "__main__":
    main()
