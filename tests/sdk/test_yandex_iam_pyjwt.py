#!/usr/bin/python3
"""Yandex's IAM exchange, as Yandex's documentation shows it, against metatokend.

Usage: test_yandex_iam_pyjwt.py PATH_TO_METATOKEND PATH_TO_METATOKEN_CLI

`metatoken admin key create` writes an authorized-key file; the code below
it follows Yandex's "Getting an IAM token for a service account" example:
PyJWT (Debian's python3-jwt) signs a PS256 JWT with the key's id in the
header, and `requests` POSTs it to /iam/v1/tokens. Code we did not write
checks our exchange: its JWTs, its parsing of our answer. The token is then
used at /protected/, and the exchange's refusals are checked in the shape
a Yandex client reads (code, message).
"""
import json
import os
import re
import stat
import subprocess
import sys
import tempfile
import time
import unittest

import jwt
import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import metatokend  # noqa: E402

METATOKEND = None
CLI = None
AUDIENCE = "https://iam.api.cloud.yandex.net/iam/v1/tokens"
EXPIRES_AT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{1,9}Z$")


class YandexIamExchange(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.home = tempfile.mkdtemp(prefix="metatoken-iam-")
        cls.server = metatokend.Server(METATOKEND, {}, cls.home, level="warn")
        cls.session = requests.Session()
        cls.session.trust_env = False  # no proxy between us and loopback

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def create_key(self, name):
        path = os.path.join(self.home, name)
        env = dict(os.environ, METATOKEN_ADMIN_SECRET=self.server.secret)
        p = subprocess.run([CLI, "admin", "--server", self.server.addr, "key", "create",
                            "default", "--output", path], env=env, capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(path, p.stdout)
        self.assertNotIn("PRIVATE", p.stdout + p.stderr)
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        return path

    def sign(self, key, **override):
        # As in Yandex's documentation.
        now = int(time.time())
        payload = {
            "aud": AUDIENCE,
            "iss": key["service_account_id"],
            "iat": now,
            "exp": now + 3600,
        }
        payload.update(override)
        return jwt.encode(payload, key["private_key"], algorithm="PS256",
                          headers={"kid": key["id"]})

    def exchange(self, encoded_token):
        return self.session.post(self.server.base + "/iam/v1/tokens",
                                 json={"jwt": encoded_token}, timeout=10)

    def test_a_documented_jwt_gets_a_token_that_the_protected_api_accepts(self):
        with open(self.create_key("key.json")) as f:
            key = json.load(f)
        self.assertEqual(key["key_algorithm"], "RSA_2048")
        self.assertTrue(key["private_key"].startswith("-----BEGIN " + "PRIVATE KEY-----"))
        self.assertTrue(re.match(r"^aje[a-z0-9]{17}$", key["id"]), key["id"])

        resp = self.exchange(self.sign(key))
        self.assertEqual(resp.status_code, 200, resp.text)
        doc = resp.json()
        self.assertEqual(sorted(doc), ["expiresAt", "iamToken"])
        self.assertTrue(doc["iamToken"].startswith("t1."), doc)
        self.assertRegex(doc["expiresAt"], EXPIRES_AT)

        protected = self.session.get(self.server.base + "/protected/anything",
                                     headers={"Authorization": "Bearer " + doc["iamToken"]},
                                     timeout=10)
        self.assertEqual(protected.status_code, 200, protected.text)

    def test_refusals_are_in_yandex_error_shape_and_say_which_check(self):
        with open(self.create_key("key2.json")) as f:
            key = json.load(f)
        cases = [
            (self.sign(key, aud="https://example.com/"), 401, 16, "aud"),
            (self.sign(key, iss="ajesomeoneelse000000"), 401, 16, "iss"),
            (self.sign(key, exp=int(time.time()) + 7200), 401, 16, "3600"),
            (jwt.encode({"aud": AUDIENCE, "iss": key["service_account_id"],
                         "iat": int(time.time()), "exp": int(time.time()) + 60},
                        key["private_key"], algorithm="RS256",
                        headers={"kid": key["id"]}), 401, 16, "alg"),
        ]
        for encoded, status, code, word in cases:
            resp = self.exchange(encoded)
            self.assertEqual(resp.status_code, status, resp.text)
            doc = resp.json()
            self.assertEqual(doc["code"], code, doc)
            self.assertIn(word, doc["message"])
            self.assertEqual(doc["details"][0]["@type"],
                             "type.googleapis.com/google.rpc.RequestInfo")
        once = self.sign(key)
        self.assertEqual(self.exchange(once).status_code, 200)
        again = self.exchange(once)
        self.assertEqual(again.status_code, 401)
        self.assertIn("replayed", again.json()["message"])


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    METATOKEND, CLI = sys.argv[1], sys.argv[2]
    del sys.argv[1:]
    unittest.main(verbosity=2)
