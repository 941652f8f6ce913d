"""localcloud VPC: networks, subnets, security groups through the real SDK (CRUD, masks, YC's error codes)."""

import grpc
from google.protobuf.field_mask_pb2 import FieldMask
from yandex.cloud.vpc.v1 import network_service_pb2 as ns
from yandex.cloud.vpc.v1 import security_group_service_pb2 as sgs
from yandex.cloud.vpc.v1 import subnet_service_pb2 as ss
from yandex.cloud.vpc.v1.network_pb2 import Network
from yandex.cloud.vpc.v1.network_service_pb2_grpc import NetworkServiceStub
from yandex.cloud.vpc.v1.security_group_pb2 import SecurityGroup, SecurityGroupRule
from yandex.cloud.vpc.v1.security_group_service_pb2_grpc import SecurityGroupServiceStub
from yandex.cloud.vpc.v1.subnet_pb2 import Subnet
from yandex.cloud.vpc.v1.subnet_service_pb2_grpc import SubnetServiceStub

from helpers import rpc_error, run, unique

CODE = grpc.StatusCode


def make_network(localcloud, sdk, **fields):
    fields.setdefault('name', unique('net'))
    op = sdk.client(NetworkServiceStub).Create(ns.CreateNetworkRequest(folder_id=localcloud.folder_id, **fields))
    return run(sdk, op, Network, ns.CreateNetworkMetadata).response


def make_subnet(localcloud, sdk, network_id, cidrs, zone='ru-central1-a', **fields):
    fields.setdefault('name', unique('sub'))
    op = sdk.client(SubnetServiceStub).Create(ss.CreateSubnetRequest(
        folder_id=localcloud.folder_id, network_id=network_id, zone_id=zone, v4_cidr_blocks=cidrs, **fields))
    return run(sdk, op, Subnet).response


def test_network_lifecycle(localcloud):
    sdk = localcloud.sdk()
    stub = sdk.client(NetworkServiceStub)
    name = unique('net')
    op = stub.Create(ns.CreateNetworkRequest(folder_id=localcloud.folder_id, name=name, description='d',
                                             labels={'env': 'test'}))
    assert not op.done and op.id and op.created_by
    result = run(sdk, op, Network, ns.CreateNetworkMetadata)
    network = result.response
    assert result.meta.network_id == network.id and len(network.id) == 20 and network.id.startswith('enp')
    assert (network.name, network.description, dict(network.labels)) == (name, 'd', {'env': 'test'})
    assert network.folder_id == localcloud.folder_id and network.created_at.seconds > 0
    assert stub.Get(ns.GetNetworkRequest(network_id=network.id)) == network
    listed = stub.List(ns.ListNetworksRequest(folder_id=localcloud.folder_id, filter='name="%s"' % name)).networks
    assert list(listed) == [network]

    details = rpc_error(lambda: stub.Create(ns.CreateNetworkRequest(folder_id=localcloud.folder_id, name=name)),
                        CODE.ALREADY_EXISTS)
    assert name in details

    run(sdk, stub.Delete(ns.DeleteNetworkRequest(network_id=network.id)))
    assert rpc_error(lambda: stub.Get(ns.GetNetworkRequest(network_id=network.id)),
                     CODE.NOT_FOUND) == 'Network %s not found' % network.id
    rpc_error(lambda: stub.Delete(ns.DeleteNetworkRequest(network_id=network.id)), CODE.NOT_FOUND)


def test_network_bad_requests(localcloud):
    stub = localcloud.sdk().client(NetworkServiceStub)
    for bad, field in (({'name': '1net'}, 'name'), ({'name': 'x' * 64}, 'name'), ({'description': 'd' * 257},
                       'description'), ({'labels': {'Bad': 'x'}}, 'labels')):
        details = rpc_error(lambda: stub.Create(ns.CreateNetworkRequest(folder_id=localcloud.folder_id, **bad)),
                            CODE.INVALID_ARGUMENT)
        assert details.startswith('Request validation error: %s: ' % field), details
    rpc_error(lambda: stub.Create(ns.CreateNetworkRequest(folder_id='b1gnosuchfolder00000', name='x')),
              CODE.PERMISSION_DENIED)
    rpc_error(lambda: stub.List(ns.ListNetworksRequest(folder_id='b1gnosuchfolder00000')), CODE.PERMISSION_DENIED)
    rpc_error(lambda: stub.List(ns.ListNetworksRequest(folder_id=localcloud.folder_id, filter='name~"x"')),
              CODE.INVALID_ARGUMENT)
    # Nothing was created by the failed calls.
    assert not [c for c in localcloud.calls('/yandex.cloud.operation.') if c['code'] != 'OK']


def test_network_update_mask(localcloud):
    sdk = localcloud.sdk()
    stub = sdk.client(NetworkServiceStub)
    network = make_network(localcloud, sdk, description='before', labels={'a': '1'})

    def update(mask, **fields):
        op = stub.Update(ns.UpdateNetworkRequest(network_id=network.id, update_mask=FieldMask(paths=mask), **fields))
        assert not op.done
        return run(sdk, op, Network, ns.UpdateNetworkMetadata).response

    # Only the masked field changes, whatever else the request carries.
    after = update(['description'], description='after', name='ignored', labels={'b': '2'})
    assert (after.name, after.description, dict(after.labels)) == (network.name, 'after', {'a': '1'})
    after = update(['labels'], labels={'b': '2'})
    assert (after.description, dict(after.labels)) == ('after', {'b': '2'})
    # Empty mask: every updatable field takes the request's value (unset ones reset), as YC documents.
    after = update([], name=network.name)
    assert (after.name, after.description, dict(after.labels)) == (network.name, '', {})
    assert stub.Get(ns.GetNetworkRequest(network_id=network.id)) == after
    details = rpc_error(lambda: stub.Update(ns.UpdateNetworkRequest(
        network_id=network.id, update_mask=FieldMask(paths=['folder_id']))), CODE.INVALID_ARGUMENT)
    assert 'update_mask' in details
    other = make_network(localcloud, sdk)
    rpc_error(lambda: stub.Update(ns.UpdateNetworkRequest(network_id=other.id, name=network.name,
                                                          update_mask=FieldMask(paths=['name']))),
              CODE.ALREADY_EXISTS)


def test_list_pages(localcloud):
    sdk = localcloud.sdk()
    stub = sdk.client(NetworkServiceStub)
    made = {make_network(localcloud, sdk).id for _ in range(3)}
    seen, token, pages = [], '', 0
    while True:
        answer = stub.List(ns.ListNetworksRequest(folder_id=localcloud.folder_id, page_size=2, page_token=token))
        assert len(answer.networks) <= 2
        seen += [n.id for n in answer.networks]
        pages += 1
        token = answer.next_page_token
        if not token:
            break
    assert made <= set(seen) and len(seen) == len(set(seen)) and pages >= 2
    rpc_error(lambda: stub.List(ns.ListNetworksRequest(folder_id=localcloud.folder_id, page_token='garbage!')),
              CODE.INVALID_ARGUMENT)


def test_subnets(localcloud):
    sdk = localcloud.sdk()
    stub = sdk.client(SubnetServiceStub)
    network = make_network(localcloud, sdk)
    subnet = make_subnet(localcloud, sdk, network.id, ['10.1.0.0/24'], zone='ru-central1-b')
    assert subnet.id.startswith('e2l') and subnet.zone_id == 'ru-central1-b' and subnet.network_id == network.id
    assert list(subnet.v4_cidr_blocks) == ['10.1.0.0/24']
    second = make_subnet(localcloud, sdk, network.id, ['10.1.1.0/24'], zone='ru-central1-d')
    listed = sdk.client(NetworkServiceStub).ListSubnets(ns.ListNetworkSubnetsRequest(network_id=network.id)).subnets
    assert [s.id for s in listed] == [subnet.id, second.id]

    def create(**fields):
        request = dict(folder_id=localcloud.folder_id, network_id=network.id, zone_id='ru-central1-a',
                       v4_cidr_blocks=['10.2.0.0/24'])
        request.update(fields)
        return lambda: stub.Create(ss.CreateSubnetRequest(**request))
    cases = [({'v4_cidr_blocks': ['10.1.0.128/25']}, 'v4_cidr_blocks', 'overlaps 10.1.0.0/24 of subnet'),
             ({'v4_cidr_blocks': ['10.3.0.0/33']}, 'v4_cidr_blocks[0]', 'not an IPv4 CIDR'),
             ({'v4_cidr_blocks': ['10.3.0.1/24']}, 'v4_cidr_blocks[0]', 'did you mean 10.3.0.0/24'),
             ({'v4_cidr_blocks': ['8.8.8.0/24']}, 'v4_cidr_blocks[0]', 'private range'),
             ({'v4_cidr_blocks': ['10.0.0.0/8']}, 'v4_cidr_blocks[0]', 'between /16 and /28'),
             ({'v4_cidr_blocks': []}, 'v4_cidr_blocks', 'required'),
             ({'zone_id': 'ru-central1-c'}, 'zone_id', 'unknown zone ru-central1-c'),
             ({'zone_id': ''}, 'zone_id', 'required'),
             ({'network_id': ''}, 'network_id', 'required')]
    for fields, field, text in cases:
        details = rpc_error(create(**fields), CODE.INVALID_ARGUMENT)
        assert details.startswith('Request validation error: %s: ' % field) and text in details, details
    assert rpc_error(create(network_id='enpnosuchnetwork0000'),
                     CODE.NOT_FOUND) == 'Network enpnosuchnetwork0000 not found'

    # Update: CIDRs are checked against the other subnets, not against the subnet itself.
    rpc_error(lambda: stub.Update(ss.UpdateSubnetRequest(
        subnet_id=subnet.id, v4_cidr_blocks=['10.1.0.0/23'], update_mask=FieldMask(paths=['v4_cidr_blocks']))),
        CODE.INVALID_ARGUMENT)
    result = run(sdk, stub.Update(ss.UpdateSubnetRequest(
        subnet_id=subnet.id, v4_cidr_blocks=['10.1.0.0/25'], description='x',
        update_mask=FieldMask(paths=['v4_cidr_blocks']))), Subnet).response
    assert list(result.v4_cidr_blocks) == ['10.1.0.0/25'] and result.description == ''

    # A network with subnets cannot be deleted.
    details = rpc_error(lambda: sdk.client(NetworkServiceStub).Delete(ns.DeleteNetworkRequest(network_id=network.id)),
                        CODE.FAILED_PRECONDITION)
    assert subnet.id in details and second.id in details
    for s in (subnet, second):
        run(sdk, stub.Delete(ss.DeleteSubnetRequest(subnet_id=s.id)))
    run(sdk, sdk.client(NetworkServiceStub).Delete(ns.DeleteNetworkRequest(network_id=network.id)))


def spec(direction='INGRESS', protocol='TCP', port=None, cidrs=None, **extra):
    fields = dict(direction=SecurityGroupRule.Direction.Value(direction), protocol_name=protocol, **extra)
    if port is not None:
        fields['ports'] = {'from_port': port, 'to_port': port}
    if cidrs is not None:
        fields['cidr_blocks'] = {'v4_cidr_blocks': cidrs}
    return sgs.SecurityGroupRuleSpec(**fields)


def test_security_groups(localcloud):
    sdk = localcloud.sdk()
    stub = sdk.client(SecurityGroupServiceStub)
    network = make_network(localcloud, sdk)
    name = unique('sg')
    https, http = spec(port=443, cidrs=['0.0.0.0/0']), spec(port=80, cidrs=['0.0.0.0/0'])
    op = stub.Create(sgs.CreateSecurityGroupRequest(folder_id=localcloud.folder_id, name=name, network_id=network.id,
                                                    rule_specs=[https, spec('EGRESS', 'ANY', cidrs=['0.0.0.0/0'])]))
    group = run(sdk, op, SecurityGroup).response
    assert group.status == SecurityGroup.ACTIVE and group.network_id == network.id
    assert [(r.protocol_name, r.protocol_number) for r in group.rules] == [('TCP', 6), ('ANY', -1)]
    assert all(len(r.id) == 20 for r in group.rules) and len({r.id for r in group.rules}) == 2
    https_id = group.rules[0].id

    # Update with rule_specs replaces the rules; an unchanged rule keeps its id.
    op = stub.Update(sgs.UpdateSecurityGroupRequest(security_group_id=group.id, rule_specs=[https, http],
                                                    update_mask=FieldMask(paths=['rule_specs'])))
    result = run(sdk, op, SecurityGroup, sgs.UpdateSecurityGroupMetadata)
    rules = result.response.rules
    assert [r.ports.from_port for r in rules] == [443, 80] and rules[0].id == https_id
    assert list(result.meta.added_rule_ids) == [rules[1].id]

    # UpdateRules: delete one by id, add one.
    op = stub.UpdateRules(sgs.UpdateSecurityGroupRulesRequest(
        security_group_id=group.id, deletion_rule_ids=[https_id],
        addition_rule_specs=[spec(port=22, cidrs=['10.0.0.0/8'], description='ssh')]))
    result = run(sdk, op, SecurityGroup, sgs.UpdateSecurityGroupMetadata)
    assert [r.ports.from_port for r in result.response.rules] == [80, 22]
    assert list(result.meta.added_rule_ids) == [result.response.rules[1].id]
    assert stub.Get(sgs.GetSecurityGroupRequest(security_group_id=group.id)) == result.response

    bad_specs = [(spec(direction='DIRECTION_UNSPECIFIED', cidrs=['0.0.0.0/0']), 'rule_specs[0].direction'),
                 (spec(protocol='SCTPX', cidrs=['0.0.0.0/0']), 'rule_specs[0].protocol_name'),
                 (spec(cidrs=['0.0.0.0/0'], ports={'from_port': 90, 'to_port': 80}), 'rule_specs[0].ports'),
                 (spec(cidrs=['300.0.0.0/8']), 'rule_specs[0].cidr_blocks.v4_cidr_blocks[0]'),
                 (spec(), 'rule_specs[0].target'),
                 (spec(predefined_target='everyone'), 'rule_specs[0].predefined_target')]
    for bad, field in bad_specs:
        details = rpc_error(lambda: stub.Create(sgs.CreateSecurityGroupRequest(
            folder_id=localcloud.folder_id, network_id=network.id, rule_specs=[bad])), CODE.INVALID_ARGUMENT)
        assert details.startswith('Request validation error: %s: ' % field), details
    rpc_error(lambda: stub.UpdateRules(sgs.UpdateSecurityGroupRulesRequest(
        security_group_id=group.id, deletion_rule_ids=['enpnosuchrule0000000'])), CODE.INVALID_ARGUMENT)
    rpc_error(lambda: stub.Create(sgs.CreateSecurityGroupRequest(folder_id=localcloud.folder_id, name=name,
                                                                 network_id=network.id)), CODE.ALREADY_EXISTS)
    # The network now has a security group: it cannot go first.
    rpc_error(lambda: sdk.client(NetworkServiceStub).Delete(ns.DeleteNetworkRequest(network_id=network.id)),
              CODE.FAILED_PRECONDITION)
    run(sdk, stub.Delete(sgs.DeleteSecurityGroupRequest(security_group_id=group.id)))
    run(sdk, sdk.client(NetworkServiceStub).Delete(ns.DeleteNetworkRequest(network_id=network.id)))
