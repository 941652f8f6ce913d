"""Bad input fails before any API call, naming the field; faults are retried or reported clearly; auth works the
three ways the SDK knows, from options or from the yc CLI's environment variables."""

import json
import os

import pytest

from support import wait_operation_done
from yc_modules_support import auth_args, ok, run_module


def api_calls(localcloud):
    return [c for c in localcloud.calls() if '/ApiEndpointService/' not in c['method']]


@pytest.mark.parametrize('module, args, field', [
    ('yc_network', dict(name='Bad_Name'), 'name'),
    ('yc_network', dict(name='ok-net', labels={'Upper': 'x'}), 'labels'),
    ('yc_network', dict(name='ok-net', colour='red'), 'colour'),
    ('yc_network', dict(name='ok-net', labels='not-a-dict'), 'labels'),
    ('yc_subnet', dict(name='s', network_id='enp1', zone_id='ru-central1-a', v4_cidr_blocks=['10.0.0.300/24']),
     'v4_cidr_blocks'),
    ('yc_subnet', dict(name='s', network_id='enp1', zone_id='ru-central1-a', v4_cidr_blocks=['10.0.0.1/24']),
     'v4_cidr_blocks'),
    ('yc_subnet', dict(name='s', network_id='enp1', zone_id='moon', v4_cidr_blocks=['10.0.0.0/24']), 'zone_id'),
    ('yc_security_group', dict(name='g', network_id='enp1', rules=[dict(direction='sideways')]), 'direction'),
    ('yc_security_group', dict(name='g', network_id='enp1',
                               rules=[dict(direction='ingress', port=70000, v4_cidr_blocks=['0.0.0.0/0'])]),
     'rules[0].from_port'),
    ('yc_security_group', dict(name='g', network_id='enp1',
                               rules=[dict(direction='ingress', protocol='icmp', port=80,
                                           v4_cidr_blocks=['0.0.0.0/0'])]), 'rules[0]'),
    ('yc_security_group', dict(name='g', network_id='enp1', rules=[dict(direction='ingress', port=80)]),
     'rules[0]'),
    ('yc_folder_iam_binding', dict(role='viewer', member='robot:x'), 'member'),
    ('yc_network', dict(name='ok-net', wait_timeout=-1), 'wait_timeout'),
])
def test_bad_input_names_the_field_and_calls_nothing(localcloud, module, args, field):
    localcloud.reset_calls()
    result = run_module(module, localcloud, **args)
    assert result.get('failed') and field in result['msg'], result
    assert api_calls(localcloud) == []


def test_missing_credentials_is_a_clear_error_not_the_metadata_service(localcloud):
    result = run_module('yc_network', localcloud, auth=False, name='n', folder_id=localcloud.folder_id,
                        endpoint=localcloud.endpoint)
    assert result['failed'] and 'No Yandex Cloud credentials' in result['msg']


def test_missing_folder_is_named(localcloud):
    args = auth_args(localcloud)
    args.pop('folder_id')
    result = run_module('yc_network', auth=False, name='n', **args)
    assert result['failed'] and 'folder_id' in result['msg']


def test_two_credentials_are_refused(localcloud):
    result = run_module('yc_network', localcloud, name='n', iam_token='a-second-credential')
    assert result['failed'] and 'mutually exclusive' in result['msg']


def test_environment_variables_of_the_yc_cli(localcloud):
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith('YC_'))
    env.update(YC_TOKEN=localcloud.token, YC_ENDPOINT=localcloud.endpoint, YC_FOLDER_ID=localcloud.folder_id,
               YC_ROOT_CERTIFICATES=os.path.join(localcloud.state_dir, 'ca.pem'))
    result = ok(run_module('yc_network', env=env, name='env-net'))
    assert result['network']['folder_id'] == localcloud.folder_id
    ok(run_module('yc_network', env=env, name='env-net', state='absent'))
    env['YC_SERVICE_ACCOUNT_KEY_FILE'] = localcloud.sa_key_file
    both = run_module('yc_network', env=env, name='env-net')
    assert both['failed'] and 'YC_TOKEN' in both['msg'] and 'YC_SERVICE_ACCOUNT_KEY_FILE' in both['msg']


def test_service_account_key_as_file_and_as_dict(localcloud):
    base = dict(endpoint=localcloud.endpoint, root_certificates=os.path.join(localcloud.state_dir, 'ca.pem'),
                folder_id=localcloud.folder_id)
    ok(run_module('yc_network', auth=False, name='sa-key-net', service_account_key=localcloud.sa_key_file, **base))
    with open(localcloud.sa_key_file) as handle:
        key = json.load(handle)
    again = ok(run_module('yc_network', auth=False, name='sa-key-net', service_account_key=key, **base))
    assert again['changed'] is False
    broken = dict(key, private_key='not a key')
    result = run_module('yc_network', auth=False, name='sa-key-net', service_account_key=broken, **base)
    assert result['failed'] and 'private_key' in result['msg']
    ok(run_module('yc_network', auth=False, name='sa-key-net', state='absent', service_account_key=key, **base))


def test_bad_token_is_unauthenticated(localcloud):
    result = run_module('yc_network', localcloud, name='n', **dict(token='not-a-token'))
    assert result['failed'] and 'UNAUTHENTICATED' in result['msg']


def test_unavailable_is_retried(localcloud):
    localcloud.fault('/yandex.cloud.vpc.v1.NetworkService/List', code='UNAVAILABLE', count=2)
    localcloud.reset_calls()
    result = ok(run_module('yc_network', localcloud, name='flaky-net'))
    assert result['changed'] is True
    lists = [c for c in localcloud.calls() if c['method'].endswith('NetworkService/List')]
    assert [c['code'] for c in lists[:3]] == ['UNAVAILABLE', 'UNAVAILABLE', 'OK']
    ok(run_module('yc_network', localcloud, name='flaky-net', state='absent'))


CREATE = '/yandex.cloud.vpc.v1.NetworkService/Create'


def network_calls(localcloud):
    calls = localcloud.calls('/yandex.cloud.vpc.v1.NetworkService/')
    return [(c['method'].rsplit('/', 1)[1], c['code']) for c in calls]


def networks_named(localcloud, name):
    from yandex.cloud.vpc.v1 import network_service_pb2 as ns
    from yandex.cloud.vpc.v1.network_service_pb2_grpc import NetworkServiceStub
    found = localcloud.sdk().client(NetworkServiceStub).List(ns.ListNetworksRequest(
        folder_id=localcloud.folder_id, filter='name="%s"' % name)).networks
    return [n for n in found if n.name == name]


def test_create_refused_with_unavailable_is_looked_up_then_retried(localcloud):
    """UNAVAILABLE before the server acted: the lookup finds nothing, so the Create is sent again."""
    localcloud.fault(CREATE, code='UNAVAILABLE', count=1)
    localcloud.reset_calls()
    result = ok(run_module('yc_network', localcloud, name='once-net'))
    assert result['changed'] is True
    assert network_calls(localcloud)[:4] == [('List', 'OK'), ('Create', 'UNAVAILABLE'), ('List', 'OK'),
                                             ('Create', 'OK')]
    assert [n.id for n in networks_named(localcloud, 'once-net')] == [result['network']['id']]
    assert ok(run_module('yc_network', localcloud, name='once-net'))['changed'] is False
    ok(run_module('yc_network', localcloud, name='once-net', state='absent'))


def test_create_whose_response_is_lost_is_found_not_repeated(localcloud):
    """The server made the network, then the answer was lost (UNAVAILABLE after the write): the module must not
    send the Create again (it would meet ALREADY_EXISTS, or make a second one where names are not unique) but
    find the network by name (yc.py call(idempotent=False, recheck=find)) and report it as created."""
    localcloud.fault(CREATE, code='UNAVAILABLE', lose_response=True, count=1)
    localcloud.reset_calls()
    result = ok(run_module('yc_network', localcloud, name='lost-net'))
    assert network_calls(localcloud) == [('List', 'OK'), ('Create', 'UNAVAILABLE'), ('List', 'OK')]
    networks = networks_named(localcloud, 'lost-net')
    assert len(networks) == 1
    assert result['changed'] is True and result['network']['id'] == networks[0].id
    assert result['network']['name'] == 'lost-net'
    assert ok(run_module('yc_network', localcloud, name='lost-net'))['changed'] is False
    ok(run_module('yc_network', localcloud, name='lost-net', state='absent'))


def test_retry_budget_runs_out_with_a_clear_error(localcloud):
    localcloud.fault('/yandex.cloud.vpc.v1.NetworkService/List', code='UNAVAILABLE', count=100)
    try:
        result = run_module('yc_network', localcloud, name='never-net', api_retry_timeout=2)
    finally:
        localcloud.clear_faults()
    assert result['failed'] and 'UNAVAILABLE' in result['msg'] and 'attempts' in result['msg']


def test_failed_operation_is_reported_and_a_rerun_converges(localcloud):
    localcloud.fault('/yandex.cloud.vpc.v1.NetworkService/Create',
                     operation_error={'code': 13, 'message': 'injected failure'}, count=1)
    failed = run_module('yc_network', localcloud, name='op-net')
    assert failed['failed'] and 'INTERNAL' in failed['msg'] and 'injected failure' in failed['msg']
    assert "network 'op-net'" in failed['msg']
    rerun = ok(run_module('yc_network', localcloud, name='op-net'))
    assert rerun['network']['name'] == 'op-net'
    ok(run_module('yc_network', localcloud, name='op-net', state='absent'))


def test_slow_operation_hits_our_deadline_then_converges(localcloud):
    localcloud.fault('/yandex.cloud.vpc.v1.NetworkService/Create', operation_delay=4.0, count=1)
    timed_out = run_module('yc_network', localcloud, name='slow-net', wait_timeout=1)
    assert timed_out['failed'] and 'Timed out after 1s' in timed_out['msg'] and timed_out['operation_id']
    wait_operation_done(localcloud.sdk(), timed_out['operation_id'])
    assert ok(run_module('yc_network', localcloud, name='slow-net'))['changed'] is False
    ok(run_module('yc_network', localcloud, name='slow-net', state='absent'))


def test_wait_false_returns_the_operation(localcloud):
    localcloud.fault('/yandex.cloud.vpc.v1.NetworkService/Create', operation_delay=2.0, count=1)
    result = ok(run_module('yc_network', localcloud, name='nowait-net', wait=False))
    assert result['changed'] is True and result['operation_id']
    assert not wait_operation_done(localcloud.sdk(), result['operation_id']).HasField('error')
    ok(run_module('yc_network', localcloud, name='nowait-net', state='absent'))
