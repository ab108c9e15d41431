#!/usr/bin/python3
"""python3-botocore (Debian) obtains metatokend's AWS credentials.

Usage: test_botocore.py PATH_TO_METATOKEND

Two servers: one with the default configuration (IMDSv1 and v2 both
allowed) and one configured v2-only. botocore's default credential chain
finds each through AWS_EC2_METADATA_SERVICE_ENDPOINT alone: HOME is an empty
folder, every other AWS_* variable is gone and the config and credentials
files point at paths that do not exist, so nothing on the machine can
answer instead of the server.

Time is moved on the server with the control API, and on botocore's side by
replacing the credentials object's clock; nothing sleeps.
"""
import datetime
import json
import os
import subprocess
import sys
import tempfile
import unittest
import urllib.error
import urllib.request

ROLE = "metatoken-role"
SERVERS = {}
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
UTC = datetime.timezone.utc


class Server:
    def __init__(self, binary, config=None):
        args = [binary, "--listen", "127.0.0.1:0", "--log-level", "warn"]
        self.tmp = tempfile.mkdtemp(prefix="metatoken-botocore-")
        if config is not None:
            path = os.path.join(self.tmp, "config.json")
            with open(path, "w") as f:
                json.dump(config, f)
            args += ["--config", path]
        env = dict(os.environ, HOME=self.tmp)
        env.pop("XDG_RUNTIME_DIR", None)
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=env)
        self.banner = {}
        for line in self.proc.stdout:
            line = line.strip()
            if line.startswith(("export ", "# export ")):
                name, value = line.split("export ", 1)[1].split("=", 1)
                self.banner[name] = value
            if line == "# Ctrl-C stops it.":
                break
        self.proc.stdout.close()
        if "AWS_EC2_METADATA_SERVICE_ENDPOINT" not in self.banner:
            self.proc.kill()
            raise RuntimeError("metatokend printed no AWS_EC2_METADATA_SERVICE_ENDPOINT line")
        self.endpoint = self.banner["AWS_EC2_METADATA_SERVICE_ENDPOINT"]
        self.base = self.endpoint.rstrip("/")

    def request(self, method, path, headers=None, body=None):
        """(status, headers, body) of one request, errors included."""
        req = urllib.request.Request(self.base + path, method=method, data=body,
                                     headers=headers or {})
        try:
            with OPENER.open(req, timeout=5) as resp:
                return resp.status, resp.headers, resp.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read().decode()

    def control(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        status, _, text = self.request(
            method, "/metatoken/v1/" + path,
            {"Authorization": "Bearer " + self.banner["METATOKEN_ADMIN_SECRET"],
             "Content-Type": "application/json"}, data)
        if status != 200:
            raise AssertionError("control %s %s: %d %s" % (method, path, status, text))
        return json.loads(text)

    def raw_credentials(self):
        """What a v2 client reads from the credentials path."""
        status, _, token = self.request(
            "PUT", "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "60"})
        assert status == 200, status
        status, _, body = self.request(
            "GET", "/latest/meta-data/iam/security-credentials/" + ROLE,
            {"X-aws-ec2-metadata-token": token})
        assert status == 200, status
        return json.loads(body)

    def server_now(self):
        return datetime.datetime.fromtimestamp(self.control("GET", "clock")["now_ms"] / 1000,
                                               UTC)

    def stop(self):
        self.proc.terminate()
        return self.proc.wait(timeout=10)


def isolate(server):
    """Only the endpoint variable leads anywhere."""
    home = tempfile.mkdtemp(prefix="metatoken-home-")
    for name in list(os.environ):
        if name.startswith(("AWS_", "BOTO_")) or \
                name.lower() in ("http_proxy", "https_proxy", "all_proxy"):
            del os.environ[name]
    os.environ.update({
        "HOME": home,
        "NO_PROXY": "*",
        "AWS_CONFIG_FILE": os.path.join(home, "no-such-config"),
        "AWS_SHARED_CREDENTIALS_FILE": os.path.join(home, "no-such-credentials"),
        "AWS_EC2_METADATA_SERVICE_ENDPOINT": server.endpoint,
    })


def botocore_credentials():
    import botocore.session
    session = botocore.session.get_session()
    return session.get_credentials()


class Base(unittest.TestCase):
    server = None

    def setUp(self):
        self.server.control("POST", "reset")
        isolate(self.server)

    def assert_server_credentials(self, creds):
        self.assertIsNotNone(creds, "botocore found no credentials")
        self.assertEqual(creds.method, "iam-role")
        frozen = creds.get_frozen_credentials()
        raw = self.server.raw_credentials()
        # The server caches: botocore got the very set curl gets.
        self.assertEqual(frozen.access_key, raw["AccessKeyId"])
        self.assertEqual(frozen.secret_key, raw["SecretAccessKey"])
        self.assertEqual(frozen.token, raw["Token"])
        self.assertRegex(frozen.access_key, r"^ASIA[A-Z2-7]{16}$")
        self.assertEqual(len(frozen.secret_key), 40)
        self.assertTrue(frozen.token.startswith("t1."))
        # Six hours, not stretched: botocore only stretches short ones.
        life = creds._expiry_time - datetime.datetime.now(UTC)
        self.assertGreater(life, datetime.timedelta(hours=5, minutes=59))
        self.assertLessEqual(life, datetime.timedelta(hours=6, seconds=5))
        return frozen

    def token_requests(self):
        paths = self.server.control("GET", "stats")["requests"]["paths"]
        return paths.get("/latest/api/token", {}).get("200", 0)


class DefaultMode(Base):
    """IMDSv1 and v2 both allowed, as on a default EC2 instance."""

    def test_default_chain_gets_the_role_credentials(self):
        before = self.token_requests()
        creds = botocore_credentials()
        self.assert_server_credentials(creds)
        # botocore asked for an IMDSv2 session first, as it always does.
        self.assertGreater(self.token_requests(), before)

    def test_v1_requests_are_allowed(self):
        status, _, body = self.server.request(
            "GET", "/latest/meta-data/iam/security-credentials/")
        self.assertEqual((status, body), (200, ROLE))

    def test_rotation_before_expiry(self):
        creds = botocore_credentials()
        first = self.assert_server_credentials(creds)
        # The server's clock moves to 4 minutes before expiry: inside its
        # 5-minute reissue margin, and inside botocore's 10-minute mandatory
        # refresh window once botocore's clock is moved there too.
        self.server.control("POST", "clock", {"advance_s": 6 * 3600 - 4 * 60})
        server_now = self.server.server_now()
        creds._time_fetcher = lambda: server_now
        second = creds.get_frozen_credentials()
        self.assertNotEqual(second.access_key, first.access_key)
        self.assertNotEqual(second.token, first.token)
        self.assertEqual(second.access_key, self.server.raw_credentials()["AccessKeyId"])
        self.assertGreater(creds._expiry_time - server_now, datetime.timedelta(hours=5, minutes=59))

    def test_same_set_until_the_margin(self):
        creds = botocore_credentials()
        first = self.assert_server_credentials(creds)
        # Six minutes before expiry the server still hands out the same set.
        self.server.control("POST", "clock", {"advance_s": 6 * 3600 - 6 * 60})
        self.assertEqual(self.server.raw_credentials()["AccessKeyId"], first.access_key)

    def test_region_from_imds(self):
        from botocore.utils import InstanceMetadataRegionFetcher
        fetcher = InstanceMetadataRegionFetcher(
            config={"ec2_metadata_service_endpoint": self.server.endpoint})
        self.assertEqual(fetcher.retrieve_region(), "us-east-1")

    def test_container_provider(self):
        os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = \
            self.server.banner["AWS_CONTAINER_CREDENTIALS_FULL_URI"]
        os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = \
            self.server.banner["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
        creds = botocore_credentials()
        self.assertEqual(creds.method, "container-role")
        frozen = creds.get_frozen_credentials()
        self.assertEqual(frozen.access_key, self.server.raw_credentials()["AccessKeyId"])


class V2OnlyMode(Base):
    """Configured v2-only: token-less requests get 401."""

    def test_default_chain_gets_the_role_credentials(self):
        before = self.token_requests()
        self.assert_server_credentials(botocore_credentials())
        self.assertGreater(self.token_requests(), before)

    def test_v1_requests_are_refused(self):
        status, _, _ = self.server.request("GET", "/latest/meta-data/iam/security-credentials/")
        self.assertEqual(status, 401)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: test_botocore.py PATH_TO_METATOKEND")
    binary = sys.argv[1]
    DefaultMode.server = Server(binary)
    try:
        V2OnlyMode.server = Server(binary, {"aws": {"imdsv2_only": True}})
    except Exception:
        DefaultMode.server.stop()
        raise
    try:
        prog = unittest.main(argv=[sys.argv[0], "-v"], exit=False)
    finally:
        codes = [DefaultMode.server.stop(), V2OnlyMode.server.stop()]
    if any(codes):
        print("metatokend exited with status %s after SIGTERM" % codes)
        sys.exit(1)
    sys.exit(0 if prog.result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
