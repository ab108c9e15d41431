"""The Python runtime benchmark's handler (bench/python): answers the event
it was given, unchanged, and prints nothing, as bench/fn_echo.c does for
the C runtime, so that a warm invocation measures metatokend, the Runtime
API and the runtime, not the handler or the log relay."""


def handler(event, context):
    return event
