#!/usr/bin/env python3
"""`metatoken token --key-file` against a stand-in IAM endpoint over HTTPS on
loopback, with code we did not write on the other side: PyJWT verifies the
client's PS256 JWT with the key's public half (kid, iss, aud, iat/exp), the
server answers Yandex's {"iamToken","expiresAt"} or {"code","message"}.
A CA and a server certificate for 127.0.0.1 are generated here, in a
private folder (never committed): --cacert makes the client trust it,
without it (or for another host name) the TLS handshake fails.

usage: test_cli_iam.py PATH/TO/metatoken   (Debian's /usr/bin/python3:
python3-jwt, python3-cryptography)
"""
import datetime
import http.server
import ipaddress
import json
import os
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

CLI = None
BOUND_S = 30  # no run takes this long unless it hangs
AUD = "https://iam.api.cloud.yandex.net/iam/v1/tokens"
KEY_ID = "ajekeyclitest"
SA_ID = "ajesaclitest"


def pem_private(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def write(path, text, mode=0o600):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def key_file(path, key, key_id, mode=0o600):
    pub = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    write(path, json.dumps({
        "id": key_id, "service_account_id": SA_ID,
        "created_at": "2026-11-30T12:00:00.000000Z", "key_algorithm": "RSA_2048",
        "public_key": pub.decode(),
        "private_key": "PLEASE DO NOT REMOVE THIS LINE! Yandex.Cloud SA Key ID %s\n%s"
                       % (key_id, pem_private(key))}), mode)


def certificates(folder):
    """A CA, and a certificate for 127.0.0.1 only that it signed."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "metatoken test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                       crl_sign=True, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False,
                                       decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    srv_key = ec.generate_private_key(ec.SECP256R1())
    srv = (x509.CertificateBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
           .issuer_name(ca_name).public_key(srv_key.public_key())
           .serial_number(x509.random_serial_number())
           .not_valid_before(now - datetime.timedelta(minutes=5))
           .not_valid_after(now + datetime.timedelta(days=1))
           .add_extension(x509.SubjectAlternativeName(
               [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
           .sign(ca_key, hashes.SHA256()))
    paths = {n: os.path.join(folder, n) for n in ("ca.pem", "server.pem", "server.key")}
    write(paths["ca.pem"], ca.public_bytes(serialization.Encoding.PEM).decode(), 0o644)
    write(paths["server.pem"], srv.public_bytes(serialization.Encoding.PEM).decode())
    write(paths["server.key"], pem_private(srv_key))
    return paths


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, doc):
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def refuse(self, why):
        self.answer(401, {"code": 16, "message": why, "details": []})

    def do_POST(self):
        srv = self.server
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        srv.seen.append((self.path, self.headers.get("Content-Type"), body))
        if self.path != "/iam/v1/tokens":
            return self.answer(404, {"code": 5, "message": "Not Found"})
        try:
            token = json.loads(body)["jwt"]
            kid = jwt.get_unverified_header(token).get("kid")
            if kid != KEY_ID:
                return self.refuse("unknown key id %s" % kid)
            claims = jwt.decode(token, srv.public_key, algorithms=["PS256"], audience=AUD,
                                issuer=SA_ID, options={"require": ["iat", "exp"]})
        except Exception as e:  # every refusal is the client's fault here
            return self.refuse("bad JWT: %s" % e)
        if claims["exp"] - claims["iat"] != 3600 or abs(claims["iat"] - time.time()) > 60:
            return self.refuse("bad iat/exp %r" % claims)
        srv.issued += 1
        at = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
        self.answer(200, {"iamToken": "t1.cli-%d" % srv.issued,
                          "expiresAt": at.strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"})


class CliIam(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="mtk-cli-iam-")
        d = cls.tmp.name
        cls.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        cls.key = os.path.join(d, "key.json")
        key_file(cls.key, cls.rsa, KEY_ID)
        cls.certs = certificates(d)
        cls.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        cls.httpd.seen, cls.httpd.issued = [], 0
        cls.httpd.public_key = cls.rsa.public_key()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cls.certs["server.pem"], cls.certs["server.key"])
        cls.httpd.socket = ctx.wrap_socket(cls.httpd.socket, server_side=True)
        cls.port = cls.httpd.server_address[1]
        cls.url = "https://127.0.0.1:%d/iam/v1/tokens" % cls.port
        threading.Thread(target=cls.httpd.serve_forever, daemon=True).start()

    @classmethod
    def tearDownClass(cls):
        cls.httpd.shutdown()
        cls.httpd.server_close()
        cls.tmp.cleanup()

    def run_cli(self, *args, env=None):
        e = {k: v for k, v in os.environ.items()
             if k not in ("METATOKEN_IAM_ENDPOINT", "YC_METADATA_ADDR", "GCE_METADATA_HOST")}
        e.update(env or {})
        return subprocess.run([CLI, "token", *args], capture_output=True, text=True,
                              timeout=BOUND_S, env=e)

    def test_a_token_over_https_with_the_generated_ca(self):
        before = self.httpd.issued
        r = self.run_cli("--key-file", self.key, "--iam-endpoint", self.url,
                         "--cacert", self.certs["ca.pem"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "t1.cli-%d\n" % (before + 1))
        path, ctype, body = self.httpd.seen[-1]
        self.assertEqual(ctype, "application/json")
        self.assertEqual(list(json.loads(body)), ["jwt"])

    def test_json_has_the_life_left_from_expires_at(self):
        r = self.run_cli("--json", "--key-file", self.key, "--iam-endpoint", self.url,
                         "--cacert", self.certs["ca.pem"])
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        self.assertTrue(doc["access_token"].startswith("t1.cli-"), doc)
        self.assertEqual(doc["token_type"], "Bearer")
        self.assertTrue(3590 <= doc["expires_in"] <= 3600, doc)

    def test_the_endpoint_from_the_environment(self):
        r = self.run_cli("--key-file", self.key, "--cacert", self.certs["ca.pem"],
                         env={"METATOKEN_IAM_ENDPOINT": self.url})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.startswith("t1.cli-"), r.stdout)

    def test_without_the_ca_the_certificate_is_not_trusted(self):
        seen = len(self.httpd.seen)
        r = self.run_cli("--key-file", self.key, "--iam-endpoint", self.url)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("POST %s: " % self.url, r.stderr)
        self.assertIn("certificate was not trusted", r.stderr)
        self.assertIn("(1 attempt)", r.stderr, "not retried")
        self.assertEqual(len(self.httpd.seen), seen, "no request got through")
        self.assertNotIn("t1.", r.stdout)

    def test_a_host_name_the_certificate_does_not_name_is_refused(self):
        url = "https://localhost:%d/iam/v1/tokens" % self.port
        r = self.run_cli("--key-file", self.key, "--iam-endpoint", url,
                         "--cacert", self.certs["ca.pem"])
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("POST %s: " % url, r.stderr)
        self.assertIn("did not name its host", r.stderr)

    def test_a_refusal_says_the_servers_message(self):
        other = os.path.join(self.tmp.name, "other.json")
        key_file(other, self.rsa, "ajeunknown")
        r = self.run_cli("--key-file", other, "--iam-endpoint", self.url,
                         "--cacert", self.certs["ca.pem"])
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("HTTP 401", r.stderr)
        self.assertIn("code 16: unknown key id ajeunknown", r.stderr)

    def test_a_key_file_others_may_read_is_refused_with_the_fix(self):
        loose = os.path.join(self.tmp.name, "loose.json")
        key_file(loose, self.rsa, KEY_ID, 0o644)
        seen = len(self.httpd.seen)
        r = self.run_cli("--key-file", loose, "--iam-endpoint", self.url)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("chmod 600 %s" % loose, r.stderr)
        self.assertEqual(len(self.httpd.seen), seen)

    def test_bad_command_lines(self):
        for args in (["--key-file", self.key, "--server", "127.0.0.1:1"],
                     ["--key-file", self.key, "--flavour", "aws"],
                     ["--iam-endpoint", self.url],
                     ["--key-file", self.key, "--iam-endpoint", "ftp://x/"],
                     ["--key-file", self.key, "--cacert", "/nonexistent/ca.pem"]):
            r = self.run_cli(*args)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertTrue(r.stderr.startswith("metatoken"), r.stderr)
        r = self.run_cli("--key-file", self.key, "--cacert", "/nonexistent/ca.pem")
        self.assertIn("/nonexistent/ca.pem", r.stderr)

    def test_help_names_the_iam_options(self):
        r = self.run_cli("--help")
        self.assertEqual(r.returncode, 0)
        for opt in ("--key-file FILE", "--iam-endpoint URL", "--cacert FILE",
                    "METATOKEN_IAM_ENDPOINT"):
            self.assertIn(opt, r.stdout)


if __name__ == "__main__":
    CLI = sys.argv.pop(1)
    unittest.main(verbosity=2)
