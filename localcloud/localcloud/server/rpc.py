"""What happens around every RPC: authentication, injected faults, the call log, errors -> gRPC status.

An injected call fault fails the call before its handler runs; a lose_response fault after it succeeded
(the write is done, the response is replaced by the fault's status).

Handlers read the call's context with rpc.current(): .method ("/pkg.Service/Method") and .subject
({"type": "userAccount"|"serviceAccount", "id": ...}; None for public methods).
"""

import contextvars
import logging

import grpc
from google.protobuf import json_format
from yandex.cloud.operation import operation_pb2

from localcloud.server.errors import ApiError

log = logging.getLogger('localcloud.rpc')

# Request fields whose values are secrets: the call log shows "***" instead.
SECRET_FIELDS = frozenset({'yandex_passport_oauth_token', 'jwt', 'iam_token', 'private_key', 'password',
                           'secret', 'token'})
REDACTED = '***'


class Call:
    def __init__(self, method, subject=None):
        self.method = method
        self.subject = subject


_current = contextvars.ContextVar('localcloud_call', default=None)


def current():
    return _current.get()


def redact(value):
    if isinstance(value, dict):
        return dict((k, REDACTED if k in SECRET_FIELDS and v else redact(v)) for k, v in value.items())
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def bearer_token(context):
    for key, value in context.invocation_metadata():
        if key == 'authorization':
            kind, _, token = value.partition(' ')
            return token.strip() if kind.lower() == 'bearer' else ''
    return None


class Interceptor(grpc.ServerInterceptor):
    def __init__(self, cloud, public_methods):
        self.cloud = cloud
        self.public = frozenset(public_methods)

    def intercept_service(self, continuation, handler_call_details):
        method = handler_call_details.method
        handler = continuation(handler_call_details)
        if handler is None:
            return grpc.unary_unary_rpc_method_handler(self._unimplemented(method))
        if handler.unary_unary is None:
            return handler  # no streaming methods are served

        def behaviour(request, context):
            return self.dispatch(method, handler.unary_unary, request, context)
        return grpc.unary_unary_rpc_method_handler(behaviour, request_deserializer=handler.request_deserializer,
                                                   response_serializer=handler.response_serializer)

    def _unimplemented(self, method):
        def behaviour(request, context):
            self.cloud.calls.append({'method': method, 'request': None, 'code': 'UNIMPLEMENTED'})
            context.abort(grpc.StatusCode.UNIMPLEMENTED, 'localcloud does not serve %s' % method)
        return behaviour

    def _settle(self, response):
        """A lost response: let the operation the call started do its work first, so the write has happened
        when the client hears of the failure (YC's docs are silent on when a lost create becomes visible)."""
        if isinstance(response, operation_pb2.Operation) and response.id:
            for _ in range(20):  # get() waits up to 0.5 s for quick (transactional) work
                if self.cloud.operations.get(response.id).done:
                    return

    def dispatch(self, method, behaviour, request, context):
        entry = {'method': method,
                 'request': redact(json_format.MessageToDict(request, preserving_proto_field_name=True)),
                 'code': 'OK'}
        token = None
        try:
            subject = None if method in self.public else self.cloud.auth.authenticate(bearer_token(context))
            fault = self.cloud.faults.take_call(method)
            if fault:
                raise ApiError(*fault)
            token = _current.set(Call(method, subject))
            response = behaviour(request, context)
            lost = self.cloud.faults.take_call(method, lose_response=True)
            if lost:
                self._settle(response)
                raise ApiError(*lost)
            return response
        except ApiError as exc:
            entry['code'] = exc.code.name
            context.abort(exc.code, exc.message)
        except NotImplementedError:
            entry['code'] = 'UNIMPLEMENTED'
            context.abort(grpc.StatusCode.UNIMPLEMENTED, 'localcloud does not implement %s' % method)
        except Exception as exc:  # context.abort raises too: keep its status, log anything else
            if not isinstance(exc, grpc.RpcError) and context.code() is None:
                log.exception('%s failed', method)
                entry['code'] = 'INTERNAL'
                context.abort(grpc.StatusCode.INTERNAL, 'internal error: %s' % exc)
            raise
        finally:
            if token is not None:
                _current.reset(token)
            self.cloud.calls.append(entry)
            log.debug('%s %s', method, entry['code'])
