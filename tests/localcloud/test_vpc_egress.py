"""localcloud VPC egress: NAT gateways, route tables, a subnet's route_table_id and has_internet_egress()
(en/vpc/concepts/gateways.md, routing.md, static-routes.md), through the real SDK."""

import os
import types

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from yandex.cloud.vpc.v1 import gateway_service_pb2 as gs
from yandex.cloud.vpc.v1 import route_table_service_pb2 as rs
from yandex.cloud.vpc.v1 import subnet_service_pb2 as ss
from yandex.cloud.vpc.v1 import network_service_pb2 as ns
from yandex.cloud.vpc.v1.gateway_pb2 import Gateway
from yandex.cloud.vpc.v1.gateway_service_pb2_grpc import GatewayServiceStub
from yandex.cloud.vpc.v1.network_service_pb2_grpc import NetworkServiceStub
from yandex.cloud.vpc.v1.route_table_pb2 import RouteTable, StaticRoute
from yandex.cloud.vpc.v1.route_table_service_pb2_grpc import RouteTableServiceStub
from yandex.cloud.vpc.v1.subnet_pb2 import Subnet
from yandex.cloud.vpc.v1.subnet_service_pb2_grpc import SubnetServiceStub

from helpers import rpc_error, run, unique
from test_vpc import make_network, make_subnet

CODE = grpc.StatusCode


def make_gateway(localcloud, sdk, **fields):
    fields.setdefault('name', unique('gw'))
    op = sdk.client(GatewayServiceStub).Create(gs.CreateGatewayRequest(
        folder_id=localcloud.folder_id, shared_egress_gateway_spec=gs.SharedEgressGatewaySpec(), **fields))
    return run(sdk, op, Gateway, gs.CreateGatewayMetadata).response


def make_table(localcloud, sdk, network_id, routes=(), **fields):
    fields.setdefault('name', unique('rt'))
    op = sdk.client(RouteTableServiceStub).Create(rs.CreateRouteTableRequest(
        folder_id=localcloud.folder_id, network_id=network_id, static_routes=list(routes), **fields))
    return run(sdk, op, RouteTable, rs.CreateRouteTableMetadata).response


def nat_route(gateway_id, prefix='0.0.0.0/0'):
    return StaticRoute(destination_prefix=prefix, gateway_id=gateway_id)


def delete(sdk, stub, request):
    run(sdk, sdk.client(stub).Delete(request))


def test_gateway_lifecycle(localcloud):
    sdk = localcloud.sdk()
    stub = sdk.client(GatewayServiceStub)
    name = unique('gw')
    gateway = make_gateway(localcloud, sdk, name=name, description='egress', labels={'app.tier': 'db'})
    assert gateway.id.startswith('enp') and len(gateway.id) == 20 and gateway.created_at.seconds > 0
    assert (gateway.name, gateway.description, dict(gateway.labels)) == (name, 'egress', {'app.tier': 'db'})
    assert gateway.HasField('shared_egress_gateway') and gateway.folder_id == localcloud.folder_id
    assert stub.Get(gs.GetGatewayRequest(gateway_id=gateway.id)) == gateway
    listed = stub.List(gs.ListGatewaysRequest(folder_id=localcloud.folder_id, filter='name="%s"' % name)).gateways
    assert list(listed) == [gateway]
    assert name in rpc_error(lambda: stub.Create(gs.CreateGatewayRequest(folder_id=localcloud.folder_id, name=name)),
                             CODE.ALREADY_EXISTS)

    # The mask changes exactly its fields; the gateway keeps its type.
    op = stub.Update(gs.UpdateGatewayRequest(gateway_id=gateway.id, update_mask=FieldMask(paths=['labels']),
                                             labels={'env': 'prod'}, description='ignored'))
    updated = run(sdk, op, Gateway, gs.UpdateGatewayMetadata).response
    assert dict(updated.labels) == {'env': 'prod'} and updated.description == 'egress'
    assert updated.HasField('shared_egress_gateway')

    operations = stub.ListOperations(gs.ListGatewayOperationsRequest(gateway_id=gateway.id)).operations
    assert [o.description for o in operations] == ['Create gateway', 'Update gateway']
    assert all(o.done for o in operations)

    delete(sdk, GatewayServiceStub, gs.DeleteGatewayRequest(gateway_id=gateway.id))
    assert rpc_error(lambda: stub.Get(gs.GetGatewayRequest(gateway_id=gateway.id)),
                     CODE.NOT_FOUND) == 'Gateway %s not found' % gateway.id
    rpc_error(lambda: stub.Delete(gs.DeleteGatewayRequest(gateway_id=gateway.id)), CODE.NOT_FOUND)


def test_gateway_bad_requests(localcloud):
    stub = localcloud.sdk().client(GatewayServiceStub)
    # gateway_service.proto: names are lower-case only (unlike networks); labels as security groups'.
    for bad, field in (({'name': 'Gateway'}, 'name'), ({'name': 'gw_1'}, 'name'), ({'description': 'd' * 257},
                       'description'), ({'labels': {'Key': 'v'}}, 'labels'), ({'labels': {'k': 'V'}}, 'labels')):
        details = rpc_error(lambda: stub.Create(gs.CreateGatewayRequest(folder_id=localcloud.folder_id, **bad)),
                            CODE.INVALID_ARGUMENT)
        assert details.startswith('Request validation error: %s: ' % field), details
    rpc_error(lambda: stub.Create(gs.CreateGatewayRequest(folder_id='b1gnosuchfolder00000', name='x')),
              CODE.PERMISSION_DENIED)
    rpc_error(lambda: stub.Update(gs.UpdateGatewayRequest(gateway_id='enpnosuchgateway0000', name='x')),
              CODE.NOT_FOUND)


def test_route_table_lifecycle(localcloud):
    sdk = localcloud.sdk()
    stub = sdk.client(RouteTableServiceStub)
    network = make_network(localcloud, sdk)
    gateway = make_gateway(localcloud, sdk)
    name = unique('rt')
    routes = [nat_route(gateway.id), StaticRoute(destination_prefix='192.168.0.0/16', next_hop_address='10.1.0.5')]
    table = make_table(localcloud, sdk, network.id, routes, name=name, labels={'env': 'test'})
    assert table.id.startswith('enp') and table.network_id == network.id and list(table.static_routes) == routes
    assert stub.Get(rs.GetRouteTableRequest(route_table_id=table.id)) == table
    listed = stub.List(rs.ListRouteTablesRequest(folder_id=localcloud.folder_id, filter='name="%s"' % name))
    assert list(listed.route_tables) == [table]
    rpc_error(lambda: stub.Create(rs.CreateRouteTableRequest(folder_id=localcloud.folder_id, name=name,
                                                             network_id=network.id)), CODE.ALREADY_EXISTS)

    # static_routes is replaced whole; the rest stays (mask).
    op = stub.Update(rs.UpdateRouteTableRequest(route_table_id=table.id, update_mask=FieldMask(paths=['static_routes']),
                                                static_routes=routes[1:], name='ignored'))
    updated = run(sdk, op, RouteTable, rs.UpdateRouteTableMetadata).response
    assert list(updated.static_routes) == routes[1:] and updated.name == name
    assert dict(updated.labels) == {'env': 'test'}
    # An empty mask applies every field: the routes are cleared (how delete-nat-gateway.md disassociates).
    op = stub.Update(rs.UpdateRouteTableRequest(route_table_id=table.id, name=name))
    cleared = run(sdk, op, RouteTable).response
    assert list(cleared.static_routes) == [] and dict(cleared.labels) == {}
    operations = stub.ListOperations(rs.ListRouteTableOperationsRequest(route_table_id=table.id)).operations
    assert len(operations) == 3

    delete(sdk, RouteTableServiceStub, rs.DeleteRouteTableRequest(route_table_id=table.id))
    assert rpc_error(lambda: stub.Get(rs.GetRouteTableRequest(route_table_id=table.id)),
                     CODE.NOT_FOUND) == 'Route table %s not found' % table.id
    delete(sdk, GatewayServiceStub, gs.DeleteGatewayRequest(gateway_id=gateway.id))
    delete(sdk, NetworkServiceStub, ns.DeleteNetworkRequest(network_id=network.id))


def test_route_table_validation_names_the_field(localcloud):
    sdk = localcloud.sdk()
    stub = sdk.client(RouteTableServiceStub)
    network = make_network(localcloud, sdk)
    gateway = make_gateway(localcloud, sdk)
    hop = dict(next_hop_address='10.0.0.5')
    cases = [
        ([StaticRoute(destination_prefix='10.20.0.0/33', **hop)], 'static_routes[0].destination_prefix'),
        ([StaticRoute(destination_prefix='10.20.0.1/24', **hop)], 'static_routes[0].destination_prefix'),
        ([StaticRoute(next_hop_address='10.0.0.5')], 'static_routes[0].destination_prefix'),
        ([StaticRoute(destination_prefix='169.254.1.0/24', **hop)], 'static_routes[0].destination_prefix'),
        # gateways.md: "you can only use a route with the 0.0.0.0/0 destination prefix with a NAT gateway"
        ([StaticRoute(destination_prefix='10.30.0.0/16', gateway_id=gateway.id)],
         'static_routes[0].destination_prefix'),
        # routing.md: one entry per destination prefix
        ([StaticRoute(destination_prefix='10.30.0.0/16', **hop),
          StaticRoute(destination_prefix='10.30.0.0/16', next_hop_address='10.0.0.6')],
         'static_routes[1].destination_prefix'),
        ([StaticRoute(destination_prefix='10.30.0.0/16')], 'static_routes[0]'),
        ([StaticRoute(destination_prefix='10.30.0.0/16', next_hop_address='10.0.0.300')],
         'static_routes[0].next_hop_address'),
        ([StaticRoute(destination_prefix='10.30.0.0/16', labels={'Bad': 'x'}, **hop)], 'static_routes[0].labels'),
    ]
    for routes, field in cases:
        details = rpc_error(lambda: stub.Create(rs.CreateRouteTableRequest(
            folder_id=localcloud.folder_id, network_id=network.id, static_routes=routes)), CODE.INVALID_ARGUMENT)
        assert details.startswith('Request validation error: %s: ' % field), (routes, details)
    for bad, field in (({'name': '1rt'}, 'name'), ({'labels': {'k': 'a.b'}}, 'labels'), ({}, 'network_id')):
        details = rpc_error(lambda: stub.Create(rs.CreateRouteTableRequest(folder_id=localcloud.folder_id, **dict(
            dict(network_id=network.id) if field != 'network_id' else {}, **bad))), CODE.INVALID_ARGUMENT)
        assert details.startswith('Request validation error: %s: ' % field), details
    # The next hop gateway and the network must exist.
    assert rpc_error(lambda: stub.Create(rs.CreateRouteTableRequest(
        folder_id=localcloud.folder_id, network_id=network.id, static_routes=[nat_route('enpnosuchgateway0000')])),
        CODE.NOT_FOUND) == 'Gateway enpnosuchgateway0000 not found'
    rpc_error(lambda: stub.Create(rs.CreateRouteTableRequest(folder_id=localcloud.folder_id,
                                                             network_id='enpnosuchnetwork0000')), CODE.NOT_FOUND)
    # Update validates the routes too, and changes nothing when they are bad.
    table = make_table(localcloud, sdk, network.id, [nat_route(gateway.id)])
    rpc_error(lambda: stub.Update(rs.UpdateRouteTableRequest(
        route_table_id=table.id, update_mask=FieldMask(paths=['static_routes']),
        static_routes=[nat_route(gateway.id, '10.0.0.0/8')])), CODE.INVALID_ARGUMENT)
    assert stub.Get(rs.GetRouteTableRequest(route_table_id=table.id)) == table
    delete(sdk, RouteTableServiceStub, rs.DeleteRouteTableRequest(route_table_id=table.id))
    delete(sdk, GatewayServiceStub, gs.DeleteGatewayRequest(gateway_id=gateway.id))
    delete(sdk, NetworkServiceStub, ns.DeleteNetworkRequest(network_id=network.id))


def test_references_block_deletes(localcloud):
    """A gateway used by a route table, a route table used by a subnet, a network with a route table."""
    sdk = localcloud.sdk()
    network = make_network(localcloud, sdk)
    gateway = make_gateway(localcloud, sdk)
    table = make_table(localcloud, sdk, network.id, [nat_route(gateway.id)])
    subnet = make_subnet(localcloud, sdk, network.id, ['10.91.0.0/24'], route_table_id=table.id)
    assert subnet.route_table_id == table.id

    gateways, tables = sdk.client(GatewayServiceStub), sdk.client(RouteTableServiceStub)
    assert rpc_error(lambda: gateways.Delete(gs.DeleteGatewayRequest(gateway_id=gateway.id)),
                     CODE.FAILED_PRECONDITION) == 'Gateway %s is in use by route table %s' % (gateway.id, table.id)
    assert rpc_error(lambda: tables.Delete(rs.DeleteRouteTableRequest(route_table_id=table.id)),
                     CODE.FAILED_PRECONDITION) == 'Route table %s is in use by subnet %s' % (table.id, subnet.id)
    details = rpc_error(lambda: sdk.client(NetworkServiceStub).Delete(ns.DeleteNetworkRequest(network_id=network.id)),
                        CODE.FAILED_PRECONDITION)
    assert 'route table %s' % table.id in details

    # Undo in the order the docs give: detach, then delete.
    delete(sdk, SubnetServiceStub, ss.DeleteSubnetRequest(subnet_id=subnet.id))
    delete(sdk, RouteTableServiceStub, rs.DeleteRouteTableRequest(route_table_id=table.id))
    delete(sdk, GatewayServiceStub, gs.DeleteGatewayRequest(gateway_id=gateway.id))
    delete(sdk, NetworkServiceStub, ns.DeleteNetworkRequest(network_id=network.id))


def test_subnet_route_table_id(localcloud):
    sdk = localcloud.sdk()
    stub = sdk.client(SubnetServiceStub)
    network, other = make_network(localcloud, sdk), make_network(localcloud, sdk)
    table = make_table(localcloud, sdk, network.id)
    foreign = make_table(localcloud, sdk, other.id)
    subnet = make_subnet(localcloud, sdk, network.id, ['10.92.0.0/24'])
    assert subnet.route_table_id == ''

    def update(route_table_id):
        return stub.Update(ss.UpdateSubnetRequest(subnet_id=subnet.id, update_mask=FieldMask(paths=['route_table_id']),
                                                  route_table_id=route_table_id))
    attached = run(sdk, update(table.id), Subnet).response
    assert attached.route_table_id == table.id and list(attached.v4_cidr_blocks) == ['10.92.0.0/24']
    # routing.md: "You cannot apply a route table to subnets belonging to a different cloud network."
    details = rpc_error(lambda: update(foreign.id), CODE.INVALID_ARGUMENT)
    assert details.startswith('Request validation error: route_table_id: ') and other.id in details
    assert rpc_error(lambda: update('enpnosuchtable000000'), CODE.NOT_FOUND) == \
        'Route table enpnosuchtable000000 not found'
    assert stub.Get(ss.GetSubnetRequest(subnet_id=subnet.id)).route_table_id == table.id
    # delete-route-table.md: an empty route_table_id detaches the table.
    assert run(sdk, update(''), Subnet).response.route_table_id == ''
    rpc_error(lambda: make_subnet(localcloud, sdk, network.id, ['10.93.0.0/24'], route_table_id=foreign.id),
              CODE.INVALID_ARGUMENT)

    delete(sdk, SubnetServiceStub, ss.DeleteSubnetRequest(subnet_id=subnet.id))
    for t in (table, foreign):
        delete(sdk, RouteTableServiceStub, rs.DeleteRouteTableRequest(route_table_id=t.id))
    for n in (network, other):
        delete(sdk, NetworkServiceStub, ns.DeleteNetworkRequest(network_id=n.id))


@pytest.fixture
def egress(localcloud):
    """has_internet_egress over the running server's store (it reads only `cloud.store`)."""
    from localcloud.server.egress import has_internet_egress
    from localcloud.server.store import Store
    store = Store(os.path.join(localcloud.state_dir, 'state.sqlite'))
    try:
        yield lambda subnet_id, public_ip: has_internet_egress(types.SimpleNamespace(store=store), subnet_id,
                                                               public_ip)
    finally:
        store.close()


def test_has_internet_egress(localcloud, egress):
    sdk = localcloud.sdk()
    network = make_network(localcloud, sdk)
    gateway = make_gateway(localcloud, sdk)
    via_gateway = make_table(localcloud, sdk, network.id, [nat_route(gateway.id)])
    via_instance = make_table(localcloud, sdk, network.id, [StaticRoute(destination_prefix='0.0.0.0/0',
                                                                         next_hop_address='10.94.0.10')])
    other_routes = make_table(localcloud, sdk, network.id, [StaticRoute(destination_prefix='172.16.0.0/12',
                                                                         next_hop_address='10.94.0.10')])
    bare = make_subnet(localcloud, sdk, network.id, ['10.94.0.0/24'])
    natted = make_subnet(localcloud, sdk, network.id, ['10.95.0.0/24'], route_table_id=via_gateway.id)
    instance = make_subnet(localcloud, sdk, network.id, ['10.96.0.0/24'], route_table_id=via_instance.id)
    other = make_subnet(localcloud, sdk, network.id, ['10.97.0.0/24'], route_table_id=other_routes.id)

    ok, reason = egress(bare.id, False)
    assert not ok and 'no route table' in reason
    assert egress(bare.id, True) == (True, 'the instance has a public (one-to-one NAT) address')
    ok, reason = egress(natted.id, False)
    assert ok and gateway.id in reason
    assert egress(natted.id, True)[0]  # the public address is used, still egress (gateways.md)
    # routing.md#priority: a 0.0.0.0/0 route to an address wins over the public address; NAT instances not modelled
    for public in (False, True):
        ok, reason = egress(instance.id, public)
        assert not ok and '10.94.0.10' in reason and 'NAT instance' in reason
    ok, reason = egress(other.id, False)
    assert not ok and other_routes.id in reason
    assert egress(other.id, True)[0]
    assert egress('e9bnosuchsubnet00000', True) == (False, 'subnet e9bnosuchsubnet00000 not found')

    # Detaching the table takes the egress away at once.
    run(sdk, sdk.client(SubnetServiceStub).Update(ss.UpdateSubnetRequest(
        subnet_id=natted.id, update_mask=FieldMask(paths=['route_table_id']))))
    assert not egress(natted.id, False)[0]

    for s in (bare, natted, instance, other):
        delete(sdk, SubnetServiceStub, ss.DeleteSubnetRequest(subnet_id=s.id))
    for t in (via_gateway, via_instance, other_routes):
        delete(sdk, RouteTableServiceStub, rs.DeleteRouteTableRequest(route_table_id=t.id))
    delete(sdk, GatewayServiceStub, gs.DeleteGatewayRequest(gateway_id=gateway.id))
    delete(sdk, NetworkServiceStub, ns.DeleteNetworkRequest(network_id=network.id))
