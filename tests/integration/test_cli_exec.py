#!/usr/bin/python3
"""`metatoken exec` end to end: the real metatokend (private, or one this test
runs), real SDKs from Debian (google-auth, botocore) as the command, and
nothing left behind.

usage: test_cli_exec.py PATH/TO/metatoken PATH/TO/metatokend

Run it with Debian's /usr/bin/python3: the commands it runs are that python
(sys.executable) with python3-google-auth and python3-botocore.
"""
import fcntl
import json
import os
import pty
import select
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import termios
import threading
import time
import unittest
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from metatokend import processes_with, read_line  # noqa: E402

CLI = DAEMON = None
PY = sys.executable
BOUND_S = 30  # no run takes this long unless it hangs
CAUGHT = (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2,
          signal.SIGTERM)

# google-auth's default credentials, refreshed; and the token straight from
# the metadata server CMD was pointed at, to show they are the same.
GOOGLE_AUTH = r'''
import json, os, urllib.request
import google.auth, google.auth.transport.requests
creds, project = google.auth.default()
creds.refresh(google.auth.transport.requests.Request())
req = urllib.request.Request(
    "http://%s/computeMetadata/v1/instance/service-accounts/default/token"
    % os.environ["GCE_METADATA_HOST"], headers={"Metadata-Flavor": "Google"})
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
direct = json.loads(opener.open(req, timeout=5).read())["access_token"]
print(json.dumps({"token": creds.token, "direct": direct, "project": project}))
'''

BOTOCORE = r'''
import botocore.session
c = botocore.session.get_session().get_credentials()
print(c.method if c else "none")
'''

ENV_DUMP = "import json, os; print(json.dumps(dict(os.environ)))"

# The token now, `metatoken admin expire default`, the token again.
ADMIN = r'''
import json, os, subprocess, sys, urllib.request
def token():
    req = urllib.request.Request(
        "http://%s/computeMetadata/v1/instance/service-accounts/default/token"
        % os.environ["GCE_METADATA_HOST"], headers={"Metadata-Flavor": "Google"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    return json.loads(opener.open(req, timeout=5).read())["access_token"]
before = token()
admin = subprocess.run([sys.argv[1], "admin", "expire", "default"], capture_output=True)
print(json.dumps({"before": before, "after": token(), "admin_rc": admin.returncode,
                  "admin_err": admin.stderr.decode()}))
'''

# Says "ready", then on the first caught signal prints "got N" and exits
# 40+N. It waits in select() on a wakeup fd, which the C-level handler
# writes to: signal.pause() would sleep on through a signal that came
# between the last check for pending handlers and the pause.
TRAP = r'''
import os, select, signal, sys
def on(sig, frame):
    sys.stdout.write("got %d\n" % sig)
    sys.stdout.flush()
    os._exit(40 + sig)
r, w = os.pipe()
os.set_blocking(w, False)
signal.set_wakeup_fd(w)
for s in (1, 2, 3, 10, 12, 15):
    signal.signal(s, on)
print("ready", flush=True)
while True:
    select.select([r], [], [])
    os.read(r, 64)
'''

# For a terminal's Ctrl-C. A helper stays in the terminal's foreground
# group, where CMD starts, and says when the Ctrl-C came; CMD then leaves
# the group, so any SIGINT it gets came from exec. On SIGUSR1 (which exec
# passes on after any SIGINT it would have passed on before it) CMD fetches
# a token from the server and prints what it saw.
CTRL_C = r'''
import json, os, select, signal, sys, urllib.request
same_group = os.getpgrp() == os.getpgid(os.getppid())
seen = []
def on(sig, frame):
    seen.append(sig)
def wakeup_fd():
    r, w = os.pipe()
    os.set_blocking(w, False)
    signal.set_wakeup_fd(w)
    return r
signal.signal(signal.SIGINT, on)
signal.signal(signal.SIGUSR1, on)
hr, hw = os.pipe()
helper = os.fork()
if helper == 0:
    def helper_int(sig, frame):
        print("helper int", flush=True)
        os._exit(0)
    signal.signal(signal.SIGINT, helper_int)
    r = wakeup_fd()
    os.write(hw, b"r")
    while True:
        select.select([r], [], [])
        os.read(r, 64)
os.read(hr, 1)
r = wakeup_fd()
os.setpgid(0, 0)
print("ready", flush=True)
while signal.SIGUSR1 not in seen:
    select.select([r], [], [])
    os.read(r, 64)
os.waitpid(helper, 0)
req = urllib.request.Request(
    "http://%s/computeMetadata/v1/instance/service-accounts/default/token"
    % os.environ["GCE_METADATA_HOST"], headers={"Metadata-Flavor": "Google"})
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
tok = json.loads(opener.open(req, timeout=5).read())["access_token"]
print(json.dumps({"ints": seen.count(signal.SIGINT), "token": tok,
                  "same_group": same_group}), flush=True)
'''


def start_daemon(env):
    """A running metatokend of our own; returns (process, address, banner exports)."""
    p = subprocess.Popen([DAEMON, "--listen", "127.0.0.1:0", "--log-level", "warn"],
                         env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL)
    exports, deadline = {}, time.monotonic() + BOUND_S
    while True:
        line = read_line(p.stdout, deadline).decode()
        if not line or line.startswith("# Ctrl-C"):
            break
        if line.startswith(("export ", "# export ")):
            k, v = line.split("export ", 1)[1].strip().split("=", 1)
            exports[k] = v
    if "METATOKEN_SERVER" not in exports:
        p.kill()
        p.wait()
        raise RuntimeError("metatokend printed no banner")
    return p, exports["METATOKEN_SERVER"], exports


def free_port():
    """A loopback port nothing listens on."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Base(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="exec-test-")
        self.scratch = os.path.join(self.tmp, "tmp")  # TMPDIR: marks our processes
        self.run_dir = os.path.join(self.tmp, "run")  # XDG_RUNTIME_DIR: secret files
        home = os.path.join(self.tmp, "home")
        for d in (self.scratch, self.run_dir, home):
            os.mkdir(d, 0o700)
        # No real credentials on the machine may answer instead of the server.
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("GOOGLE_", "GCE_", "CLOUDSDK_", "AWS_",
                                         "METATOKEN_", "YC_"))
                    and k.lower() not in ("http_proxy", "https_proxy", "all_proxy",
                                          "no_proxy")}
        self.env.update(TMPDIR=self.scratch, XDG_RUNTIME_DIR=self.run_dir, HOME=home,
                        CLOUDSDK_CONFIG=os.path.join(home, "gcloud"),
                        AWS_CONFIG_FILE=os.path.join(home, "none"),
                        AWS_SHARED_CREDENTIALS_FILE=os.path.join(home, "none"))

    def tearDown(self):
        subprocess.run(["rm", "-rf", self.tmp])

    def run_exec(self, *args, env=None, **extra):
        e = dict(self.env, **(env or {}))
        for k, v in extra.items():
            e[k] = v
        p = subprocess.run([CLI, "exec"] + list(args), env=e, stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=BOUND_S)
        return p.returncode, p.stdout.decode(), p.stderr.decode(errors="replace")

    def assert_clean(self):
        self.assertEqual(os.listdir(self.scratch), [], "the private folder is left")
        self.assertEqual(processes_with(self.scratch), [], "a process outlived exec")
        left = [os.path.join(d, f) for d, _, fs in os.walk(self.run_dir) for f in fs]
        self.assertEqual(left, [], "an admin secret file is left")

    def fake_daemon(self, body):
        """A stand-in for metatokend (METATOKEN_DAEMON): a shell script."""
        path = os.path.join(self.tmp, "fake-metatokend")
        with open(path, "w") as f:
            f.write("#!/bin/sh\n" + body)
        os.chmod(path, 0o755)
        return path


class Private(Base):
    """Without --server: a private metatokend for the command."""

    def test_google_auth_gets_a_token_from_the_private_server(self):
        # A credentials file that does not exist would make default() fail:
        # exec removes what SDKs prefer to the metadata server.
        rc, out, err = self.run_exec("--", PY, "-c", GOOGLE_AUTH,
                                     GOOGLE_APPLICATION_CREDENTIALS="/nonexistent.json")
        self.assertEqual(rc, 0, err)
        got = json.loads(out)
        self.assertTrue(got["token"].startswith("t1."), got)
        self.assertEqual(got["token"], got["direct"])
        self.assertEqual(got["project"], "metatoken-local")
        self.assertEqual(err, "", "metatokend's log is not shown by default")
        self.assert_clean()

    def test_botocore_uses_the_container_endpoint(self):
        rc, out, err = self.run_exec(PY, "-c", BOTOCORE, AWS_ACCESS_KEY_ID="AKIAFAKE",
                                     AWS_SECRET_ACCESS_KEY="fake")
        self.assertEqual((rc, out.strip()), (0, "container-role"), err)
        self.assert_clean()

    def test_the_environment_cmd_sees(self):
        rc, out, err = self.run_exec(
            "--", PY, "-c", ENV_DUMP, KEPT="yes", AWS_SESSION_TOKEN="x",
            AWS_CONTAINER_CREDENTIALS_RELATIVE_URI="/v2/x", AWS_EC2_METADATA_DISABLED="true",
            AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE="/x", METATOKEN_ADMIN_SECRET="stale",
            YC_METADATA_ADDR="10.0.0.1:80", http_proxy="http://10.0.0.2:3128",
            NO_PROXY="example.com")
        self.assertEqual(rc, 0, err)
        env = json.loads(out)
        addr = env["METATOKEN_SERVER"]
        self.assertRegex(addr, r"^127\.0\.0\.1:\d+$")
        for k in ("YC_METADATA_ADDR", "GCE_METADATA_HOST", "GCE_METADATA_ROOT",
                  "GCE_METADATA_IP"):
            self.assertEqual(env[k], addr, k)
        self.assertEqual(env["AWS_EC2_METADATA_SERVICE_ENDPOINT"], "http://%s/" % addr)
        self.assertEqual(env["AWS_CONTAINER_CREDENTIALS_FULL_URI"],
                         "http://%s/v1/credentials" % addr)
        self.assertRegex(env["AWS_CONTAINER_AUTHORIZATION_TOKEN"], r"^[A-Za-z0-9_-]{16,}$")
        self.assertNotEqual(env["METATOKEN_ADMIN_SECRET"], "stale")
        self.assertEqual(env["KEPT"], "yes")
        self.assertEqual(env["TMPDIR"], self.scratch)
        self.assertEqual(env["NO_PROXY"], "example.com,127.0.0.1")
        self.assertEqual(env["no_proxy"], "127.0.0.1")
        for k in ("AWS_SESSION_TOKEN", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                  "AWS_EC2_METADATA_DISABLED", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                  "AWS_LAMBDA_RUNTIME_API"):
            self.assertNotIn(k, env)
        self.assert_clean()

    def test_no_proxy_is_left_alone_without_a_proxy(self):
        rc, out, err = self.run_exec(PY, "-c", ENV_DUMP, NO_PROXY="example.com")
        self.assertEqual(rc, 0, err)
        env = json.loads(out)
        self.assertEqual(env["NO_PROXY"], "example.com")
        self.assertNotIn("no_proxy", env)

    def test_metatoken_admin_inside_reaches_the_private_server(self):
        rc, out, err = self.run_exec("--", PY, "-c", ADMIN, CLI)
        self.assertEqual(rc, 0, err)
        got = json.loads(out)
        self.assertEqual(got["admin_rc"], 0, got["admin_err"])
        self.assertNotEqual(got["before"], got["after"])
        self.assert_clean()

    def test_a_configuration_file(self):
        cfg = os.path.join(self.tmp, "config.json")
        with open(cfg, "w") as f:
            json.dump({"project": {"id": "from-my-config"}}, f)
        rc, out, err = self.run_exec("--config", cfg, "--", PY, "-c", GOOGLE_AUTH)
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out)["project"], "from-my-config")
        self.assert_clean()  # its admin secret was in XDG_RUNTIME_DIR, and is gone

    def test_exit_status_passes_through(self):
        for script, want in (("exit 0", 0), ("exit 3", 3), ("exit 255", 255),
                             ("kill -KILL $$", 128 + 9), ("kill -TERM $$", 128 + 15)):
            rc, _, err = self.run_exec("sh", "-c", script)
            self.assertEqual(rc, want, script + ": " + err)
        self.assert_clean()

    def test_stdin_and_stdout_are_the_commands(self):
        p = subprocess.run([CLI, "exec", "--", "tr", "a-z", "A-Z"], env=self.env,
                           input=b"hello\n", capture_output=True, timeout=BOUND_S)
        self.assertEqual((p.returncode, p.stdout), (0, b"HELLO\n"), p.stderr)

    def test_started_with_stdout_closed(self):
        # Its first files then take fd 1: the server's log and banner must
        # still go where they belong, and CMD gets the closed stdout it had.
        log = os.path.join(self.tmp, "d.log")
        p = subprocess.run([CLI, "exec", "--log", log, PY, "-c",
                            "import os, sys; os.write(2, str(sys.stdout is None).encode())"],
                           env=self.env, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           timeout=BOUND_S, preexec_fn=lambda: os.close(1))
        self.assertEqual((p.returncode, p.stderr), (0, b"True"))
        with open(log) as f:
            self.assertIn("serving", f.read())
        self.assert_clean()

    def test_log_to_a_file_and_verbose(self):
        log = os.path.join(self.tmp, "d.log")
        rc, _, err = self.run_exec("--log", log, PY, "-c", GOOGLE_AUTH)
        self.assertEqual((rc, err), (0, ""))
        with open(log) as f:
            text = f.read()
        self.assertIn("GET /computeMetadata/v1/instance/service-accounts/", text)
        self.assertEqual(stat.S_IMODE(os.stat(log).st_mode), 0o600)
        rc, _, err = self.run_exec("--verbose", PY, "-c", GOOGLE_AUTH)
        self.assertEqual(rc, 0, err)
        self.assertIn("GET /computeMetadata/v1/instance/service-accounts/", err)
        self.assert_clean()

    def start_trapped(self, *args, **popen):
        p = subprocess.Popen([CLI, "exec"] + list(args) + ["--", PY, "-c", TRAP],
                             env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             **popen)
        self.addCleanup(p.stderr.close)
        self.addCleanup(p.stdout.close)
        self.assertEqual(read_line(p.stdout, time.monotonic() + BOUND_S), b"ready\n")
        return p

    def test_signals_are_forwarded_and_the_status_passes_through(self):
        for sig in CAUGHT:
            p = self.start_trapped(stdin=subprocess.DEVNULL)
            p.send_signal(sig)
            self.assertEqual(read_line(p.stdout, time.monotonic() + BOUND_S),
                             b"got %d\n" % sig)
            self.assertEqual(p.wait(BOUND_S), 40 + sig, sig)
            self.assert_clean()

    def test_a_signal_ignored_at_start_stays_ignored(self):
        def ignore_hup():
            signal.signal(signal.SIGHUP, signal.SIG_IGN)

        rc, out, err = self.run_exec(
            PY, "-c", "import signal; print(signal.getsignal(1) == signal.SIG_IGN)")
        self.assertEqual((rc, out), (0, "False\n"), err)
        p = subprocess.run([CLI, "exec", PY, "-c",
                            "import signal; print(signal.getsignal(1) == signal.SIG_IGN)"],
                           env=self.env, capture_output=True, timeout=BOUND_S,
                           preexec_fn=ignore_hup)
        self.assertEqual((p.returncode, p.stdout), (0, b"True\n"), p.stderr)
        # Not passed on either (nohup's promise): SIGHUP, then SIGUSR1, which
        # exec would pass on after it, and CMD sees only the second.
        p = self.start_trapped(stdin=subprocess.DEVNULL, preexec_fn=ignore_hup)
        p.send_signal(signal.SIGHUP)
        p.send_signal(signal.SIGUSR1)
        self.assertEqual(read_line(p.stdout, time.monotonic() + BOUND_S),
                         b"got %d\n" % signal.SIGUSR1)
        self.assertEqual(p.wait(BOUND_S), 40 + signal.SIGUSR1)
        self.assert_clean()

    def test_a_killed_exec_takes_the_server_with_it(self):
        p = self.start_trapped(stdin=subprocess.DEVNULL)
        ours = processes_with(self.scratch)
        daemons = [pid for pid in ours if b"metatokend" in open("/proc/%d/cmdline" % pid,
                                                                "rb").read()]
        self.assertEqual(len(daemons), 1, ours)
        fd = os.pidfd_open(daemons[0])
        self.addCleanup(os.close, fd)
        p.kill()
        p.wait(BOUND_S)
        self.assertTrue(select.select([fd], [], [], BOUND_S)[0],
                        "the server outlived a killed exec")
        # CMD is the user's and stays, as under a shell: end it here. (The
        # scratch folder stays too: nothing runs to remove it.)
        for pid in processes_with(self.scratch):
            os.kill(pid, signal.SIGKILL)

    def test_sigterm_ends_a_command_that_keeps_the_default(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            p = subprocess.Popen([CLI, "exec", "sh", "-c", "echo ready; exec cat"],
                                 env=self.env, stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            self.assertEqual(read_line(p.stdout, time.monotonic() + BOUND_S), b"ready\n")
            p.send_signal(sig)
            self.assertEqual(p.wait(BOUND_S), 128 + sig)
            p.stdin.close()
            p.stdout.close()
            self.assert_clean()

    def test_a_terminals_ctrl_c_is_not_passed_on_and_spares_the_server(self):
        master, slave = pty.openpty()
        self.addCleanup(os.close, master)

        def controlling_terminal():
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        p = subprocess.Popen([CLI, "exec", PY, "-c", CTRL_C], env=self.env, stdin=slave,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             start_new_session=True, preexec_fn=controlling_terminal)
        os.close(slave)
        self.addCleanup(p.stderr.close)
        self.addCleanup(p.stdout.close)
        deadline = time.monotonic() + BOUND_S
        self.assertEqual(read_line(p.stdout, deadline), b"ready\n")
        os.write(master, b"\x03")  # the line discipline signals the foreground group
        self.assertEqual(read_line(p.stdout, deadline), b"helper int\n")
        p.send_signal(signal.SIGUSR1)
        line = read_line(p.stdout, deadline)
        # It fetches a token after the Ctrl-C: the server must not have had it.
        self.assertEqual(p.wait(BOUND_S), 0, p.stderr.read().decode(errors="replace"))
        got = json.loads(line)
        self.assertEqual(got["ints"], 0, "exec passed a terminal's SIGINT on")
        self.assertTrue(got["same_group"], "CMD is not in exec's process group")
        self.assertTrue(got["token"].startswith("t1."))
        self.assert_clean()

    def silent_daemon(self):
        """A daemon that never gets ready; its pid comes on a FIFO."""
        fifo = os.path.join(self.tmp, "pid")
        os.mkfifo(fifo)
        return fifo, self.fake_daemon('echo $$ > "%s"\nexec sleep 600\n' % fifo)

    def test_a_signal_before_the_command_ran_stops_the_server(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            fifo, fake = self.silent_daemon()
            marker = os.path.join(self.tmp, "ran")
            p = subprocess.Popen([CLI, "exec", "touch", marker], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 env=dict(self.env, METATOKEN_DAEMON=fake))
            fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
            self.assertTrue(select.select([fd], [], [], BOUND_S)[0], "the daemon ran")
            pid = int(os.read(fd, 64))
            os.close(fd)
            p.send_signal(sig)
            self.assertEqual(p.wait(BOUND_S), 128 + sig)
            self.assertFalse(os.path.exists(marker), "the command ran")
            self.assertFalse(os.path.exists("/proc/%d" % pid), "the daemon is left")
            os.unlink(fifo)
            self.assert_clean()

    def test_a_server_that_dies_under_the_command_is_reported(self):
        pidfile = os.path.join(self.tmp, "pid")
        fake = self.fake_daemon(
            'echo $$ > "%s"\n'
            "printf 'metatokend listening on http://127.0.0.1:9 (fake)\\n"
            "# Ctrl-C stops it.\\n'\nexec sleep 600\n" % pidfile)
        kill = ("import os, signal, sys, time\n"
                "pid = int(open(sys.argv[1]).read())\n"
                "os.kill(pid, signal.SIGKILL)\n"
                "deadline = time.monotonic() + 20\n"
                "while os.path.exists('/proc/%d' % pid) and time.monotonic() < deadline:\n"
                "    pass  # until exec reaps it\n"
                "sys.exit(7)\n")
        rc, _, err = self.run_exec(PY, "-c", kill, pidfile, METATOKEN_DAEMON=fake)
        self.assertEqual(rc, 7, err)
        self.assertIn("stopped while %s ran (killed by signal 9)" % PY, err)
        self.assert_clean()


class Running(Base):
    """--server and $METATOKEN_SERVER: a metatokend that is already running."""

    def setUp(self):
        super().setUp()
        # Its own TMPDIR and secret folder: only exec's leftovers are looked for.
        own = os.path.join(self.tmp, "daemon")
        os.mkdir(own, 0o700)
        self.daemon, self.addr, self.exports = start_daemon(
            dict(self.env, TMPDIR=own, XDG_RUNTIME_DIR=own))
        self.addCleanup(self.stop_daemon)

    def stop_daemon(self):
        self.daemon.terminate()
        self.daemon.wait(BOUND_S)
        self.daemon.stdout.close()

    def server_token(self):
        req = urllib.request.Request(
            "http://%s/computeMetadata/v1/instance/service-accounts/default/token"
            % self.addr, headers={"Metadata-Flavor": "Google"})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        return json.loads(opener.open(req, timeout=5).read())["access_token"]

    def test_server_option_and_environment(self):
        token = self.server_token()
        for args, env in ((["--server", self.addr], {}),
                          ([], {"METATOKEN_SERVER": self.addr})):
            rc, out, err = self.run_exec(*args, "--", PY, "-c", GOOGLE_AUTH, env=env)
            self.assertEqual(rc, 0, err)
            self.assertEqual(json.loads(out)["token"], token)
            self.assertIsNone(self.daemon.poll(), "exec stopped a server it did not start")
            self.assert_clean()

    def test_the_environment_cmd_sees(self):
        uri = self.exports["AWS_CONTAINER_CREDENTIALS_FULL_URI"]
        for inherited, kept in ((uri, True), ("http://10.0.0.1:80/v1/credentials", False)):
            rc, out, err = self.run_exec(
                "--server", self.addr, PY, "-c", ENV_DUMP,
                AWS_CONTAINER_CREDENTIALS_FULL_URI=inherited,
                AWS_CONTAINER_AUTHORIZATION_TOKEN="tok", METATOKEN_ADMIN_SECRET="mine")
            self.assertEqual(rc, 0, err)
            env = json.loads(out)
            self.assertEqual(env["METATOKEN_SERVER"], self.addr)
            self.assertEqual(env["GCE_METADATA_HOST"], self.addr)
            self.assertEqual(env["AWS_EC2_METADATA_SERVICE_ENDPOINT"], "http://%s/" % self.addr)
            self.assertEqual(env["METATOKEN_ADMIN_SECRET"], "mine")
            self.assertEqual("AWS_CONTAINER_CREDENTIALS_FULL_URI" in env, kept, inherited)
            self.assertEqual("AWS_CONTAINER_AUTHORIZATION_TOKEN" in env, kept, inherited)

    def test_botocore_through_imds(self):
        rc, out, err = self.run_exec("--server", self.addr, PY, "-c", BOTOCORE)
        self.assertEqual((rc, out.strip()), (0, "iam-role"), err)

    def test_private_option_wins_over_the_environment(self):
        rc, out, err = self.run_exec("--private", PY, "-c", ENV_DUMP,
                                     METATOKEN_SERVER=self.addr)
        self.assertEqual(rc, 0, err)
        self.assertNotEqual(json.loads(out)["METATOKEN_SERVER"], self.addr)
        self.assert_clean()


class NotMetadata(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


class Errors(Base):
    def test_no_command(self):
        for args in ([], ["--"], ["--private"]):
            rc, _, err = self.run_exec(*args)
            self.assertEqual(rc, 125, args)
            self.assertIn("no command to run", err)
        self.assert_clean()

    def test_command_not_found_is_127(self):
        rc, _, err = self.run_exec("no-such-command-here", "x")
        self.assertEqual(rc, 127)
        self.assertIn("no-such-command-here: command not found", err)
        rc, _, err = self.run_exec(self.tmp + "/none")
        self.assertEqual(rc, 127)
        self.assertIn(self.tmp + "/none: No such file or directory", err)
        self.assert_clean()

    def test_command_not_executable_is_126(self):
        path = os.path.join(self.tmp, "script")
        with open(path, "w") as f:
            f.write("#!/bin/sh\nexit 0\n")
        os.chmod(path, 0o644)
        rc, _, err = self.run_exec(path)
        self.assertEqual(rc, 126)
        self.assertIn(path + ": Permission denied", err)
        self.assert_clean()

    def test_metatokend_not_found(self):
        rc, _, err = self.run_exec("true", METATOKEN_DAEMON=self.tmp + "/none")
        self.assertEqual(rc, 125)
        self.assertIn("cannot run %s/none (from $METATOKEN_DAEMON)" % self.tmp, err)
        self.assert_clean()

    def test_metatokend_that_fails_to_start_says_why(self):
        cfg = os.path.join(self.tmp, "bad.json")
        with open(cfg, "w") as f:
            f.write('{"service_accounts": [{"lifetime_s": "ten"}]}')
        rc, _, err = self.run_exec("--config", cfg, "true")
        self.assertEqual(rc, 125)
        self.assertIn(cfg, err)  # metatokend's own message names the file and field
        self.assertIn("service_accounts[0]", err)
        self.assertIn("exited before it was ready (exit status 2)", err)
        self.assert_clean()

    def test_a_server_that_does_not_answer(self):
        addr = "127.0.0.1:%d" % free_port()
        rc, _, err = self.run_exec("--server", addr, "true")
        self.assertEqual(rc, 125)
        self.assertIn("no metatokend answers at %s (--server)" % addr, err)
        rc, _, err = self.run_exec("true", METATOKEN_SERVER=addr)
        self.assertEqual(rc, 125)
        self.assertIn("no metatokend answers at %s ($METATOKEN_SERVER)" % addr, err)

    def test_a_server_that_is_not_a_metadata_server(self):
        srv = HTTPServer(("127.0.0.1", 0), NotMetadata)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.addCleanup(srv.server_close)
        self.addCleanup(srv.shutdown)
        addr = "127.0.0.1:%d" % srv.server_address[1]
        rc, _, err = self.run_exec("--server", addr, "true")
        self.assertEqual(rc, 125)
        self.assertIn("is not a metadata server: GET / answered HTTP 404 without "
                      "Metadata-Flavor: Google", err)

    def test_bad_command_lines(self):
        for args, says in ((["--server", "nohost", "true"], "expected HOST:PORT"),
                           (["--server", "127.0.0.1:0", "true"], "expected HOST:PORT"),
                           (["--server", "h:1", "--config", "c", "true"], "for a private one"),
                           (["--log", "x", "--verbose", "true"], "choose one"),
                           (["--no-such-option", "true"], "see metatoken exec --help")):
            rc, _, err = self.run_exec(*args)
            self.assertEqual(rc, 125, args)
            self.assertIn(says, err, args)
        self.assert_clean()

    def test_options_after_the_command_are_its_own(self):
        rc, out, err = self.run_exec("echo", "--server", "x")
        self.assertEqual((rc, out), (0, "--server x\n"), err)

    def test_help(self):
        rc, out, _ = self.run_exec("--help")
        self.assertEqual(rc, 0)
        for word in ("--server HOST:PORT", "--private", "--config FILE", "--log FILE",
                     "--verbose", "125", "126", "127", "AWS_LAMBDA_RUNTIME_API"):
            self.assertIn(word, out)
        p = subprocess.run([CLI, "--help"], capture_output=True, timeout=BOUND_S)
        self.assertIn(b"metatoken exec", p.stdout)


def main():
    global CLI, DAEMON
    CLI, DAEMON = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    del sys.argv[1:3]
    unittest.main(verbosity=2)


if __name__ == "__main__":
    main()
