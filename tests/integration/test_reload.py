#!/usr/bin/env python3
"""SIGHUP reloads metatokend's configuration (issue 14, item 3), on the real
daemon: what can change live changes (attributes and labels, waking a
wait_for_change watch; an account's lifetime), what cannot is named in the
log and left as it was (the listener), nothing already issued is lost
(tokens, IMDSv2 sessions, held requests), and a file that no longer loads
changes nothing and the log says precisely what is wrong.

usage: test_reload.py PATH/TO/metatokend
"""
import copy
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import metatokend  # noqa: E402

DAEMON = None
OPENER = metatokend.OPENER
BOUND_S = metatokend.BOUND_S
GCE = "/computeMetadata/v1/"
TOKEN = GCE + "instance/service-accounts/default/token"

CONFIG = {
    "instance": {
        "id": "fhm0reload0test00001", "name": "reload", "zone": "ru-central1-a",
        "attributes": {"role": "blue", "other": "same"},
        "labels": {"env": "test"},
    },
    "aws": {"instance_id": "i-0123456789abcdef0"},
    "service_accounts": [{
        "id": "ajereloadtest0000001", "email": "sa@reload.iam.gserviceaccount.com",
        "lifetime_s": 3600, "reissue_margin_s": 300,
        "aws_role": "reload-role", "aws_lifetime_s": 3600,
    }],
}


def call(srv, path, method="GET", headers=None, timeout=BOUND_S):
    """(status, headers, body text) of one request to srv."""
    req = urllib.request.Request(srv.base + path, method=method, headers=headers or {})
    try:
        with OPENER.open(req, timeout=timeout) as resp:
            return resp.status, resp.headers, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def gce(srv, path):
    return call(srv, GCE + path, headers={"Metadata-Flavor": "Google"})


class Reload(unittest.TestCase):
    def setUp(self):
        self.home = tempfile.mkdtemp(prefix="mtk-reload-")
        self.srv = metatokend.Server(DAEMON, CONFIG, self.home)
        self.path = os.path.join(self.home, "config.json")

    def tearDown(self):
        if self.srv.alive():
            self.srv.stop()
        shutil.rmtree(self.home, ignore_errors=True)

    def rewrite(self, doc):
        with open(self.path + ".new", "w") as f:
            f.write(doc if isinstance(doc, str) else json.dumps(doc))
        os.replace(self.path + ".new", self.path)

    def hup_and_wait(self, needle):
        """SIGHUP, then the log once a line holding needle came."""
        with self.srv.cond:
            n = len(self.srv.lines)
        self.srv.proc.send_signal(signal.SIGHUP)
        with self.srv.cond:
            self.srv.cond.wait_for(lambda: any(needle in l for l in self.srv.lines[n:]), BOUND_S)
            lines = self.srv.lines[n:]
        self.assertTrue(any(needle in l for l in lines), "no %r in:\n%s" % (needle, "\n".join(lines)))
        return "\n".join(lines)

    def watch(self, key, results):
        """A wait_for_change on instance/attributes/key, held until it changes."""
        status, headers, _ = gce(self.srv, "instance/attributes/" + key)
        self.assertEqual(status, 200)
        etag = headers["ETag"]

        def run():
            results[key] = gce(self.srv, "instance/attributes/%s?wait_for_change=true"
                                         "&last_etag=%s&timeout_sec=%d" % (key, etag, BOUND_S))
        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t

    def test_live_changes_applied_the_rest_named_nothing_issued_lost(self):
        status, _, body = call(self.srv, TOKEN, headers={"Metadata-Flavor": "Google"})
        self.assertEqual(status, 200)
        token = json.loads(body)["access_token"]
        status, _, session = call(self.srv, "/latest/api/token", "PUT",
                                  {"X-aws-ec2-metadata-token-ttl-seconds": "300"})
        self.assertEqual(status, 200)
        results = {}
        changed = self.watch("role", results)
        unchanged = self.watch("other", results)
        # Both watches are held before the signal (a watch registers on
        # arrival; the log line comes when the request ends, so poll the
        # held-connection gauge instead).
        for _ in range(BOUND_S * 100):
            _, _, text = call(self.srv, "/metrics")
            if "metatoken_requests_held 2" in text:
                break
            threading.Event().wait(0.01)
        else:
            self.fail("the two watches were never held:\n" + text)

        new = copy.deepcopy(CONFIG)
        new["instance"]["attributes"]["role"] = "green"
        new["instance"]["labels"]["env"] = "reloaded"
        new["service_accounts"][0]["lifetime_s"] = 600
        new["service_accounts"][0]["aws_lifetime_s"] = 900
        new["listen"] = "127.0.0.1:1"  # needs a restart
        new["instance"]["name"] = "renamed"  # so does this
        self.rewrite(new)
        log = self.hup_and_wait("reloaded")

        changed.join(BOUND_S)
        self.assertFalse(changed.is_alive(), "the watch on the changed key was not woken")
        self.assertEqual(results["role"][0], 200)
        self.assertEqual(results["role"][2], "green")
        # The other watch woke, found its value unchanged, and is held still.
        self.assertTrue(unchanged.is_alive(), "the watch on an unchanged key ended: %r"
                        % (results.get("other"),))
        self.assertEqual(gce(self.srv, "instance/attributes/role")[2], "green")
        self.assertEqual(gce(self.srv, "instance/vendor/labels/env")[2], "reloaded")
        # What needs a restart is named, and not applied.
        self.assertIn("applied only at a restart: instance, listen", log)
        self.assertEqual(gce(self.srv, "instance/name")[2], "reload")
        # The account's lifetime applies from now on; the token issued stays.
        status, _, body = call(self.srv, TOKEN, headers={"Metadata-Flavor": "Google"})
        self.assertEqual(json.loads(body)["access_token"], token)
        acct = self.srv.control("GET", "accounts/default")
        self.assertEqual(acct["lifetime_s"], 600, acct)
        self.assertEqual(acct["aws"]["lifetime_s"], 900, acct)
        # The IMDSv2 session still works.
        status, _, body = call(self.srv, "/latest/meta-data/instance-id",
                               headers={"X-aws-ec2-metadata-token": session})
        self.assertEqual((status, body), (200, "i-0123456789abcdef0"))
        # A reset goes back to the reloaded file, not to the first one.
        self.srv.control("PATCH", "instance", {"attributes": {"role": "patched"}})
        self.assertEqual(gce(self.srv, "instance/attributes/role")[2], "patched")
        self.srv.control("POST", "reset")
        self.assertEqual(gce(self.srv, "instance/attributes/role")[2], "green")
        self.assertEqual(self.srv.control("GET", "accounts/default")["lifetime_s"], 600)
        # The held watch still answers when its own key changes.
        self.srv.control("PATCH", "instance", {"attributes": {"other": "moved"}})
        unchanged.join(BOUND_S)
        self.assertEqual(results["other"][2], "moved")

        # The same file again: nothing to apply, the restart list still said.
        log = self.hup_and_wait("reloaded")
        self.assertIn("0 change(s) applied", log)
        self.assertIn("applied only at a restart: instance, listen", log)

    def test_bad_file_keeps_the_running_configuration(self):
        status, _, body = call(self.srv, TOKEN, headers={"Metadata-Flavor": "Google"})
        token = json.loads(body)["access_token"]
        bad = copy.deepcopy(CONFIG)
        bad["service_accounts"][0]["lifetime_s"] = "ten"
        bad["instance"]["attributes"]["role"] = "never"
        self.rewrite(bad)
        log = self.hup_and_wait("still serving the configuration loaded before")
        self.assertIn("%s: service_accounts[0].lifetime_s: must be a positive integer"
                      % self.path, log)
        self.rewrite('{"instance": {"attributes": {"role": "x"}')  # truncated JSON
        log = self.hup_and_wait("still serving the configuration loaded before")
        self.assertIn(self.path + ":", log)
        os.unlink(self.path)
        log = self.hup_and_wait("still serving the configuration loaded before")
        self.assertIn("No such file", log)
        self.assertTrue(self.srv.alive())
        self.assertEqual(gce(self.srv, "instance/attributes/role")[2], "blue")
        self.assertEqual(self.srv.control("GET", "accounts/default")["lifetime_s"], 3600)
        status, _, body = call(self.srv, TOKEN, headers={"Metadata-Flavor": "Google"})
        self.assertEqual(json.loads(body)["access_token"], token)
        self.assertEqual(self.srv.stop(), 0)


if __name__ == "__main__":
    DAEMON = sys.argv.pop(1)
    unittest.main()
