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
import subprocess
import sys
import tempfile
import unittest

DAEMON = HANDLER = None
BOUND_S = 30  # no call takes this long unless something hangs


class Server:
    """metatokend with two functions whose runtime is the C one: `web`, and
    `slow` with a timeout of 0.3 s."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="metatoken-http-invoke-")
        shutil.copy(HANDLER, os.path.join(self.tmp, "http_fn.so"))
        fn = {"handler": "http_fn.so:http_fn_handle", "code_dir": self.tmp}
        config = {"functions": [dict(fn, name="web", max_event_bytes=65536),
                                dict(fn, name="slow", timeout_s=0.3)]}
        path = os.path.join(self.tmp, "config.json")
        with open(path, "w") as f:
            json.dump(config, f)
        env = dict(os.environ, HOME=self.tmp)
        env.pop("XDG_RUNTIME_DIR", None)
        self.log = open(os.path.join(self.tmp, "metatokend.log"), "w+")
        self.proc = subprocess.Popen(
            [DAEMON, "--listen", "127.0.0.1:0", "--log-level", "info", "--config", path],
            stdout=subprocess.PIPE, stderr=self.log, text=True, env=env)
        self.base = None
        for line in self.proc.stdout:
            line = line.strip()
            if line.startswith("export AWS_EC2_METADATA_SERVICE_ENDPOINT="):
                self.base = line.split("=", 1)[1].rstrip("/")
            if line == "# Ctrl-C stops it.":
                break
        self.proc.stdout.close()
        if not self.base:
            self.stop()
            raise RuntimeError("metatokend printed no endpoint line")

    def log_text(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self):
        self.proc.terminate()
        self.proc.wait(BOUND_S)
        self.log.close()
        shutil.rmtree(self.tmp)


SERVER = None


def curl(path, *args, data=None):
    """Calls path with curl: (status, {lower-case name: [values]}, body bytes)."""
    out = os.path.join(SERVER.tmp, "body")
    cmd = ["curl", "-sS", "--noproxy", "*", "--max-time", str(BOUND_S), "-D", "-",
           "-o", out] + list(args)
    if data is not None:
        cmd += ["--data-binary", "@-"]
    p = subprocess.run(cmd + [SERVER.base + path], input=data, capture_output=True,
                       timeout=BOUND_S)
    assert p.returncode == 0, p.stderr
    head = p.stdout
    with open(out, "rb") as f:
        body = f.read()
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers.setdefault(name.strip().lower(), []).append(value.strip())
    return int(lines[0].split()[1]), headers, body


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
    SERVER = Server()
    try:
        ok = unittest.main(verbosity=2, exit=False).result.wasSuccessful()
    finally:
        SERVER.stop()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
