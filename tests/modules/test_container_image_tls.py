"""yc_container_image on a Docker engine reached over TCP with TLS client certificates (shs_ee.docker_tls: a TLS
front of the local engine that requires a client certificate, as `dockerd --tlsverify` does): the engine is found as
docker.from_env() finds it (DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH), or from the files the AWX credential
type "Docker engine (TLS)" injects (DOCKER_TLS_CA_CERT, DOCKER_TLS_CLIENT_CERT, DOCKER_TLS_CLIENT_KEY)."""

import json
import os
import signal
import subprocess
import sys

import pytest

from registry_support import make_context, registry_host, remove_local_images, unique_name
from yc_modules_support import ok, run_module


@pytest.fixture(scope='module')
def host(localcloud):
    found = registry_host(localcloud)
    yield found
    remove_local_images(found)


@pytest.fixture(scope='module')
def registry(localcloud):
    name = unique_name('tls')
    created = ok(run_module('yc_container_registry', localcloud, name=name))['registry']
    yield created
    run_module('yc_container_registry', localcloud, name=name, state='absent', force_absent=True)


@pytest.fixture(scope='module')
def front(tmp_path_factory):
    pki = tmp_path_factory.mktemp('docker-pki')
    subprocess.run([sys.executable, '-m', 'shs_ee.docker_tls', 'pki', str(pki)], check=True, capture_output=True)
    server = subprocess.Popen([sys.executable, '-m', 'shs_ee.docker_tls', 'serve', str(pki)], stdout=subprocess.PIPE,
                              text=True)
    try:
        yield dict(docker_host=json.loads(server.stdout.readline())['docker_host'], pki=str(pki))
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(10)


def engine_env(**docker):
    """The module's environment: ours without YC_* and DOCKER_*, plus these DOCKER_* variables."""
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith(('YC_', 'DOCKER_')))
    return dict(env, **docker)


def image_args(registry, host, context):
    return dict(registry_id=registry['id'], registry_host=host, name='tls', path=context)


def test_the_awx_credentials_tls_files_reach_the_engine(localcloud, registry, host, front, tmp_path):
    pki = front['pki']
    env = engine_env(DOCKER_HOST=front['docker_host'], DOCKER_TLS_CA_CERT=os.path.join(pki, 'ca.pem'),
                     DOCKER_TLS_CLIENT_CERT=os.path.join(pki, 'cert.pem'),
                     DOCKER_TLS_CLIENT_KEY=os.path.join(pki, 'key.pem'))
    args = image_args(registry, host, make_context(tmp_path / 'ctx', 'tls-files'))
    pushed = ok(run_module('yc_container_image', localcloud, env=env, **args))
    assert pushed['changed'] is True and pushed['pushed'] is True and pushed['image']['digest'].startswith('sha256:')
    again = ok(run_module('yc_container_image', localcloud, env=env, **args))
    assert again['changed'] is False and again['image'] == pushed['image']


def test_docker_tls_verify_and_cert_path_as_docker_from_env_reads_them(localcloud, registry, host, front, tmp_path):
    env = engine_env(DOCKER_HOST=front['docker_host'], DOCKER_TLS_VERIFY='1', DOCKER_CERT_PATH=front['pki'])
    pushed = ok(run_module('yc_container_image', localcloud, env=env,
                           **image_args(registry, host, make_context(tmp_path / 'ctx', 'cert-path'))))
    assert pushed['pushed'] is True


def test_without_the_client_certificate_the_engine_refuses_and_the_error_says_so(localcloud, registry, host, front,
                                                                                  tmp_path):
    args = image_args(registry, host, make_context(tmp_path / 'ctx', 'refused'))
    for env in (engine_env(DOCKER_HOST=front['docker_host']),  # plain HTTP to a TLS port
                engine_env(DOCKER_HOST=front['docker_host'],
                           DOCKER_TLS_CA_CERT=os.path.join(front['pki'], 'ca.pem'))):  # TLS, no client certificate
        failed = run_module('yc_container_image', localcloud, env=env, **args)
        assert failed.get('failed') and 'cannot reach the Docker engine %s' % front['docker_host'] in failed['msg'], \
            failed


@pytest.mark.parametrize('tls, field', [
    (dict(tls_client_cert='cert.pem'), 'tls_client_cert and tls_client_key'),
    (dict(tls_client_key='key.pem'), 'tls_client_cert and tls_client_key'),
    (dict(tls_ca_cert='missing.pem'), 'tls_ca_cert'),
])
def test_bad_tls_options_name_the_field_before_any_call(localcloud, registry, host, front, tmp_path, tls, field):
    tls = dict((name, os.path.join(front['pki'], value)) for name, value in tls.items())
    localcloud.reset_calls()
    failed = run_module('yc_container_image', localcloud, env=engine_env(),
                        **dict(image_args(registry, host, make_context(tmp_path / 'ctx', 'bad')), **tls))
    assert failed.get('failed') and failed['msg'].startswith(field), failed
    assert [c for c in localcloud.calls() if 'ApiEndpointService/' not in c['method']] == []
