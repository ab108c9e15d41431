"""Loading the handler named by _HANDLER, and the init errors when that fails.

`module.function`: the module is imported with LAMBDA_TASK_ROOT first on
sys.path, so `index.handler` is index.py's handler and
`pkg.sub.mod.handler` a function in a sub-module of a package (a `/` in the
module part works as a `.`, as AWS's runtime accepts `dir/index.handler`).
Each failure becomes an error document in the shape AWS's runtime posts to
/init/error: Runtime.MalformedHandlerName, Runtime.ImportModuleError,
Runtime.UserCodeSyntaxError, Runtime.HandlerNotFound, or the exception's own
type when the module raised one while it was imported.

The code under LAMBDA_TASK_ROOT is imported through a loader that stamps
its byte code with the source's modification time in microseconds rather
than Python's whole seconds (_ExactSourceLoader), so that a runtime started
after an edit runs the code on disk.
"""

import importlib.machinery
import os
import sys

from . import errors


class _ExactSourceLoader(importlib.machinery.SourceFileLoader):
    """Python trusts byte code whose recorded source mtime, in whole seconds,
    and size match the source's. A module rewritten at the same size within
    the second its byte code was written would then run as it was before,
    in the runtime metatokend starts after the change (reload, a crash).
    Here the stamp is the mtime in microseconds (Python keeps its low 32
    bits on both sides): byte code from an interpreter that stamps seconds
    is recompiled, and ours is by it, but neither runs a stale module."""

    def path_stats(self, path):
        st = os.stat(path)
        return {"mtime": st.st_mtime_ns // 1000, "size": st.st_size}


def _exact_under(task_root):
    """Imports from task_root and the folders below it use _ExactSourceLoader."""
    root = os.path.realpath(task_root)
    M = importlib.machinery
    # The order of Python's own FileFinder: extensions, source, byte code.
    kinds = [(M.ExtensionFileLoader, M.EXTENSION_SUFFIXES),
             (_ExactSourceLoader, M.SOURCE_SUFFIXES),
             (M.SourcelessFileLoader, M.BYTECODE_SUFFIXES)]

    def hook(path):
        real = os.path.realpath(path or ".")
        if (real != root and not real.startswith(root.rstrip(os.sep) + os.sep)) or \
                not os.path.isdir(real):
            # Not a folder of ours (a .zip is zipimport's): the next hook's.
            raise ImportError("not a folder under the task root")
        return M.FileFinder(path, *kinds)

    sys.path_hooks.insert(0, hook)
    sys.path_importer_cache.clear()


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
    if task_root:
        _exact_under(task_root)
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
