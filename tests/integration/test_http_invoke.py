#!/usr/bin/env python3
"""HTTP calls into a function with curl, end to end: the real metatokend on
an ephemeral loopback port, the real metatoken-bootstrap, and a C handler
(http_fn.c) that echoes Yandex's HTTP event or answers as the query asks.

usage: test_http_invoke.py PATH/TO/metatokend PATH/TO/http_fn.so
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

DAEMON = HANDLER = SERVER = None


def start():
    """metatokend with two functions whose runtime is the C one: `web`, and
    `slow` with a timeout of 0.3 s."""
    tmp = tempfile.mkdtemp(prefix="metatoken-http-invoke-")
    shutil.copy(HANDLER, os.path.join(tmp, "http_fn.so"))
    fn = {"handler": "http_fn.so:http_fn_handle", "code_dir": tmp}
    return metatokend.Server(DAEMON, {"functions": [
        dict(fn, name="web", max_event_bytes=65536),
        dict(fn, name="slow", timeout_s=0.3)]}, tmp)


def curl(path, *args, data=None):
    return SERVER.curl(path, *args, data=data)


class HttpInvoke(unittest.TestCase):
    def test_the_event_and_the_answer(self):
        status, headers, body = curl(
            "/functions/web/items/42?do=echo&tag=a&tag=b", "-X", "PUT",
            "-H", "Content-Type: application/json", "-H", "X-Twice: 1", "-H", "X-Twice: 2",
            "-H", "Authorization: Bearer not-for-the-function", "-A", "curl-test/1",
            data=b'{"name": "world"}')
        self.assertEqual(status, 200, body)
        self.assertEqual(headers["content-type"], ["application/json"])
        self.assertEqual(headers["x-seen"], ["a", "b"])  # multiValueHeaders won
        event = json.loads(body)
        self.assertEqual(event["httpMethod"], "PUT")
        self.assertEqual(event["path"], "/items/42")
        self.assertEqual(event["url"], "/items/42?do=echo&tag=a&tag=b")
        self.assertEqual(event["headers"]["X-Twice"], "2")
        self.assertEqual(event["multiValueHeaders"]["X-Twice"], ["1", "2"])
        self.assertNotIn("Authorization", event["headers"])
        self.assertEqual(event["queryStringParameters"], {"do": "echo", "tag": "b"})
        self.assertEqual(event["multiValueQueryStringParameters"],
                         {"do": ["echo"], "tag": ["a", "b"]})
        self.assertEqual(event["body"], '{"name": "world"}')
        self.assertIs(event["isBase64Encoded"], False)
        ctx = event["requestContext"]
        self.assertEqual(ctx["identity"], {"sourceIp": "127.0.0.1", "userAgent": "curl-test/1"})
        self.assertEqual(ctx["httpMethod"], "PUT")
        # One request id: the event's, the handler's context's, the response's, the log's.
        rid = ctx["requestId"]
        self.assertEqual(headers["x-context-request-id"], [rid])
        self.assertEqual(headers["x-request-id"], [rid])
        self.assertIn("START RequestId: %s" % rid, SERVER.log_text())
        self.assertNotIn("not-for-the-function", SERVER.log_text())

    def test_a_binary_body_both_ways(self):
        status, _, body = curl("/functions/web", "-H", "Content-Type: image/png",
                               data=b"\x89PNG\x00\xff")
        self.assertEqual(status, 200)
        event = json.loads(body)
        self.assertIs(event["isBase64Encoded"], True)
        self.assertEqual(base64.b64decode(event["body"]), b"\x89PNG\x00\xff")
        status, headers, body = curl("/functions/web?do=binary")
        self.assertEqual((status, body), (201, b"\x00\x01\xfe\xff"))
        self.assertEqual(headers["content-type"], ["application/octet-stream"])

    def test_errors_then_a_call_that_works(self):
        status, headers, body = curl("/functions/web?do=fail")
        self.assertEqual(status, 502)
        self.assertEqual(headers["x-function-error"], ["true"])
        self.assertEqual(json.loads(body)["errorType"], "TestError")
        status, headers, body = curl("/functions/web?do=malformed")
        self.assertEqual(status, 502)
        doc = json.loads(body)
        self.assertEqual(doc["errorType"], "ProxyIntegrationError")
        self.assertEqual(doc["errorMessage"],
                         "Malformed serverless function response: not a valid json")
        self.assertEqual(doc["payload"], "this is not json")
        status, _, body = curl("/functions/nope")
        self.assertEqual(status, 404)
        self.assertEqual(json.loads(body)["errorType"], "NotFound")
        status, _, body = curl("/functions/web", data=b"x" * 70000)
        self.assertEqual(status, 413)
        self.assertEqual(json.loads(body)["errorType"], "PayloadTooLarge")
        status, _, body = curl("/functions/web?do=echo")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["httpMethod"], "GET")

    def test_a_timeout_is_504_and_a_new_runtime_answers_next(self):
        status, headers, body = curl("/functions/slow?do=sleep")
        self.assertEqual(status, 504, body)
        self.assertEqual(json.loads(body)["errorType"], "Sandbox.Timedout")
        self.assertNotIn("x-function-error", headers)
        status, _, body = curl("/functions/slow")
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["path"], "")

    def test_integration_raw(self):
        status, headers, body = curl("/functions/web?integration=raw", data=b"just text")
        self.assertEqual((status, body), (200, b"raw:just text"))
        self.assertNotIn("x-seen", headers)


def main():
    global DAEMON, HANDLER, SERVER
    DAEMON, HANDLER = sys.argv[1], sys.argv[2]
    del sys.argv[1:]
    SERVER = start()
    try:
        ok = unittest.main(verbosity=2, exit=False).result.wasSuccessful()
    finally:
        code = SERVER.stop()
        shutil.rmtree(SERVER.home)
    sys.exit(0 if ok and code == 0 else 1)


if __name__ == "__main__":
    main()
