"""Loading the handler named by _HANDLER, and the init errors when that fails.

`module.function`: the module is imported with LAMBDA_TASK_ROOT first on
sys.path, so `index.handler` is index.py's handler and
`pkg.sub.mod.handler` a function in a sub-module of a package (a `/` in the
module part works as a `.`, as AWS's runtime accepts `dir/index.handler`).
Each failure becomes an error document in the shape AWS's runtime posts to
/init/error: Runtime.MalformedHandlerName, Runtime.ImportModuleError,
Runtime.UserCodeSyntaxError, Runtime.HandlerNotFound, or the exception's own
type when the module raised one while it was imported.
"""

import sys

from . import errors


class InitError(Exception):
    def __init__(self, doc):
        Exception.__init__(self, doc["errorMessage"])
        self.doc = doc


def _fail(error_type, message, stack=None):
    raise InitError(errors.document(error_type, message, stack))


def load(handler, task_root):
    """The handler function, or InitError."""
    if task_root and task_root not in sys.path:
        sys.path.insert(0, task_root)
    modname, _, fname = handler.rpartition(".")
    if not modname or not fname:
        _fail("Runtime.MalformedHandlerName",
              "Bad handler '%s': it must be module.function (e.g. index.handler for the "
              "function handler in index.py)" % handler)
    modname = modname.replace("/", ".")
    if modname.split(".")[0] in sys.builtin_module_names:
        _fail("Runtime.BuiltInModuleConflict",
              "Cannot use built-in module %s as a handler module" % modname)
    try:
        __import__(modname)
        module = sys.modules[modname]
    except SyntaxError as e:
        # It names the file and the line (IndentationError too).
        _fail("Runtime.UserCodeSyntaxError",
              "Syntax error in module '%s': %s" % (modname, e),
              ['  File "%s" Line %s\n    %s\n' % (e.filename, e.lineno,
                                                  (e.text or "").strip())])
    except ImportError as e:
        _fail("Runtime.ImportModuleError", "Unable to import module '%s': %s" % (modname, e))
    except Exception:
        # The module's own code raised while it was imported.
        raise InitError(errors.from_exception(sys.exc_info()))
    function = getattr(module, fname, None)
    if function is None and not hasattr(module, fname):
        _fail("Runtime.HandlerNotFound", "Handler '%s' missing on module '%s'" % (fname, modname))
    if not callable(function):
        _fail("Runtime.HandlerNotFound",
              "Handler '%s' on module '%s' is not callable (it is a %s)"
              % (fname, modname, type(function).__name__))
    return function
