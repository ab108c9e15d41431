#!/usr/bin/python3
"""metatoken-python-runtime against a fake Runtime API in this process.

usage: test_python_runtime.py PATH/TO/metatoken-python-runtime PYTHON_SOURCE_DIR

Each test writes a handler module into a temporary LAMBDA_TASK_ROOT, queues
invocations (the /next answers: headers and body) on the fake API, runs the
runtime with --invocations N so that it ends by itself, and checks what it
posted back, what it printed, and how it exited. The context is checked
field by field against both seeds (Yandex's and AWS's Python contexts), with
and without the optional headers.
"""
import ast
import http.server
import json
import os
import queue
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

RUNTIME = PYTHON_DIR = None
BOUND_S = 30  # nothing here takes this long unless it hangs
RID = "8f5a2b4c-1d2e-4f60-9a7b-0c1d2e3f4a5b"

CONTEXT_HANDLER = r'''
import os, time

def handler(event, context):
    def obj(o, names):
        return None if o is None else {n: getattr(o, n) for n in names}

    cc = context.client_context
    return {
        "event": event,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "request_id": context.request_id,
        "aws_request_id": context.aws_request_id,
        "deadline_ms": context.deadline_ms,
        "invoked_function_arn": context.invoked_function_arn,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "function_folder_id": context.function_folder_id,
        "token": context.token,
        "identity": obj(context.identity, ["cognito_identity_id", "cognito_identity_pool_id"]),
        "client_context": None if cc is None else {
            "custom": cc.custom, "env": cc.env,
            "client": obj(cc.client, ["installation_id", "app_title", "app_version_name",
                                      "app_version_code", "app_package_name"])},
        "remaining": context.get_remaining_time_in_millis(),
        "now_ms": int(time.time() * 1000),
        "trace": os.environ.get("_X_AMZN_TRACE_ID"),
        "repr": repr(context),
    }
'''


class FakeAPI(object):
    """A Runtime API: /next answers come from `work`, every POST is put on
    `posts` as (path, headers, body); `answers` may hold a status to give
    the next POST instead of 202."""

    def __init__(self):
        self.work = queue.Queue()
        self.posts = queue.Queue()
        self.answers = queue.Queue()
        self.connections = set()
        self.open = set()  # sockets a /next came on
        self.stopped = threading.Event()
        self.nexts = 0
        self.on_post = None
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                api.connections.add(self.client_address)
                if self.path != "/2018-06-01/runtime/invocation/next":
                    return self.reply(404, b'{"errorType":"NotFound"}')
                api.nexts += 1
                api.open.add(self.connection)
                item = api.next_work()
                if item is None:  # stopped: the connection ends unanswered
                    self.close_connection = True
                    return
                headers, body, chunked = item
                self.send_response(200)
                for name, value in headers.items():
                    self.send_header(name, value)
                if chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for i in range(0, len(body), 3):
                        part = body[i:i + 3]
                        self.wfile.write(b"%x;ext=1\r\n%s\r\n" % (len(part), part))
                    self.wfile.write(b"0\r\nX-Trailer: 1\r\n\r\n")
                else:
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)

            def do_POST(self):
                api.connections.add(self.client_address)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if api.on_post:
                    api.on_post(self.path)
                api.posts.put((self.path, dict(self.headers), body))
                try:
                    status = api.answers.get_nowait()
                except queue.Empty:
                    status = 202
                self.reply(status, b'{"status":"OK"}' if status == 202 else
                           b'{"errorMessage":"too large","errorType":"RequestEntityTooLarge"}')

            def reply(self, status, body):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.address = "127.0.0.1:%d" % self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def queue(self, body=b"{}", headers=None, request_id=RID, deadline_ms=None, chunked=False):
        h = {"Lambda-Runtime-Aws-Request-Id": request_id,
             "Lambda-Runtime-Deadline-Ms": str(deadline_ms if deadline_ms is not None
                                               else int(time.time() * 1000) + 60000),
             "Lambda-Runtime-Invoked-Function-Arn":
                 "arn:aws:lambda:us-east-1:123456789012:function:fn",
             "Lambda-Runtime-Trace-Id": "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Sampled=1"}
        h.update(headers or {})
        self.work.put((h, body if isinstance(body, bytes) else json.dumps(body).encode(),
                       chunked))

    def next_work(self):
        deadline = time.monotonic() + BOUND_S
        while not self.stopped.is_set() and time.monotonic() < deadline:
            try:
                return self.work.get(timeout=0.05)
            except queue.Empty:
                pass
        return None

    def post(self):
        return self.posts.get(timeout=BOUND_S)

    def stop(self):
        """Stops listening and ends every connection, as a Runtime API
        that went away."""
        self.stopped.set()
        self.server.shutdown()
        self.server.server_close()
        for sock in list(self.open):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class RuntimeCase(unittest.TestCase):
    def setUp(self):
        self.api = FakeAPI()
        self.root = tempfile.mkdtemp(prefix="metatoken-pyrt-")

    def tearDown(self):
        self.api.stop()
        shutil.rmtree(self.root)

    def write(self, name, text):
        path = os.path.join(self.root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)

    def env(self, handler, **extra):
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
               "AWS_LAMBDA_RUNTIME_API": self.api.address, "_HANDLER": handler,
               "LAMBDA_TASK_ROOT": self.root}
        env.update(extra)
        return env

    def start(self, handler, invocations=1, argv=None, stdin=subprocess.DEVNULL, **extra):
        cmd = argv or [sys.executable, RUNTIME]
        if invocations:
            cmd = cmd + ["--invocations", str(invocations)]
        return subprocess.Popen(cmd, env=self.env(handler, **extra), cwd=self.root,
                                stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def finish(self, proc):
        out, err = proc.communicate(timeout=BOUND_S)
        return proc.returncode, out.decode(), err.decode()

    def run_one(self, source, body=b"{}", handler="index.handler", headers=None, **extra):
        """Runs one invocation; (path, headers, parsed body) of what was
        posted, and (status, stdout, stderr) of the runtime."""
        self.write("index.py", source)
        self.api.queue(body, headers)
        proc = self.start(handler, **extra)
        path, posted_headers, posted = self.api.post()
        status, out, err = self.finish(proc)
        self.assertEqual(status, 0, err)
        return path, posted_headers, json.loads(posted), out, err


class Context(RuntimeCase):
    def test_every_field_from_yandex_headers_which_win_over_the_environment(self):
        token = {"access_token": "t1.abc", "expires_in": 42617, "token_type": "Bearer"}
        cc = {"client": {"installation_id": "i-1", "app_title": "App",
                         "app_version_name": "1.0", "app_version_code": "7",
                         "app_package_name": "com.example"},
              "custom": {"k": "v"}, "env": {"platform": "linux"}}
        deadline = int(time.time() * 1000) + 5000
        path, headers, doc, _, _ = self.run_one(CONTEXT_HANDLER, body={"a": [1, "b"]}, headers={
            "Lambda-Runtime-Function-Name": "d4e5f6function",
            "Lambda-Runtime-Function-Version": "d4e5version",
            "Lambda-Runtime-Memory-Limit": "256",
            "Lambda-Runtime-Log-Group-Name": "/yandex/group",
            "Lambda-Runtime-Deadline-Ms": str(deadline),
            "Lambda-Runtime-Token-Json": json.dumps(token),
            "Lambda-Runtime-Client-Context": json.dumps(cc),
            "Lambda-Runtime-Cognito-Identity": json.dumps(
                {"cognitoIdentityId": "us-east-1:id", "cognitoIdentityPoolId": "us-east-1:pool"}),
        }, AWS_LAMBDA_FUNCTION_NAME="env-name", AWS_LAMBDA_FUNCTION_VERSION="env-version",
            AWS_LAMBDA_FUNCTION_MEMORY_SIZE="128", AWS_LAMBDA_LOG_GROUP_NAME="/env/group",
            AWS_LAMBDA_LOG_STREAM_NAME="2026/11/30/[$LATEST]abc",
            METATOKEN_FUNCTION_FOLDER_ID="b1gfolder")
        self.assertEqual(path, "/2018-06-01/runtime/invocation/%s/response" % RID)
        self.assertEqual(doc["event"], {"a": [1, "b"]})
        self.assertEqual(doc["function_name"], "d4e5f6function")
        self.assertEqual(doc["function_version"], "d4e5version")
        self.assertEqual(doc["memory_limit_in_mb"], 256)
        self.assertEqual(doc["request_id"], RID)
        self.assertEqual(doc["aws_request_id"], RID)
        self.assertEqual(doc["deadline_ms"], deadline)
        self.assertEqual(doc["invoked_function_arn"],
                         "arn:aws:lambda:us-east-1:123456789012:function:fn")
        self.assertEqual(doc["log_group_name"], "/yandex/group")
        self.assertEqual(doc["log_stream_name"], "2026/11/30/[$LATEST]abc")
        self.assertEqual(doc["function_folder_id"], "b1gfolder")
        self.assertEqual(doc["token"], token)
        self.assertEqual(doc["identity"], {"cognito_identity_id": "us-east-1:id",
                                           "cognito_identity_pool_id": "us-east-1:pool"})
        self.assertEqual(doc["client_context"], cc)
        self.assertEqual(doc["trace"], "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Sampled=1")
        # The wall clock against the epoch deadline.
        self.assertLessEqual(doc["remaining"], deadline - doc["now_ms"] + 1)
        self.assertGreater(doc["remaining"], deadline - doc["now_ms"] - 1000)
        self.assertNotIn("t1.abc", doc["repr"])  # a context in a log shows no token
        self.assertEqual(headers["Content-Type"], "application/json")

    def test_aws_style_the_environment_fills_what_no_header_says(self):
        _, _, doc, _, _ = self.run_one(
            CONTEXT_HANDLER, AWS_LAMBDA_FUNCTION_NAME="fn", AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
            AWS_LAMBDA_FUNCTION_MEMORY_SIZE="512", AWS_LAMBDA_LOG_GROUP_NAME="/aws/lambda/fn",
            AWS_LAMBDA_LOG_STREAM_NAME="stream")
        self.assertEqual(doc["function_name"], "fn")
        self.assertEqual(doc["function_version"], "$LATEST")
        self.assertEqual(doc["memory_limit_in_mb"], 512)  # an int, as Yandex's
        self.assertEqual(doc["log_group_name"], "/aws/lambda/fn")
        self.assertEqual(doc["log_stream_name"], "stream")
        # Absent: None, but identity is an object with None fields (awslambdaric).
        self.assertIsNone(doc["token"])
        self.assertIsNone(doc["client_context"])
        self.assertIsNone(doc["function_folder_id"])
        self.assertEqual(doc["identity"], {"cognito_identity_id": None,
                                           "cognito_identity_pool_id": None})

    def test_nothing_at_all_gives_none_not_a_crash(self):
        _, _, doc, _, _ = self.run_one(CONTEXT_HANDLER)
        for name in ("function_name", "function_version", "memory_limit_in_mb",
                     "log_group_name", "log_stream_name", "token"):
            self.assertIsNone(doc[name], name)

    def test_a_client_context_without_client_has_client_none(self):
        _, _, doc, _, _ = self.run_one(CONTEXT_HANDLER, headers={
            "Lambda-Runtime-Client-Context": json.dumps({"custom": {"a": 1}})})
        self.assertEqual(doc["client_context"], {"custom": {"a": 1}, "env": None, "client": None})

    def test_remaining_time_is_clamped_at_zero(self):
        past = int(time.time() * 1000) - 60000
        _, _, doc, _, _ = self.run_one(CONTEXT_HANDLER, headers={
            "Lambda-Runtime-Deadline-Ms": str(past)})
        self.assertEqual(doc["deadline_ms"], past)
        self.assertEqual(doc["remaining"], 0)

    def test_an_unparsable_token_header_is_none(self):
        for bad in ("not json", "[1, 2]", '"t1.x"', "{"):
            _, _, doc, _, _ = self.run_one(CONTEXT_HANDLER, headers={
                "Lambda-Runtime-Token-Json": bad})
            self.assertIsNone(doc["token"], bad)

    def test_an_unparsable_client_context_fails_the_invocation_as_aws_does(self):
        path, headers, doc, _, _ = self.run_one(CONTEXT_HANDLER, headers={
            "Lambda-Runtime-Client-Context": "{not json"})
        self.assertTrue(path.endswith("/error"), path)
        self.assertEqual(doc["errorType"], "Runtime.LambdaContextUnmarshalError")
        self.assertIn("Client Context", doc["errorMessage"])


class Events(RuntimeCase):
    ECHO = "def handler(event, context):\n    return event\n"

    def test_a_body_that_is_not_json_is_wrapped_as_yandex_does(self):
        for body, want in ((b"hello", {"payload": "hello"}), (b"", {"payload": ""}),
                           (b'{"a": 1}', {"a": 1}), (b"[1,2]", [1, 2]), (b'"s"', "s")):
            _, _, doc, _, _ = self.run_one(self.ECHO, body=body)
            self.assertEqual(doc, want, body)

    def test_a_chunked_next_answer_is_read_whole(self):
        self.write("index.py", self.ECHO)
        self.api.queue({"chunked": "x" * 50}, chunked=True)
        proc = self.start("index.handler")
        _, _, body = self.api.post()
        self.assertEqual(json.loads(body), {"chunked": "x" * 50})
        self.assertEqual(self.finish(proc)[0], 0)

    def test_results_are_json_and_bytes_pass_as_they_are(self):
        self.write("index.py", "def handler(event, context):\n"
                               "    return b'\\x00raw' if event == 'b' else {'\u00e9': None}\n")
        self.api.queue("b")
        self.api.queue("j")
        proc = self.start("index.handler", invocations=2)
        self.assertEqual(self.api.post()[2], b"\x00raw")
        self.assertEqual(json.loads(self.api.post()[2].decode("utf-8")), {"\u00e9": None})
        self.assertEqual(self.finish(proc)[0], 0)

    def test_one_keep_alive_connection_serves_every_request(self):
        self.write("index.py", self.ECHO)
        for i in range(3):
            self.api.queue(i, request_id="rid-%d" % i)
        proc = self.start("index.handler", invocations=3)
        for i in range(3):
            path, _, body = self.api.post()
            self.assertEqual((path, json.loads(body)),
                             ("/2018-06-01/runtime/invocation/rid-%d/response" % i, i))
        self.assertEqual(self.finish(proc)[0], 0)
        self.assertEqual(len(self.api.connections), 1, self.api.connections)


class Errors(RuntimeCase):
    def test_an_exception_is_posted_as_an_error_document_and_the_runtime_goes_on(self):
        self.write("index.py", "def inner(x):\n    raise ValueError('bad value %s' % x)\n\n"
                               "def handler(event, context):\n"
                               "    if event == 'ok':\n        return 'fine'\n"
                               "    return inner(event)\n")
        self.api.queue("boom", request_id="r1")
        self.api.queue("ok", request_id="r2")
        proc = self.start("index.handler", invocations=2)
        path, headers, body = self.api.post()
        self.assertEqual(path, "/2018-06-01/runtime/invocation/r1/error")
        self.assertEqual(headers["Lambda-Runtime-Function-Error-Type"], "ValueError")
        doc = json.loads(body)
        self.assertEqual(sorted(doc), ["errorMessage", "errorType", "stackTrace"])
        self.assertEqual(doc["errorType"], "ValueError")
        self.assertEqual(doc["errorMessage"], "bad value boom")
        where = os.path.join(self.root, "index.py")
        self.assertEqual(len(doc["stackTrace"]), 2, doc)  # the handler's frames only
        self.assertIn('File "%s", line 7, in handler' % where, doc["stackTrace"][0])
        self.assertIn('line 2, in inner\n    raise ValueError', doc["stackTrace"][1])
        self.assertEqual(self.api.post()[0], "/2018-06-01/runtime/invocation/r2/response")
        status, out, err = self.finish(proc)
        self.assertEqual(status, 0, err)
        self.assertIn("[ERROR] ValueError: bad value boom\nTraceback (most recent call last):\n",
                      out)

    def test_a_result_that_is_not_json_is_a_marshal_error_naming_the_type(self):
        for value, words in (("{1, 2}", "Object of type set is not JSON serializable"),
                             ("float('nan')", "Out of range float values"),
                             ("object()", "Object of type object")):
            path, headers, doc, _, _ = self.run_one(
                "def handler(event, context):\n    return %s\n" % value)
            self.assertTrue(path.endswith("/error"), path)
            self.assertEqual(headers["Lambda-Runtime-Function-Error-Type"],
                             "Runtime.MarshalError")
            self.assertEqual(doc["errorType"], "Runtime.MarshalError")
            self.assertIn("Unable to marshal response: " + words, doc["errorMessage"])

    def test_an_answer_the_api_refuses_is_reported_and_the_next_is_served(self):
        self.write("index.py", "def handler(event, context):\n    return event\n")
        self.api.queue("x" * 100, request_id="big")
        self.api.queue("small", request_id="next")
        self.api.answers.put(413)
        proc = self.start("index.handler", invocations=2)
        self.assertEqual(self.api.post()[0], "/2018-06-01/runtime/invocation/big/response")
        self.assertEqual(self.api.post()[0], "/2018-06-01/runtime/invocation/next/response")
        status, _, err = self.finish(proc)
        self.assertEqual(status, 0, err)
        self.assertIn("POST /2018-06-01/runtime/invocation/big/response answered 413", err)


class InitErrors(RuntimeCase):
    def init_error(self, handler, files=None):
        for name, text in (files or {"index.py": "def handler(e, c):\n    return 1\n"}).items():
            self.write(name, text)
        proc = self.start(handler)
        path, headers, body = self.api.post()
        status, out, err = self.finish(proc)
        self.assertEqual(path, "/2018-06-01/runtime/init/error")
        self.assertNotEqual(status, 0, "a runtime that cannot load its handler exits non-zero")
        self.assertEqual(self.api.nexts, 0, "it asked for work it could not do")
        doc = json.loads(body)
        self.assertEqual(headers["Lambda-Runtime-Function-Error-Type"], doc["errorType"])
        self.assertIn("[ERROR] %s: %s" % (doc["errorType"], doc["errorMessage"]), out)
        self.assertNotIn("Traceback", err)
        return doc

    def test_a_missing_module(self):
        doc = self.init_error("missing.handler")
        self.assertEqual(doc["errorType"], "Runtime.ImportModuleError")
        self.assertEqual(doc["errorMessage"],
                         "Unable to import module 'missing': No module named 'missing'")

    def test_a_module_whose_import_fails(self):
        doc = self.init_error("index.handler", {"index.py": "import not_there_at_all\n"})
        self.assertEqual(doc["errorType"], "Runtime.ImportModuleError")
        self.assertIn("No module named 'not_there_at_all'", doc["errorMessage"])

    def test_a_syntax_error_names_the_file_and_the_line(self):
        doc = self.init_error("index.handler", {"index.py": "x = 1\n\ndef handler(e, c:\n"})
        self.assertEqual(doc["errorType"], "Runtime.UserCodeSyntaxError")
        self.assertIn("Syntax error in module 'index'", doc["errorMessage"])
        self.assertIn("index.py, line 3", doc["errorMessage"])
        self.assertIn('File "%s" Line 3' % os.path.join(self.root, "index.py"),
                      doc["stackTrace"][0])

    def test_a_missing_function(self):
        doc = self.init_error("index.nothere")
        self.assertEqual(doc["errorType"], "Runtime.HandlerNotFound")
        self.assertEqual(doc["errorMessage"], "Handler 'nothere' missing on module 'index'")

    def test_a_handler_that_is_not_callable(self):
        doc = self.init_error("index.handler", {"index.py": "handler = 'a string'\n"})
        self.assertEqual(doc["errorType"], "Runtime.HandlerNotFound")
        self.assertEqual(doc["errorMessage"],
                         "Handler 'handler' on module 'index' is not callable (it is a str)")

    def test_a_handler_name_without_a_function(self):
        doc = self.init_error("index")
        self.assertEqual(doc["errorType"], "Runtime.MalformedHandlerName")
        self.assertIn("Bad handler 'index'", doc["errorMessage"])

    def test_a_module_that_raises_while_imported(self):
        doc = self.init_error("index.handler", {"index.py": "raise KeyError('CONFIG')\n"})
        self.assertEqual(doc["errorType"], "KeyError")
        self.assertIn('index.py", line 1, in <module>', doc["stackTrace"][0])


class Loading(RuntimeCase):
    def test_packages_and_sub_modules_dotted_or_slashed(self):
        self.write("pkg/__init__.py", "")
        self.write("pkg/sub/__init__.py", "")
        self.write("pkg/sub/mod.py", "def fn(event, context):\n    return 'sub ' + event\n")
        for handler in ("pkg.sub.mod.fn", "pkg/sub/mod.fn"):
            self.api.queue(handler)
            proc = self.start(handler)
            self.assertEqual(json.loads(self.api.post()[2]), "sub " + handler)
            self.assertEqual(self.finish(proc)[0], 0)

    def test_python_dash_m_runs_it_too_and_the_argument_names_the_handler(self):
        self.write("index.py", "def other(event, context):\n    return 'other'\n")
        self.api.queue()
        proc = self.start("index.nothing", argv=[sys.executable, "-m", "metatoken_runtime",
                                                 "index.other"], PYTHONPATH=PYTHON_DIR)
        self.assertEqual(json.loads(self.api.post()[2]), "other")
        self.assertEqual(self.finish(proc)[0], 0)

    def test_async_handlers_are_awaited_on_one_loop(self):
        self.write("index.py", "import asyncio\n"
                               "async def handler(event, context):\n"
                               "    await asyncio.sleep(0)\n"
                               "    return id(asyncio.get_running_loop())\n")
        self.api.queue()
        self.api.queue()
        proc = self.start("index.handler", invocations=2)
        first, second = json.loads(self.api.post()[2]), json.loads(self.api.post()[2])
        self.assertIsInstance(first, int)
        self.assertEqual(first, second)
        self.assertEqual(self.finish(proc)[0], 0)

    def test_an_async_handler_that_raises_shows_its_own_frames(self):
        path, _, doc, _, _ = self.run_one("async def handler(event, context):\n"
                                          "    raise RuntimeError('async fail')\n")
        self.assertTrue(path.endswith("/error"))
        self.assertEqual((doc["errorType"], doc["errorMessage"]), ("RuntimeError", "async fail"))
        self.assertEqual(len(doc["stackTrace"]), 1, doc["stackTrace"])

    def test_start_up_imports_nothing_it_does_not_need(self):
        # logging, http.client (email, ssl), socket (selectors), the idna
        # codec, asyncio, traceback and json (re, enum) would each add to
        # every cold start (bench/README.md, "Python runtime").
        _, _, doc, _, _ = self.run_one(
            "import sys\n"
            "def handler(event, context):\n"
            "    return sorted(m for m in ('logging', 'http.client', 'ssl', 'email', 'asyncio',"
            " 'traceback', 'inspect', 'socket', 'selectors', 'encodings.idna',"
            " 'json', 're', 'enum')"
            " if m in sys.modules)\n")
        self.assertEqual(doc, [])


class Output(RuntimeCase):
    def test_print_and_logging_lines_leave_before_the_answer(self):
        self.write("index.py",
                   "import logging, sys\n"
                   "log = logging.getLogger('fn')\n"
                   "def handler(event, context):\n"
                   "    print('printed line', event)\n"
                   "    sys.stdout.write('partial ')\n"
                   "    sys.stdout.write('written\\n')\n"
                   "    log.info('info line')\n"
                   "    log.debug('debug line')\n"
                   "    print('to stderr', file=sys.stderr)\n"
                   "    sys.stdout.write('no newline')\n"
                   "    return 1\n")
        self.api.queue(7)
        seen = {}
        proc = self.start("index.handler")

        def on_post(path):  # what the pipes hold when the answer arrives
            seen["out"] = read_ready(proc.stdout)
            seen["err"] = read_ready(proc.stderr)

        self.api.on_post = on_post
        self.api.post()
        status, out, err = self.finish(proc)
        self.assertEqual(status, 0, err)
        lines = seen["out"].decode().split("\n")
        self.assertEqual(lines[:2], ["printed line 7", "partial written"])
        level, stamp, rid, message = lines[2].split("\t")
        self.assertEqual((level, rid, message), ("[INFO]", RID, "info line"))
        self.assertRegex(stamp, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        # DEBUG is below the default level; a last partial line is flushed
        # before the answer too.
        self.assertEqual(lines[3:], ["no newline"])
        self.assertEqual(seen["err"].decode(), "to stderr\n")

    def test_a_line_leaves_at_once_while_the_handler_still_runs(self):
        # The handler prints, then waits for the test to have seen the line.
        self.write("index.py", "import sys\n"
                               "def handler(event, context):\n"
                               "    print('working')\n"
                               "    return sys.stdin.readline().strip()\n")
        self.api.queue()
        proc = self.start("index.handler", stdin=subprocess.PIPE)
        ready = select.select([proc.stdout], [], [], BOUND_S)[0]
        got = read_ready(proc.stdout) if ready else b""
        proc.stdin.write(b"seen\n")
        proc.stdin.close()
        proc.stdin = None  # communicate() must not flush it
        self.assertEqual(json.loads(self.api.post()[2]), "seen")
        self.assertEqual(self.finish(proc)[0], 0)
        self.assertEqual(got, b"working\n", "the line waited for the handler to return")

    def test_logging_imported_inside_the_handler_is_configured_too(self):
        self.write("index.py", "def handler(event, context):\n"
                               "    import logging\n"
                               "    logging.getLogger().warning('late %s', 'import')\n"
                               "    return 1\n")
        self.api.queue()
        proc = self.start("index.handler", AWS_LAMBDA_LOG_LEVEL="warning")
        self.api.post()
        status, out, err = self.finish(proc)
        self.assertEqual(status, 0, err)
        self.assertRegex(out, r"^\[WARNING\]\t\S+Z\t%s\tlate import\n$" % RID)


def read_ready(pipe):
    """What a pipe holds now, without waiting for more."""
    data = b""
    while select.select([pipe], [], [], 0)[0]:
        chunk = os.read(pipe.fileno(), 65536)
        if not chunk:
            break
        data += chunk
    return data


class Failures(unittest.TestCase):
    def run_runtime(self, env, *args):
        base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "_HANDLER": "index.handler"}
        base.update(env)
        p = subprocess.run([sys.executable, RUNTIME] + list(args), env=base,
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=BOUND_S)
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    def test_a_dead_runtime_api_is_one_clear_line(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()  # nothing listens there now
        status, out, err = self.run_runtime({"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:%d" % port})
        self.assertEqual(status, 1)
        self.assertEqual(err, "metatoken-python-runtime: cannot connect to the Runtime API at "
                              "http://127.0.0.1:%d: Connection refused; stopping\n" % port)

    def test_a_runtime_api_that_goes_away_mid_way(self):
        api = FakeAPI()
        root = tempfile.mkdtemp(prefix="metatoken-pyrt-")
        try:
            with open(os.path.join(root, "index.py"), "w") as f:
                f.write("def handler(event, context):\n    return 1\n")
            api.queue()
            proc = subprocess.Popen([sys.executable, RUNTIME], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={
                                        "PATH": os.environ.get("PATH", ""), "_HANDLER":
                                        "index.handler", "LAMBDA_TASK_ROOT": root,
                                        "AWS_LAMBDA_RUNTIME_API": api.address})
            api.post()
            api.stop()  # its second /next finds nobody
            _, err = proc.communicate(timeout=BOUND_S)
            self.assertEqual(proc.returncode, 1)
            self.assertNotIn(b"Traceback", err)
            self.assertIn(b"the Runtime API at http://%s" % api.address.encode(), err)
            self.assertEqual(err.count(b"\n"), 1, err)
        finally:
            shutil.rmtree(root)

    def test_no_runtime_api_or_a_bad_one_or_bad_arguments(self):
        status, _, err = self.run_runtime({})
        self.assertEqual((status, err), (2, "metatoken-python-runtime: AWS_LAMBDA_RUNTIME_API is "
                                            "not set: give the Runtime API's HOST:PORT\n"))
        status, _, err = self.run_runtime({"AWS_LAMBDA_RUNTIME_API": "host:port"})
        self.assertEqual((status, err), (2, "metatoken-python-runtime: "
                                            "AWS_LAMBDA_RUNTIME_API=host:port: must be HOST:PORT\n"))
        status, _, err = self.run_runtime({}, "--invocations", "0")
        self.assertEqual(status, 2)
        self.assertIn("--invocations needs a count of 1 or more", err)
        status, out, _ = self.run_runtime({}, "--help")
        self.assertEqual(status, 0)
        self.assertIn("AWS_LAMBDA_RUNTIME_API", out)


class Source(unittest.TestCase):
    def files(self):
        found = [os.path.join(PYTHON_DIR, "metatoken-python-runtime.in")]
        pkg = os.path.join(PYTHON_DIR, "metatoken_runtime")
        found += [os.path.join(pkg, n) for n in sorted(os.listdir(pkg)) if n.endswith(".py")]
        self.assertGreater(len(found), 5)
        return found

    def test_every_file_parses_as_python_3_9(self):
        for path in self.files():
            with open(path) as f:
                tree = ast.parse(f.read(), path, feature_version=(3, 9))
            for node in ast.walk(tree):
                # Valid syntax in 3.9, but `X | Y` annotations fail there at run time.
                self.assertFalse(getattr(node, "annotation", None) or
                                 getattr(node, "returns", None), "%s: annotations" % path)

    def test_only_the_standard_library_is_imported(self):
        for path in self.files():
            with open(path) as f:
                tree = ast.parse(f.read(), path)
            for node in ast.walk(tree):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    names = [node.module]
                for name in names:
                    top = name.split(".")[0]
                    self.assertTrue(top in sys.stdlib_module_names or top == "metatoken_runtime",
                                    "%s imports %s" % (path, name))


def main():
    global RUNTIME, PYTHON_DIR
    if len(sys.argv) < 3:
        sys.exit("usage: test_python_runtime.py PATH/TO/metatoken-python-runtime PYTHON_DIR")
    RUNTIME, PYTHON_DIR = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    del sys.argv[1:]
    unittest.main(verbosity=2)


if __name__ == "__main__":
    main()
