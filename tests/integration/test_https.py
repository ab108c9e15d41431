#!/usr/bin/env python3
"""metatokend's HTTPS listener, end to end: certificates from
scripts/gen-certs in a private folder, the real metatokend with a TLS
listener on an ephemeral loopback port beside the plain one, and clients we
did not write (curl, Python requests) that verify it with the generated CA.
Then what gen-certs writes (modes, SANs, serverAuth, the CA kept unless
--force), the --tls-* flags on IPv6, and each start-up refusal of a bad
certificate or key.

usage: test_https.py PATH/TO/metatokend PATH/TO/scripts/gen-certs
(run with Debian's /usr/bin/python3, which has python3-requests)
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import metatokend  # noqa: E402

DAEMON = GEN_CERTS = None
SERVER = TMP = CA = None
TOKEN = "/computeMetadata/v1/instance/service-accounts/default/token"
GOOGLE = ("-H", "Metadata-Flavor: Google")
# Nothing of the caller's may make curl or requests trust another CA or use a proxy.
CLEAN_ENV = {k: v for k, v in os.environ.items()
             if k not in ("CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE",
                          "https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "all_proxy",
                          "ALL_PROXY")}

INDEX_PY = '''
def handler(event, context):
    name = (event.get("queryStringParameters") or {}).get("name", "world")
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
            "body": '{"hello": "%s"}' % name}
'''


def gen_certs(folder, *args):
    p = subprocess.run([GEN_CERTS] + list(args) + [folder], capture_output=True, text=True,
                       timeout=metatokend.BOUND_S, env=CLEAN_ENV)
    if p.returncode != 0:
        raise AssertionError("gen-certs: %s" % p.stderr)
    return p.stdout


def curl(url, *args, data=None):
    """(curl's exit status, HTTP status or 0, body text, stderr)."""
    cmd = ["curl", "-sS", "--noproxy", "*", "--max-time", str(metatokend.BOUND_S),
           "-o", "-", "-w", "\n%{http_code}"] + list(args)
    if data is not None:
        cmd += ["--data-binary", data]
    p = subprocess.run(cmd + [url], capture_output=True, text=True,
                       timeout=metatokend.BOUND_S, env=CLEAN_ENV)
    body, _, code = p.stdout.rpartition("\n")
    return p.returncode, int(code or 0), body, p.stderr


def setUpModule():
    global SERVER, TMP, CA
    TMP = tempfile.mkdtemp(prefix="metatoken-https-")
    gen_certs(os.path.join(TMP, "certs"))
    CA = os.path.join(TMP, "certs", "ca.pem")
    with open(os.path.join(TMP, "index.py"), "w") as f:
        f.write(INDEX_PY)
    # The files relative to the configuration's folder (TMP), as a user
    # would write them.
    SERVER = metatokend.Server(DAEMON, {
        "tls": {"listen": "127.0.0.1:0", "cert_file": "certs/server.pem",
                "key_file": "certs/server.key"},
        "functions": [{"name": "hello", "runtime": "python", "python": "/usr/bin/python3",
                       "handler": "index.handler", "code_dir": TMP}]}, TMP)


def tearDownModule():
    code = SERVER.stop() if SERVER else 0
    log = SERVER.log_text() if SERVER else ""
    shutil.rmtree(TMP, ignore_errors=True)
    # The drain with both listeners ends cleanly (and, under ASan, with
    # nothing leaked).
    if code != 0:
        raise AssertionError("metatokend exited %d on SIGTERM:\n%s" % (code, log))


def held():
    """Requests held now, from /metrics on the plain listener."""
    rc, status, body, err = curl(SERVER.base + "/metrics")
    if (rc, status) != (0, 200):
        raise AssertionError("/metrics: %s %s" % (err, body))
    return int(re.search(r"(?m)^metatoken_requests_held (\d+)$", body).group(1))


def https_addr():
    """The HTTPS listener's host:port, from the banner (port 0 was asked for)."""
    for line in SERVER.banner_lines:
        m = re.search(r"https://(127\.0\.0\.1:\d+) ", line)
        if m:
            return m.group(1)
    raise AssertionError("no https:// line in the banner: %s" % SERVER.banner_lines)


class Https(unittest.TestCase):
    def setUp(self):
        self.addr = https_addr()
        self.port = self.addr.rsplit(":", 1)[1]
        self.base = "https://" + self.addr

    def test_the_banner_shows_both_listeners(self):
        self.assertNotEqual(self.addr, SERVER.addr)
        self.assertTrue(SERVER.banner_lines[0].startswith(
            "metatokend listening on http://%s " % SERVER.addr), SERVER.banner_lines[0])
        self.assertNotEqual(self.port, "0")

    def test_a_token_over_https_by_address_and_by_name(self):
        for base in (self.base, "https://localhost:" + self.port):
            rc, status, body, err = curl(base + TOKEN, "--cacert", CA, *GOOGLE)
            self.assertEqual((rc, status), (0, 200), err + body)
            doc = json.loads(body)
            self.assertTrue(doc["access_token"].startswith("t1."), doc)
            self.assertEqual(doc["token_type"], "Bearer")

    def test_the_same_token_on_both_listeners(self):
        _, _, over_tls, err = curl(self.base + TOKEN, "--cacert", CA, *GOOGLE)
        _, _, plain, _ = curl(SERVER.base + TOKEN, *GOOGLE)
        self.assertEqual(json.loads(over_tls)["access_token"], json.loads(plain)["access_token"],
                         err)

    def test_the_control_api_over_https(self):
        rc, status, body, err = curl(self.base + "/metatoken/v1/accounts", "--cacert", CA,
                                     "-H", "Authorization: Bearer " + SERVER.secret)
        self.assertEqual((rc, status), (0, 200), err + body)
        self.assertIn("default@metatoken-local.iam.gserviceaccount.com", body)
        # And its secret is still required there.
        rc, status, body, err = curl(self.base + "/metatoken/v1/accounts", "--cacert", CA)
        self.assertEqual((rc, status), (0, 401), err + body)

    def test_the_aws_flavour_and_ops_over_https(self):
        rc, status, token, err = curl(self.base + "/latest/api/token", "--cacert", CA,
                                      "-X", "PUT",
                                      "-H", "X-aws-ec2-metadata-token-ttl-seconds: 60")
        self.assertEqual((rc, status), (0, 200), err + token)
        rc, status, body, err = curl(self.base + "/latest/meta-data/iam/security-credentials/",
                                     "--cacert", CA, "-H", "X-aws-ec2-metadata-token: " + token)
        self.assertEqual((rc, status, body), (0, 200, "metatoken-role"), err)
        rc, status, body, err = curl(self.base + "/metrics", "--cacert", CA)
        self.assertEqual((rc, status), (0, 200), err + body)
        self.assertIn("metatoken_requests_held", body)

    def test_the_hardening_rules_hold_over_https(self):
        rc, status, body, err = curl(self.base + TOKEN, "--cacert", CA, *GOOGLE,
                                     "-H", "X-Forwarded-For: 10.0.0.9")
        self.assertEqual((rc, status), (0, 403), err + body)
        rc, status, body, err = curl(self.base + TOKEN, "--cacert", CA, *GOOGLE,
                                     "-H", "Host: evil.example")
        self.assertEqual(rc, 0, err)
        self.assertNotEqual(status, 200, body)
        self.assertNotIn("access_token", body)
        rc, status, body, err = curl(self.base + TOKEN, "--cacert", CA)  # no Metadata-Flavor
        self.assertEqual((rc, status), (0, 403), err + body)

    def test_without_the_ca_verification_fails(self):
        rc, status, body, err = curl(self.base + TOKEN, *GOOGLE)
        self.assertEqual(rc, 60, err)  # CURLE_PEER_FAILED_VERIFICATION
        self.assertEqual(status, 0)
        self.assertNotIn("access_token", body)

    def test_plain_http_to_the_tls_port_gets_nothing(self):
        rc, status, body, err = curl("http://" + self.addr + TOKEN, *GOOGLE)
        self.assertNotEqual(rc, 0, body)
        self.assertEqual(status, 0, body)
        self.assertNotIn("access_token", body)
        # And the listener still serves afterwards.
        rc, status, _, err = curl(self.base + TOKEN, "--cacert", CA, *GOOGLE)
        self.assertEqual((rc, status), (0, 200), err)

    def test_tls_to_the_plain_port_fails_and_plain_still_serves(self):
        rc, _, _, _ = curl("https://" + SERVER.addr + TOKEN, "--cacert", CA, *GOOGLE)
        self.assertNotEqual(rc, 0)
        rc, status, body, err = curl(SERVER.base + TOKEN, *GOOGLE)
        self.assertEqual((rc, status), (0, 200), err + body)
        self.assertIn("access_token", body)

    def test_a_function_over_https_and_its_runtime_api_unaffected(self):
        # The runtime (metatoken-python-runtime) polls the Runtime API on
        # the plain daemon, which TLS must not touch; the call comes in
        # over HTTPS, by the HTTP flavour and by the Invoke API.
        rc, status, body, err = curl(self.base + "/functions/hello?name=tls", "--cacert", CA)
        self.assertEqual((rc, status), (0, 200), err + body + SERVER.log_text())
        self.assertEqual(json.loads(body), {"hello": "tls"})
        rc, status, body, err = curl(self.base + "/2015-03-31/functions/hello/invocations",
                                     "--cacert", CA, "-X", "POST",
                                     data='{"queryStringParameters": {"name": "invoke"}}')
        self.assertEqual((rc, status), (0, 200), err + body)
        self.assertEqual(json.loads(json.loads(body)["body"]), {"hello": "invoke"})
        # And over the plain listener, the same.
        status, _, body = SERVER.invoke("hello", {"queryStringParameters": {"name": "plain"}})
        self.assertEqual(status, 200, body)

    def test_a_held_request_over_https_is_woken_by_a_change(self):
        # wait_for_change holds the request (libmicrohttpd suspends the TLS
        # connection); a change made through the control API wakes it.
        url = self.base + "/computeMetadata/v1/instance/attributes/serial-port-enable"
        rc, status, first, err = curl(url, "--cacert", CA, *GOOGLE, "-D", "/dev/stderr")
        self.assertEqual((rc, status), (0, 200), err)
        etag = re.search(r"(?im)^etag: *(\S+)", err).group(1)
        got = {}

        def watch():
            got["r"] = curl(url + "?wait_for_change=true&timeout_sec=600&last_etag=" + etag,
                            "--cacert", CA, *GOOGLE)

        before = held()
        t = threading.Thread(target=watch)
        t.start()
        # Change the value only once the watch is held (/metrics counts it),
        # or it would answer at once and prove nothing about holding.
        deadline = time.monotonic() + metatokend.BOUND_S
        while held() <= before and time.monotonic() < deadline:
            time.sleep(0.01)
        self.assertGreater(held(), before, "the watch over HTTPS was never held")
        SERVER.control("PATCH", "instance", {"attributes": {"serial-port-enable": "7"}})
        t.join(metatokend.BOUND_S)
        self.assertFalse(t.is_alive(), "the held request was never answered")
        rc, status, body, err = got["r"]
        self.assertEqual((rc, status, body), (0, 200, "7"), err)
        SERVER.control("POST", "reset", {})

    def test_python_requests_verifies_with_the_ca(self):
        with requests.Session() as s:
            s.trust_env = False
            for _ in range(2):  # the second on the kept-alive connection
                r = s.get(self.base + TOKEN, headers={"Metadata-Flavor": "Google"}, verify=CA,
                          timeout=metatokend.BOUND_S)
                self.assertEqual(r.status_code, 200, r.text)
                self.assertIn("access_token", r.json())
        # Without the CA, on a new session: requests would reuse the
        # verified connection above whatever `verify` says.
        with requests.Session() as s:
            s.trust_env = False
            with self.assertRaises(requests.exceptions.SSLError):
                s.get(self.base + TOKEN, headers={"Metadata-Flavor": "Google"},
                      timeout=metatokend.BOUND_S)


class GenCerts(unittest.TestCase):
    """scripts/gen-certs: what it writes, and that it keeps the CA."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="metatoken-gen-certs-")
        self.certs = os.path.join(self.dir, "certs")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def read(self, name):
        with open(os.path.join(self.certs, name), "rb") as f:
            return f.read()

    def openssl(self, *args):
        p = subprocess.run(["openssl"] + list(args), capture_output=True, text=True,
                           timeout=metatokend.BOUND_S)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout

    def test_what_it_writes(self):
        out = gen_certs(self.certs)
        for name, mode in (("ca.key", 0o600), ("server.key", 0o600), ("ca.pem", 0o644),
                           ("server.pem", 0o644)):
            got = os.stat(os.path.join(self.certs, name)).st_mode & 0o777
            self.assertEqual(got, mode, "%s: %o" % (name, got))
        self.assertEqual(sorted(os.listdir(self.certs)),
                         ["ca.key", "ca.pem", "server.key", "server.pem"])
        server, ca = os.path.join(self.certs, "server.pem"), os.path.join(self.certs, "ca.pem")
        self.openssl("verify", "-CAfile", ca, "-purpose", "sslserver", server)
        text = self.openssl("x509", "-in", server, "-noout", "-text")
        self.assertIn("DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1", text)
        self.assertRegex(text, r"Extended Key Usage: *\n *TLS Web Server Authentication\n")
        self.assertRegex(text, r"CA:FALSE")
        # It says how to use them.
        self.assertIn("--tls-cert %s" % server, out)
        self.assertIn("curl --cacert %s" % ca, out)

    def test_the_ca_is_kept_unless_forced(self):
        gen_certs(self.certs)
        ca, server = self.read("ca.pem"), self.read("server.pem")
        out = gen_certs(self.certs)
        self.assertEqual(self.read("ca.pem"), ca)
        self.assertNotEqual(self.read("server.pem"), server)
        self.assertIn("reused CA", out)
        self.openssl("verify", "-CAfile", os.path.join(self.certs, "ca.pem"),
                     os.path.join(self.certs, "server.pem"))
        gen_certs(self.certs, "--force")
        self.assertNotEqual(self.read("ca.pem"), ca)
        self.openssl("verify", "-CAfile", os.path.join(self.certs, "ca.pem"),
                     os.path.join(self.certs, "server.pem"))

    def test_half_a_ca_is_refused(self):
        gen_certs(self.certs)
        os.unlink(os.path.join(self.certs, "ca.key"))
        p = subprocess.run([GEN_CERTS, self.certs], capture_output=True, text=True,
                           timeout=metatokend.BOUND_S, env=CLEAN_ENV)
        self.assertEqual(p.returncode, 1)
        self.assertIn("has only one of ca.pem and ca.key; run with --force", p.stderr)


def have_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


class CommandLine(unittest.TestCase):
    """The --tls-* flags instead of the configuration, with no functions (so
    a pool of request threads), on IPv6 loopback: the certificate's ::1."""

    @unittest.skipUnless(have_ipv6_loopback(), "no IPv6 loopback here")
    def test_flags_and_ipv6(self):
        tmp = tempfile.mkdtemp(prefix="metatoken-https-flags-")
        try:
            gen_certs(os.path.join(tmp, "certs"))
            srv = metatokend.Server(DAEMON, {}, tmp, args=[
                "--tls-listen", "[::1]:0",
                "--tls-cert", os.path.join(tmp, "certs", "server.pem"),
                "--tls-key", os.path.join(tmp, "certs", "server.key")])
            try:
                m = re.search(r"https://(\[::1\]:(\d+)) ", "\n".join(srv.banner_lines))
                self.assertTrue(m, srv.banner_lines)
                ca = os.path.join(tmp, "certs", "ca.pem")
                for base in ("https://" + m.group(1), "https://localhost:" + m.group(2)):
                    rc, status, body, err = curl(base + TOKEN, "--cacert", ca, *GOOGLE)
                    self.assertEqual((rc, status), (0, 200), err + body)
                    self.assertIn("access_token", body)
                self.assertIn("and https://[::1]:%s with" % m.group(2), srv.log_text())
            finally:
                self.assertEqual(srv.stop(), 0, srv.log_text())
                srv.proc.stderr.close()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


class Refusals(unittest.TestCase):
    """Each bad certificate or key stops metatokend at start: exit status 2,
    one line saying what and where, no crash, no listener left."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="metatoken-https-refusals-")
        cls.certs = os.path.join(cls.dir, "certs")
        gen_certs(cls.certs)
        cls.other = os.path.join(cls.dir, "other")
        gen_certs(cls.other)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def start(self, *args):
        env = dict(CLEAN_ENV, HOME=self.dir)
        env.pop("XDG_RUNTIME_DIR", None)
        p = subprocess.run([DAEMON, "--listen", "127.0.0.1:0", "--tls-listen", "127.0.0.1:0"]
                           + list(args), stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=metatokend.BOUND_S, env=env)
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertEqual(p.stdout, "")
        self.assertNotIn("Sanitizer", p.stderr)
        return p.stderr

    def path(self, name, folder=None):
        return os.path.join(folder or self.certs, name)

    def test_a_missing_certificate(self):
        missing = self.path("nope.pem")
        err = self.start("--tls-cert", missing, "--tls-key", self.path("server.key"))
        self.assertEqual(err, "metatokend: %s: cannot read the TLS certificate: "
                              "No such file or directory\n" % missing)

    def test_a_key_others_may_read(self):
        key = self.path("loose.key")
        shutil.copy(self.path("server.key"), key)
        os.chmod(key, 0o644)
        err = self.start("--tls-cert", self.path("server.pem"), "--tls-key", key)
        self.assertEqual(err, "metatokend: %s: holds the TLS private key but its mode is 644, "
                              "so other users may read it: run `chmod 600 %s`\n" % (key, key))

    def test_a_key_that_does_not_match(self):
        key = self.path("server.key", self.other)
        err = self.start("--tls-cert", self.path("server.pem"), "--tls-key", key)
        self.assertEqual(err, "metatokend: %s: the private key does not match the certificate "
                              "in %s\n" % (key, self.path("server.pem")))

    def test_garbage_pem(self):
        junk = self.path("junk.pem")
        with open(junk, "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
        os.chmod(junk, 0o600)
        err = self.start("--tls-cert", junk, "--tls-key", self.path("server.key"))
        self.assertIn("metatokend: %s: not a PEM certificate" % junk, err)
        err = self.start("--tls-cert", self.path("server.pem"), "--tls-key", junk)
        self.assertIn("metatokend: %s: not an unencrypted PEM private key" % junk, err)

    def test_a_pair_openssl_takes_and_gnutls_refuses(self):
        # A brainpool curve: OpenSSL reads it, GnuTLS (libmicrohttpd's TLS)
        # has no such curve, so libmicrohttpd fails to start and its reason
        # is passed on.
        cert, key = self.path("bp.pem"), self.path("bp.key")
        p = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:brainpoolP256r1", "-nodes", "-keyout", key,
                            "-out", cert, "-subj", "/CN=localhost", "-days", "1"],
                           capture_output=True, text=True, timeout=metatokend.BOUND_S)
        if p.returncode != 0:
            self.skipTest("this openssl makes no brainpool key: %s" % p.stderr)
        os.chmod(key, 0o600)
        err = self.start("--tls-cert", cert, "--tls-key", key)
        self.assertRegex(err, r"^metatokend: cannot start the HTTPS daemon on 127\.0\.0\.1:\d+: "
                              r"GnuTLS failed to setup x509 certificate/key: .+\n$")

    def test_a_key_without_a_certificate_and_a_bad_address(self):
        err = self.start("--tls-key", self.path("server.key"))
        self.assertIn("HTTPS needs a certificate and its key: give --tls-cert FILE", err)
        err = self.start("--tls-cert", self.path("server.pem"), "--tls-key",
                         self.path("server.key"), "--tls-listen", "127.0.0.1")
        self.assertEqual(err, "metatokend: --tls-listen: missing port; expected host:port, "
                              "[v6]:port or :port\n")

    def test_a_config_section_with_a_bad_field(self):
        cfg = os.path.join(self.dir, "bad.json")
        with open(cfg, "w") as f:
            json.dump({"tls": {"cert_file": "certs/server.pem", "key": "certs/server.key"}}, f)
        env = dict(CLEAN_ENV, HOME=self.dir)
        p = subprocess.run([DAEMON, "--listen", "127.0.0.1:0", "--config", cfg],
                           capture_output=True, text=True, timeout=metatokend.BOUND_S, env=env)
        self.assertEqual(p.returncode, 2)
        self.assertEqual(p.stderr, "metatokend: %s: tls.key: unknown key\n" % cfg)


if __name__ == "__main__":
    DAEMON, GEN_CERTS = sys.argv[1], sys.argv[2]
    unittest.main(argv=sys.argv[:1], verbosity=2)
