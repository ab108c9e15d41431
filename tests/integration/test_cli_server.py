#!/usr/bin/env python3
"""The `metatoken` CLI's commands name the server one way and answer --help
each with their own text: `--server` for token, admin and invoke
(`--endpoint` still works for token and invoke), `metatoken admin` finds the
server from $YC_METADATA_ADDR/$GCE_METADATA_HOST as `metatoken token` does,
and `metatoken token` does not take an AWS session token for an access
token when only $AWS_EC2_METADATA_SERVICE_ENDPOINT is set.

A stand-in server in this process answers the GCE token path, the IMDS
paths, the control API and the Invoke API, and records what it was asked.

usage: test_cli_server.py PATH/TO/metatoken
"""
import http.server
import json
import os
import subprocess
import sys
import threading
import time
import unittest

CLI = None
BOUND_S = 20  # no run takes this long unless it hangs
VARS = ("METATOKEN_SERVER", "YC_METADATA_ADDR", "GCE_METADATA_HOST",
        "AWS_EC2_METADATA_SERVICE_ENDPOINT", "METATOKEN_ADMIN_SECRET")
GCE_TOKEN = "/computeMetadata/v1/instance/service-accounts/default/token"
CREDS = "/latest/meta-data/iam/security-credentials/"


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, body, ctype="application/json"):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_one(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        self.server.seen.append((self.command, self.path))
        if self.path == GCE_TOKEN:
            self.answer(200, json.dumps({"access_token": "gce-token", "expires_in": 3600,
                                         "token_type": "Bearer"}))
        elif self.command == "PUT" and self.path == "/latest/api/token":
            self.answer(200, "imds-session", "text/plain")
        elif self.path == CREDS:
            self.answer(200, "role", "text/plain")
        elif self.path == CREDS + "role":
            self.answer(200, json.dumps({
                "Code": "Success", "AccessKeyId": "ASIAKEY", "SecretAccessKey": "secret",
                "Token": "aws-session-token",
                "Expiration": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                            time.gmtime(time.time() + 6 * 3600))}))
        elif self.path == "/metatoken/v1/stats":
            self.answer(200, json.dumps({"requests": 7}))
        elif self.path == "/2015-03-31/functions/echo/invocations":
            self.answer(200, "invoked", "application/octet-stream")
        else:
            self.answer(404, "{}")

    do_GET = do_PUT = do_POST = handle_one


def run(args, env=None):
    e = {k: v for k, v in os.environ.items() if k not in VARS}
    e.update(env or {})
    p = subprocess.run([CLI] + args, stdin=subprocess.DEVNULL, capture_output=True, env=e,
                       timeout=BOUND_S)
    return p.returncode, p.stdout.decode(), p.stderr.decode(errors="replace")


class Server(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        cls.srv.seen = []
        cls.addr = "127.0.0.1:%d" % cls.srv.server_address[1]
        threading.Thread(target=cls.srv.serve_forever, daemon=True).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.shutdown()
        cls.srv.server_close()

    def setUp(self):
        self.srv.seen.clear()

    def test_every_command_has_its_own_help(self):
        for cmd in ("token", "admin", "invoke", "exec"):
            rc, out, _ = run([cmd, "--help"])
            self.assertEqual(rc, 0, cmd)
            self.assertTrue(out.startswith("usage: metatoken %s " % cmd), cmd + ": " + out)
            for other in ("token", "admin", "invoke", "exec"):
                if other != cmd:
                    self.assertNotIn("metatoken %s [" % other, out, cmd)
        rc, out, _ = run(["token", "--help"])
        self.assertIn("--server", out)
        self.assertIn("--flavour", out)

    def test_token_takes_server_and_endpoint(self):
        for opt in ("--server", "--endpoint"):
            rc, out, err = run(["token", opt, self.addr])
            self.assertEqual((rc, out), (0, "gce-token\n"), opt + ": " + err)
        self.assertEqual(self.srv.seen, [("GET", GCE_TOKEN)] * 2)

    def test_invoke_takes_server_and_endpoint(self):
        for opt in ("--server", "--endpoint"):
            rc, out, err = run(["invoke", opt, self.addr, "echo", "{}"])
            self.assertEqual((rc, out), (0, "invoked"), opt + ": " + err)
        rc, _, err = run(["invoke", "--server", self.addr + "/x", "echo"])
        self.assertEqual(rc, 2)
        self.assertIn("--server: expected HOST:PORT", err)

    def test_admin_finds_the_server_as_token_does(self):
        env = {"METATOKEN_ADMIN_SECRET": "s"}
        for var, value in (("YC_METADATA_ADDR", self.addr),
                           ("GCE_METADATA_HOST", self.addr),
                           ("GCE_METADATA_HOST", "http://" + self.addr)):
            self.srv.seen.clear()
            rc, out, err = run(["admin", "stats"], dict(env, **{var: value}))
            self.assertEqual(rc, 0, "%s=%s: %s" % (var, value, err))
            self.assertEqual(json.loads(out), {"requests": 7})
            self.assertEqual(self.srv.seen, [("GET", "/metatoken/v1/stats")])
        # METATOKEN_SERVER still comes first.
        self.srv.seen.clear()
        rc, _, _ = run(["admin", "stats"], dict(env, METATOKEN_SERVER="127.0.0.1:1",
                                                GCE_METADATA_HOST=self.addr))
        self.assertEqual(rc, 1)
        self.assertEqual(self.srv.seen, [])

    def test_token_does_not_guess_aws(self):
        env = {"AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://%s/" % self.addr}
        rc, out, err = run(["token"], env)
        self.assertEqual((rc, out), (2, ""))
        self.assertIn("--flavour aws", err)
        self.assertEqual(self.srv.seen, [])

        rc, out, err = run(["token", "--flavour", "aws"], env)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, "AWS_ACCESS_KEY_ID=ASIAKEY\nAWS_SECRET_ACCESS_KEY=secret\n"
                              "AWS_SESSION_TOKEN=aws-session-token\n")
        rc, out, err = run(["token", "--flavour", "aws", "--json"], env)
        self.assertEqual(rc, 0, err)
        doc = json.loads(out)
        self.assertEqual((doc["AccessKeyId"], doc["Token"]), ("ASIAKEY", "aws-session-token"))
        self.assertGreater(doc["expires_in"], 3600)
        self.assertNotIn("access_token", doc)

        # The GCE flavour on request, and whenever a GCE variable is set.
        rc, out, _ = run(["token", "--flavour", "gce", "--server", self.addr], env)
        self.assertEqual((rc, out), (0, "gce-token\n"))
        rc, out, _ = run(["token"], dict(env, GCE_METADATA_HOST=self.addr))
        self.assertEqual((rc, out), (0, "gce-token\n"))
        rc, _, err = run(["token", "--flavour", "azure"])
        self.assertEqual(rc, 2)
        self.assertIn("expected gce or aws", err)


if __name__ == "__main__":
    CLI = sys.argv.pop(1)
    unittest.main()
