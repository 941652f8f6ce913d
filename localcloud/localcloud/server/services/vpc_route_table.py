"""vpc.v1 RouteTableService: static routes of a network (en/vpc/concepts/routing.md, static-routes.md).

A route table belongs to one network and is used by subnets of that network (SubnetService route_table_id);
it cannot be deleted while a subnet uses it (en/vpc/operations/delete-route-table.md: "Before deleting a
table, disassociate it from all subnets"), and its network cannot be deleted while it exists
(en/vpc/operations/network-delete.md: "delete all its child resources" first).
"""

import ipaddress

from yandex.cloud.vpc.v1 import (gateway_pb2, network_pb2, route_table_pb2, route_table_service_pb2,
                                 route_table_service_pb2_grpc, subnet_pb2)

from localcloud.server import ids, masks, registry, resources, validate
from localcloud.server.errors import invalid
from localcloud.server.services.vpc_gateway import operations_of

RouteTable = route_table_pb2.RouteTable
KIND = 'Route table'
# Route table ids look like the other VPC ids (`enpd3s8svtkd...` in en/vpc/operations/delete-route-table.md).
ID_PREFIX = 'enp'
DEFAULT_ROUTE = ipaddress.IPv4Network('0.0.0.0/0')
# routing.md, Limitations: "route tables cannot use link-local IP address prefixes, such as 169.254.0.0/16 and
# more specific ones, as they are reserved for VPC internal use".
LINK_LOCAL = ipaddress.IPv4Network('169.254.0.0/16')


def check_fields(request, paths):
    if 'name' in paths:
        validate.name('name', request.name)
    if 'description' in paths:
        validate.description('description', request.description)
    if 'labels' in paths:
        validate.labels('labels', request.labels)


def check_routes(cloud, routes):
    """The rules of routing.md#static and #restrictions; each error names static_routes[i].<field>."""
    seen = {}
    for i, route in enumerate(routes):
        field = 'static_routes[%d]' % i
        # "Each VPC route table entry must include: Destination prefix ... Next hop" (routing.md#static).
        validate.required(field + '.destination_prefix', route.destination_prefix)
        prefix = validate.cidr_v4(field + '.destination_prefix', route.destination_prefix)
        if prefix.subnet_of(LINK_LOCAL):
            raise invalid(field + '.destination_prefix', '%s is link-local (169.254.0.0/16 is reserved for VPC)'
                          % prefix)
        # "A VPC route table can only have one entry per destination prefix" (routing.md#restrictions).
        if prefix in seen:
            raise invalid(field + '.destination_prefix', 'duplicate destination prefix %s (also static_routes[%d])'
                          % (prefix, seen[prefix]))
        seen[prefix] = i
        hop = route.WhichOneof('next_hop')
        if hop == 'next_hop_address':
            # Any IPv4 address: "you can specify an internal IP address previously unused in this cloud network"
            # (routing.md#static); traffic is dropped until a VM has it.
            try:
                ipaddress.IPv4Address(route.next_hop_address)
            except ValueError:
                raise invalid(field + '.next_hop_address', '%r is not an IPv4 address' % route.next_hop_address)
        elif hop == 'gateway_id':
            # "specify the name of an already existing NAT gateway" and "you can specify only the 0.0.0.0/0
            # default route prefix" for a gateway next hop (routing.md#static, gateways.md).
            cloud.get(gateway_pb2.Gateway, route.gateway_id, 'Gateway')
            if prefix != DEFAULT_ROUTE:
                raise invalid(field + '.destination_prefix', 'a route through a gateway must have the destination '
                              'prefix 0.0.0.0/0, not %s' % prefix)
        else:
            raise invalid(field, 'a next hop is required: next_hop_address or gateway_id')
        validate.labels(field + '.labels', route.labels)


@registry.references(gateway_pb2.Gateway)
def _route_tables_using_gateway(cloud, gateway_id):
    tables = cloud.store.list(RouteTable, where=lambda t: any(r.gateway_id == gateway_id for r in t.static_routes))
    return ['route table %s' % t.id for t in tables]


@registry.references(network_pb2.Network)
def _route_tables_of_network(cloud, network_id):
    return ['route table %s' % t.id for t in cloud.store.list(RouteTable, where=lambda t: t.network_id == network_id)]


@registry.references(RouteTable)
def _subnets_using(cloud, route_table_id):
    subnets = cloud.store.list(subnet_pb2.Subnet, where=lambda s: s.route_table_id == route_table_id)
    return ['subnet %s' % s.id for s in subnets]


@registry.register
class RouteTableService(route_table_service_pb2_grpc.RouteTableServiceServicer):
    def __init__(self, cloud):
        self.cloud = cloud
        self.store = cloud.store

    def Get(self, request, context):
        return self.cloud.get(RouteTable, request.route_table_id, KIND)

    def List(self, request, context):
        return resources.list_page(self.cloud, RouteTable, request, route_table_service_pb2.ListRouteTablesResponse,
                                   'route_tables')

    def Create(self, request, context):
        self.cloud.require_folder(request.folder_id)
        check_fields(request, ('name', 'description', 'labels'))
        validate.required('network_id', request.network_id)
        network = self.cloud.get(network_pb2.Network, request.network_id, 'Network')
        check_routes(self.cloud, request.static_routes)
        resources.ensure_unique_name(self.cloud, RouteTable, request.folder_id, request.name, KIND)
        table = RouteTable(id=ids.new(ID_PREFIX), folder_id=request.folder_id, created_at=resources.now(),
                           name=request.name, description=request.description, labels=request.labels,
                           network_id=network.id, static_routes=request.static_routes)

        def work():
            self.cloud.get(network_pb2.Network, table.network_id, 'Network')
            check_routes(self.cloud, table.static_routes)  # a gateway deleted meanwhile
            resources.ensure_unique_name(self.cloud, RouteTable, table.folder_id, table.name, KIND)
            return self.store.put(table)
        return self.cloud.operations.start(route_table_service_pb2.CreateRouteTableMetadata(route_table_id=table.id),
                                           work, 'Create route table')

    def Update(self, request, context):
        table = self.cloud.get(RouteTable, request.route_table_id, KIND)
        paths = masks.update_paths(request, 'route_table_id')
        check_fields(request, paths)
        if 'static_routes' in paths:
            check_routes(self.cloud, request.static_routes)
        if 'name' in paths:
            resources.ensure_unique_name(self.cloud, RouteTable, table.folder_id, request.name, KIND, table.id)

        def work():
            current = self.cloud.get(RouteTable, table.id, KIND)
            if 'static_routes' in paths:
                check_routes(self.cloud, request.static_routes)
            if 'name' in paths:
                resources.ensure_unique_name(self.cloud, RouteTable, current.folder_id, request.name, KIND,
                                             current.id)
            masks.apply(request, current, paths)
            return self.store.put(current)
        return self.cloud.operations.start(route_table_service_pb2.UpdateRouteTableMetadata(route_table_id=table.id),
                                           work, 'Update route table')

    def Delete(self, request, context):
        table = self.cloud.get(RouteTable, request.route_table_id, KIND)
        what = 'Route table %s' % table.id
        registry.ensure_unused(self.cloud, RouteTable, table.id, what)

        def work():
            self.cloud.get(RouteTable, table.id, KIND)
            registry.ensure_unused(self.cloud, RouteTable, table.id, what)
            self.store.delete(RouteTable, table.id)
        return self.cloud.operations.start(route_table_service_pb2.DeleteRouteTableMetadata(route_table_id=table.id),
                                           work, 'Delete route table')

    def ListOperations(self, request, context):
        table = self.cloud.get(RouteTable, request.route_table_id, KIND)
        return operations_of(self.cloud, (route_table_service_pb2.CreateRouteTableMetadata,
                                          route_table_service_pb2.UpdateRouteTableMetadata,
                                          route_table_service_pb2.DeleteRouteTableMetadata), 'route_table_id',
                             table.id, request, route_table_service_pb2.ListRouteTableOperationsResponse)
