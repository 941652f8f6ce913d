"""localcloud loadbalancer.v1 through the real SDK: target groups and network load balancers (CRUD, masks, YC's
validation naming the field, in-use refusals, deletion protection, Start/Stop, attach/detach, listeners, port
conflicts on this machine)."""

import socket

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.field_mask_pb2 import FieldMask
from yandex.cloud.loadbalancer.v1 import network_load_balancer_service_pb2 as ns
from yandex.cloud.loadbalancer.v1 import target_group_service_pb2 as ts
from yandex.cloud.loadbalancer.v1.health_check_pb2 import HealthCheck
from yandex.cloud.loadbalancer.v1.network_load_balancer_pb2 import (AttachedTargetGroup, Listener,
                                                                    NetworkLoadBalancer, TargetState)
from yandex.cloud.loadbalancer.v1.network_load_balancer_service_pb2_grpc import NetworkLoadBalancerServiceStub
from yandex.cloud.loadbalancer.v1.target_group_pb2 import Target, TargetGroup
from yandex.cloud.loadbalancer.v1.target_group_service_pb2_grpc import TargetGroupServiceStub
from yandex.cloud.vpc.v1 import subnet_service_pb2 as ss
from yandex.cloud.vpc.v1.subnet_service_pb2_grpc import SubnetServiceStub

from helpers import rpc_error, run, unique
from nlb_support import listen_port, remove_data_plane
from test_vpc import make_network, make_subnet

CODE = grpc.StatusCode
NLB = NetworkLoadBalancer


@pytest.fixture(scope='module', autouse=True)
def _no_data_plane_left(localcloud):
    """The data plane (HAProxy container) outlives the API server by design: remove this state dir's once the
    tests are done (a later test that makes a listener starts it again)."""
    yield
    remove_data_plane(localcloud.state_dir)


@pytest.fixture(scope='module')
def net(localcloud):
    sdk = localcloud.sdk()
    network = make_network(localcloud, sdk)
    subnet = make_subnet(localcloud, sdk, network.id, ['10.77.0.0/24'])
    subnet_b = make_subnet(localcloud, sdk, network.id, ['10.77.1.0/24'], zone='ru-central1-b')
    other_network = make_network(localcloud, sdk)
    other = make_subnet(localcloud, sdk, other_network.id, ['10.78.0.0/24'])
    return dict(network=network, subnet=subnet, subnet_b=subnet_b, other=other)


def stubs(localcloud):
    sdk = localcloud.sdk()
    return sdk, sdk.client(TargetGroupServiceStub), sdk.client(NetworkLoadBalancerServiceStub)


def make_group(localcloud, sdk, targets=(), **fields):
    fields.setdefault('name', unique('tg'))
    op = sdk.client(TargetGroupServiceStub).Create(ts.CreateTargetGroupRequest(
        folder_id=localcloud.folder_id, targets=list(targets), **fields))
    return run(sdk, op, TargetGroup).response


def check(**fields):
    fields.setdefault('name', 'nginx-status')
    if 'tcp_options' not in fields and 'http_options' not in fields:
        fields['http_options'] = HealthCheck.HttpOptions(port=80, path='/nginx-status')
    return HealthCheck(**fields)


def listener(port, name='http', **fields):
    fields.setdefault('protocol', Listener.TCP)
    if 'internal_address_spec' not in fields:
        fields.setdefault('external_address_spec', ns.ExternalAddressSpec())
    return ns.ListenerSpec(name=name, port=port, **fields)


def make_nlb(localcloud, sdk, **fields):
    fields.setdefault('name', unique('nlb'))
    fields.setdefault('type', NLB.EXTERNAL)
    op = sdk.client(NetworkLoadBalancerServiceStub).Create(ns.CreateNetworkLoadBalancerRequest(
        folder_id=localcloud.folder_id, **fields))
    return run(sdk, op, NLB, ns.CreateNetworkLoadBalancerMetadata)


def delete_nlb(sdk, balancer_id):
    run(sdk, sdk.client(NetworkLoadBalancerServiceStub).Delete(
        ns.DeleteNetworkLoadBalancerRequest(network_load_balancer_id=balancer_id)))


def invalid(call, field):
    details = rpc_error(call, CODE.INVALID_ARGUMENT)
    assert details.startswith('Request validation error: %s: ' % field), details
    return details


def test_target_group_lifecycle(localcloud, net):
    sdk, groups, _ = stubs(localcloud)
    subnet = net['subnet']
    name = unique('tg')
    op = groups.Create(ts.CreateTargetGroupRequest(folder_id=localcloud.folder_id, name=name, description='d',
                                                   labels={'tier': 'lb'},
                                                   targets=[Target(subnet_id=subnet.id, address='10.77.0.5')]))
    result = run(sdk, op, TargetGroup, ts.CreateTargetGroupMetadata)
    group = result.response
    assert result.meta.target_group_id == group.id and group.id.startswith('enp') and len(group.id) == 20
    assert (group.name, group.region_id, [(t.subnet_id, t.address) for t in group.targets]) == (
        name, 'ru-central1', [(subnet.id, '10.77.0.5')])
    assert groups.Get(ts.GetTargetGroupRequest(target_group_id=group.id)) == group
    listed = groups.List(ts.ListTargetGroupsRequest(folder_id=localcloud.folder_id, filter='name="%s"' % name))
    assert list(listed.target_groups) == [group]
    assert name in rpc_error(lambda: groups.Create(ts.CreateTargetGroupRequest(folder_id=localcloud.folder_id,
                                                                               name=name)), CODE.ALREADY_EXISTS)

    added = run(sdk, groups.AddTargets(ts.AddTargetsRequest(target_group_id=group.id, targets=[
        Target(subnet_id=subnet.id, address='10.77.0.6'), Target(subnet_id=subnet.id, address='10.77.0.5')])),
        TargetGroup).response
    assert [t.address for t in added.targets] == ['10.77.0.5', '10.77.0.6']  # one of each
    removed = run(sdk, groups.RemoveTargets(ts.RemoveTargetsRequest(target_group_id=group.id, targets=[
        Target(subnet_id=subnet.id, address='10.77.0.5')])), TargetGroup).response
    assert [t.address for t in removed.targets] == ['10.77.0.6']
    invalid(lambda: groups.RemoveTargets(ts.RemoveTargetsRequest(target_group_id=group.id, targets=[
        Target(subnet_id=subnet.id, address='10.77.0.9')])), 'targets[0]')

    # A mask changes only what it names; targets are replaced whole.
    updated = run(sdk, groups.Update(ts.UpdateTargetGroupRequest(
        target_group_id=group.id, update_mask=FieldMask(paths=['description']), description='e', name='ignored')),
        TargetGroup).response
    assert (updated.name, updated.description, len(updated.targets)) == (name, 'e', 1)
    updated = run(sdk, groups.Update(ts.UpdateTargetGroupRequest(
        target_group_id=group.id, update_mask=FieldMask(paths=['targets']),
        targets=[Target(subnet_id=subnet.id, address='10.77.0.7')])), TargetGroup).response
    assert [t.address for t in updated.targets] == ['10.77.0.7'] and updated.labels == {'tier': 'lb'}
    ops = groups.ListOperations(ts.ListTargetGroupOperationsRequest(target_group_id=group.id)).operations
    assert len(ops) == 5 and all(op.done for op in ops)

    run(sdk, groups.Delete(ts.DeleteTargetGroupRequest(target_group_id=group.id)))
    assert rpc_error(lambda: groups.Get(ts.GetTargetGroupRequest(target_group_id=group.id)),
                     CODE.NOT_FOUND) == 'Target group %s not found' % group.id


def test_target_group_targets_are_checked(localcloud, net):
    _, groups, _ = stubs(localcloud)
    subnet, subnet_b, other = net['subnet'], net['subnet_b'], net['other']

    def create(*targets, **fields):
        fields.setdefault('name', unique('tg'))
        return lambda: groups.Create(ts.CreateTargetGroupRequest(folder_id=localcloud.folder_id,
                                                                 targets=list(targets), **fields))
    assert 'Subnet e9bnosuchsubnet00000 not found' == rpc_error(
        create(Target(subnet_id='e9bnosuchsubnet00000', address='10.77.0.5')), CODE.NOT_FOUND)
    assert '10.77.0.0/24' in invalid(create(Target(subnet_id=subnet.id, address='10.99.0.5')), 'targets[0].address')
    invalid(create(Target(subnet_id=subnet.id, address='10.77.0')), 'targets[0].address')
    invalid(create(Target(subnet_id=subnet.id)), 'targets[0].address')
    invalid(create(Target(address='10.77.0.5')), 'targets[0].subnet_id')
    assert 'one network' in invalid(create(Target(subnet_id=subnet.id, address='10.77.0.5'),
                                           Target(subnet_id=other.id, address='10.78.0.5')), 'targets[1].subnet_id')
    # Two zones, one subnet each: fine; a second subnet of the same zone is refused.
    group = make_group(localcloud, localcloud.sdk(), [Target(subnet_id=subnet.id, address='10.77.0.5'),
                                                      Target(subnet_id=subnet_b.id, address='10.77.1.5')])
    assert len(group.targets) == 2
    invalid(create(Target(subnet_id=subnet.id, address='10.77.0.5'), Target(subnet_id=subnet.id, address='10.77.0.5')),
            'targets[1]')
    invalid(create(name='Bad'), 'name')
    invalid(create(region_id='eu-north1'), 'region_id')
    invalid(lambda: groups.AddTargets(ts.AddTargetsRequest(target_group_id=group.id)), 'targets')
    run(localcloud.sdk(), groups.Delete(ts.DeleteTargetGroupRequest(target_group_id=group.id)))


def test_balancer_lifecycle(localcloud, net):
    sdk, groups, balancers = stubs(localcloud)
    group = make_group(localcloud, sdk, [Target(subnet_id=net['subnet'].id, address='10.77.0.5')])
    port = listen_port()
    name = unique('nlb')
    result = make_nlb(localcloud, sdk, name=name, description='d', labels={'app': 'shs'},
                      listener_specs=[listener(port, target_port=80)],
                      attached_target_groups=[AttachedTargetGroup(target_group_id=group.id,
                                                                  health_checks=[check()])])
    balancer = result.response
    assert result.meta.network_load_balancer_id == balancer.id and balancer.id.startswith('b7r')
    assert (balancer.name, balancer.region_id, balancer.type, balancer.status) == (
        name, 'ru-central1', NLB.EXTERNAL, NLB.ACTIVE)
    (lsn,) = balancer.listeners
    assert (lsn.name, lsn.address, lsn.port, lsn.target_port, lsn.protocol, lsn.ip_version) == (
        'http', '127.0.0.1', port, 80, Listener.TCP, 1)
    (hc,) = balancer.attached_target_groups[0].health_checks
    # YC's defaults (health_check.proto): interval 2 s, timeout 1 s, thresholds 2.
    assert (hc.interval.seconds, hc.timeout.seconds, hc.healthy_threshold, hc.unhealthy_threshold) == (2, 1, 2, 2)
    assert balancers.Get(ns.GetNetworkLoadBalancerRequest(network_load_balancer_id=balancer.id)) == balancer
    listed = balancers.List(ns.ListNetworkLoadBalancersRequest(folder_id=localcloud.folder_id,
                                                               filter='name="%s"' % name)).network_load_balancers
    assert list(listed) == [balancer]
    assert name in rpc_error(lambda: make_nlb(localcloud, sdk, name=name), CODE.ALREADY_EXISTS)

    states = balancers.GetTargetStates(ns.GetTargetStatesRequest(network_load_balancer_id=balancer.id,
                                                                 target_group_id=group.id)).target_states
    assert [(s.subnet_id, s.address) for s in states] == [(net['subnet'].id, '10.77.0.5')]
    assert states[0].status != TargetState.STATUS_UNSPECIFIED

    # The group is in use; deleting it is refused until it is detached.
    details = rpc_error(lambda: groups.Delete(ts.DeleteTargetGroupRequest(target_group_id=group.id)),
                        CODE.FAILED_PRECONDITION)
    assert balancer.id in details

    # Update with a mask: only the named fields; listener_specs replaced whole.
    new_port = listen_port()
    updated = run(sdk, balancers.Update(ns.UpdateNetworkLoadBalancerRequest(
        network_load_balancer_id=balancer.id, update_mask=FieldMask(paths=['listener_specs', 'description']),
        description='e', name='ignored', listener_specs=[listener(new_port, name='other')])), NLB).response
    assert (updated.name, updated.description, dict(updated.labels)) == (name, 'e', {'app': 'shs'})
    assert [(lsn.name, lsn.port, lsn.target_port) for lsn in updated.listeners] == [('other', new_port, new_port)]
    assert len(updated.attached_target_groups) == 1
    invalid(lambda: balancers.Update(ns.UpdateNetworkLoadBalancerRequest(
        network_load_balancer_id=balancer.id, update_mask=FieldMask(paths=['listener_specs.port']))), 'update_mask')

    # Stop / Start.
    run(sdk, balancers.Stop(ns.StopNetworkLoadBalancerRequest(network_load_balancer_id=balancer.id)))
    assert balancers.Get(ns.GetNetworkLoadBalancerRequest(network_load_balancer_id=balancer.id)).status == NLB.STOPPED
    stopped = balancers.GetTargetStates(ns.GetTargetStatesRequest(network_load_balancer_id=balancer.id,
                                                                  target_group_id=group.id)).target_states
    assert [s.status for s in stopped] == [TargetState.INACTIVE]  # health-check.md: attached to a stopped balancer
    run(sdk, balancers.Start(ns.StartNetworkLoadBalancerRequest(network_load_balancer_id=balancer.id)))
    assert balancers.Get(ns.GetNetworkLoadBalancerRequest(network_load_balancer_id=balancer.id)).status == NLB.ACTIVE

    # Detach, then the group's delete goes through; the balancer without targets is INACTIVE.
    detached = run(sdk, balancers.DetachTargetGroup(ns.DetachNetworkLoadBalancerTargetGroupRequest(
        network_load_balancer_id=balancer.id, target_group_id=group.id)), NLB).response
    assert list(detached.attached_target_groups) == [] and detached.status == NLB.INACTIVE
    invalid(lambda: balancers.GetTargetStates(ns.GetTargetStatesRequest(network_load_balancer_id=balancer.id,
                                                                        target_group_id=group.id)), 'target_group_id')
    invalid(lambda: balancers.DetachTargetGroup(ns.DetachNetworkLoadBalancerTargetGroupRequest(
        network_load_balancer_id=balancer.id, target_group_id=group.id)), 'target_group_id')
    attached = run(sdk, balancers.AttachTargetGroup(ns.AttachNetworkLoadBalancerTargetGroupRequest(
        network_load_balancer_id=balancer.id, attached_target_group=AttachedTargetGroup(
            target_group_id=group.id, health_checks=[check(tcp_options=HealthCheck.TcpOptions(port=80))]))),
        NLB).response
    assert attached.attached_target_groups[0].health_checks[0].tcp_options.port == 80
    rpc_error(lambda: balancers.AttachTargetGroup(ns.AttachNetworkLoadBalancerTargetGroupRequest(
        network_load_balancer_id=balancer.id, attached_target_group=AttachedTargetGroup(
            target_group_id=group.id, health_checks=[check()]))), CODE.ALREADY_EXISTS)
    run(sdk, balancers.DetachTargetGroup(ns.DetachNetworkLoadBalancerTargetGroupRequest(
        network_load_balancer_id=balancer.id, target_group_id=group.id)))
    run(sdk, groups.Delete(ts.DeleteTargetGroupRequest(target_group_id=group.id)))

    # Listeners one by one.
    third = listen_port()
    added = run(sdk, balancers.AddListener(ns.AddNetworkLoadBalancerListenerRequest(
        network_load_balancer_id=balancer.id, listener_spec=listener(third, name='third', target_port=8080))),
        NLB).response
    assert sorted((lsn.name, lsn.port) for lsn in added.listeners) == sorted([('other', new_port), ('third', third)])
    invalid(lambda: balancers.AddListener(ns.AddNetworkLoadBalancerListenerRequest(
        network_load_balancer_id=balancer.id, listener_spec=listener(listen_port(), name='third'))),
        'listener_spec.name')
    assert 'same port' in invalid(lambda: balancers.AddListener(ns.AddNetworkLoadBalancerListenerRequest(
        network_load_balancer_id=balancer.id, listener_spec=listener(third, name='fourth'))), 'listener_spec.port')
    removed = run(sdk, balancers.RemoveListener(ns.RemoveNetworkLoadBalancerListenerRequest(
        network_load_balancer_id=balancer.id, listener_name='other')), NLB).response
    assert [lsn.name for lsn in removed.listeners] == ['third']
    rpc_error(lambda: balancers.RemoveListener(ns.RemoveNetworkLoadBalancerListenerRequest(
        network_load_balancer_id=balancer.id, listener_name='other')), CODE.NOT_FOUND)
    ops = balancers.ListOperations(ns.ListNetworkLoadBalancerOperationsRequest(network_load_balancer_id=balancer.id))
    assert len(ops.operations) == 9

    delete_nlb(sdk, balancer.id)
    rpc_error(lambda: balancers.Get(ns.GetNetworkLoadBalancerRequest(network_load_balancer_id=balancer.id)),
              CODE.NOT_FOUND)


def test_deletion_protection(localcloud):
    sdk, _, balancers = stubs(localcloud)
    balancer = make_nlb(localcloud, sdk, deletion_protection=True).response
    details = rpc_error(lambda: balancers.Delete(ns.DeleteNetworkLoadBalancerRequest(
        network_load_balancer_id=balancer.id)), CODE.FAILED_PRECONDITION)
    assert 'deletion_protection' in details and balancer.id in details
    # Without listeners the balancer is INACTIVE (health-check.md#nlb-status).
    assert balancer.status == NLB.INACTIVE
    run(sdk, balancers.Update(ns.UpdateNetworkLoadBalancerRequest(
        network_load_balancer_id=balancer.id, update_mask=FieldMask(paths=['deletion_protection']),
        deletion_protection=False)))
    delete_nlb(sdk, balancer.id)


def test_internal_balancer(localcloud, net):
    """An internal listener takes its subnet; the subnet cannot go while the listener is in it (subnet-delete.md)."""
    sdk = localcloud.sdk()
    subnet = make_subnet(localcloud, sdk, net['network'].id, ['10.77.9.0/24'])
    port = listen_port()
    balancer = make_nlb(localcloud, sdk, type=NLB.INTERNAL, listener_specs=[listener(
        port, internal_address_spec=ns.InternalAddressSpec(subnet_id=subnet.id))]).response
    (lsn,) = balancer.listeners
    assert (balancer.type, lsn.subnet_id, lsn.address) == (NLB.INTERNAL, subnet.id, '127.0.0.1')
    subnets = sdk.client(SubnetServiceStub)
    details = rpc_error(lambda: subnets.Delete(ss.DeleteSubnetRequest(subnet_id=subnet.id)), CODE.FAILED_PRECONDITION)
    assert balancer.id in details
    delete_nlb(sdk, balancer.id)
    run(sdk, subnets.Delete(ss.DeleteSubnetRequest(subnet_id=subnet.id)))


def test_balancer_validation_names_the_field(localcloud, net):
    sdk, _, balancers = stubs(localcloud)
    group = make_group(localcloud, sdk, [Target(subnet_id=net['subnet'].id, address='10.77.0.8')])
    port = listen_port()
    listing = ns.ListNetworkLoadBalancersRequest(folder_id=localcloud.folder_id)
    before = len(balancers.List(listing).network_load_balancers)

    def create(**fields):
        fields.setdefault('type', NLB.EXTERNAL)
        return lambda: balancers.Create(ns.CreateNetworkLoadBalancerRequest(folder_id=localcloud.folder_id,
                                                                            name=unique('nlb'), **fields))

    def attach(**hc):
        return [AttachedTargetGroup(target_group_id=group.id, health_checks=[check(**hc)])]
    invalid(create(type=NLB.TYPE_UNSPECIFIED), 'type')
    invalid(create(region_id='nowhere'), 'region_id')
    invalid(create(listener_specs=[listener(0)]), 'listener_specs[0].port')
    invalid(create(listener_specs=[listener(40000)]), 'listener_specs[0].port')
    invalid(create(listener_specs=[listener(port, target_port=70000)]), 'listener_specs[0].target_port')
    invalid(create(listener_specs=[listener(port, protocol=Listener.PROTOCOL_UNSPECIFIED)]),
            'listener_specs[0].protocol')
    invalid(create(listener_specs=[listener(port, name='')]), 'listener_specs[0].name')
    invalid(create(listener_specs=[listener(port), listener(port, name='second')]), 'listener_specs[1].port')
    invalid(create(listener_specs=[listener(port, external_address_spec=ns.ExternalAddressSpec(ip_version=2))]),
            'listener_specs[0].external_address_spec.ip_version')
    why = invalid(create(listener_specs=[listener(port, external_address_spec=ns.ExternalAddressSpec(
        address='203.0.113.7'))]), 'listener_specs[0].external_address_spec.address')
    assert '127.0.0.0/8' in why
    invalid(create(listener_specs=[listener(port, external_address_spec=ns.ExternalAddressSpec(address='127.0.0.2')),
                                   listener(port + 1, name='second', external_address_spec=ns.ExternalAddressSpec(
                                       address='127.0.0.3'))]), 'listener_specs[1]')
    invalid(create(listener_specs=[listener(port, internal_address_spec=ns.InternalAddressSpec(
        subnet_id=net['subnet'].id))]), 'listener_specs[0].internal_address_spec')
    invalid(create(type=NLB.INTERNAL, listener_specs=[listener(port)]), 'listener_specs[0].internal_address_spec')
    rpc_error(create(type=NLB.INTERNAL, listener_specs=[listener(port, internal_address_spec=ns.InternalAddressSpec(
        subnet_id='e9bnosuchsubnet00000'))]), CODE.NOT_FOUND)

    field = 'attached_target_groups[0].health_checks[0]'
    invalid(create(attached_target_groups=attach(interval=Duration(seconds=61))), field + '.interval')
    invalid(create(attached_target_groups=attach(interval=Duration(seconds=2), timeout=Duration(seconds=2))),
            field + '.interval')
    invalid(create(attached_target_groups=attach(timeout=Duration(seconds=61), interval=Duration(seconds=60))),
            field + '.timeout')
    invalid(create(attached_target_groups=attach(healthy_threshold=11)), field + '.healthy_threshold')
    invalid(create(attached_target_groups=attach(unhealthy_threshold=1)), field + '.unhealthy_threshold')
    invalid(create(attached_target_groups=attach(http_options=HealthCheck.HttpOptions(port=40000))),
            field + '.http_options.port')
    invalid(create(attached_target_groups=attach(name='')), field + '.name')
    invalid(create(attached_target_groups=[AttachedTargetGroup(target_group_id=group.id)]),
            'attached_target_groups[0].health_checks')
    invalid(create(attached_target_groups=[AttachedTargetGroup(target_group_id=group.id, health_checks=[
        HealthCheck(name='nginx-status')])]), field)
    rpc_error(create(attached_target_groups=[AttachedTargetGroup(target_group_id='enpnosuchgroup000000',
                                                                 health_checks=[check()])]), CODE.NOT_FOUND)
    # Nothing was made by the refused calls.
    assert len(balancers.List(listing).network_load_balancers) == before
    run(sdk, sdk.client(TargetGroupServiceStub).Delete(ts.DeleteTargetGroupRequest(target_group_id=group.id)))


def test_listener_conflicts_on_this_machine(localcloud, net):
    sdk, _, balancers = stubs(localcloud)
    port = listen_port()
    first = make_nlb(localcloud, sdk, listener_specs=[listener(port)]).response
    try:
        # Another balancer on the same address, port and protocol: refused, naming the first.
        details = rpc_error(lambda: make_nlb(localcloud, sdk, listener_specs=[listener(port)]),
                            CODE.FAILED_PRECONDITION)
        assert first.id in details and details.startswith('listener_specs[0]: ')
        # Another loopback address, or UDP, is another listener.
        other = make_nlb(localcloud, sdk, listener_specs=[listener(port, external_address_spec=ns.ExternalAddressSpec(
            address='127.0.0.2'))]).response
        assert other.listeners[0].address == '127.0.0.2'
        delete_nlb(sdk, other.id)
        # A port another process of this machine holds.
        taken = listen_port()
        with socket.socket() as busy:
            busy.bind(('127.0.0.1', taken))
            busy.listen()
            details = rpc_error(lambda: balancers.AddListener(ns.AddNetworkLoadBalancerListenerRequest(
                network_load_balancer_id=first.id, listener_spec=listener(taken, name='busy'))),
                CODE.FAILED_PRECONDITION)
            assert details.startswith('listener_spec: ') and str(taken) in details
        # A target group on the same port of two balancers (target-resources.md).
        group = make_group(localcloud, sdk, [Target(subnet_id=net['subnet'].id, address='10.77.0.9')])
        run(sdk, balancers.AttachTargetGroup(ns.AttachNetworkLoadBalancerTargetGroupRequest(
            network_load_balancer_id=first.id, attached_target_group=AttachedTargetGroup(
                target_group_id=group.id, health_checks=[check()]))))
        second = make_nlb(localcloud, sdk, listener_specs=[listener(port, external_address_spec=ns.ExternalAddressSpec(
            address='127.0.0.3'))]).response
        details = rpc_error(lambda: balancers.AttachTargetGroup(ns.AttachNetworkLoadBalancerTargetGroupRequest(
            network_load_balancer_id=second.id, attached_target_group=AttachedTargetGroup(
                target_group_id=group.id, health_checks=[check()]))), CODE.FAILED_PRECONDITION)
        assert first.id in details and group.id in details
        delete_nlb(sdk, second.id)
        run(sdk, balancers.DetachTargetGroup(ns.DetachNetworkLoadBalancerTargetGroupRequest(
            network_load_balancer_id=first.id, target_group_id=group.id)))
        run(sdk, sdk.client(TargetGroupServiceStub).Delete(ts.DeleteTargetGroupRequest(target_group_id=group.id)))
    finally:
        delete_nlb(sdk, first.id)
