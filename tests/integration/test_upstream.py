#!/usr/bin/env python3
"""Upstream mode end to end (issue 13 item 4): real metatokend daemons on
ephemeral loopback ports.

- Chaining: B's account takes its tokens from A's metadata; B serves A's
  token with its true remaining life, which B's fake clock cannot age;
  `expire` on A, then on B, gives B A's new token; revoke and rotate are
  refused on B.
- Failure: A faulted, then stopped: B keeps serving the last good token
  and says so in its log, its control API, /metrics and /readyz; A
  recovers and B picks up A's new token.
- The command source: a program printing a token, one exiting 1 with
  stderr, one that hangs past its timeout while the daemon answers other
  routes, one printing garbage.

No test sleeps through time: waits are for another process's answer or
log line, bounded; the one real timeout is a 1.5 s command timeout, which
is the behaviour under test.

usage: test_upstream.py PATH/TO/metatokend
"""
import json
import os
import shutil
import stat
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import metatokend  # noqa: E402

DAEMON = None
TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/%s/token"
BOUND_S = 30


def get(srv, path, headers=None):
    return srv.get(path, headers)


def token(srv, account="default"):
    """(status, parsed answer or body text) of the account's token."""
    status, body = get(srv, TOKEN_PATH % account, {"Metadata-Flavor": "Google"})
    return status, (json.loads(body) if status == 200 else body.decode())


def control_status(srv, method, path, doc=None):
    """(status, parsed body) of a control API call, errors included."""
    try:
        return 200, srv.control(method, path, doc)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def until(what, check):
    return metatokend.until(what, check, BOUND_S)


def metric(srv, name, account):
    status, body = get(srv, "/metrics")
    for line in body.decode().splitlines():
        if line.startswith('%s{account="%s"} ' % (name, account)):
            return float(line.split()[-1])
    raise AssertionError("no %s for %s in /metrics" % (name, account))


def folder(name):
    return tempfile.mkdtemp(prefix="metatoken-upstream-%s-" % name)


def upstream_b(a, home, **upstream):
    """metatokend B whose only account takes its tokens from A's default."""
    up = dict({"metadata": a.base, "account": "default", "timeout_ms": 1000,
               "retry_interval_ms": 100}, **upstream)
    return metatokend.Server(DAEMON, {"service_accounts": [
        {"id": "ajebbbbbbbbbbbbbbbbb", "email": "b@metatoken.iam", "upstream": up}]}, home)


A_CONFIG = {"service_accounts": [
    # Reissued only at expiry, so that A hands out one token until told.
    {"id": "ajeaaaaaaaaaaaaaaaaa", "email": "a@metatoken.iam", "lifetime_s": 3600,
     "reissue_margin_s": 0}]}


class Chaining(unittest.TestCase):
    def setUp(self):
        self.homes = [folder("a"), folder("b")]
        self.a = metatokend.Server(DAEMON, A_CONFIG, self.homes[0])
        self.b = upstream_b(self.a, self.homes[1])

    def tearDown(self):
        # 0: a clean exit (under ASan, no leak and no error either).
        self.assertEqual(self.b.stop(), 0, self.b.log_text()[-2000:])
        self.assertEqual(self.a.stop(), 0)
        for h in self.homes:
            shutil.rmtree(h, ignore_errors=True)

    def test_b_serves_a_token_with_its_true_life(self):
        until("B ready", lambda: get(self.b, "/readyz")[0] == 200)
        sa, ta = token(self.a)
        sb, tb = token(self.b)
        self.assertEqual((sa, sb), (200, 200), tb)
        self.assertEqual(tb["access_token"], ta["access_token"])
        self.assertEqual(tb["token_type"], "Bearer")
        self.assertLessEqual(abs(tb["expires_in"] - ta["expires_in"]), 2)
        self.assertGreater(tb["expires_in"], 3500)

        # B's fake clock does not age a real token.
        self.b.control("POST", "clock", {"advance_s": 3000})
        sb, tb2 = token(self.b)
        self.assertEqual(tb2["access_token"], ta["access_token"])
        self.assertGreater(tb2["expires_in"], 3500)

        # A's token replaced: B keeps its cached copy until expired there.
        self.a.control("POST", "accounts/default/expire")
        sa, ta2 = token(self.a)
        self.assertNotEqual(ta2["access_token"], ta["access_token"])
        self.assertEqual(token(self.b)[1]["access_token"], ta["access_token"])
        view = self.b.control("POST", "accounts/default/expire")
        self.assertEqual(view["upstream"]["source"], "metadata")
        self.assertEqual(token(self.b)[1]["access_token"], ta2["access_token"])

        view = self.b.control("GET", "accounts/default")["upstream"]
        self.assertIs(view["has_token"], True)
        self.assertIs(view["serving_last_good"], False)
        self.assertIsNone(view["last_error"])
        self.assertIsNotNone(view["last_success_at"])
        self.assertEqual(view["failures"], 0)
        self.assertEqual(metric(self.b, "metatoken_upstream_refresh_failures_total",
                                "ajebbbbbbbbbbbbbbbbb"), 0)

        # Fault rules apply to the route as to any other.
        self.b.control("POST", "faults", {"path": TOKEN_PATH % "default", "expires_in": 5,
                                          "count": 1})
        self.assertEqual(token(self.b)[1], dict(ta2, expires_in=5))
        self.b.control("POST", "faults", {"path": TOKEN_PATH % "default", "status": 500,
                                          "count": 1})
        self.assertEqual(token(self.b)[0], 500)
        self.assertEqual(token(self.b)[1]["access_token"], ta2["access_token"])

        # What metatokend cannot do to a real token.
        for action in ("revoke", "rotate"):
            status, err = control_status(self.b, "POST", "accounts/default/" + action)
            self.assertEqual(status, 409, err)
            self.assertIn("cannot %s a real token" % action, err["error"])
        status, err = control_status(self.b, "PATCH", "accounts/default", {"lifetime_s": 60})
        self.assertEqual(status, 409, err)

        log = self.b.log_text()
        for t in (ta["access_token"], ta2["access_token"]):
            self.assertNotIn(t, log)
        self.assertIn("upstream ajebbbbbbbbbbbbbbbbb: new token ", log)


class Failure(unittest.TestCase):
    """B refreshes all the time (its refresh window is longer than A's
    tokens live), so that it notices A failing at once."""

    def setUp(self):
        self.homes = [folder("a"), folder("b")]
        self.a = metatokend.Server(DAEMON, A_CONFIG, self.homes[0])
        self.b = upstream_b(self.a, self.homes[1], refresh_window_s=7200)

    def tearDown(self):
        self.assertEqual(self.b.stop(), 0, self.b.log_text()[-2000:])
        if self.a.alive():
            self.assertEqual(self.a.stop(), 0)
        for h in self.homes:
            shutil.rmtree(h, ignore_errors=True)

    def view(self):
        return self.b.control("GET", "accounts/default")["upstream"]

    def test_b_keeps_the_last_good_token_while_a_fails_and_recovers(self):
        until("B ready", lambda: get(self.b, "/readyz")[0] == 200)
        good = token(self.a)[1]["access_token"]
        self.assertEqual(token(self.b)[1]["access_token"], good)

        # A faulted: every token request answers 503.
        self.a.control("POST", "faults", {"path": TOKEN_PATH % "default", "status": 503})
        self.b.wait_log("serving the last good token")
        view = until("B says it serves the last good token",
                     lambda: (lambda v: v if v["serving_last_good"] else None)(self.view()))
        self.assertIs(view["has_token"], True)
        self.assertIn("503", view["last_error"])
        self.assertIsNotNone(view["last_error_at"])
        status, t = token(self.b)
        self.assertEqual(status, 200)
        self.assertEqual(t["access_token"], good)
        self.assertGreater(t["expires_in"], 3000)
        self.assertEqual(get(self.b, "/readyz")[0], 200)
        self.assertGreater(metric(self.b, "metatoken_upstream_refresh_failures_total",
                                  "ajebbbbbbbbbbbbbbbbb"), 0)
        self.assertEqual(metric(self.b, "metatoken_upstream_serving_last_good",
                                "ajebbbbbbbbbbbbbbbbb"), 1)

        # A recovers with a new token: B picks it up and says so.
        self.a.control("DELETE", "faults")
        self.a.control("POST", "accounts/default/expire")
        fresh = token(self.a)[1]["access_token"]
        self.assertNotEqual(fresh, good)
        self.b.wait_log("upstream ajebbbbbbbbbbbbbbbbb: recovered")
        until("B serves A's new token",
              lambda: token(self.b)[1]["access_token"] == fresh)
        self.assertIs(self.view()["serving_last_good"], False)
        self.assertEqual(metric(self.b, "metatoken_upstream_serving_last_good",
                                "ajebbbbbbbbbbbbbbbbb"), 0)

        # A gone: still the last good token, with a connection error.
        self.assertEqual(self.a.stop(), 0)
        until("B notices A is gone", lambda: "connect" in (self.view()["last_error"] or ""))
        status, t = token(self.b)
        self.assertEqual((status, t["access_token"]), (200, fresh))

        # Expired on B while A is gone: nothing left to serve, and B says
        # why instead of hanging.
        self.b.control("POST", "accounts/default/expire")
        status, body = token(self.b)
        self.assertEqual(status, 503)
        self.assertIn("upstream: GET http://%s/" % self.a.addr, body)
        status, body = get(self.b, "/readyz")
        self.assertEqual(status, 503)
        self.assertIn(b"ajebbbbbbbbbbbbbbbbb", body)

        log = self.b.log_text()
        for t in (good, fresh):
            self.assertNotIn(t, log)


def script(home, name, text):
    path = os.path.join(home, name)
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + text)
    os.chmod(path, stat.S_IRWXU)


class Command(unittest.TestCase):
    def setUp(self):
        self.home = folder("command")
        # Each run prints the next token: t1.cmd-1, t1.cmd-2, ...
        script(self.home, "ok.sh", 'n=$(cat "$0.n" 2>/dev/null || echo 0); n=$((n+1))\n'
                                   'echo $n > "$0.n"; echo "t1.cmd-$n"\n')
        script(self.home, "fail.sh", "echo t1.must-not-leak\n"
                                     "echo 'ERROR: not logged in, run yc init' >&2; exit 1\n")
        script(self.home, "hang.sh", "echo still thinking >&2; exec sleep 60\n")
        script(self.home, "garbage.sh", "echo '<html><h1>502 Bad Gateway</h1></html>'\n")
        # Real tokens may be far longer than minted ones (Google's reach
        # 2048 bytes); the client takes up to 4096.
        script(self.home, "long.sh", "echo t1.%s\n" % ("L" * 4000))

        def account(name, prog, **extra):
            return {"id": "aje" + name, "email": name + "@metatoken.iam", "upstream": dict(
                {"command": ["./" + prog], "lifetime_s": 600, "retry_interval_ms": 60000},
                **extra)}
        # Paths are relative to the configuration's folder, wherever
        # metatokend runs from.
        self.srv = metatokend.Server(DAEMON, {"service_accounts": [
            account("ok", "ok.sh"), account("fail", "fail.sh"),
            account("hang", "hang.sh", timeout_ms=1500), account("garbage", "garbage.sh"),
            account("long", "long.sh")]},
            self.home)

    def tearDown(self):
        self.assertEqual(self.srv.stop(), 0, self.srv.log_text()[-2000:])
        shutil.rmtree(self.home, ignore_errors=True)

    def test_the_four_programs(self):
        # The hanging program's first run is under way from the start: a
        # request for its token is answered at once (a request thread
        # serves many connections and never waits for a source), and so
        # are the other routes.
        self.srv.wait_log("upstream ajeok: new token ")
        started = time.monotonic()
        status, body = token(self.srv, "hang@metatoken.iam")
        self.assertEqual(status, 503)
        self.assertIn("no token yet; the fetch is under way", body)
        status, t = token(self.srv, "ok@metatoken.iam")
        self.assertEqual(status, 200, t)
        self.assertEqual(t["access_token"], "t1.cmd-1")
        self.assertTrue(595 <= t["expires_in"] <= 600, t)
        self.assertEqual(get(self.srv, "/healthz")[0], 200)
        self.assertLess(time.monotonic() - started, 0.5, "other routes waited for the hang")
        # Then the timeout kills it, and the route says so.
        self.srv.wait_log("upstream ajehang: refresh failed")
        self.assertGreaterEqual(time.monotonic() - started, 0.5)
        status, body = token(self.srv, "hang@metatoken.iam")
        self.assertEqual(status, 503)
        self.assertIn("upstream: command %s/./hang.sh: " % self.home, body)
        self.assertIn("no answer within 1500 ms (killed); stderr: still thinking", body)

        status, body = token(self.srv, "fail@metatoken.iam")
        self.assertEqual(status, 503)
        self.assertIn("exit status 1; stderr: ERROR: not logged in, run yc init", body)
        self.assertNotIn("must-not-leak", body)

        status, body = token(self.srv, "garbage@metatoken.iam")
        self.assertEqual(status, 503)
        self.assertIn("exit status 0 but the token is empty, over 4096 bytes, or not "
                      "printable ASCII without spaces", body)
        self.assertNotIn("Bad Gateway", body)

        # expire: the program runs again.
        self.srv.control("POST", "accounts/ajeok/expire")
        self.assertEqual(token(self.srv, "ok@metatoken.iam")[1]["access_token"], "t1.cmd-2")
        # Not again within retry_interval_ms: no fetch loops.
        status, err = control_status(self.srv, "POST", "accounts/ajeok/expire")
        self.assertEqual(status, 409, err)
        self.assertIn("less than retry_interval_ms ago", err["error"])
        self.assertEqual(token(self.srv, "ok@metatoken.iam")[1]["access_token"], "t1.cmd-2")

        status, body = get(self.srv, "/readyz")
        self.assertEqual(status, 503)
        view = self.srv.control("GET", "accounts/ajefail")["upstream"]
        self.assertEqual(view["source"], "command")
        self.assertIs(view["has_token"], False)
        self.assertIn("exit status 1", view["last_error"])

        log = self.srv.wait_log("upstream ajegarbage: refresh failed")
        text = "\n".join(log)
        self.assertIn("upstream ajefail: refresh failed: command %s/./fail.sh: exit status 1; "
                      "stderr: ERROR: not logged in, run yc init; no token to serve" % self.home,
                      text)
        self.assertIn("no token to serve", text)
        for secret in ("t1.cmd-1", "t1.cmd-2", "must-not-leak"):
            self.assertNotIn(secret, text)


    def test_a_long_real_token_is_served_whole(self):
        self.srv.wait_log("upstream ajelong: new token ")
        status, t = token(self.srv, "long@metatoken.iam")
        self.assertEqual(status, 200, t)
        self.assertEqual(t["access_token"], "t1." + "L" * 4000)


class ConfigAtStart(unittest.TestCase):
    def test_a_key_file_others_may_read_is_refused_with_how_to_fix_it(self):
        home = folder("key")
        try:
            with open(os.path.join(home, "key.json"), "w") as f:
                f.write("{}")
            os.chmod(os.path.join(home, "key.json"), 0o644)
            with self.assertRaises(RuntimeError) as e:
                metatokend.Server(DAEMON, {"service_accounts": [
                    {"id": "ajek", "email": "k@metatoken.iam",
                     "upstream": {"key_file": "key.json"}}]}, home)
            self.assertIn("service_accounts[0].upstream: key_file:", str(e.exception))
            self.assertIn("chmod 600", str(e.exception))
        finally:
            shutil.rmtree(home, ignore_errors=True)


def main():
    global DAEMON
    DAEMON = sys.argv.pop(1)
    unittest.main(verbosity=2)


if __name__ == "__main__":
    main()
