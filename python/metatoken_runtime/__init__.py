"""metatoken's Python runtime for Lambda-style functions.

It polls a Lambda Runtime API (metatokend's, AWS's, or any other) at
"http://" + $AWS_LAMBDA_RUNTIME_API, loads the handler named by $_HANDLER
(module.function, from $LAMBDA_TASK_ROOT), and calls it with the event and a
context object that carries the fields of both Yandex Cloud Functions' and
AWS Lambda's Python contexts.

Run it as `metatoken-python-runtime`, or `python3 -m metatoken_runtime`
with this package's folder on sys.path (for a debugger). Standard library
only, Python 3.9 and newer. Importing this package imports nothing else:
start-up cost is part of every cold start.
"""

__version__ = "0.1.0"
