"""Error documents in the clouds' shape: {"errorMessage", "errorType",
"stackTrace": [...]}, what both AWS's and Yandex's runtimes post to
/error and /init/error, and the log lines that go with one.

`traceback` is imported only when an exception needs it: a runtime whose
handler never raises does not pay for it at start.
"""

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__)) + os.sep


class Fault(Exception):
    """An error of the runtime's own, in a cloud's name (e.g.
    Runtime.MarshalError): posted as it is, with no stack."""

    def __init__(self, error_type, message):
        Exception.__init__(self, message)
        self.doc = document(error_type, message)


def document(error_type, message, stack=None):
    return {"errorMessage": message, "errorType": error_type, "stackTrace": stack or []}


def _ours(filename):
    """Frames the handler's author did not write: this runtime's, and
    asyncio's machinery around an async handler."""
    if filename.startswith(_HERE):
        return True
    asyncio = sys.modules.get("asyncio")
    where = getattr(asyncio, "__file__", None)
    return bool(where) and filename.startswith(os.path.dirname(where) + os.sep)


def from_exception(exc_info):
    """The document for an exception the handler (or its module) raised:
    its type's name, its message, and the stack from the first frame that
    is not the runtime's, as traceback.format_list() writes it."""
    import traceback

    etype, value, tb = exc_info
    frames = [f for f in traceback.extract_tb(tb) if not _ours(f.filename)]
    try:
        message = str(value)
    except Exception:  # a __str__ that raises still gets a document
        message = "<%s with a message that cannot be shown>" % etype.__name__
    return document(etype.__name__, message, traceback.format_list(frames))


def log_lines(doc):
    """"[ERROR] Type: message" and the stack, one line each, as AWS's
    runtime logs an error (it joins them with "\\r" for CloudWatch; here
    each line is a line of metatokend's log)."""
    head = "[ERROR]"
    if doc.get("errorType"):
        head += " " + doc["errorType"] + (":" if doc.get("errorMessage") else "")
    if doc.get("errorMessage"):
        head += " " + doc["errorMessage"]
    lines = [head]
    if doc.get("stackTrace"):
        lines.append("Traceback (most recent call last):")
        for entry in doc["stackTrace"]:
            lines.extend(entry.rstrip("\n").split("\n"))
    return lines
