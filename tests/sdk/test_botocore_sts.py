#!/usr/bin/python3
"""python3-botocore (Debian) notices its AWS credentials expiring (issue 14, item 4).

Usage: test_botocore_sts.py PATH_TO_METATOKEND

The README's AWS scenario: an STS client built from the credentials
metatokend hands out (its IMDS, or its container endpoint) calls
GetCallerIdentity against metatokend itself (endpoint_url) and succeeds;
once the control API moves the server clock past their expiry, or expires
them, the same cached credentials get ExpiredToken; a refreshed provider
succeeds again. botocore signs with its own SigV4 signer, in the query
protocol its model declares, and again in the JSON protocol (awsJson1_0)
from a copy of the model that declares that one instead.

As in test_botocore.py, only the variables set here lead anywhere; time is
moved on the server with the control API and on botocore's side by
replacing the credentials object's clock; nothing sleeps.
"""
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
import urllib.error
import urllib.request

ROLE = "metatoken-role"
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
UTC = datetime.timezone.utc
EXPIRED = "The security token included in the request is expired"
INVALID = "The security token included in the request is invalid."
SIGNATURE = ("The request signature we calculated does not match the signature you "
             "provided. Check your AWS Secret Access Key and signing method. Consult the "
             "service documentation for details.")
MODEL = "/usr/lib/python3/dist-packages/botocore/data/sts/2011-06-15/service-2.json"


class Server:
    def __init__(self, binary):
        self.tmp = tempfile.mkdtemp(prefix="metatoken-sts-")
        env = dict(os.environ, HOME=self.tmp)
        env.pop("XDG_RUNTIME_DIR", None)
        self.proc = subprocess.Popen([binary, "--listen", "127.0.0.1:0", "--log-level", "warn"],
                                     stdout=subprocess.PIPE, text=True, env=env)
        self.banner = {}
        for line in self.proc.stdout:
            line = line.strip()
            if line.startswith(("export ", "# export ")):
                name, value = line.split("export ", 1)[1].split("=", 1)
                self.banner[name] = value
            if line == "# Ctrl-C stops it.":
                break
        self.proc.stdout.close()
        self.endpoint = self.banner["AWS_EC2_METADATA_SERVICE_ENDPOINT"]
        self.base = self.endpoint.rstrip("/")

    def control(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            self.base + "/metatoken/v1/" + path, method=method, data=data,
            headers={"Authorization": "Bearer " + self.banner["METATOKEN_ADMIN_SECRET"],
                     "Content-Type": "application/json"})
        with OPENER.open(req, timeout=5) as resp:
            return json.loads(resp.read().decode())

    def server_now(self):
        return datetime.datetime.fromtimestamp(self.control("GET", "clock")["now_ms"] / 1000,
                                               UTC)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        shutil.rmtree(self.tmp, ignore_errors=True)


SERVER = None


def isolate(extra):
    """Only the variables in extra lead anywhere."""
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
    })
    os.environ.update(extra)
    return home


def json_model_dir(home):
    """A data path whose STS model declares awsJson1_0 (and is otherwise Debian's)."""
    with open(MODEL) as f:
        model = json.load(f)
    model["metadata"].update(protocol="json", jsonVersion="1.0",
                             targetPrefix="AWSSecurityTokenServiceV20110615",
                             awsQueryCompatible={})
    folder = os.path.join(home, "models", "sts", "2011-06-15")
    os.makedirs(folder)
    with open(os.path.join(folder, "service-2.json"), "w") as f:
        json.dump(model, f)
    return os.path.join(home, "models")


class Scenario(unittest.TestCase):
    """The README's scenario, from IMDS, in the query protocol."""
    source = "imds"
    protocol = "query"

    def setUp(self):
        SERVER.control("POST", "reset")
        extra = {"AWS_EC2_METADATA_SERVICE_ENDPOINT": SERVER.endpoint}
        if self.source == "container":
            extra = {name: SERVER.banner[name] for name in (
                "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN")}
        home = isolate(extra)
        if self.protocol == "json":
            os.environ["AWS_DATA_PATH"] = json_model_dir(home)
        self.sent = []

    def session(self):
        import botocore.session
        return botocore.session.get_session()

    def client(self, session=None, credentials=None):
        """An STS client against metatokend; records what it sends."""
        session = session or self.session()
        kwargs = {}
        if credentials:
            kwargs = dict(aws_access_key_id=credentials.access_key,
                          aws_secret_access_key=credentials.secret_key,
                          aws_session_token=credentials.token)
        client = session.create_client("sts", region_name="eu-west-1",
                                       endpoint_url=SERVER.base, **kwargs)
        client.meta.events.register("before-send", self.record)
        return client

    def record(self, request, **kwargs):
        self.sent.append(request)

    def assert_identity(self, client):
        who = client.get_caller_identity()
        self.assertEqual(who["Account"], "123456789012")
        self.assertRegex(who["Arn"],
                         r"^arn:aws:sts::123456789012:assumed-role/%s/i-[0-9a-f]+$" % ROLE)
        self.assertRegex(who["UserId"], r"^AROA[A-Z2-7]{17}:i-[0-9a-f]+$")
        self.assert_protocol()

    def assert_protocol(self):
        headers = self.sent[-1].headers
        if self.protocol == "json":
            self.assertEqual(headers.get("X-Amz-Target"),
                             b"AWSSecurityTokenServiceV20110615.GetCallerIdentity")
        else:
            self.assertNotIn("X-Amz-Target", headers)
            body = self.sent[-1].body
            if isinstance(body, bytes):
                body = body.decode()
            self.assertIn("Action=GetCallerIdentity", body)

    def assert_error(self, client, code, message):
        from botocore.exceptions import ClientError
        with self.assertRaises(ClientError) as caught:
            client.get_caller_identity()
        error = caught.exception.response["Error"]
        self.assertEqual(error["Code"], code)
        self.assertEqual(error["Message"], message)
        self.assertEqual(caught.exception.response["ResponseMetadata"]["HTTPStatusCode"], 403)
        self.assert_protocol()

    def test_cached_credentials_expire_and_a_refreshed_provider_works(self):
        client = self.client()
        self.assert_identity(client)
        cached = client._request_signer._credentials
        first = cached.get_frozen_credentials()
        # Six hours and a second later on the server: botocore's clock has
        # not moved, so it keeps signing with the set it holds.
        SERVER.control("POST", "clock", {"advance_s": 6 * 3600 + 1})
        self.assert_error(client, "ExpiredToken", EXPIRED)
        self.assertEqual(cached.get_frozen_credentials().access_key, first.access_key)
        # A new provider (a new session) fetches a new set, which works.
        fresh = self.client()
        self.assert_identity(fresh)
        self.assertNotEqual(
            fresh._request_signer._credentials.get_frozen_credentials().access_key,
            first.access_key)
        # And the first client refreshes once its clock is the server's.
        server_now = SERVER.server_now()
        cached._time_fetcher = lambda: server_now
        self.assert_identity(client)
        self.assertNotEqual(cached.get_frozen_credentials().access_key, first.access_key)

    def test_credentials_expired_by_the_control_api(self):
        client = self.client()
        self.assert_identity(client)
        SERVER.control("POST", "accounts/default/expire")
        self.assert_error(client, "ExpiredToken", EXPIRED)
        self.assert_identity(self.client())

    def test_a_short_aws_lifetime_patched_in(self):
        SERVER.control("PATCH", "accounts/default", {"aws_lifetime_s": 3600})
        SERVER.control("POST", "accounts/default/rotate")
        client = self.client()
        self.assert_identity(client)
        SERVER.control("POST", "clock", {"advance_s": 3601})
        self.assert_error(client, "ExpiredToken", EXPIRED)

    def test_wrong_secret_and_unknown_key(self):
        from botocore.credentials import Credentials
        good = self.session().get_credentials().get_frozen_credentials()
        wrong = Credentials(good.access_key, "x" * 40, good.token)
        self.assert_error(self.client(credentials=wrong), "SignatureDoesNotMatch", SIGNATURE)
        unknown = Credentials("ASIA" + "A" * 16, good.secret_key, good.token)
        self.assert_error(self.client(credentials=unknown), "InvalidClientTokenId", INVALID)


class ContainerScenario(Scenario):
    source = "container"


class JsonScenario(Scenario):
    protocol = "json"


def main():
    global SERVER
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    SERVER = Server(sys.argv[1])
    try:
        program = unittest.main(argv=sys.argv[:1], exit=False, verbosity=2)
    finally:
        SERVER.stop()
    return 0 if program.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
