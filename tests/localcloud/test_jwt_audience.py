"""A service account JWT's `aud`: YC documents exactly https://iam.api.cloud.yandex.net/iam/v1/tokens
(en/iam/operations/iam-token/create-for-sa.md); the SDK builds https://iam.<endpoint>/iam/v1/tokens from the endpoint
string it is given, so `api.cloud.yandex.net:443` signs for the wrong audience. localcloud accepts only its own
adaptation of the documented URL (its address, the port only when it is not 443) and the collection drops `:443`.
"""

import os

import grpc
import pytest
from yandex.cloud.resourcemanager.v1.folder_service_pb2 import GetFolderRequest
from yandex.cloud.resourcemanager.v1.folder_service_pb2_grpc import FolderServiceStub

from localcloud_fixture import LocalCloudServer
from test_auth_discovery import iam_token, sa_jwt, unauthenticated
from yc_modules_support import ok, run_module

PATH = '/iam/v1/tokens'


def test_only_this_endpoints_token_url_is_an_audience(localcloud):
    key = localcloud.sa_key
    port = int(localcloud.endpoint.rpartition(':')[2])
    for good in ('https://iam.127.0.0.1:%d%s' % (port, PATH), 'https://iam.localhost:%d%s' % (port, PATH)):
        assert iam_token(localcloud, jwt=sa_jwt(key, good)).iam_token.startswith('t1.')
    wrong = ['https://iam.api.cloud.yandex.net:443' + PATH,     # the port variant of YC's audience
             'https://iam.api.cloud.yandex.net' + PATH,         # YC's own: a JWT for the real IAM
             'https://iam.127.0.0.1%s' % PATH,                   # no port, but this server is not on 443
             'https://iam.127.0.0.1:%d%s' % (port + 1, PATH),    # another port
             'https://iam.127.0.0.1:%d/iam/v1/tokens/' % port]   # not the exact URL
    for aud in wrong:
        message = unauthenticated(lambda: iam_token(localcloud, jwt=sa_jwt(key, aud)))
        assert message.startswith('JWT aud must be one of https://iam.127.0.0.1:%d%s' % (port, PATH)), message
        assert message.endswith('not %r' % aud), message
    # The module with the key file: the SDK signs for this endpoint's URL
    result = ok(run_module('yc_instance_group_info', localcloud, auth=False, endpoint=localcloud.endpoint,
                           root_certificates=os.path.join(localcloud.state_dir, 'ca.pem'),
                           service_account_key=localcloud.sa_key_file, folder_id=localcloud.folder_id,
                           name='no-such-group'))
    assert result['instance_groups'] == []


@pytest.fixture
def on_443(tmp_path):
    """A second localcloud listening on 127.0.0.1:443: the endpoint spelled as YC's `api.cloud.yandex.net:443`."""
    server = LocalCloudServer(tmp_path)
    server.start(listen='127.0.0.1:443')
    yield server
    server.stop()


def test_port_443_spelled_out(on_443):
    assert on_443.endpoint == '127.0.0.1:443'
    # The SDK given 'host:443' signs for https://iam.127.0.0.1:443/iam/v1/tokens: refused, as on YC
    sdk = on_443.sdk(service_account_key=on_443.sa_key)
    with pytest.raises(grpc.RpcError) as err:
        sdk.client(FolderServiceStub).Get(GetFolderRequest(folder_id=on_443.folder_id))
    assert 'UNAUTHENTICATED' in err.value.details()
    assert "JWT aud must be one of https://iam.127.0.0.1/iam/v1/tokens" in err.value.details()
    assert "not 'https://iam.127.0.0.1:443/iam/v1/tokens'" in err.value.details()
    # The collection drops the default port before the SDK sees it: the same connection, the right audience
    base = dict(auth=False, root_certificates=os.path.join(on_443.state_dir, 'ca.pem'), folder_id=on_443.folder_id,
                service_account_key=on_443.sa_key_file, name='no-such-group')
    for endpoint in ('127.0.0.1:443', '127.0.0.1'):
        assert ok(run_module('yc_instance_group_info', **dict(base, endpoint=endpoint)))['instance_groups'] == []
