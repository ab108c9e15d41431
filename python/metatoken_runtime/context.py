"""The context object a handler gets: both seeds' fields at once.

Yandex Cloud Functions' Python context (function_name, function_version,
memory_limit_in_mb as an int, request_id, deadline_ms, token, ...) and AWS
Lambda's (aws_request_id, invoked_function_arn, log_group_name,
log_stream_name, identity, client_context, ...), as awslambdaric builds
them: `identity` is always an object (its two fields None when the caller
sent none), `client_context` is None unless the caller sent one, and then
its `client` is None unless that held one.

Yandex sends the function's name, version, memory and log group with every
invocation (Lambda-Runtime-Function-Name and so on); AWS sets them in the
environment. A header, when present, wins.
"""

import os
import time

from . import jsonc


class ContextError(Exception):
    """A context header that should hold JSON does not (AWS's
    Runtime.LambdaContextUnmarshalError)."""


class CognitoIdentity(object):
    __slots__ = ("cognito_identity_id", "cognito_identity_pool_id")

    def __init__(self, doc):
        self.cognito_identity_id = doc.get("cognitoIdentityId")
        self.cognito_identity_pool_id = doc.get("cognitoIdentityPoolId")

    def __repr__(self):
        return "CognitoIdentity([cognito_identity_id=%s,cognito_identity_pool_id=%s])" % (
            self.cognito_identity_id, self.cognito_identity_pool_id)


class Client(object):
    __slots__ = ("installation_id", "app_title", "app_version_name", "app_version_code",
                 "app_package_name")

    def __init__(self, doc):
        for name in self.__slots__:
            setattr(self, name, doc.get(name))

    def __repr__(self):
        return "Client([%s])" % ",".join(
            "%s=%s" % (name, getattr(self, name)) for name in self.__slots__)


class ClientContext(object):
    __slots__ = ("custom", "env", "client")

    def __init__(self, doc):
        client = doc.get("client")
        if client is not None and not isinstance(client, dict):
            raise ContextError("Unable to parse Client Context JSON: \"client\" is not an object")
        self.custom = doc.get("custom")
        self.env = doc.get("env")
        self.client = Client(client) if client is not None else None

    def __repr__(self):
        return "ClientContext([custom=%s,env=%s,client=%s])" % (self.custom, self.env,
                                                               self.client)


def _json_object(text, what):
    try:
        doc = jsonc.loads(text)
    except ValueError as e:
        raise ContextError("Unable to parse %s JSON: %s" % (what, e))
    if not isinstance(doc, dict):
        raise ContextError("Unable to parse %s JSON: not an object" % what)
    return doc


def _int_or_none(text):
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


def _token(text):
    """Lambda-Runtime-Token-Json as a dict; None when absent or unparsable."""
    if text is None:
        return None
    try:
        doc = jsonc.loads(text)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


class Context(object):
    """One invocation's context. `headers` are the /next answer's, with
    lower-case names; `env` is the process environment."""

    def __init__(self, headers, env=os.environ):
        def pick(header, var):
            value = headers.get(header)
            return value if value is not None else env.get(var)

        self.aws_request_id = self.request_id = headers.get("lambda-runtime-aws-request-id")
        self.deadline_ms = _int_or_none(headers.get("lambda-runtime-deadline-ms")) or 0
        self.invoked_function_arn = headers.get("lambda-runtime-invoked-function-arn")
        self.function_name = pick("lambda-runtime-function-name", "AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = pick("lambda-runtime-function-version",
                                     "AWS_LAMBDA_FUNCTION_VERSION")
        self.memory_limit_in_mb = _int_or_none(
            pick("lambda-runtime-memory-limit", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"))
        self.log_group_name = pick("lambda-runtime-log-group-name", "AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = pick("lambda-runtime-log-stream-name",
                                    "AWS_LAMBDA_LOG_STREAM_NAME")
        # The function's folder: metatokend passes its configured Yandex
        # folder; no Runtime API header carries it.
        self.function_folder_id = env.get("METATOKEN_FUNCTION_FOLDER_ID")
        self.token = _token(headers.get("lambda-runtime-token-json"))

        cognito = headers.get("lambda-runtime-cognito-identity")
        self.identity = CognitoIdentity(
            _json_object(cognito, "Cognito Identity") if cognito else {})
        client_context = headers.get("lambda-runtime-client-context")
        self.client_context = (ClientContext(_json_object(client_context, "Client Context"))
                               if client_context else None)

    def get_remaining_time_in_millis(self):
        """Milliseconds to the deadline on the wall clock (the deadline is
        epoch milliseconds), never below 0."""
        left = self.deadline_ms - int(time.time() * 1000)
        return left if left > 0 else 0

    def __repr__(self):
        # Never the token itself: contexts end up in logs.
        return ("Context([aws_request_id=%s,function_name=%s,function_version=%s,"
                "memory_limit_in_mb=%s,invoked_function_arn=%s,log_group_name=%s,"
                "log_stream_name=%s,function_folder_id=%s,deadline_ms=%s,token=%s,"
                "client_context=%s,identity=%s])" % (
                    self.aws_request_id, self.function_name, self.function_version,
                    self.memory_limit_in_mb, self.invoked_function_arn, self.log_group_name,
                    self.log_stream_name, self.function_folder_id, self.deadline_ms,
                    "<hidden>" if self.token is not None else None, self.client_context,
                    self.identity))
