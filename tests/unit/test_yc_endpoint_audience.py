"""The JWT audience the SDK signs a service account key for, from the endpoint the collection gives it. YC documents
exactly https://iam.api.cloud.yandex.net/iam/v1/tokens (en/iam/operations/iam-token/create-for-sa.md); the SDK
builds https://iam.<endpoint>/iam/v1/tokens (yandexcloud/_auth_fabric.py), port included."""

import jwt
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from yandexcloud._auth_fabric import ServiceAccountAuth

from ansible_collections.filmopoisk.shs.plugins.module_utils import yc
from support import REPO_ROOT

YC_AUDIENCE = 'https://iam.api.cloud.yandex.net/iam/v1/tokens'


@pytest.fixture(scope='module')
def key():
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    return {'id': 'ajekey', 'service_account_id': 'ajesa', 'private_key': private}


def audience(key, endpoint):
    """What the SDK puts into the JWT when YCClient hands it its endpoint."""
    client = yc.YCClient(dict(service_account_key=key, endpoint=endpoint), environ={})
    token = ServiceAccountAuth(key, client.endpoint).get_token_request().jwt
    return jwt.decode(token, options={'verify_signature': False})['aud']


@pytest.mark.parametrize('endpoint', [None, 'api.cloud.yandex.net', 'api.cloud.yandex.net:443'])
def test_yc_endpoints_sign_for_the_documented_audience(key, endpoint):
    assert audience(key, endpoint) == YC_AUDIENCE


def test_other_ports_are_kept(key):
    # the SDK keeps whatever port it is given (why the collection must not hand it 'host:443')
    token = ServiceAccountAuth(key, 'api.cloud.yandex.net:443').get_token_request().jwt
    assert jwt.decode(token, options={'verify_signature': False})['aud'] == \
        'https://iam.api.cloud.yandex.net:443/iam/v1/tokens'
    assert audience(key, '127.0.0.1:50051') == 'https://iam.127.0.0.1:50051/iam/v1/tokens'
    assert yc.sdk_endpoint('[::1]:443') == '[::1]' and yc.sdk_endpoint('localhost:8443') == 'localhost:8443'


def test_the_real_folder_inventory(key):
    with open(REPO_ROOT + '/inventory/yc/group_vars/all/cloud.yml') as handle:
        endpoint = yaml.safe_load(handle)['yc_endpoint']
    assert ':' not in endpoint and audience(key, endpoint) == YC_AUDIENCE
