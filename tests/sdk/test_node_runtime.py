#!/usr/bin/env python3
"""A real third-party Lambda runtime, unchanged, as a function's runtime.

Usage: test_node_runtime.py PATH_TO_METATOKEND NPM_DIR

The runtime is @vercel/fun's nodejs runtime (lambci's node-custom-lambda
bootstrap: a shell script that execs node on bootstrap.js, which speaks the
Runtime API with node's http module), installed from npm into NPM_DIR by
scripts/lib.sh's mtk_install_npm. metatokend starts it as a `command`
runtime, exactly as fun does: `bootstrap` with LAMBDA_RUNTIME_DIR pointing at
its folder. Everything else it reads (AWS_LAMBDA_RUNTIME_API, _HANDLER,
LAMBDA_TASK_ROOT, AWS_LAMBDA_FUNCTION_*) is metatokend's.
"""
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
RUNTIME_DIR = "node_modules/@vercel/fun/dist/src/runtimes/nodejs"
TIMEOUT_S = 6
SERVER = None

HANDLER_JS = r"""
exports.handler = async (event, context) => {
  if (event.fail) {
    const e = new Error(event.fail);
    e.name = "CustomError";
    throw e;
  }
  const now = Date.now();
  return {
    event,
    pid: process.pid,
    now,
    remaining: context.getRemainingTimeInMillis(),
    awsRequestId: context.awsRequestId,
    invokedFunctionArn: context.invokedFunctionArn,
    functionName: context.functionName,
    functionVersion: context.functionVersion,
    memoryLimitInMB: context.memoryLimitInMB,
    logGroupName: context.logGroupName,
    logStreamName: context.logStreamName,
    clientContext: context.clientContext || null,
    traceId: process.env._X_AMZN_TRACE_ID || null,
  };
};
"""


class Server:
    def __init__(self, binary, config):
        self.tmp = tempfile.mkdtemp(prefix="metatoken-node-runtime-")
        path = os.path.join(self.tmp, "config.json")
        with open(path, "w") as f:
            json.dump(config, f)
        env = dict(os.environ, HOME=self.tmp)
        env.pop("XDG_RUNTIME_DIR", None)
        self.log = open(os.path.join(self.tmp, "metatokend.log"), "w+")
        self.proc = subprocess.Popen(
            [binary, "--listen", "127.0.0.1:0", "--log-level", "warn", "--config", path],
            stdout=subprocess.PIPE, stderr=self.log, text=True, env=env)
        base = None
        for line in self.proc.stdout:
            line = line.strip()
            if line.startswith("export AWS_EC2_METADATA_SERVICE_ENDPOINT="):
                base = line.split("=", 1)[1].rstrip("/")
            if line == "# Ctrl-C stops it.":
                break
        self.proc.stdout.close()
        if not base:
            self.proc.kill()
            raise RuntimeError("metatokend printed no AWS_EC2_METADATA_SERVICE_ENDPOINT line")
        self.base = base

    def invoke(self, name, event, headers=None):
        """(status, headers, body) of one Invoke API call."""
        req = urllib.request.Request(
            "%s/2015-03-31/functions/%s/invocations" % (self.base, name), method="POST",
            data=json.dumps(event).encode(), headers=headers or {})
        try:
            with OPENER.open(req, timeout=TIMEOUT_S + 30) as resp:
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def log_text(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def stop(self):
        self.proc.terminate()
        code = self.proc.wait(timeout=15)
        self.log.close()
        return code


class NodeRuntime(unittest.TestCase):
    def invoke(self, event, name="node", headers=None):
        status, headers, body = SERVER.invoke(name, event, headers)
        self.assertEqual(status, 200, body)
        return headers, json.loads(body)

    def test_answer_and_context(self):
        sent_ms = time.time() * 1000
        headers, doc = self.invoke({"hello": ["world", 1]})
        self.assertIsNone(headers.get("X-Amz-Function-Error"), doc)
        self.assertEqual(doc["event"], {"hello": ["world", 1]})
        # The request id the invoker is told is the one the handler saw.
        self.assertEqual(doc["awsRequestId"], headers["X-Amzn-RequestId"])
        self.assertRegex(doc["awsRequestId"], r"^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$")
        # The deadline: the function's timeout from about when we asked,
        # on the wall clock the runtime reads it with.
        self.assertGreater(doc["remaining"], 0)
        self.assertLessEqual(doc["remaining"], TIMEOUT_S * 1000)
        deadline = doc["now"] + doc["remaining"]
        self.assertGreaterEqual(deadline, sent_ms + TIMEOUT_S * 1000 - 100)
        self.assertLessEqual(deadline, time.time() * 1000 + TIMEOUT_S * 1000 + 100)
        self.assertEqual(doc["functionName"], "node")
        self.assertEqual(doc["functionVersion"], "$LATEST")
        self.assertEqual(doc["memoryLimitInMB"], "256")  # from the environment: a string
        self.assertRegex(doc["invokedFunctionArn"], r"^arn:aws:lambda:[a-z0-9-]+:\d{12}:function:node$")
        self.assertTrue(doc["logGroupName"].endswith("/node"), doc["logGroupName"])
        self.assertTrue(doc["logStreamName"])
        self.assertTrue(doc["traceId"].startswith("Root="), doc["traceId"])
        self.assertIsNone(doc["clientContext"])

    def test_warm_process_serves_the_next(self):
        _, first = self.invoke({"n": 1})
        _, second = self.invoke({"n": 2})
        self.assertEqual(second["event"], {"n": 2})
        self.assertEqual(first["pid"], second["pid"])
        self.assertNotEqual(first["awsRequestId"], second["awsRequestId"])

    def test_handler_error_as_that_runtime_formats_it(self):
        headers, doc = self.invoke({"fail": "it broke"})
        self.assertEqual(headers["X-Amz-Function-Error"], "Unhandled")
        self.assertEqual(doc["errorType"], "CustomError")
        self.assertEqual(doc["errorMessage"], "it broke")
        self.assertIsInstance(doc["stackTrace"], list)
        self.assertTrue(any("index.js" in line for line in doc["stackTrace"]), doc)
        # The runtime lives on after a handler error.
        _, ok = self.invoke({"after": "error"})
        self.assertEqual(ok["event"], {"after": "error"})

    def test_client_context_reaches_the_handler(self):
        cc = {"client": {"installation_id": "i-1", "app_title": "t"}, "custom": {"k": "v"},
              "env": {}}
        _, doc = self.invoke({}, headers={
            "X-Amz-Client-Context": base64.b64encode(json.dumps(cc).encode()).decode()})
        self.assertEqual(doc["clientContext"], cc)

    def test_init_error_fails_the_invocation(self):
        headers, doc = self.invoke({}, name="broken")
        self.assertEqual(headers["X-Amz-Function-Error"], "Unhandled")
        self.assertEqual(doc["errorType"], "Error")
        self.assertEqual(doc["errorMessage"], "Unable to import module 'missing'")

    def test_output_reaches_the_log_with_report_lines(self):
        headers, _ = self.invoke({"log": 1})
        rid = headers["X-Amzn-RequestId"]
        for _ in range(50):
            if "REPORT RequestId: " + rid in SERVER.log_text():
                break
            time.sleep(0.1)
        self.assertIn("REPORT RequestId: " + rid, SERVER.log_text())


def main():
    global SERVER
    if len(sys.argv) != 3:
        sys.exit("usage: test_node_runtime.py PATH_TO_METATOKEND NPM_DIR")
    binary, npm_dir = sys.argv[1], os.path.abspath(sys.argv[2])
    runtime_dir = os.path.join(npm_dir, RUNTIME_DIR)
    if not os.path.exists(os.path.join(runtime_dir, "bootstrap.js")):
        sys.exit("test_node_runtime.py: no %s/bootstrap.js: install the npm packages the "
                 "tests use (scripts/test does; by hand: . scripts/lib.sh; mtk_install_npm)"
                 % runtime_dir)
    if not shutil.which("node"):
        sys.exit("test_node_runtime.py: no node on PATH")
    code_dir = tempfile.mkdtemp(prefix="metatoken-node-code-")
    with open(os.path.join(code_dir, "index.js"), "w") as f:
        f.write(HANDLER_JS)
    command = ["/bin/sh", os.path.join(runtime_dir, "bootstrap")]
    env = {"LAMBDA_RUNTIME_DIR": runtime_dir}
    SERVER = Server(binary, {"functions": [
        {"name": "node", "runtime": "command", "command": command, "handler": "index.handler",
         "code_dir": code_dir, "timeout_s": TIMEOUT_S, "memory_mb": 256, "environment": env},
        {"name": "broken", "runtime": "command", "command": command,
         "handler": "missing.handler", "code_dir": code_dir, "environment": env},
    ]})
    try:
        prog = unittest.main(argv=[sys.argv[0], "-v"], exit=False)
    finally:
        code = SERVER.stop()
    if not prog.result.wasSuccessful():
        print("--- metatokend's log ---\n" + open(SERVER.log.name).read())
    if code:
        print("metatokend exited with status %s after SIGTERM" % code)
        sys.exit(1)
    sys.exit(0 if prog.result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
