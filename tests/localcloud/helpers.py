"""Small helpers the localcloud tests share (real SDK calls, no mocks)."""

import uuid

import grpc
import pytest


def unique(prefix):
    return '%s-%s' % (prefix, uuid.uuid4().hex[:8])


def rpc_error(call, code):
    """Run call(); assert it fails with `code`; return the status details."""
    with pytest.raises(grpc.RpcError) as err:
        call()
    assert err.value.code() == code, (err.value.code(), err.value.details())
    return err.value.details()


def run(sdk, operation, response_type=None, meta_type=None):
    """Wait for an operation as users do; return the OperationResult."""
    return sdk.wait_operation_and_get_result(operation, response_type=response_type, meta_type=meta_type)
