"""The runtime's loop: load the handler, then /next -> handler -> /response
or /error, for as long as the Runtime API gives work.

The event is the body parsed as JSON; a body that is not JSON reaches the
handler as Yandex's runtimes pass it, {"payload": body}. The result is
serialised as JSON (bytes are passed as they are); what cannot be is a
Runtime.MarshalError naming the type. An exception is posted to /error as
{"errorMessage", "errorType", "stackTrace"}; an `async def` handler is
awaited on one event loop kept for the process (asyncio is imported only
then). SystemExit and KeyboardInterrupt are not caught: a handler that
exits ends the runtime, and its supervisor reports it, as in the clouds.
"""

import os
import sys

from . import __version__, errors, jsonc, output
from .api import RuntimeAPI, RuntimeAPIError
from .context import Context, ContextError
from .loader import InitError, load

PREFIX = "/2018-06-01/runtime"
ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"

USAGE = """\
usage: metatoken-python-runtime [--invocations N] [HANDLER]
       python3 -m metatoken_runtime [--invocations N] [HANDLER]

Runs a Python handler (module.function) against a Lambda Runtime API, as
AWS Lambda's and Yandex Cloud Functions' Python runtimes do. metatokend
starts it for functions with "runtime": "python"; it also runs on its own.

It reads:
  AWS_LAMBDA_RUNTIME_API   HOST:PORT of the Runtime API (required)
  _HANDLER                 module.function, unless HANDLER is given
  LAMBDA_TASK_ROOT         the code's folder, first on sys.path (default: .)
  AWS_LAMBDA_FUNCTION_NAME, _VERSION, _MEMORY_SIZE, AWS_LAMBDA_LOG_GROUP_NAME,
  AWS_LAMBDA_LOG_STREAM_NAME
                           context fields when the Runtime API's headers
                           do not carry them
  AWS_LAMBDA_LOG_LEVEL     the root logger's level (default INFO)

--invocations N ends it after N invocations (for tests and measurements);
by default it serves until the Runtime API goes away.
"""


class _Async(object):
    """The event loop async handlers run on, made on first use."""

    loop = None

    @classmethod
    def run(cls, awaitable):
        import asyncio

        if cls.loop is None:
            cls.loop = asyncio.new_event_loop()
            asyncio.set_event_loop(cls.loop)
        return cls.loop.run_until_complete(awaitable)


def parse_event(body):
    try:
        return jsonc.loads(body)
    except ValueError:
        return {"payload": body.decode("utf-8", "replace")}


def marshal(result):
    """(body bytes, content type) of a handler's result, or Fault."""
    if isinstance(result, (bytes, bytearray)):
        return bytes(result), "application/octet-stream"
    try:
        text = jsonc.dumps(result, allow_nan=False)
        return text.encode("utf-8"), "application/json"
    except (TypeError, ValueError, RecursionError) as e:
        raise errors.Fault("Runtime.MarshalError", "Unable to marshal response: %s" % e)


def _is_awaitable(value):
    return hasattr(value, "__await__") and not isinstance(value, type)


def invoke(handler, resp):
    """(body, content type, None) or (None, None, error document)."""
    try:
        context = Context(resp.headers)
        result = handler(parse_event(resp.body), context)
        if _is_awaitable(result):
            result = _Async.run(result)
        body, ctype = marshal(result)
        return body, ctype, None
    except errors.Fault as e:
        return None, None, e.doc
    except ContextError as e:
        return None, None, errors.document("Runtime.LambdaContextUnmarshalError", str(e))
    except Exception:
        return None, None, errors.from_exception(sys.exc_info())


def _warn_refused(what, resp):
    body = resp.body[:300].decode("utf-8", "replace")
    sys.stderr.write("metatoken-python-runtime: %s answered %d: %s\n" % (what, resp.status, body))


def serve(api, handler, invocations=None):
    """Serves `invocations` invocations (None: until the Runtime API fails,
    a RuntimeAPIError)."""
    while invocations is None or invocations > 0:
        if invocations is not None:
            invocations -= 1
        resp = api.request("GET", PREFIX + "/invocation/next")
        if resp.status != 200:
            raise RuntimeAPIError("GET %s/invocation/next answered %d: %s" % (
                PREFIX, resp.status, resp.body[:300].decode("utf-8", "replace")))
        rid = resp.header("Lambda-Runtime-Aws-Request-Id")
        if not rid:
            raise RuntimeAPIError("GET %s/invocation/next answered with no "
                                  "Lambda-Runtime-Aws-Request-Id" % PREFIX)
        output.request_id = rid
        trace = resp.header("Lambda-Runtime-Trace-Id")
        if trace:
            os.environ["_X_AMZN_TRACE_ID"] = trace
        else:
            os.environ.pop("_X_AMZN_TRACE_ID", None)
        body, ctype, doc = invoke(handler, resp)
        output.flush()
        if doc is None:
            path = "%s/invocation/%s/response" % (PREFIX, rid)
            answer = api.request("POST", path, body, {"Content-Type": ctype})
        else:
            output.write_lines(errors.log_lines(doc))
            path = "%s/invocation/%s/error" % (PREFIX, rid)
            answer = api.request("POST", path, _doc_bytes(doc), _error_headers(doc))
        if answer.status != 202:
            _warn_refused("POST " + path, answer)  # e.g. 413: it failed the invocation
        output.request_id = ""


def _doc_bytes(doc):
    return jsonc.dumps(doc).encode("utf-8", "replace")


def _error_headers(doc):
    # The type is the exception class's name: printable ASCII in practice,
    # but a header must not be able to break the request.
    kind = "".join(c if " " <= c <= "~" else "?" for c in doc["errorType"])[:200]
    return {"Content-Type": "application/json", ERROR_TYPE_HEADER: kind or "Unhandled"}


def _die(message, status=1):
    output.flush()
    sys.stderr.write("metatoken-python-runtime: %s\n" % message)
    sys.stderr.flush()
    return status


def _parse_args(args):
    """(handler or None, invocations or None), or raises ValueError."""
    handler = invocations = None
    args = list(args)
    while args:
        arg = args.pop(0)
        if arg == "--invocations":
            if not args or not args[0].isdigit() or int(args[0]) < 1:
                raise ValueError("--invocations needs a count of 1 or more")
            invocations = int(args.pop(0))
        elif arg.startswith("-") or handler is not None:
            raise ValueError("unexpected argument " + arg)
        else:
            handler = arg
    return handler, invocations


def main(argv=None):
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in ("-h", "--help"):
        sys.stdout.write(USAGE)
        return 0
    if args and args[0] == "--version":
        sys.stdout.write("metatoken-python-runtime %s\n" % __version__)
        return 0
    try:
        handler_arg, invocations = _parse_args(args)
    except ValueError as e:
        return _die("%s (see --help)" % e, 2)
    output.setup_streams()
    address = os.environ.get("AWS_LAMBDA_RUNTIME_API", "")
    handler_name = handler_arg or os.environ.get("_HANDLER", "")
    if not address:
        return _die("AWS_LAMBDA_RUNTIME_API is not set: give the Runtime API's HOST:PORT", 2)
    try:
        api = RuntimeAPI(address, "metatoken-python-runtime/%s python/%d.%d" % (
            (__version__,) + tuple(sys.version_info[:2])))
    except ValueError as e:
        return _die("AWS_LAMBDA_RUNTIME_API=%s: %s" % (address, e), 2)
    output.hook_logging()
    try:
        try:
            handler = load(handler_name, os.environ.get("LAMBDA_TASK_ROOT") or os.getcwd())
        except InitError as e:
            output.write_lines(errors.log_lines(e.doc))
            api.request("POST", PREFIX + "/init/error", _doc_bytes(e.doc),
                        _error_headers(e.doc))
            return _die("cannot load handler '%s': %s" % (handler_name, e))
        serve(api, handler, invocations)
        return 0
    except RuntimeAPIError as e:
        return _die("%s; stopping" % e)
    except KeyboardInterrupt:
        return _die("interrupted", 130)
