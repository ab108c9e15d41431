#!/usr/bin/env python3
"""Issue 13 end to end, all on loopback, over HTTPS with a CA made by
scripts/gen-certs for this run:

- a key created through the control API (`metatoken admin key create`),
  exchanged by libmetatoken (`metatoken token --key-file`) at metatokend A's
  /iam/v1/tokens over HTTPS; the token is A's and A's /protected/ takes it;
- the same chained: metatokend B's account has A's /iam/v1/tokens as its
  upstream (key_file, iam_endpoint, ca_file), so B serves A's token;
- A's exchange fails (503), then stalls (a latency fault past B's timeout),
  then recovers with a new token: B keeps serving the last good token
  throughout, says so, and then serves the new one;
- no token in either log.

usage: test_iam_https.py PATH/TO/metatokend PATH/TO/metatoken PATH/TO/scripts/gen-certs
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import metatokend  # noqa: E402

DAEMON = CLI = GEN_CERTS = None
TOKEN = "/computeMetadata/v1/instance/service-accounts/default/token"
GOOGLE = {"Metadata-Flavor": "Google"}
B_ID = "ajebbbbbbbbbbbbbbbbb"
FUNCTION = """def handler(event, context):
    return context.token["access_token"] if context.token else None
"""


def run(args, env=None):
    """(exit status, stdout, stderr) of a command, bounded."""
    p = subprocess.run(args, capture_output=True, text=True, env=env,
                       timeout=metatokend.BOUND_S, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr


def token_of(srv):
    status, body = srv.get(TOKEN, GOOGLE)
    return status, (json.loads(body)["access_token"] if status == 200 else body.decode())


class IamOverHttps(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="metatoken-iam-https-")
        self.certs = os.path.join(self.tmp, "certs")
        rc, out, err = run([GEN_CERTS, self.certs])
        self.assertEqual(rc, 0, err)
        self.ca = os.path.join(self.certs, "ca.pem")
        home_a = os.path.join(self.tmp, "a")
        os.mkdir(home_a)
        # One token until told otherwise (reissued only at expiry).
        self.a = metatokend.Server(DAEMON, {"service_accounts": [
            {"id": "ajeaaaaaaaaaaaaaaaaa", "email": "a@metatoken.iam", "lifetime_s": 3600,
             "reissue_margin_s": 0}]}, home_a,
            args=("--tls-listen", "127.0.0.1:0",
                  "--tls-cert", os.path.join(self.certs, "server.pem"),
                  "--tls-key", os.path.join(self.certs, "server.key")))
        tls = [m.group(1) for l in self.a.banner_lines
               for m in [re.search(r"https://(127\.0\.0\.1:\d+)", l)] if m]
        self.assertTrue(tls, self.a.banner_lines)
        self.iam = "https://%s/iam/v1/tokens" % tls[0]
        self.b = None

    def tearDown(self):
        for srv in (self.b, self.a):
            if srv and srv.alive():
                self.assertEqual(srv.stop(), 0, srv.log_text()[-2000:])
        shutil.rmtree(self.tmp, ignore_errors=True)

    def create_key(self):
        key = os.path.join(self.tmp, "key.json")
        env = dict(os.environ, METATOKEN_SERVER=self.a.addr,
                   METATOKEN_ADMIN_SECRET=self.a.secret)
        rc, out, err = run([CLI, "admin", "key", "create", "default", "--output", key], env)
        self.assertEqual(rc, 0, err)
        self.assertEqual(os.stat(key).st_mode & 0o777, 0o600)
        self.assertNotIn("PRIVATE", out + err)
        return key

    def exchange(self, key, *extra):
        env = {k: v for k, v in os.environ.items() if not k.startswith("METATOKEN_")}
        return run([CLI, "token", "--key-file", key, "--iam-endpoint", self.iam] + list(extra),
                   env)

    def context_token(self):
        status, _, body = self.b.invoke("tok", {})
        self.assertEqual(status, 200, body)
        return json.loads(body)

    def protected(self, token):
        return self.a.get("/protected/x", {"Authorization": "Bearer " + token})[0]

    def test_client_and_chained_upstream_over_https(self):
        key = self.create_key()
        # The client exchanges the key over HTTPS, trusting the run's CA.
        rc, out, err = self.exchange(key, "--cacert", self.ca)
        self.assertEqual(rc, 0, err)
        first = out.strip()
        self.assertEqual(token_of(self.a), (200, first))
        self.assertEqual(self.protected(first), 200)
        # Without the CA the certificate is not trusted, and nothing is got.
        rc, out, err = self.exchange(key)
        self.assertNotEqual(rc, 0)
        self.assertEqual(out, "")
        self.assertIn("certificate", err.lower())

        # B's account: A's /iam/v1/tokens over HTTPS, refreshed eagerly (a
        # window longer than the token's life, a retry every 100 ms) so that
        # A's failures show at once.
        # A function on B gets the same real token in its context.
        home_b = os.path.join(self.tmp, "b")
        os.mkdir(home_b)
        with open(os.path.join(home_b, "index.py"), "w") as f:
            f.write(FUNCTION)
        self.b = metatokend.Server(DAEMON, {
            "service_accounts": [{"id": B_ID, "email": "b@metatoken.iam", "upstream": {
                "key_file": key, "iam_endpoint": self.iam, "ca_file": self.ca,
                "timeout_ms": 500, "retry_interval_ms": 100, "refresh_window_s": 7200}}],
            "functions": [{"name": "tok", "runtime": "python", "python": sys.executable,
                           "handler": "index.handler", "code_dir": home_b}]}, home_b)
        metatokend.until("B ready", lambda: self.b.get("/readyz")[0] == 200)
        self.assertEqual(token_of(self.b), (200, first))
        status, body = self.b.get(TOKEN, GOOGLE)
        self.assertGreater(json.loads(body)["expires_in"], 3000)
        self.assertEqual(self.protected(token_of(self.b)[1]), 200)
        self.assertEqual(self.context_token(), first)
        # An exchange at B for its upstream account gives the same real token.
        key_b = os.path.join(self.tmp, "key-b.json")
        env = dict(os.environ, METATOKEN_SERVER=self.b.addr,
                   METATOKEN_ADMIN_SECRET=self.b.secret)
        rc, out, err = run([CLI, "admin", "key", "create", "default", "--output", key_b], env)
        self.assertEqual(rc, 0, err)
        env = {k: v for k, v in os.environ.items() if not k.startswith("METATOKEN_")}
        rc, out, err = run([CLI, "token", "--key-file", key_b, "--iam-endpoint",
                            "http://%s/iam/v1/tokens" % self.b.addr, "--json"], env)
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out)["access_token"], first)
        self.assertGreater(json.loads(out)["expires_in"], 3000)

        def view():
            return self.b.control("GET", "accounts/default")["upstream"]

        # A's exchange fails: B serves the last good token and says so.
        self.a.control("POST", "faults", {"path": "/iam/v1/tokens", "status": 503})
        metatokend.until("B sees the 503", lambda: "503" in (view()["last_error"] or ""))
        self.assertIs(view()["serving_last_good"], True)
        self.assertEqual(token_of(self.b), (200, first))
        # A stalls: each exchange is held past B's 500 ms timeout.
        self.a.control("DELETE", "faults")
        self.a.control("POST", "faults", {"path": "/iam/v1/tokens", "latency_ms": 3000})
        before = view()["failures"]
        metatokend.until("B times out on A", lambda: view()["failures"] > before + 1 and
                         "503" not in (view()["last_error"] or ""))
        self.assertIn("did not answer in time", view()["last_error"])
        self.assertEqual(token_of(self.b), (200, first))
        self.assertEqual(self.b.get("/readyz")[0], 200)
        # A recovers with a new token: B picks it up.
        self.a.control("DELETE", "faults")
        self.a.control("POST", "accounts/default/expire")
        second = token_of(self.a)[1]
        self.assertNotEqual(second, first)
        self.b.wait_log("upstream %s: recovered" % B_ID)
        metatokend.until("B serves A's new token", lambda: token_of(self.b) == (200, second))
        self.assertIs(view()["serving_last_good"], False)
        self.assertEqual(self.protected(second), 200)
        self.assertEqual(self.context_token(), second)

        for srv in (self.a, self.b):
            log = srv.log_text()
            for t in (first, second):
                self.assertNotIn(t, log)


if __name__ == "__main__":
    DAEMON, CLI, GEN_CERTS = sys.argv[1:4]
    del sys.argv[1:4]
    unittest.main()
