"""What the handler prints and logs, line by line and with no delay.

metatokend (like the clouds) reads the runtime's stdout and stderr and tags
each line with the invocation it belongs to, so a line must leave the
process while its invocation runs: stdout and stderr are made
line-buffered, and flushed before each answer is posted.

`logging` (about as costly to import as the rest of the runtime together)
is configured when someone imports it, the handler's module or a library,
at start or in the middle of an invocation: an import hook sets up the root
logger as AWS's runtime does, at INFO (or $AWS_LAMBDA_LOG_LEVEL) with
"[LEVEL]\\tTIME\\tREQUEST-ID\\tmessage" lines on stdout.
"""

import os
import sys
import time

# The invocation being served, for log records; "" between invocations.
request_id = ""

_FORMAT = "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s"


def setup_streams():
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(line_buffering=True)


def flush():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass  # a handler that closed or replaced them


def write_lines(lines, stream=None):
    stream = stream or sys.stdout
    stream.write("\n".join(lines) + "\n")
    stream.flush()


def configure_logging(logging):
    """Gives the root logger a handler that writes AWS's text format to
    stdout with the request id, unless one is there already."""
    root = logging.getLogger()
    if any(getattr(h, "_metatoken", False) for h in root.handlers):
        return

    class Handler(logging.Handler):
        _metatoken = True

        def emit(self, record):
            try:
                record.aws_request_id = request_id
                sys.stdout.write(self.format(record) + "\n")
                sys.stdout.flush()
            except Exception:
                self.handleError(record)

    formatter = logging.Formatter(_FORMAT, "%Y-%m-%dT%H:%M:%S")
    formatter.converter = time.gmtime
    handler = Handler()
    handler.setFormatter(formatter)
    root.addHandler(handler)
    level = os.environ.get("AWS_LAMBDA_LOG_LEVEL", "").upper()
    root.setLevel(level if isinstance(logging.getLevelName(level), int) else logging.INFO)


class _ConfiguringLoader(object):
    """Runs `logging`'s own loader, then configure_logging()."""

    def __init__(self, inner):
        self._inner = inner

    def create_module(self, spec):
        return self._inner.create_module(spec)

    def exec_module(self, module):
        # The module sees its real loader, as if no hook were there.
        module.__loader__ = self._inner
        if getattr(module, "__spec__", None) is not None:
            module.__spec__.loader = self._inner
        self._inner.exec_module(module)
        configure_logging(module)

    def __getattr__(self, name):
        return getattr(self._inner, name)


class _LoggingHook(object):
    """A sys.meta_path finder that answers only for `logging`, once, with
    the spec the other finders give and a loader that configures it."""

    def __init__(self):
        self.done = False

    def find_spec(self, name, path=None, target=None):
        if name != "logging" or self.done:
            return None
        self.done = True
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(name, path, target)
            if spec is not None:
                if hasattr(spec.loader, "exec_module"):
                    spec.loader = _ConfiguringLoader(spec.loader)
                return spec
        return None


def hook_logging():
    """Configures `logging` now if it is imported already, else when it
    is."""
    if "logging" in sys.modules:
        configure_logging(sys.modules["logging"])
    else:
        sys.meta_path.insert(0, _LoggingHook())
