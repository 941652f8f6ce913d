"""yc_vpc_gateway(_info), yc_route_table(_info) and yc_subnet's route_table_id against localcloud: create ->
same call changed=false with no writes -> change one field (the update mask holds only it) -> check mode writes
nothing -> delete twice; bad input fails before any call; ansible-doc renders every module."""

import json
import os
import subprocess
import sys

import pytest

from support import REPO_ROOT
from test_resource_lifecycle import changed_keys, mask_paths, writes
from yc_modules_support import ok, run_module

ANSIBLE_DOC = os.path.join(os.path.dirname(sys.executable), 'ansible-doc')


@pytest.fixture(scope='module')
def network(localcloud):
    result = ok(run_module('yc_network', localcloud, name='egress-base'))
    yield result['network']
    run_module('yc_network', localcloud, name='egress-base', state='absent')


@pytest.fixture(scope='module')
def gateway(localcloud):
    result = ok(run_module('yc_vpc_gateway', localcloud, name='egress-base-nat'))
    yield result['gateway']
    run_module('yc_vpc_gateway', localcloud, name='egress-base-nat', state='absent')


def update_calls(localcloud, service):
    return [c for c in writes(localcloud) if c['method'].endswith('.%s/Update' % service)]


def lifecycle(localcloud, module, key, service, create, change, field):
    created = ok(run_module(module, localcloud, **create))
    assert created['changed'] is True and created['diff']['before'] == {}
    resource = created[key]
    assert resource['id'] and resource['name'] == create['name']

    localcloud.reset_calls()
    again = ok(run_module(module, localcloud, **create))
    assert again['changed'] is False and again[key] == resource
    assert writes(localcloud) == [], 'a no-op run wrote to the API'

    localcloud.reset_calls()
    preview = ok(run_module(module, localcloud, check=True, **dict(create, **change)))
    assert preview['changed'] is True and changed_keys(preview['diff']) == [field]
    assert writes(localcloud) == [], 'check mode wrote to the API'

    localcloud.reset_calls()
    updated = ok(run_module(module, localcloud, **dict(create, **change)))
    assert updated['changed'] is True and updated['update_mask'] == [field] and updated['operation_id']
    assert changed_keys(updated['diff']) == [field]
    (call,) = update_calls(localcloud, service)
    assert mask_paths(call['request']) == [field]
    assert ok(run_module(module, localcloud, **dict(create, **change)))['changed'] is False

    localcloud.reset_calls()
    assert ok(run_module(module, localcloud, check=True, name=create['name'], state='absent'))['changed'] is True
    assert writes(localcloud) == []
    removed = ok(run_module(module, localcloud, name=create['name'], state='absent'))
    assert removed['changed'] is True and removed[key] == {}
    assert ok(run_module(module, localcloud, name=create['name'], state='absent'))['changed'] is False
    return updated[key]


def test_gateway_lifecycle(localcloud):
    gateway = lifecycle(localcloud, 'yc_vpc_gateway', 'gateway', 'GatewayService',
                        dict(name='eg-nat', description='one', labels={'app.tier': 'db'}),
                        dict(description='two'), 'description')
    assert gateway['shared_egress_gateway'] is True and gateway['labels'] == {'app.tier': 'db'}


def test_gateway_create_sends_the_shared_egress_spec(localcloud):
    localcloud.reset_calls()
    ok(run_module('yc_vpc_gateway', localcloud, name='eg-spec'))
    (call,) = [c for c in writes(localcloud) if c['method'].endswith('GatewayService/Create')]
    assert call['request']['shared_egress_gateway_spec'] == {}
    ok(run_module('yc_vpc_gateway', localcloud, name='eg-spec', state='absent'))


def test_route_table_lifecycle(localcloud, network, gateway):
    routes = [dict(destination_prefix='0.0.0.0/0', gateway_id=gateway['id']),
              dict(destination_prefix='192.168.0.0/16', next_hop_address='10.60.0.5')]
    create = dict(name='eg-rt', network_id=network['id'], static_routes=routes, labels={'env': 'test'})
    more = routes + [dict(destination_prefix='172.16.0.0/12', next_hop_address='10.60.0.6')]
    table = lifecycle(localcloud, 'yc_route_table', 'route_table', 'RouteTableService', create,
                      dict(static_routes=more), 'static_routes')
    assert table['network_id'] == network['id'] and [r['destination_prefix'] for r in table['static_routes']] == \
        ['0.0.0.0/0', '172.16.0.0/12', '192.168.0.0/16']
    assert table['static_routes'][0] == dict(destination_prefix='0.0.0.0/0', gateway_id=gateway['id'],
                                             next_hop_address='')


def test_route_order_does_not_matter_and_labels_update_alone(localcloud, network, gateway):
    # '' is "not set" (what `{{ x | default('') }}` gives in a playbook)
    routes = [dict(destination_prefix='10.200.0.0/16', next_hop_address='10.60.0.5', gateway_id=''),
              dict(destination_prefix='0.0.0.0/0', gateway_id=gateway['id'])]
    base = dict(name='eg-rt-order', network_id=network['id'], static_routes=routes)
    ok(run_module('yc_route_table', localcloud, **base))
    localcloud.reset_calls()
    assert ok(run_module('yc_route_table', localcloud, **dict(base, static_routes=routes[::-1])))['changed'] is False
    assert writes(localcloud) == []
    # Not given = not managed: only labels change, the routes stay.
    labelled = ok(run_module('yc_route_table', localcloud, name='eg-rt-order', labels={'tier': 'app'}))
    assert labelled['update_mask'] == ['labels'] and len(labelled['route_table']['static_routes']) == 2
    # [] clears the routes (what a gateway needs before it is deleted).
    cleared = ok(run_module('yc_route_table', localcloud, name='eg-rt-order', static_routes=[]))
    assert cleared['update_mask'] == ['static_routes'] and cleared['route_table']['static_routes'] == []
    # The network cannot change.
    other = ok(run_module('yc_network', localcloud, name='eg-other-net'))['network']
    moved = run_module('yc_route_table', localcloud, name='eg-rt-order', network_id=other['id'])
    assert moved['failed'] and 'network_id cannot be changed' in moved['msg']
    ok(run_module('yc_route_table', localcloud, name='eg-rt-order', state='absent'))
    ok(run_module('yc_network', localcloud, name='eg-other-net', state='absent'))


@pytest.mark.parametrize('routes, words', [
    ([dict(destination_prefix='10.0.0.1/24', next_hop_address='10.0.0.5')],
     'static_routes[0].destination_prefix: write'),
    ([dict(destination_prefix='10.0.0.0/8', gateway_id='enpgateway0000000000')],
     'static_routes[0].destination_prefix: a route through a gateway must be 0.0.0.0/0'),
    ([dict(destination_prefix='169.254.0.0/24', next_hop_address='10.0.0.5')],
     'static_routes[0].destination_prefix: 169.254.0.0/24 is link-local'),
    ([dict(destination_prefix='10.0.0.0/8', next_hop_address='10.0.0.5'),
      dict(destination_prefix='10.0.0.0/8', next_hop_address='10.0.0.6')],
     'static_routes[1].destination_prefix: 10.0.0.0/8 is also the prefix of static_routes[0]'),
    ([dict(destination_prefix='10.0.0.0/8', next_hop_address='10.0.0.300')],
     "static_routes[0].next_hop_address: '10.0.0.300' is not an IPv4 address"),
    ([dict(destination_prefix='0.0.0.0/0', next_hop_address='10.0.0.5', gateway_id='enpgateway0000000000')],
     'static_routes[0]: set exactly one of gateway_id or next_hop_address'),
    ([dict(destination_prefix='0.0.0.0/0', gateway_id='')],
     'static_routes[0]: set exactly one of gateway_id or next_hop_address'),
    ([dict(gateway_id='enpgateway0000000000')], 'destination_prefix'),
])
def test_route_table_bad_routes_fail_before_any_call(localcloud, network, routes, words):
    localcloud.reset_calls()
    result = run_module('yc_route_table', localcloud, name='eg-bad', network_id=network['id'], static_routes=routes)
    assert result['failed'] and words in result['msg'], result['msg']
    assert localcloud.calls() == []


def test_bad_names_and_labels_fail_before_any_call(localcloud, network):
    localcloud.reset_calls()
    for module, args, words in (
            ('yc_vpc_gateway', dict(name='NAT'), "name: invalid name 'NAT'"),
            ('yc_route_table', dict(name='eg-rt', network_id=network['id'], labels={'k': 'a.b'}),
             "labels: invalid value 'a.b'"),
            ('yc_route_table_info', dict(name='Bad_Name'), "name: invalid name 'Bad_Name'")):
        result = run_module(module, localcloud, **args)
        assert result['failed'] and words in result['msg'], result['msg']
    assert localcloud.calls() == []
    created = run_module('yc_route_table', localcloud, name='eg-no-network')
    assert created['failed'] and "route table 'eg-no-network' does not exist; to create it set network_id" in \
        created['msg']


def test_subnet_route_table_attach_and_detach(localcloud, network, gateway):
    table = ok(run_module('yc_route_table', localcloud, name='eg-rt-subnet', network_id=network['id'],
                          static_routes=[dict(destination_prefix='0.0.0.0/0', gateway_id=gateway['id'])]))
    table_id = table['route_table']['id']
    subnet = dict(name='eg-subnet', network_id=network['id'], zone_id='ru-central1-a',
                  v4_cidr_blocks=['10.61.0.0/24'])
    created = ok(run_module('yc_subnet', localcloud, route_table_id=table_id, **subnet))
    assert created['subnet']['route_table_id'] == table_id
    localcloud.reset_calls()
    assert ok(run_module('yc_subnet', localcloud, route_table_id=table_id, **subnet))['changed'] is False
    # Not given = not managed.
    assert ok(run_module('yc_subnet', localcloud, **subnet))['changed'] is False
    assert writes(localcloud) == []

    # In use: the API refuses and the module says by whom.
    refused = run_module('yc_route_table', localcloud, name='eg-rt-subnet', state='absent')
    assert refused['failed'] and 'FAILED_PRECONDITION' in refused['msg'] and created['subnet']['id'] in refused['msg']
    refused = run_module('yc_vpc_gateway', localcloud, name='egress-base-nat', state='absent')
    assert refused['failed'] and table_id in refused['msg']

    localcloud.reset_calls()
    preview = ok(run_module('yc_subnet', localcloud, check=True, name='eg-subnet', route_table_id=''))
    assert preview['changed'] is True and changed_keys(preview['diff']) == ['route_table_id']
    assert writes(localcloud) == []
    detached = ok(run_module('yc_subnet', localcloud, name='eg-subnet', route_table_id=''))
    assert detached['update_mask'] == ['route_table_id'] and detached['subnet']['route_table_id'] == ''
    (call,) = update_calls(localcloud, 'SubnetService')
    assert mask_paths(call['request']) == ['route_table_id']
    assert ok(run_module('yc_subnet', localcloud, name='eg-subnet', route_table_id=''))['changed'] is False

    attached = ok(run_module('yc_subnet', localcloud, name='eg-subnet', route_table_id=table_id))
    assert attached['update_mask'] == ['route_table_id'] and attached['subnet']['route_table_id'] == table_id
    ok(run_module('yc_subnet', localcloud, name='eg-subnet', state='absent'))
    ok(run_module('yc_route_table', localcloud, name='eg-rt-subnet', state='absent'))


def test_info_modules(localcloud, network, gateway):
    ok(run_module('yc_route_table', localcloud, name='eg-rt-info', network_id=network['id'],
                  static_routes=[dict(destination_prefix='0.0.0.0/0', gateway_id=gateway['id'])]))
    found = ok(run_module('yc_vpc_gateway_info', localcloud, name='egress-base-nat'))
    assert found['changed'] is False and found['gateways'] == [gateway]
    assert ok(run_module('yc_vpc_gateway_info', localcloud, name='eg-none'))['gateways'] == []
    assert gateway in ok(run_module('yc_vpc_gateway_info', localcloud))['gateways']

    (table,) = ok(run_module('yc_route_table_info', localcloud, name='eg-rt-info'))['route_tables']
    assert table['network_id'] == network['id'] and table['static_routes'] == [
        dict(destination_prefix='0.0.0.0/0', gateway_id=gateway['id'], next_hop_address='')]
    by_network = ok(run_module('yc_route_table_info', localcloud, network_id=network['id']))['route_tables']
    assert [t['name'] for t in by_network] == ['eg-rt-info']
    assert ok(run_module('yc_route_table_info', localcloud, network_id='enpnosuchnetwork0000'))['route_tables'] == []
    ok(run_module('yc_route_table', localcloud, name='eg-rt-info', state='absent'))


@pytest.mark.parametrize('module, options', [
    ('yc_vpc_gateway', {'name', 'description', 'labels', 'purge_labels', 'state'}),
    ('yc_vpc_gateway_info', {'name'}),
    ('yc_route_table', {'name', 'network_id', 'static_routes', 'description', 'labels', 'purge_labels', 'state'}),
    ('yc_route_table_info', {'name', 'network_id'}),
    ('yc_subnet', {'route_table_id'}),
])
def test_ansible_doc_renders(module, options):
    """The collection is found through ansible.cfg's collections_path, as a user of the checkout finds it."""
    done = subprocess.run([ANSIBLE_DOC, '--json', 'filmopoisk.shs.' + module], cwd=REPO_ROOT, text=True,
                          capture_output=True, timeout=120,
                          env=dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO_ROOT, 'ansible.cfg')))
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)['filmopoisk.shs.' + module]
    assert options <= set(doc['doc']['options']) and 'folder_id' in doc['doc']['options']
    assert 'filmopoisk.shs.%s:' % module in doc['examples'] and doc['return']
