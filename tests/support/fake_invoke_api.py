#!/usr/bin/env python3
"""A stand-in for metatokend's Invoke API, for tests of `metatoken invoke`.

Imported, it gives serve(): a loopback server in a thread that records each
request and answers by function name (see Handler.answer). Run as a
program, it impersonates metatokend for the one-shot form (METATOKEN_DAEMON
points at it): it takes metatokend's arguments, records them, its pid and
the configuration it was given to $FAKE_DAEMON_RECORD, prints the banner,
logs as metatokend would, and serves the function "function". The mode
comes from $FAKE_DAEMON_MODE: "ok", "die" (a configuration error), "garbage"
(a first line that is not the banner).
"""
import json
import os
import re
import signal
import stat
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PATH = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations$")
ERROR_DOC = {"errorMessage": "boom", "errorType": "TestError", "stackTrace": []}
TIMEOUT_DOC = {"errorMessage": "Task timed out after 0.50 seconds",
               "errorType": "Sandbox.Timedout"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def api_error(self, status, etype, message):
        body = json.dumps({"Type": "User", "message": message}).encode()
        self.send(status, body, [("X-Amzn-ErrorType", etype),
                                 ("Content-Type", "application/json")])

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        self.server.requests.append({"path": self.path,
                                     "headers": dict(self.headers.items()),
                                     "body": body})
        m = PATH.match(self.path)
        if not m:
            self.send(404, b"not found")
            return
        self.answer(urllib.parse.unquote(m.group(1)), self.headers.get("X-Amz-Invocation-Type",
                                                 "RequestResponse"), body)

    def answer(self, name, itype, body):
        ok = [("X-Amzn-RequestId", "8476a536-e9f4-4c1a-9d4b-6b5a3d9e2f10"),
              ("X-Amz-Executed-Version", "$LATEST")]
        fail = ok + [("X-Amz-Function-Error", "Unhandled")]
        if name == "function" and self.server.hook:
            self.server.hook(body)
            name = ("fails" if b"fail" in body else "slow" if b"timeout" in body
                    else "hang" if b"hang" in body else "echo")
        if name not in ("echo", "fails", "slow", "hang", "busy", "a b"):
            self.api_error(404, "ResourceNotFoundException",
                           "Function not found: " + name)
        elif name == "busy":
            self.api_error(429, "TooManyRequestsException", "Rate Exceeded.")
        elif itype == "Event":
            self.send(202, b"", ok)
        elif itype == "DryRun":
            self.send(204, b"", ok)
        elif name in ("echo", "a b"):
            self.send(200, body, ok)
        elif name == "fails":
            self.send(200, json.dumps(ERROR_DOC).encode(), fail)
        elif name == "slow":
            self.send(200, json.dumps(TIMEOUT_DOC).encode(), fail)
        else:  # hang: until the server stops (bounded)
            self.server.stopping.wait(20)
            try:
                self.send(200, b"{}", ok)
            except OSError:
                pass  # the client gave up first, as it was meant to


def serve(hook=None):
    """Starts the fake in a thread; returns the server (.requests, .address)."""
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.requests = []
    srv.hook = hook
    srv.stopping = threading.Event()
    srv.address = "127.0.0.1:%d" % srv.server_address[1]
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def stop(srv):
    srv.stopping.set()
    srv.shutdown()
    srv.server_close()


def log(msg):
    sys.stderr.write("2026-11-30T10:00:00.000Z info  %s\n" % msg)
    sys.stderr.flush()


def main():
    args = sys.argv[1:]
    config = args[args.index("--config") + 1]
    mode = os.environ.get("FAKE_DAEMON_MODE", "ok")
    with open(config) as f:
        cfg = json.load(f)
    record = {"argv": args, "pid": os.getpid(), "config": cfg,
              "config_mode": stat.S_IMODE(os.stat(config).st_mode),
              "dir_mode": stat.S_IMODE(os.stat(os.path.dirname(config)).st_mode)}
    with open(os.environ["FAKE_DAEMON_RECORD"], "w") as f:
        json.dump(record, f)
    if mode == "die":
        sys.stderr.write("metatokend: %s: functions[0].memory_mb: bad (fake)\n" % config)
        sys.exit(2)
    if mode == "garbage":
        print("hello, I am not metatokend", flush=True)
        signal.pause()

    def on_body(body):
        log("function START RequestId: 1 Version: $LATEST")
        log("POST /2015-03-31/functions/function/invocations 200 41us")
        log("function END RequestId: 1")
        log("function REPORT RequestId: 1 Duration: 1.00 ms Max Memory Used: 1 MB")

    srv = serve(on_body)
    print("metatokend listening on http://%s (%s)" % (srv.address, config))
    print("export YC_METADATA_ADDR=%s" % srv.address)
    print("# Ctrl-C stops it.", flush=True)  # the banner's last line
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    signal.pause()


if __name__ == "__main__":
    main()
