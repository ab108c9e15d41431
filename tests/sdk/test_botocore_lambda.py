#!/usr/bin/python3
"""python3-botocore's (Debian) `lambda` client against metatokend's Invoke API.

Usage: test_botocore_lambda.py PATH_TO_METATOKEND

metatokend runs with no configuration, so the name `function` goes to
whatever polls the root Runtime API: here a small stdlib runtime on a thread
of this test. botocore must read every answer as it reads AWS's: the
payload, FunctionError, the status codes of Event and DryRun, and our error
documents as its modeled exceptions (ResourceNotFoundException,
TooManyRequestsException), with the fields its model gives them.
"""
import base64
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import unittest
import urllib.error
import urllib.request

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
SERVER = None
RUNTIME = None
BOUND_S = 20  # nothing here takes this long unless it hangs


class Server:
    def __init__(self, binary):
        self.tmp = tempfile.mkdtemp(prefix="metatoken-botocore-lambda-")
        env = dict(os.environ, HOME=self.tmp)
        env.pop("XDG_RUNTIME_DIR", None)
        self.proc = subprocess.Popen([binary, "--listen", "127.0.0.1:0", "--log-level", "warn"],
                                     stdout=subprocess.PIPE, text=True, env=env)
        banner = {}
        for line in self.proc.stdout:
            line = line.strip()
            if line.startswith(("export ", "# export ")):
                name, value = line.split("export ", 1)[1].split("=", 1)
                banner[name] = value
            if line == "# Ctrl-C stops it.":
                break
        self.proc.stdout.close()
        if "AWS_EC2_METADATA_SERVICE_ENDPOINT" not in banner:
            self.proc.kill()
            raise RuntimeError("metatokend printed no AWS_EC2_METADATA_SERVICE_ENDPOINT line")
        self.base = banner["AWS_EC2_METADATA_SERVICE_ENDPOINT"].rstrip("/")
        self.runtime_api = self.base.split("://", 1)[1]

    def stop(self):
        self.proc.terminate()
        return self.proc.wait(timeout=10)


class Runtime(threading.Thread):
    """A Lambda runtime in the stdlib, attached to the root Runtime API.

    Event {"fail": M} fails with errorType HandlerError; {"hold": true} waits
    for `release` before it answers; anything else is echoed back with the
    request id and the client context the runtime was given. Every
    invocation it takes is put on `taken` as (request id, headers, event),
    and its request id on `answered` once it has answered.
    """

    def __init__(self, runtime_api):
        super().__init__(daemon=True)
        self.base = "http://%s/2018-06-01/runtime" % runtime_api
        self.taken = queue.Queue()
        self.answered = queue.Queue()
        self.holding = threading.Event()
        self.release = threading.Event()
        self.failure = None

    def call(self, method, path, body=None, headers=None, timeout=None):
        req = urllib.request.Request(self.base + path, method=method, data=body,
                                     headers=headers or {})
        try:
            with OPENER.open(req, timeout=timeout) as resp:
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def run(self):
        try:
            self.loop()
        except Exception as e:  # reported by the test that needed the runtime
            self.failure = e

    def loop(self):
        while True:
            try:
                status, headers, body = self.call("GET", "/invocation/next")
            except OSError:
                return  # metatokend went away
            if status != 200:
                return  # 503: metatokend is stopping
            rid = headers["Lambda-Runtime-Aws-Request-Id"]
            event = json.loads(body)
            self.taken.put((rid, headers, event))
            if isinstance(event, dict) and event.get("hold"):
                self.holding.set()
                self.release.wait(BOUND_S)
            if isinstance(event, dict) and "fail" in event:
                doc = {"errorMessage": event["fail"], "errorType": "HandlerError",
                       "stackTrace": ["at handler (runtime.py)"]}
                status, _, _ = self.call(
                    "POST", "/invocation/%s/error" % rid, json.dumps(doc).encode(),
                    {"Lambda-Runtime-Function-Error-Type": "HandlerError",
                     "Content-Type": "application/json"}, BOUND_S)
            else:
                cc = headers.get("Lambda-Runtime-Client-Context")
                doc = {"echo": event, "request_id": rid,
                       "client_context": json.loads(cc) if cc else None}
                status, _, _ = self.call("POST", "/invocation/%s/response" % rid,
                                         json.dumps(doc).encode(), timeout=BOUND_S)
            if status != 202:
                raise AssertionError("the Runtime API answered %d to an answer" % status)
            self.answered.put(rid)


def lambda_client():
    import botocore.config
    import botocore.session
    session = botocore.session.get_session()
    return session.create_client(
        "lambda", region_name="us-east-1", endpoint_url=SERVER.base,
        aws_access_key_id="AKIDMETATOKENTEST000", aws_secret_access_key="x" * 40,
        config=botocore.config.Config(retries={"total_max_attempts": 1},
                                      read_timeout=BOUND_S, connect_timeout=5))


def b64json(obj):
    return base64.b64encode(json.dumps(obj).encode()).decode()


class Invoke(unittest.TestCase):
    def setUp(self):
        self.assertIsNone(RUNTIME.failure)
        self.assertTrue(RUNTIME.is_alive(), "the test's runtime has stopped")
        self.client = lambda_client()

    def tearDown(self):
        self.assertIsNone(RUNTIME.failure)
        for q in (RUNTIME.taken, RUNTIME.answered):
            while not q.empty():
                q.get_nowait()

    def invoke(self, **kw):
        return self.client.invoke(FunctionName="function", **kw)

    def test_payload_round_trip(self):
        event = {"hello": "world", "n": [1, 2.5, None, True], "u": "\u00e9\u4e2d"}
        r = self.invoke(Payload=json.dumps(event).encode())
        self.assertEqual(r["StatusCode"], 200)
        self.assertNotIn("FunctionError", r)
        self.assertEqual(r["ExecutedVersion"], "$LATEST")
        doc = json.loads(r["Payload"].read())
        self.assertEqual(doc["echo"], event)
        # The request id botocore reports is the one the runtime was given.
        self.assertEqual(doc["request_id"], r["ResponseMetadata"]["RequestId"])
        rid, headers, _ = RUNTIME.taken.get(timeout=BOUND_S)
        self.assertEqual(rid, doc["request_id"])
        self.assertIsNone(headers.get("Lambda-Runtime-Client-Context"))

    def test_function_error_is_unhandled(self):
        r = self.invoke(Payload=b'{"fail": "no luck"}')
        self.assertEqual(r["StatusCode"], 200)
        self.assertEqual(r["FunctionError"], "Unhandled")
        doc = json.loads(r["Payload"].read())
        self.assertEqual(doc["errorType"], "HandlerError")
        self.assertEqual(doc["errorMessage"], "no luck")
        self.assertEqual(doc["stackTrace"], ["at handler (runtime.py)"])

    def test_event_is_202_and_runs_later(self):
        r = self.invoke(InvocationType="Event", Payload=b'{"async": "marker-1"}')
        self.assertEqual(r["StatusCode"], 202)
        self.assertEqual(r["Payload"].read(), b"")
        rid, _, event = RUNTIME.taken.get(timeout=BOUND_S)
        self.assertEqual(event, {"async": "marker-1"})
        # Done before the next test: `function` runs one at a time. (The
        # runtime may note the previous test's answer after its tearDown.)
        while RUNTIME.answered.get(timeout=BOUND_S) != rid:
            pass

    def test_dry_run_is_204_and_runs_nothing(self):
        r = self.invoke(InvocationType="DryRun", Payload=b'{"dry": 1}')
        self.assertEqual(r["StatusCode"], 204)
        # Nothing reached the runtime: the next thing it takes is this one.
        r = self.invoke(Payload=b'{"after": "dry run"}')
        _, _, event = RUNTIME.taken.get(timeout=BOUND_S)
        self.assertEqual(event, {"after": "dry run"})

    def test_client_context_reaches_the_runtime(self):
        cc = {"client": {"installation_id": "inst-1", "app_title": "metatoken test",
                         "app_version_name": "1.0", "app_version_code": "1",
                         "app_package_name": "dev.metatoken.test"},
              "custom": {"k": "v"}, "env": {"platform": "linux"}}
        r = self.invoke(Payload=b"{}", ClientContext=b64json(cc))
        self.assertEqual(r["StatusCode"], 200)
        self.assertEqual(json.loads(r["Payload"].read())["client_context"], cc)

    def test_unknown_function_is_resource_not_found(self):
        with self.assertRaises(self.client.exceptions.ResourceNotFoundException) as cm:
            self.client.invoke(FunctionName="no-such-function", Payload=b"{}")
        resp = cm.exception.response
        self.assertEqual(resp["ResponseMetadata"]["HTTPStatusCode"], 404)
        self.assertEqual(resp["Error"]["Code"], "ResourceNotFoundException")
        self.assertIn("no-such-function", resp["Error"]["Message"])
        # The modeled fields, as botocore reads them from AWS's body.
        self.assertEqual(resp.get("Type"), "User")
        self.assertIn("no-such-function", resp.get("Message", ""),
                      "the body has no \"Message\" (the model's member for this error)")

    def test_over_concurrency_is_too_many_requests(self):
        # The implicit `function` runs one at a time: hold one, then ask again.
        RUNTIME.holding.clear()
        RUNTIME.release.clear()
        first = {}

        def held():
            try:
                first["r"] = lambda_client().invoke(FunctionName="function",
                                                    Payload=b'{"hold": true}')
            except Exception as e:
                first["e"] = e

        t = threading.Thread(target=held)
        t.start()
        try:
            self.assertTrue(RUNTIME.holding.wait(BOUND_S), "the runtime never got the first")
            with self.assertRaises(self.client.exceptions.TooManyRequestsException) as cm:
                self.invoke(Payload=b'{"second": 1}')
        finally:
            RUNTIME.release.set()
            t.join(BOUND_S)
        resp = cm.exception.response
        self.assertEqual(resp["ResponseMetadata"]["HTTPStatusCode"], 429)
        self.assertEqual(resp["Error"]["Code"], "TooManyRequestsException")
        self.assertTrue(resp["Error"]["Message"])
        self.assertEqual(resp.get("Type"), "User")
        self.assertEqual(resp.get("retryAfterSeconds"), "1")
        # The held one still ends well.
        self.assertNotIn("e", first)
        self.assertEqual(json.loads(first["r"]["Payload"].read())["echo"], {"hold": True})

    def test_bad_client_context_is_invalid_request_content(self):
        with self.assertRaises(self.client.exceptions.InvalidRequestContentException) as cm:
            self.invoke(Payload=b"{}", ClientContext="not base64 json!")
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 400)


def isolate():
    for name in list(os.environ):
        if name.startswith(("AWS_", "BOTO_")) or \
                name.lower() in ("http_proxy", "https_proxy", "all_proxy"):
            del os.environ[name]
    home = tempfile.mkdtemp(prefix="metatoken-home-")
    os.environ.update({
        "HOME": home,
        "NO_PROXY": "*",
        "AWS_CONFIG_FILE": os.path.join(home, "no-such-config"),
        "AWS_SHARED_CREDENTIALS_FILE": os.path.join(home, "no-such-credentials"),
    })


def main():
    global SERVER, RUNTIME
    if len(sys.argv) != 2:
        sys.exit("usage: test_botocore_lambda.py PATH_TO_METATOKEND")
    isolate()
    SERVER = Server(sys.argv[1])
    try:
        RUNTIME = Runtime(SERVER.runtime_api)
        RUNTIME.start()
        prog = unittest.main(argv=[sys.argv[0], "-v"], exit=False)
    finally:
        code = SERVER.stop()
    if RUNTIME:
        RUNTIME.join(10)
        if RUNTIME.is_alive():
            print("the runtime's /next was not ended when metatokend stopped")
            sys.exit(1)
    if code:
        print("metatokend exited with status %s after SIGTERM" % code)
        sys.exit(1)
    sys.exit(0 if prog.result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
