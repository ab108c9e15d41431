"""json.loads and json.dumps for the runtime, without importing `json`.

The `json` package imports `re` (and with it `enum`, sre's compiler and
parser) for a few patterns: on Debian's Python 3.11 that is about as much
start-up as the runtime's own modules and the interpreter's `site`
together, paid by every cold start before the first invocation. The
scanner and the encoder that json.loads and json.dumps use are `_json`'s
C functions; this module calls them directly, set up as json's defaults
set them up, so what they return is what json's would. Anything else (a
document that does not parse, a value that does not serialise, bytes in
another encoding, an interpreter without `_json`) goes to the `json`
package itself, imported then, so errors and edge cases are exactly
json's.
"""

try:
    import _json
except ImportError:  # e.g. an interpreter built without it
    _json = None

_WS = " \t\n\r"
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


class _Decoder(object):
    """The attributes _json.make_scanner reads, as json.JSONDecoder()
    sets them."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {"-Infinity": float("-inf"), "Infinity": float("inf"),
                      "NaN": float("nan")}.__getitem__


_scan = None


def _fast_loads(s):
    global _scan
    if _scan is None:
        _scan = _json.make_scanner(_Decoder())
    if isinstance(s, (bytes, bytearray)):
        # json.loads detects UTF-16 and -32 by their NULs and BOMs; UTF-8
        # without a BOM is all this path takes.
        if b"\x00" in s[:4] or s[:3].startswith(_BOMS):
            return None
        s = s.decode("utf-8", "surrogatepass")
    elif not isinstance(s, str):
        return None
    n, i = len(s), 0
    while i < n and s[i] in _WS:
        i += 1
    obj, end = _scan(s, i)
    while end < n and s[end] in _WS:
        end += 1
    if end != n:
        return None
    return (obj,)


def loads(s):
    """json.loads(s)."""
    if _json is not None:
        try:
            got = _fast_loads(s)
        except Exception:  # StopIteration, a JSONDecodeError, a bad byte...
            got = None
        if got is not None:
            return got[0]
    import json

    return json.loads(s)


class _Unserialisable(Exception):
    pass


def _default(o):
    raise _Unserialisable()


def dumps(obj, allow_nan=True):
    """json.dumps(obj, ensure_ascii=False, allow_nan=allow_nan)."""
    if _json is not None:
        try:
            if isinstance(obj, str):
                return _json.encode_basestring(obj)
            # A new encoder per call, as json makes one: it keeps the
            # circular-reference markers of one document.
            encode = _json.make_encoder({}, _default, _json.encode_basestring, None, ": ",
                                        ", ", False, False, allow_nan)
            return "".join(encode(obj, 0))
        except Exception:
            pass  # json's own error, from json's own code below
    import json

    return json.dumps(obj, ensure_ascii=False, allow_nan=allow_nan)
