"""yc_network_load_balancer(_info) against localcloud: create -> same call changed=false with no writes -> change one
field (the update mask holds only it, the diff shows it) -> check mode writes nothing -> delete twice; bad input fails
naming the option before any call; _info lists the targets' states; ansible-doc renders both modules."""

import json
import os
import subprocess
import sys

import pytest
from yandex.cloud.loadbalancer.v1 import target_group_service_pb2 as ts
from yandex.cloud.loadbalancer.v1.target_group_pb2 import Target, TargetGroup
from yandex.cloud.loadbalancer.v1.target_group_service_pb2_grpc import TargetGroupServiceStub

from nlb_support import listen_port, remove_data_plane
from support import REPO_ROOT
from test_resource_lifecycle import changed_keys, mask_paths, writes
from yc_modules_support import ok, run_module

ANSIBLE_DOC = os.path.join(os.path.dirname(sys.executable), 'ansible-doc')
MODULE = 'yc_network_load_balancer'


@pytest.fixture(scope='module')
def target_group(localcloud):
    """A subnet with a target group of two addresses, made with TargetGroupService (as an instance group would)."""
    network = ok(run_module('yc_network', localcloud, name='nlb-mod-net'))['network']
    subnet = ok(run_module('yc_subnet', localcloud, name='nlb-mod-sub', network_id=network['id'],
                           zone_id='ru-central1-a', v4_cidr_blocks=['10.62.0.0/24']))['subnet']
    sdk = localcloud.sdk()
    stub = sdk.client(TargetGroupServiceStub)
    op = stub.Create(ts.CreateTargetGroupRequest(folder_id=localcloud.folder_id, name='nlb-mod-tg', targets=[
        Target(subnet_id=subnet['id'], address='10.62.0.11'), Target(subnet_id=subnet['id'], address='10.62.0.12')]))
    group = sdk.wait_operation_and_get_result(op, response_type=TargetGroup).response
    yield dict(id=group.id, subnet_id=subnet['id'])
    for name in ('nlb-mod-life', 'nlb-mod-info', 'nlb-mod-protected'):
        run_module(MODULE, localcloud, name=name, deletion_protection=False)
        run_module(MODULE, localcloud, name=name, state='absent')
    sdk.wait_operation_and_get_result(stub.Delete(ts.DeleteTargetGroupRequest(target_group_id=group.id)))
    run_module('yc_subnet', localcloud, name='nlb-mod-sub', state='absent')
    run_module('yc_network', localcloud, name='nlb-mod-net', state='absent')
    remove_data_plane(localcloud.state_dir)


def balancer_args(name, port, group_id, **extra):
    args = dict(name=name, description='one', labels={'app': 'shs'},
                listeners=[dict(name='http', port=port, target_port=8080)],
                attached_target_groups=[dict(target_group_id=group_id, healthchecks=[
                    dict(name='nginx-status', http_options=dict(port=8080, path='/nginx-status'))])])
    args.update(extra)
    return args


def update_calls(localcloud):
    return [c for c in writes(localcloud) if c['method'].endswith('.NetworkLoadBalancerService/Update')]


def test_lifecycle(localcloud, target_group):
    port = listen_port()
    create = balancer_args('nlb-mod-life', port, target_group['id'])
    created = ok(run_module(MODULE, localcloud, **create))
    assert created['changed'] is True and created['diff']['before'] == {} and created['operation_id']
    balancer = created['network_load_balancer']
    assert balancer['id'].startswith('b7r') and balancer['type'] == 'external' and balancer['status'] == 'ACTIVE'
    assert balancer['region_id'] == 'ru-central1' and balancer['deletion_protection'] is False
    assert balancer['listeners'] == [dict(name='http', port=port, target_port=8080, protocol='tcp',
                                          address='127.0.0.1', subnet_id='', ip_version='ipv4')]
    # Terraform's health check defaults: interval 2, timeout 1, thresholds 2.
    assert balancer['attached_target_groups'] == [dict(target_group_id=target_group['id'], healthchecks=[dict(
        name='nginx-status', interval=2, timeout=1, unhealthy_threshold=2, healthy_threshold=2,
        http_options=dict(port=8080, path='/nginx-status'), tcp_options=None)])]

    localcloud.reset_calls()
    again = ok(run_module(MODULE, localcloud, **create))
    assert again['changed'] is False and again['network_load_balancer'] == balancer
    assert writes(localcloud) == [], 'a no-op run wrote to the API'

    # One field changes: a listener's target port. Check mode first: a diff, no write.
    change = dict(create, listeners=[dict(name='http', port=port, target_port=8081)])
    localcloud.reset_calls()
    preview = ok(run_module(MODULE, localcloud, check=True, **change))
    assert preview['changed'] is True and changed_keys(preview['diff']) == ['listeners']
    assert preview['diff']['after']['listeners'][0]['target_port'] == 8081
    assert writes(localcloud) == [], 'check mode wrote to the API'

    localcloud.reset_calls()
    updated = ok(run_module(MODULE, localcloud, **change))
    assert updated['changed'] is True and updated['update_mask'] == ['listeners']
    assert changed_keys(updated['diff']) == ['listeners']
    assert updated['network_load_balancer']['listeners'][0]['target_port'] == 8081
    assert updated['network_load_balancer']['listeners'][0]['address'] == '127.0.0.1'
    (call,) = update_calls(localcloud)
    assert mask_paths(call['request']) == ['listener_specs']
    assert ok(run_module(MODULE, localcloud, **change))['changed'] is False
    # Options left out are not managed.
    assert ok(run_module(MODULE, localcloud, name='nlb-mod-life'))['changed'] is False

    # A health check field: only attached_target_groups is sent.
    slower = dict(change, attached_target_groups=[dict(target_group_id=target_group['id'], healthchecks=[
        dict(name='nginx-status', interval=5, timeout=2, http_options=dict(port=8080, path='/nginx-status'))])])
    localcloud.reset_calls()
    result = ok(run_module(MODULE, localcloud, **slower))
    assert result['update_mask'] == ['attached_target_groups']
    check = result['network_load_balancer']['attached_target_groups'][0]['healthchecks'][0]
    assert (check['interval'], check['timeout']) == (5, 2)

    # type cannot change: said, not recreated.
    refused = run_module(MODULE, localcloud, name='nlb-mod-life', type='internal')
    assert refused['failed'] and 'type cannot be changed' in refused['msg'], refused['msg']

    localcloud.reset_calls()
    assert ok(run_module(MODULE, localcloud, check=True, name='nlb-mod-life', state='absent'))['changed'] is True
    assert writes(localcloud) == []
    removed = ok(run_module(MODULE, localcloud, name='nlb-mod-life', state='absent'))
    assert removed['changed'] is True and removed['network_load_balancer'] == {}
    assert ok(run_module(MODULE, localcloud, name='nlb-mod-life', state='absent'))['changed'] is False


def test_deletion_protection(localcloud, target_group):
    made = ok(run_module(MODULE, localcloud, name='nlb-mod-protected', deletion_protection=True))
    assert made['network_load_balancer']['deletion_protection'] is True
    assert made['network_load_balancer']['status'] == 'INACTIVE'  # no listener (health-check.md#nlb-status)
    refused = run_module(MODULE, localcloud, name='nlb-mod-protected', state='absent')
    assert refused['failed'] and 'FAILED_PRECONDITION' in refused['msg'] and 'deletion' in refused['msg']
    off = ok(run_module(MODULE, localcloud, name='nlb-mod-protected', deletion_protection=False))
    assert off['update_mask'] == ['deletion_protection']
    assert ok(run_module(MODULE, localcloud, name='nlb-mod-protected', state='absent'))['changed'] is True


@pytest.mark.parametrize('change, words', [
    (dict(listeners=[dict(name='http', port=40000)]), 'listeners[0].port: must be between 1 and 32767'),
    (dict(listeners=[dict(name='http', port=80, target_port=70000)]), 'listeners[0].target_port'),
    (dict(listeners=[dict(name='h', port=80)]), "listeners[0].name: invalid name 'h'"),
    (dict(listeners=[dict(name='http', port=80), dict(name='other', port=80)]), 'listeners[1].port: 80 is also'),
    (dict(type='external', listeners=[dict(name='http', port=80, internal_address_spec=dict(subnet_id='e9bsubnet'))]),
     'listeners[0].internal_address_spec: an external load balancer'),
    (dict(type='internal', listeners=[dict(name='http', port=80)]), 'listeners[0].internal_address_spec: required'),
    (dict(attached_target_groups=[dict(target_group_id='enptg', healthchecks=[])]),
     'attached_target_groups[0].healthchecks: exactly one'),
    (dict(attached_target_groups=[dict(target_group_id='enptg', healthchecks=[
        dict(name='hc-a', interval=2, timeout=2, tcp_options=dict(port=80))])]),
     'attached_target_groups[0].healthchecks[0].interval: must be at least 1 second longer'),
    (dict(attached_target_groups=[dict(target_group_id='enptg', healthchecks=[
        dict(name='hc-a', healthy_threshold=11, tcp_options=dict(port=80))])]),
     'attached_target_groups[0].healthchecks[0].healthy_threshold'),
    (dict(attached_target_groups=[dict(target_group_id='enptg', healthchecks=[dict(name='hc-a')])]),
     'attached_target_groups[0].healthchecks[0]: set exactly one of http_options or tcp_options'),
    (dict(attached_target_groups=[dict(target_group_id='enptg', healthchecks=[dict(
        name='hc-a', http_options=dict(port=40000))])]), 'attached_target_groups[0].healthchecks[0].http_options.port'),
    (dict(region_id='eu-north1'), "region_id: unknown region 'eu-north1'"),
])
def test_bad_input_fails_before_any_call(localcloud, change, words):
    localcloud.reset_calls()
    result = run_module(MODULE, localcloud, **dict(dict(name='nlb-mod-bad'), **change))
    assert result['failed'] and words in result['msg'], result['msg']
    assert localcloud.calls() == []


def test_listener_spec_must_fit_the_type(localcloud):
    """Without type the balancer's own type decides (external for a new one): refused before any write."""
    localcloud.reset_calls()
    result = run_module(MODULE, localcloud, name='nlb-mod-kind', listeners=[
        dict(name='http', port=80, internal_address_spec=dict(subnet_id='e9bsubnet'))])
    assert result['failed'] and "listeners[0]: network load balancer 'nlb-mod-kind' is external" in result['msg']
    assert writes(localcloud) == []


def test_info_lists_target_states(localcloud, target_group):
    port = listen_port()
    made = ok(run_module(MODULE, localcloud, **balancer_args('nlb-mod-info', port, target_group['id'])))
    balancer = made['network_load_balancer']
    (found,) = ok(run_module(MODULE + '_info', localcloud, name='nlb-mod-info'))['network_load_balancers']
    (group,) = found.pop('attached_target_groups')
    expected = dict(balancer)
    (attached,) = expected.pop('attached_target_groups')
    assert found == expected
    assert group['healthchecks'] == attached['healthchecks']
    states = group['target_states']
    assert [(s['subnet_id'], s['address']) for s in states] == [(target_group['subnet_id'], '10.62.0.11'),
                                                                (target_group['subnet_id'], '10.62.0.12')]
    # Nothing answers on those addresses: never HEALTHY.
    assert all(s['status'] in ('INITIAL', 'UNHEALTHY') for s in states), states

    by_id = ok(run_module(MODULE + '_info', localcloud, network_load_balancer_id=balancer['id'], target_states=False))
    (listed,) = by_id['network_load_balancers']
    assert 'target_states' not in listed['attached_target_groups'][0] and listed['id'] == balancer['id']
    assert ok(run_module(MODULE + '_info', localcloud, name='nlb-mod-none'))['network_load_balancers'] == []
    assert balancer['id'] in [b['id'] for b in ok(run_module(MODULE + '_info', localcloud))['network_load_balancers']]
    ok(run_module(MODULE, localcloud, name='nlb-mod-info', state='absent'))


def test_the_modules_with_the_play_s_api_endpoints(localcloud):
    """yc_iam_token's endpoint map (what module_defaults hand every module) reaches the load-balancer API."""
    token = ok(run_module('yc_iam_token', localcloud))
    args = dict(endpoint=localcloud.endpoint, folder_id=localcloud.folder_id, iam_token=token['iam_token'],
                api_endpoints=token['api_endpoints'],
                root_certificates=os.path.join(localcloud.state_dir, 'ca.pem'))
    made = ok(run_module(MODULE, auth=False, name='nlb-mod-endpoints', **args))
    assert made['network_load_balancer']['name'] == 'nlb-mod-endpoints'
    listed = ok(run_module(MODULE + '_info', auth=False, name='nlb-mod-endpoints', **args))
    assert [b['id'] for b in listed['network_load_balancers']] == [made['network_load_balancer']['id']]
    assert ok(run_module(MODULE, auth=False, name='nlb-mod-endpoints', state='absent', **args))['changed'] is True


@pytest.mark.parametrize('module, options', [
    (MODULE, {'name', 'type', 'region_id', 'deletion_protection', 'listeners', 'attached_target_groups', 'state'}),
    (MODULE + '_info', {'name', 'network_load_balancer_id', 'target_states'}),
])
def test_ansible_doc_renders(module, options):
    done = subprocess.run([ANSIBLE_DOC, '--json', 'filmopoisk.shs.' + module], cwd=REPO_ROOT, text=True,
                          capture_output=True, timeout=120,
                          env=dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO_ROOT, 'ansible.cfg')))
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)['filmopoisk.shs.' + module]
    assert options <= set(doc['doc']['options']) and 'folder_id' in doc['doc']['options']
    assert doc['doc']['version_added'] == '0.4.0'
    assert 'filmopoisk.shs.%s:' % module in doc['examples'] and doc['return']
