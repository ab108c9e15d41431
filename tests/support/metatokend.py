"""The real metatokend for an integration test: started on an ephemeral
loopback port with a configuration of the test's own, its banner read, its
log collected as it comes, and the calls tests make of it (the Invoke API,
the control API, curl on the HTTP endpoint of a function).

    srv = metatokend.Server(DAEMON, {"functions": [...]}, home)
    status, headers, body = srv.invoke("fn", {"x": 1})
    status, headers, body = srv.curl("/functions/fn/items?x=1", "-X", "PUT", data=b"...")
    srv.stop()

home is a folder the test owns: the configuration and curl's output go
there, and it is metatokend's HOME (so its admin secret file does too).
"""
import json
import os
import select
import subprocess
import threading
import time
import urllib.error
import urllib.request

BOUND_S = 60  # nothing waits longer than this unless something hangs
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def processes_with(needle):
    """Live pids whose command line or environment holds needle (ours are readable)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        for what in ("cmdline", "environ"):
            try:
                with open("/proc/%s/%s" % (pid, what), "rb") as f:
                    if needle.encode() in f.read():
                        with open("/proc/%s/stat" % pid) as s:
                            if s.read().split(")")[-1].split()[0] not in "ZX":
                                found.append(int(pid))
                        break
            except OSError:
                pass
    return found


def read_line(stream, deadline):
    """One line (bytes) from a pipe, or b"" at its end or past the deadline."""
    fd, line = stream.fileno(), b""
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return b""
        c = os.read(fd, 1)
        if not c:
            return line
        line += c
    return line


def until(what, check, bound_s=BOUND_S):
    """check() until it returns something true, which is returned; bound_s at
    most. For another process's asynchronous answer, not for time to pass."""
    deadline = time.monotonic() + bound_s
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.02)
    raise AssertionError("never: " + what)


class Server(object):
    """metatokend with config; args are more of its flags (e.g. "--reload")."""

    def __init__(self, binary, config, home, args=(), level="info"):
        self.home = home
        path = os.path.join(home, "config.json")
        with open(path, "w") as f:
            json.dump(config, f)
        env = dict(os.environ, HOME=home)
        # Nothing of the caller's may steer it or its runtimes elsewhere.
        for name in ("XDG_RUNTIME_DIR", "METATOKEN_PYTHON_RUNTIME", "PYTHONPATH"):
            env.pop(name, None)
        self.proc = subprocess.Popen(
            [binary, "--listen", "127.0.0.1:0", "--log-level", level, "--config", path]
            + list(args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=env)
        self.banner = {}
        self.banner_lines = []  # all of it, e.g. for the https:// line
        deadline = time.monotonic() + BOUND_S
        while True:
            line = read_line(self.proc.stdout, deadline).decode()
            if not line or line.strip() == "# Ctrl-C stops it.":
                break
            self.banner_lines.append(line.rstrip("\n"))
            if line.startswith("export "):
                name, _, value = line[len("export "):].strip().partition("=")
                self.banner[name] = value
        self.proc.stdout.close()
        self.lines = []
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read_log, daemon=True)
        self.reader.start()
        if "METATOKEN_SERVER" not in self.banner:
            self.proc.kill()
            self.proc.wait()
            self.reader.join(BOUND_S)
            raise RuntimeError("metatokend did not start: %s" % self.log_text())
        self.addr = self.banner["METATOKEN_SERVER"]
        self.base = "http://" + self.addr
        self.secret = self.banner["METATOKEN_ADMIN_SECRET"]

    def _read_log(self):
        for line in self.proc.stderr:
            with self.cond:
                self.lines.append(line.decode(errors="replace").rstrip("\n"))
                self.cond.notify_all()

    def wait_log(self, needle):
        """Waits (BOUND_S at most) for a log line holding needle; the lines so far."""
        with self.cond:
            self.cond.wait_for(lambda: any(needle in l for l in self.lines), BOUND_S)
            return list(self.lines)

    def log_text(self):
        with self.cond:
            return "\n".join(self.lines)

    def invoke(self, name, body):
        """(status, headers, body bytes) of one Invoke API call."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        req = urllib.request.Request(
            "%s/2015-03-31/functions/%s/invocations" % (self.base, name),
            method="POST", data=data)
        try:
            with OPENER.open(req, timeout=BOUND_S) as resp:
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def control(self, method, path, doc=None):
        """The control API's answer (parsed) to METHOD /metatoken/v1/PATH."""
        req = urllib.request.Request(
            "%s/metatoken/v1/%s" % (self.base, path), method=method,
            data=json.dumps(doc).encode() if doc is not None else None,
            headers={"Authorization": "Bearer " + self.secret})
        with OPENER.open(req, timeout=BOUND_S) as resp:
            return json.loads(resp.read() or b"null")

    def curl(self, path, *args, data=None):
        """path called with curl and args: (status, {lower-case name: [values]},
        body bytes). data, when given, is the body (sent as it is)."""
        out = os.path.join(self.home, "curl-body")
        cmd = ["curl", "-sS", "--noproxy", "*", "--max-time", str(BOUND_S), "-D", "-",
               "-o", out] + list(args)
        if data is not None:
            cmd += ["--data-binary", "@-"]
        p = subprocess.run(cmd + [self.base + path], input=data, capture_output=True,
                           timeout=BOUND_S)
        if p.returncode != 0:
            raise AssertionError("curl %s: %s" % (path, p.stderr.decode(errors="replace")))
        with open(out, "rb") as f:
            body = f.read()
        os.unlink(out)
        lines = p.stdout.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers.setdefault(name.strip().lower(), []).append(value.strip())
        return int(lines[0].split()[1]), headers, body

    def get(self, path, headers=None):
        """(status, body bytes) of GET path, errors included."""
        req = urllib.request.Request(self.base + path, headers=dict(headers or {}))
        try:
            with OPENER.open(req, timeout=BOUND_S) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        """SIGTERM, then its exit status."""
        self.proc.terminate()
        code = self.proc.wait(timeout=BOUND_S)
        self.reader.join(BOUND_S)
        return code
