"""API errors: raised anywhere while serving a call, turned into the gRPC status (or an operation's error)."""

import grpc


class ApiError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def rpc_code(self):
        """google.rpc.Code number (what Operation.error.code holds)."""
        return self.code.value[0]


def invalid(field, problem):
    # YC words validation failures this way; the field is the request's proto field name.
    return ApiError(grpc.StatusCode.INVALID_ARGUMENT, 'Request validation error: %s: %s' % (field, problem))


def not_found(kind, resource_id):
    return ApiError(grpc.StatusCode.NOT_FOUND, '%s %s not found' % (kind, resource_id))


def already_exists(kind, name):
    return ApiError(grpc.StatusCode.ALREADY_EXISTS, '%s with name %s already exists' % (kind, name))


def failed_precondition(message):
    return ApiError(grpc.StatusCode.FAILED_PRECONDITION, message)


def permission_denied(message='Permission denied'):
    return ApiError(grpc.StatusCode.PERMISSION_DENIED, message)


def unauthenticated(message):
    return ApiError(grpc.StatusCode.UNAUTHENTICATED, message)
