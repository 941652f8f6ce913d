"""localcloud: TLS, endpoint discovery and the three kinds of SDK credentials, through the real SDK."""

import datetime
import json
import os
import stat
import time

import grpc
import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from yandex.cloud.endpoint.api_endpoint_service_pb2 import GetApiEndpointRequest, ListApiEndpointsRequest
from yandex.cloud.endpoint.api_endpoint_service_pb2_grpc import ApiEndpointServiceStub
from yandex.cloud.iam.v1.iam_token_service_pb2 import CreateIamTokenRequest
from yandex.cloud.iam.v1.iam_token_service_pb2_grpc import IamTokenServiceStub
from yandex.cloud.iam.v1.key_service_pb2 import CreateKeyRequest, ListKeysRequest
from yandex.cloud.iam.v1.key_service_pb2_grpc import KeyServiceStub
from yandex.cloud.resourcemanager.v1.folder_service_pb2 import GetFolderRequest
from yandex.cloud.resourcemanager.v1.folder_service_pb2_grpc import FolderServiceStub
from yandexcloud import _sdk

FOLDERS = '/yandex.cloud.resourcemanager.v1.FolderService/'


def channel(localcloud):
    return grpc.secure_channel(localcloud.endpoint, grpc.ssl_channel_credentials(localcloud.ca_pem))


def iam_token(localcloud, **identity):
    return IamTokenServiceStub(channel(localcloud)).Create(CreateIamTokenRequest(**identity))


def sa_jwt(key, aud, lifetime=3600, private_key=None, kid=None, iat=None):
    now = iat if iat is not None else int(time.time())
    claims = {'iss': key['service_account_id'], 'aud': aud, 'iat': now, 'exp': now + lifetime}
    return jwt.encode(claims, private_key or key['private_key'], algorithm='PS256',
                      headers={'kid': kid or key['id']})


def aud(localcloud):
    return 'https://iam.%s/iam/v1/tokens' % localcloud.endpoint


def test_state_dir_files_and_certificate(localcloud):
    info = json.load(open(os.path.join(localcloud.state_dir, 'endpoint.json')))
    assert info['endpoint'] == localcloud.endpoint and info['endpoint'].startswith('127.0.0.1:')
    assert info['token'] == localcloud.token and info['sa_key_file'] == localcloud.sa_key_file
    assert info['ca'] == os.path.join(localcloud.state_dir, 'ca.pem') and info['pid'] == localcloud.pid
    for name in ('endpoint.json', 'sa-key.json', 'ca-key.pem', 'state.sqlite'):
        assert stat.S_IMODE(os.stat(os.path.join(localcloud.state_dir, name)).st_mode) == 0o600, name
    for value in (localcloud.cloud_id, localcloud.folder_id):
        assert len(value) == 20 and value.startswith('b1g')
    assert set(localcloud.sa_key) == {'id', 'service_account_id', 'created_at', 'key_algorithm', 'public_key',
                                      'private_key'}
    assert localcloud.sa_key['key_algorithm'] == 'RSA_2048'
    assert localcloud.sa_key['private_key'].startswith('-----BEGIN PRIVATE KEY-----')
    cert = x509.load_pem_x509_certificate(open(os.path.join(localcloud.state_dir, 'server.pem'), 'rb').read())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ['localhost']
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ['127.0.0.1']


def test_discovery_lists_every_sdk_endpoint_at_this_address(localcloud):
    stub = ApiEndpointServiceStub(channel(localcloud))
    endpoints = {e.id: e.address for e in stub.List(ListApiEndpointsRequest()).endpoints}
    assert {service_id for _, service_id in _sdk._supported_modules} <= set(endpoints)
    assert set(endpoints.values()) == {localcloud.endpoint}
    assert stub.Get(GetApiEndpointRequest(api_endpoint_id='vpc')).address == localcloud.endpoint
    with pytest.raises(grpc.RpcError) as err:
        stub.Get(GetApiEndpointRequest(api_endpoint_id='no-such-service'))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_tls_is_required_and_verified(localcloud):
    plain = grpc.insecure_channel(localcloud.endpoint)
    with pytest.raises(grpc.RpcError) as err:
        ApiEndpointServiceStub(plain).List(ListApiEndpointsRequest(), timeout=5)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    # A client that does not trust the localcloud CA refuses the server.
    untrusting = grpc.secure_channel(localcloud.endpoint, grpc.ssl_channel_credentials())
    with pytest.raises(grpc.RpcError) as err:
        ApiEndpointServiceStub(untrusting).List(ListApiEndpointsRequest(), timeout=5)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE


@pytest.mark.parametrize('kind', ['token', 'service_account_key', 'iam_token'])
def test_sdk_works_with_each_kind_of_credentials(localcloud, kind):
    if kind == 'token':
        sdk = localcloud.sdk()
    elif kind == 'service_account_key':
        sdk = localcloud.sdk(service_account_key=localcloud.sa_key)
    else:
        sdk = localcloud.sdk(iam_token=iam_token(localcloud, yandex_passport_oauth_token=localcloud.token).iam_token)
    folder = sdk.client(FolderServiceStub).Get(GetFolderRequest(folder_id=localcloud.folder_id))
    assert folder.id == localcloud.folder_id and folder.cloud_id == localcloud.cloud_id


def test_iam_token_from_oauth_and_jwt_expires_in_twelve_hours(localcloud):
    for identity in ({'yandex_passport_oauth_token': localcloud.token},
                     {'jwt': sa_jwt(localcloud.sa_key, aud(localcloud))}):
        response = iam_token(localcloud, **identity)
        assert response.iam_token.startswith('t1.')
        left = response.expires_at.seconds - time.time()
        assert 11.9 * 3600 < left <= 12 * 3600


def test_the_call_log_never_shows_credentials(localcloud):
    localcloud.reset_calls()
    localcloud.sdk(service_account_key=localcloud.sa_key).client(FolderServiceStub).Get(
        GetFolderRequest(folder_id=localcloud.folder_id))
    iam_token(localcloud, yandex_passport_oauth_token=localcloud.token)
    calls = localcloud.calls()
    text = json.dumps(calls)
    assert localcloud.token not in text and 'BEGIN' not in text and 't1.' not in text
    creates = [c['request'] for c in calls if c['method'].endswith('IamTokenService/Create')]
    assert {'jwt': '***'} in creates and {'yandex_passport_oauth_token': '***'} in creates


def unauthenticated(call):
    with pytest.raises(grpc.RpcError) as err:
        call()
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED, err.value
    return err.value.details()


def test_bad_oauth_token_is_unauthenticated(localcloud):
    assert 'OAuth token is invalid' in unauthenticated(
        lambda: iam_token(localcloud, yandex_passport_oauth_token='y0_not-a-token'))
    # Through the SDK the exchange happens in the channel's auth plugin, which gRPC reports as UNAVAILABLE
    # with the server's UNAUTHENTICATED in the details (what the SDK does against YC too).
    sdk = localcloud.sdk(token='y0_not-a-token')
    with pytest.raises(grpc.RpcError) as err:
        sdk.client(FolderServiceStub).Get(GetFolderRequest(folder_id=localcloud.folder_id))
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert 'UNAUTHENTICATED' in err.value.details() and 'OAuth token is invalid' in err.value.details()


def test_bad_iam_token_and_no_token_are_unauthenticated(localcloud):
    sdk = localcloud.sdk(iam_token='t1.forged')
    assert unauthenticated(lambda: sdk.client(FolderServiceStub).Get(
        GetFolderRequest(folder_id=localcloud.folder_id))) == 'The token is invalid'
    stub = FolderServiceStub(channel(localcloud))
    assert 'Authentication required' in unauthenticated(
        lambda: stub.Get(GetFolderRequest(folder_id=localcloud.folder_id)))


def test_jwt_checks(localcloud):
    key = localcloud.sa_key
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    cases = {
        'signature': sa_jwt(key, aud(localcloud), private_key=other),
        'kid': sa_jwt(key, aud(localcloud), kid='ajeunknownkey0000000'),
        'aud': sa_jwt(key, 'https://iam.example.com/iam/v1/tokens'),
        'expired': sa_jwt(key, aud(localcloud), iat=int(time.time()) - 7200),
        'lifetime': sa_jwt(key, aud(localcloud), lifetime=7200),
        'malformed': 'not.a.jwt',
    }
    messages = {case: unauthenticated(lambda t=token: iam_token(localcloud, jwt=t)) for case, token in cases.items()}
    assert 'Signature verification failed' in messages['signature']
    assert 'kid' in messages['kid'] and 'aud must be one of' in messages['aud']
    assert 'expired' in messages['expired'] and 'lifetime' in messages['lifetime']
    # YC's own audience is not this endpoint's: refused (test_jwt_audience.py has the rule)
    assert 'aud must be one of' in unauthenticated(lambda: iam_token(
        localcloud, jwt=sa_jwt(key, 'https://iam.api.cloud.yandex.net/iam/v1/tokens')))
    # Through the SDK a key with a wrong private half fails the same way (reported by the auth plugin).
    bad_key = dict(key, private_key=other.decode())
    with pytest.raises(grpc.RpcError) as err:
        localcloud.sdk(service_account_key=bad_key).client(FolderServiceStub).Get(
            GetFolderRequest(folder_id=localcloud.folder_id))
    assert 'Signature verification failed' in err.value.details()


def test_minted_service_account_key_authenticates(localcloud):
    sdk = localcloud.sdk()
    sa_id = localcloud.sa_key['service_account_id']
    created = sdk.client(KeyServiceStub).Create(CreateKeyRequest(service_account_id=sa_id, description='test'))
    assert created.private_key.startswith('-----BEGIN PRIVATE KEY-----')
    listed = sdk.client(KeyServiceStub).List(ListKeysRequest(service_account_id=sa_id)).keys
    assert created.key.id in [k.id for k in listed]
    assert all(not hasattr(k, 'private_key') for k in listed)
    minted = {'id': created.key.id, 'service_account_id': sa_id, 'private_key': created.private_key}
    folder = localcloud.sdk(service_account_key=minted).client(FolderServiceStub).Get(
        GetFolderRequest(folder_id=localcloud.folder_id))
    assert folder.id == localcloud.folder_id
    created_at = datetime.datetime.fromtimestamp(created.key.created_at.seconds)
    assert abs((datetime.datetime.now() - created_at).total_seconds()) < 60


def test_token_for_a_service_account_and_revoke(localcloud):
    from yandex.cloud.iam.v1.iam_token_service_pb2 import (CreateIamTokenForServiceAccountRequest,
                                                           RevokeIamTokenRequest)
    stub = IamTokenServiceStub(channel(localcloud))
    sa_id = localcloud.sa_key['service_account_id']
    # The SDK's auth plugin adds no token to IamTokenService calls: the caller passes one (as against YC).
    unauthenticated(lambda: stub.CreateForServiceAccount(
        CreateIamTokenForServiceAccountRequest(service_account_id=sa_id)))
    caller = iam_token(localcloud, yandex_passport_oauth_token=localcloud.token).iam_token
    auth = [('authorization', 'Bearer ' + caller)]
    token = stub.CreateForServiceAccount(CreateIamTokenForServiceAccountRequest(service_account_id=sa_id),
                                         metadata=auth).iam_token
    sdk = localcloud.sdk(iam_token=token)
    assert sdk.client(FolderServiceStub).Get(GetFolderRequest(folder_id=localcloud.folder_id)).id
    assert stub.Revoke(RevokeIamTokenRequest(iam_token=token)).subject_id == sa_id
    unauthenticated(lambda: sdk.client(FolderServiceStub).Get(GetFolderRequest(folder_id=localcloud.folder_id)))
    unauthenticated(lambda: stub.Revoke(RevokeIamTokenRequest(iam_token=token)))
    with pytest.raises(grpc.RpcError) as err:
        stub.CreateForServiceAccount(CreateIamTokenForServiceAccountRequest(service_account_id='ajenosuchaccount0000'),
                                     metadata=auth)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
