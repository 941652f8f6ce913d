"""localcloud operations, fault injection, the admin API, restarts and the serve/stop CLI."""

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import grpc
import pytest
import yandexcloud
from yandex.cloud.operation.operation_service_pb2 import CancelOperationRequest, GetOperationRequest
from yandex.cloud.operation.operation_service_pb2_grpc import OperationServiceStub
from yandex.cloud.vpc.v1 import network_service_pb2 as ns
from yandex.cloud.vpc.v1.network_pb2 import Network
from yandex.cloud.vpc.v1.network_service_pb2_grpc import NetworkServiceStub

from helpers import rpc_error, run, unique

CREATE = '/yandex.cloud.vpc.v1.NetworkService/Create'
CODE = grpc.StatusCode


@pytest.fixture
def cloud(localcloud):
    localcloud.clear_faults()
    yield localcloud
    localcloud.clear_faults()


def create(localcloud, sdk, name):
    return sdk.client(NetworkServiceStub).Create(ns.CreateNetworkRequest(folder_id=localcloud.folder_id, name=name))


def named(localcloud, sdk, name):
    return list(sdk.client(NetworkServiceStub).List(ns.ListNetworksRequest(
        folder_id=localcloud.folder_id, filter='name="%s"' % name)).networks)


def test_operation_is_packed_per_method_option(cloud):
    sdk = cloud.sdk()
    op = create(cloud, sdk, unique('net'))
    assert not op.done and op.metadata.Is(ns.CreateNetworkMetadata.DESCRIPTOR)
    done = sdk.client(OperationServiceStub).Get(GetOperationRequest(operation_id=op.id))
    assert done.done and done.response.Is(Network.DESCRIPTOR) and done.metadata == op.metadata
    assert done.modified_at.ToNanoseconds() >= done.created_at.ToNanoseconds()
    rpc_error(lambda: sdk.client(OperationServiceStub).Get(GetOperationRequest(operation_id='enpnosuchop000000000')),
              CODE.NOT_FOUND)


def test_delayed_operation_is_seen_running_then_done(cloud):
    sdk = cloud.sdk()
    cloud.fault(CREATE, operation_delay=1.5)
    name = unique('net')
    started = time.monotonic()
    op = create(cloud, sdk, name)
    polled = sdk.client(OperationServiceStub).Get(GetOperationRequest(operation_id=op.id))
    assert not polled.done and not named(cloud, sdk, name)
    network = run(sdk, op, Network).response
    assert time.monotonic() - started >= 1.5 and network.name == name
    # The fault was used up: the next create is immediate.
    started = time.monotonic()
    run(sdk, create(cloud, sdk, unique('net')))
    assert time.monotonic() - started < 1


def test_failed_operation_raises_operation_error_and_changes_nothing(cloud):
    sdk = cloud.sdk()
    cloud.fault(CREATE, operation_error={'code': 13, 'message': 'disk on fire'})
    name = unique('net')
    op = create(cloud, sdk, name)
    with pytest.raises(yandexcloud.operations.OperationError) as err:
        run(sdk, op, Network)
    assert 'Error code: 13' in err.value.message and 'disk on fire' in err.value.message
    final = sdk.client(OperationServiceStub).Get(GetOperationRequest(operation_id=op.id))
    assert final.done and (final.error.code, final.error.message) == (13, 'disk on fire')
    assert not named(cloud, sdk, name)


def test_cancel_a_running_operation(cloud):
    sdk = cloud.sdk()
    cloud.fault(CREATE, operation_delay=30)
    name = unique('net')
    op = create(cloud, sdk, name)
    cancelled = sdk.client(OperationServiceStub).Cancel(CancelOperationRequest(operation_id=op.id))
    assert cancelled.done and cancelled.error.code == CODE.CANCELLED.value[0]
    assert not named(cloud, sdk, name)


def test_call_faults_fail_the_next_n_calls(cloud):
    sdk = cloud.sdk()
    stub = sdk.client(NetworkServiceStub)
    sdk.client(NetworkServiceStub).List(ns.ListNetworksRequest(folder_id=cloud.folder_id))  # auth done first
    pending = cloud.fault(CREATE, code='UNAVAILABLE', count=2, message='try later')
    assert pending == [{'method': CREATE, 'count': 2, 'code': 'UNAVAILABLE', 'message': 'try later'}]
    cloud.reset_calls()
    name = unique('net')
    for _ in range(2):
        assert rpc_error(lambda: stub.Create(ns.CreateNetworkRequest(folder_id=cloud.folder_id, name=name)),
                         CODE.UNAVAILABLE) == 'try later'
    run(sdk, stub.Create(ns.CreateNetworkRequest(folder_id=cloud.folder_id, name=name)))
    creates = cloud.calls(CREATE)
    assert [c['code'] for c in creates] == ['UNAVAILABLE', 'UNAVAILABLE', 'OK']
    assert creates[0]['request'] == {'folder_id': cloud.folder_id, 'name': name}
    cloud.fault(CREATE, code=8, count=5)
    cloud.clear_faults()
    run(sdk, stub.Create(ns.CreateNetworkRequest(folder_id=cloud.folder_id, name=unique('net'))))


def admin(localcloud, method, path, body=None, token=True):
    headers = {'Authorization': 'Bearer %s' % localcloud.admin_token} if token else {}
    request = urllib.request.Request(localcloud.admin + path, method=method, headers=headers,
                                     data=json.dumps(body).encode() if body is not None else None)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_admin_api(cloud):
    assert admin(cloud, 'GET', '/health') == (200, {'status': 'ok', 'endpoint': cloud.endpoint})
    for spec, text in (({'method': CREATE, 'code': 'NOPE'}, 'code'), ({'method': 'Create', 'code': 'UNAVAILABLE'},
                       'method'), ({'method': CREATE}, 'one of'), ({'method': CREATE, 'count': 0, 'code': 14},
                       'count'), ({'method': CREATE, 'operation_delay': -1}, 'operation_delay'),
                       ({'method': CREATE, 'code': 14, 'extra': 1}, 'unknown keys'),
                       ({'method': CREATE, 'code': 14, 'lose_response': 'yes'}, 'lose_response'),
                       ({'method': CREATE, 'operation_delay': 1, 'lose_response': True}, 'lose_response')):
        status, body = admin(cloud, 'POST', '/faults', spec)
        assert status == 400 and text in body['error'], body
    assert admin(cloud, 'GET', '/faults') == (200, {'faults': []})
    assert admin(cloud, 'GET', '/nowhere')[0] == 404
    # On, the test-only parts still want the admin token of the 0600 endpoint.json: loopback is every user's
    for method, path in (('POST', '/faults'), ('GET', '/faults'), ('GET', '/calls'), ('DELETE', '/calls')):
        status, body = admin(cloud, method, path, {'method': CREATE, 'code': 14}, token=False)
        assert status == 401 and 'admin_token' in body['error'], (method, path, body)
    assert admin(cloud, 'GET', '/faults') == (200, {'faults': []})
    cloud.reset_calls()
    cloud.sdk().client(NetworkServiceStub).List(ns.ListNetworksRequest(folder_id=cloud.folder_id))
    status, body = admin(cloud, 'GET', '/calls?method=/yandex.cloud.vpc.')
    assert status == 200 and [c['method'] for c in body['calls']] == ['/yandex.cloud.vpc.v1.NetworkService/List']
    assert [c['method'].rsplit('/', 1)[1] for c in cloud.calls()] == ['List', 'Create', 'List']


def test_without_the_test_flags_faults_and_the_call_log_are_refused(tmp_path):
    """`make up`'s localcloud (no --test-faults, no --call-log): no local process injects faults or reads bodies."""
    from localcloud_fixture import LocalCloudServer
    server = LocalCloudServer(tmp_path, test_admin=False)
    info = server.start()
    try:
        assert 'admin_token' not in info and 'admin_token' not in json.load(open(tmp_path / 'endpoint.json'))
        assert admin(server, 'GET', '/health', token=False)[0] == 200
        for method, path in (('POST', '/faults'), ('GET', '/faults'), ('DELETE', '/faults')):
            status, body = admin(server, method, path, {'method': CREATE, 'code': 'UNAVAILABLE', 'count': 5})
            assert status == 403 and '--test-faults' in body['error'], (method, body)
        for method in ('GET', 'DELETE'):
            status, body = admin(server, method, '/calls')
            assert status == 403 and '--call-log' in body['error'], (method, body)
        # The refused fault changed nothing: the create goes through, once
        sdk = server.sdk()
        name = unique('net')
        run(sdk, create(server, sdk, name), Network)
        assert len(named(server, sdk, name)) == 1
    finally:
        server.stop()


def test_lost_response_is_processed_then_fails(cloud):
    """lose_response: the create is done (the network exists), the client only hears UNAVAILABLE."""
    sdk = cloud.sdk()
    stub = sdk.client(NetworkServiceStub)
    name = unique('net')
    assert cloud.fault(CREATE, code='UNAVAILABLE', lose_response=True)[0]['lose_response'] is True
    cloud.reset_calls()
    assert rpc_error(lambda: create(cloud, sdk, name), CODE.UNAVAILABLE) == 'injected fault: UNAVAILABLE'
    assert [c['code'] for c in cloud.calls(CREATE)] == ['UNAVAILABLE']
    assert len(named(cloud, sdk, name)) == 1
    # What a blind retry of that create meets (names are unique in a folder)
    rpc_error(lambda: stub.Create(ns.CreateNetworkRequest(folder_id=cloud.folder_id, name=name)),
              CODE.ALREADY_EXISTS)
    # A call that fails in its handler does not use the fault up: it waits for one that succeeds
    cloud.fault(CREATE, code='UNAVAILABLE', lose_response=True)
    rpc_error(lambda: stub.Create(ns.CreateNetworkRequest(folder_id=cloud.folder_id, name=name)),
              CODE.ALREADY_EXISTS)
    assert cloud.fault(CREATE, code='UNAVAILABLE', count=1)[0]['lose_response'] is True


def test_unserved_methods_are_unimplemented_and_logged(cloud):
    sdk = cloud.sdk()
    stub = sdk.client(NetworkServiceStub)
    network = run(sdk, create(cloud, sdk, unique('net')), Network).response
    cloud.reset_calls()
    rpc_error(lambda: stub.Move(ns.MoveNetworkRequest(network_id=network.id, destination_folder_id='x')),
              CODE.UNIMPLEMENTED)
    assert cloud.calls()[-1]['code'] == 'UNIMPLEMENTED'


def test_state_survives_a_restart(cloud):
    sdk = cloud.sdk()
    old_pid = cloud.pid
    network = run(sdk, create(cloud, sdk, unique('net')), Network).response
    cloud.fault(CREATE, operation_delay=30)
    pending = create(cloud, sdk, unique('net'))
    before = cloud.sdk(iam_token=_iam_token(cloud))  # an IAM token issued before the restart
    assert cloud.restart()['pid'] != old_pid
    assert cloud.exit_code == 0  # SIGTERM: a clean exit
    assert cloud.process.returncode is None and not cloud.calls()  # the call log starts empty
    for client in (sdk, before, cloud.sdk()):  # same port, same CA, same tokens: old clients keep working
        assert client.client(NetworkServiceStub).Get(ns.GetNetworkRequest(network_id=network.id)) == network
    interrupted = sdk.client(OperationServiceStub).Get(GetOperationRequest(operation_id=pending.id))
    assert interrupted.done and interrupted.error.code == CODE.ABORTED.value[0]
    info = json.load(open(os.path.join(cloud.state_dir, 'endpoint.json')))
    assert info['pid'] == cloud.pid and info['endpoint'] == cloud.endpoint


def _iam_token(localcloud):
    from yandex.cloud.iam.v1.iam_token_service_pb2 import CreateIamTokenRequest
    from yandex.cloud.iam.v1.iam_token_service_pb2_grpc import IamTokenServiceStub
    channel = grpc.secure_channel(localcloud.endpoint, grpc.ssl_channel_credentials(localcloud.ca_pem))
    return IamTokenServiceStub(channel).Create(CreateIamTokenRequest(
        yandex_passport_oauth_token=localcloud.token)).iam_token


def cli(*args):
    done = subprocess.run([sys.executable, '-m', 'localcloud'] + list(args), capture_output=True, text=True, timeout=60)
    return done.returncode, json.loads(done.stdout.strip().splitlines()[-1])


def test_daemon_serve_and_stop(tmp_path):
    state = str(tmp_path / 'lc')
    rc, info = cli('serve', '--state-dir', state, '--daemon')
    try:
        assert rc == 0 and info == json.load(open(os.path.join(state, 'endpoint.json')))
        assert int(open(os.path.join(state, 'server.pid')).read()) == info['pid']
        assert cli('serve', '--state-dir', state, '--daemon') == (0, info)  # already up: same server
        rc, failed = cli('serve', '--state-dir', state)
        assert rc == 1 and 'already runs' in failed['msg']
        sdk = yandexcloud.SDK(endpoint=info['endpoint'], root_certificates=open(info['ca'], 'rb').read(),
                              iam_token=_iam_token(type('I', (), {'endpoint': info['endpoint'], 'token': info['token'],
                                                                  'ca_pem': open(info['ca'], 'rb').read()})))
        assert sdk.client(NetworkServiceStub).List(ns.ListNetworksRequest(folder_id=info['folder_id']))
    finally:
        rc, stopped = cli('stop', '--state-dir', state)
    assert rc == 0 and stopped == {'stopped': True, 'pid': info['pid']}
    assert not os.path.exists(os.path.join(state, 'endpoint.json'))
    assert not os.path.exists(os.path.join(state, 'server.pid'))
    log = open(os.path.join(state, 'server.log')).read()
    assert 'stopping' in log
    # the log is for reading and pasting: no credential of endpoint.json in it, and only the owner reads it
    assert info['token'] not in log and (info.get('admin_token') or info['token']) not in log
    assert os.stat(os.path.join(state, 'server.log')).st_mode & 0o077 == 0
    assert cli('stop', '--state-dir', state) == (0, {'stopped': False, 'pid': None, 'msg': 'not running'})
    # A fixed port: a restart keeps it (what `make up` relies on); the state (ids, token) is the same.
    port = info['endpoint'].rpartition(':')[2]
    rc, again = cli('serve', '--state-dir', state, '--daemon', '--listen', '127.0.0.1:' + port)
    cli('stop', '--state-dir', state)
    assert rc == 0 and again['endpoint'] == info['endpoint']
    assert (again['token'], again['folder_id'], again['cloud_id']) == (info['token'], info['folder_id'],
                                                                      info['cloud_id'])


def test_a_busy_port_is_an_error(tmp_path):
    import socket
    with socket.socket() as busy:
        busy.bind(('127.0.0.1', 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run([sys.executable, '-m', 'localcloud', 'serve', '--state-dir', str(tmp_path),
                               '--listen', '127.0.0.1:%d' % port], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and done.stdout == ''
    assert 'cannot listen on 127.0.0.1:%d' % port in done.stderr
    assert not os.path.exists(tmp_path / 'server.pid') and not os.path.exists(tmp_path / 'endpoint.json')
