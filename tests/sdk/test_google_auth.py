#!/usr/bin/python3
"""python3-google-auth (Debian) obtains a token from a running metatokend.

Usage: test_google_auth.py PATH_TO_METATOKEND

google-auth 1.5 reads GCE_METADATA_ROOT and GCE_METADATA_IP at import time
(PROTOCOL.md section 5), so the server starts first and the library is
imported after the environment points at it. HOME and the gcloud config
directory are empty temporary folders so that no real credentials on the
machine can answer instead of the server.
"""
import datetime
import json
import os
import subprocess
import sys
import tempfile
import unittest
import urllib.request

SERVER = None
ADDR = None
EMAIL = "default@metatoken-local.iam.gserviceaccount.com"


def start_server(binary):
    proc = subprocess.Popen(
        [binary, "--listen", "127.0.0.1:0", "--log-level", "warn"],
        stdout=subprocess.PIPE, text=True)
    for line in proc.stdout:
        if line.startswith("export GCE_METADATA_HOST="):
            proc.stdout.close()
            return proc, line.split("=", 1)[1].strip()
    proc.kill()
    raise RuntimeError("metatokend printed no address")


def isolate(addr):
    home = tempfile.mkdtemp(prefix="metatoken-home-")
    for name in list(os.environ):
        if name.startswith(("GOOGLE_", "GCE_", "CLOUDSDK_", "GCLOUD_")) or \
                name.lower() in ("http_proxy", "https_proxy", "all_proxy"):
            del os.environ[name]
    os.environ.update({
        "HOME": home,
        "CLOUDSDK_CONFIG": os.path.join(home, "gcloud"),
        "NO_PROXY": "*",
        "GCE_METADATA_ROOT": addr,
        "GCE_METADATA_IP": addr,
    })


def fetch_raw_token():
    """What curl gets from the token path."""
    req = urllib.request.Request(
        "http://%s/computeMetadata/v1/instance/service-accounts/default/token" % ADDR,
        headers={"Metadata-Flavor": "Google"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(req, timeout=5) as resp:
        return json.loads(resp.read())


class GoogleAuthAgainstMetatokend(unittest.TestCase):
    def assert_fresh_token(self, creds):
        self.assertTrue(creds.token.startswith("t1."), "not our token shape")
        self.assertTrue(creds.valid)
        self.assertFalse(creds.expired)
        life = creds.expiry - datetime.datetime.utcnow()
        self.assertGreater(life, datetime.timedelta(hours=11, minutes=50))
        self.assertLessEqual(life, datetime.timedelta(hours=12, seconds=5))

    def test_compute_engine_credentials_refresh_http_client(self):
        from google.auth import compute_engine
        from google.auth.transport import _http_client
        creds = compute_engine.Credentials()
        creds.refresh(_http_client.Request())
        self.assert_fresh_token(creds)
        # refresh() read the account's email from the recursive view, then
        # asked the email path for the token.
        self.assertEqual(creds.service_account_email, EMAIL)
        self.assertEqual(creds.token, fetch_raw_token()["access_token"])

    def test_compute_engine_credentials_refresh_requests(self):
        from google.auth import compute_engine
        import google.auth.transport.requests
        creds = compute_engine.Credentials()
        request = google.auth.transport.requests.Request()
        creds.refresh(request)
        request.session.close()
        self.assert_fresh_token(creds)

    def test_default_finds_the_metadata_server(self):
        import google.auth
        from google.auth import compute_engine
        from google.auth.transport import _http_client
        creds, project = google.auth.default()
        self.assertIsInstance(creds, compute_engine.Credentials)
        self.assertEqual(project, "metatoken-local")
        creds.refresh(_http_client.Request())
        self.assert_fresh_token(creds)
        # The server caches: every client gets the same token.
        self.assertEqual(creds.token, fetch_raw_token()["access_token"])

    def test_metadata_helpers_read_the_tree(self):
        from google.auth.compute_engine import _metadata
        from google.auth.transport import _http_client
        request = _http_client.Request()
        self.assertTrue(_metadata.ping(request))
        self.assertEqual(_metadata.get_project_id(request), "metatoken-local")
        info = _metadata.get_service_account_info(request)
        self.assertEqual(info["email"], EMAIL)
        self.assertEqual(info["aliases"], ["default"])


class IdentityTokens(unittest.TestCase):
    def fetch_identity(self, audience, full):
        from google.auth.compute_engine import _metadata
        from google.auth.transport import _http_client
        path = "instance/service-accounts/default/identity?audience=%s%s" % (
            audience, "&format=full" if full else "")
        return _metadata.get(_http_client.Request(), path)

    def test_id_tokens_verify_with_google_auth(self):
        from google.oauth2 import id_token
        import google.auth.transport.requests
        request = google.auth.transport.requests.Request()
        certs = "http://%s/oauth2/v1/certs" % ADDR
        token = self.fetch_identity("https://api.example", full=True)
        claims = id_token.verify_token(token, request, audience="https://api.example",
                                       certs_url=certs)
        self.assertEqual(claims["iss"], "https://accounts.google.com")
        self.assertEqual(claims["email"], EMAIL)
        self.assertEqual(claims["google"]["compute_engine"]["project_id"], "metatoken-local")
        # Another audience is refused, and so is a tampered token.
        with self.assertRaises(ValueError):
            id_token.verify_token(token, request, audience="https://other.example",
                                  certs_url=certs)
        head, body, sig = token.split(".")
        with self.assertRaises(ValueError):
            id_token.verify_token(head + "." + body + "." + sig[:-2] + ("AA" if sig[-2:] != "AA" else "BA"),
                                  request, audience="https://api.example", certs_url=certs)
        request.session.close()


def main():
    global SERVER, ADDR
    if len(sys.argv) != 2:
        sys.exit("usage: test_google_auth.py PATH_TO_METATOKEND")
    SERVER, ADDR = start_server(sys.argv[1])
    isolate(ADDR)
    try:
        prog = unittest.main(argv=[sys.argv[0], "-v"], exit=False)
    finally:
        SERVER.terminate()
        code = SERVER.wait(timeout=10)
    if code != 0:
        print("metatokend exited with status %d after SIGTERM" % code)
        sys.exit(1)
    sys.exit(0 if prog.result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
