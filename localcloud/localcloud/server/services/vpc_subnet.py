"""vpc.v1 SubnetService: zone, network and CIDR checks; CIDRs may not overlap within a network."""

from yandex.cloud.vpc.v1 import network_pb2, route_table_pb2, subnet_pb2, subnet_service_pb2, subnet_service_pb2_grpc

from localcloud.server import ids, masks, registry, resources, validate
from localcloud.server.errors import invalid

Subnet = subnet_pb2.Subnet
KIND = 'Subnet'


def check_fields(request, paths):
    if 'name' in paths:
        validate.name('name', request.name)
    if 'description' in paths:
        validate.description('description', request.description)
    if 'labels' in paths:
        validate.labels('labels', request.labels)


def check_route_table(cloud, route_table_id, network_id):
    """A route table of the subnet's own network: "can be applied to any subnet on the same network. You cannot
    apply a route table to subnets belonging to a different cloud network" (en/vpc/concepts/routing.md#rt-vpc).
    An empty id detaches the table (en/vpc/operations/delete-route-table.md: "provide an empty string")."""
    if not route_table_id:
        return
    table = cloud.get(route_table_pb2.RouteTable, route_table_id, 'Route table')
    if table.network_id != network_id:
        raise invalid('route_table_id', 'route table %s belongs to network %s, not to the subnet\'s network %s'
                      % (table.id, table.network_id, network_id))


def check_cidrs(cloud, network_id, blocks, exclude_id=None):
    """Each block a private /16../28, none overlapping another block of the request or of the network."""
    if not blocks:
        raise invalid('v4_cidr_blocks', 'at least one IPv4 CIDR block is required')
    networks = [validate.subnet_cidr('v4_cidr_blocks[%d]' % i, block) for i, block in enumerate(blocks)]
    for i, net in enumerate(networks):
        for other in networks[:i]:
            if net.overlaps(other):
                raise invalid('v4_cidr_blocks', '%s overlaps %s' % (net, other))
    for subnet in cloud.store.list(Subnet, where=lambda s: s.network_id == network_id and s.id != exclude_id):
        for block in subnet.v4_cidr_blocks:
            for net in networks:
                if net.overlaps(validate.cidr_v4('v4_cidr_blocks', block)):
                    raise invalid('v4_cidr_blocks', '%s overlaps %s of subnet %s (%s) in network %s'
                                  % (net, block, subnet.id, subnet.name, network_id))


@registry.register
class SubnetService(subnet_service_pb2_grpc.SubnetServiceServicer):
    def __init__(self, cloud):
        self.cloud = cloud
        self.store = cloud.store

    def Get(self, request, context):
        return self.cloud.get(Subnet, request.subnet_id, KIND)

    def List(self, request, context):
        return resources.list_page(self.cloud, Subnet, request, subnet_service_pb2.ListSubnetsResponse, 'subnets')

    def Create(self, request, context):
        self.cloud.require_folder(request.folder_id)
        check_fields(request, ('name', 'description', 'labels'))
        validate.required('network_id', request.network_id)
        network = self.cloud.get(network_pb2.Network, request.network_id, 'Network')
        validate.zone('zone_id', request.zone_id)
        check_cidrs(self.cloud, network.id, list(request.v4_cidr_blocks))
        check_route_table(self.cloud, request.route_table_id, network.id)
        resources.ensure_unique_name(self.cloud, Subnet, request.folder_id, request.name, KIND)
        subnet = Subnet(id=ids.new(ids.SUBNET_BY_ZONE[request.zone_id]), folder_id=request.folder_id,
                        created_at=resources.now(), name=request.name, description=request.description,
                        labels=request.labels, network_id=network.id, zone_id=request.zone_id,
                        v4_cidr_blocks=request.v4_cidr_blocks, route_table_id=request.route_table_id)
        if request.HasField('dhcp_options'):
            subnet.dhcp_options.CopyFrom(request.dhcp_options)

        def work():
            self.cloud.get(network_pb2.Network, subnet.network_id, 'Network')
            check_cidrs(self.cloud, subnet.network_id, list(subnet.v4_cidr_blocks))
            check_route_table(self.cloud, subnet.route_table_id, subnet.network_id)
            resources.ensure_unique_name(self.cloud, Subnet, subnet.folder_id, subnet.name, KIND)
            return self.store.put(subnet)
        return self.cloud.operations.start(subnet_service_pb2.CreateSubnetMetadata(subnet_id=subnet.id), work,
                                           'Create subnet')

    def Update(self, request, context):
        subnet = self.cloud.get(Subnet, request.subnet_id, KIND)
        paths = masks.update_paths(request, 'subnet_id')
        check_fields(request, paths)
        if 'v4_cidr_blocks' in paths:
            check_cidrs(self.cloud, subnet.network_id, list(request.v4_cidr_blocks), subnet.id)
        if 'route_table_id' in paths:
            check_route_table(self.cloud, request.route_table_id, subnet.network_id)
        if 'name' in paths:
            resources.ensure_unique_name(self.cloud, Subnet, subnet.folder_id, request.name, KIND, subnet.id)

        def work():
            current = self.cloud.get(Subnet, subnet.id, KIND)
            if 'v4_cidr_blocks' in paths:
                check_cidrs(self.cloud, current.network_id, list(request.v4_cidr_blocks), current.id)
            if 'route_table_id' in paths:
                check_route_table(self.cloud, request.route_table_id, current.network_id)
            if 'name' in paths:
                resources.ensure_unique_name(self.cloud, Subnet, current.folder_id, request.name, KIND, current.id)
            masks.apply(request, current, paths)
            return self.store.put(current)
        return self.cloud.operations.start(subnet_service_pb2.UpdateSubnetMetadata(subnet_id=subnet.id), work,
                                           'Update subnet')

    def Delete(self, request, context):
        subnet = self.cloud.get(Subnet, request.subnet_id, KIND)
        what = 'Subnet %s' % subnet.id
        registry.ensure_unused(self.cloud, Subnet, subnet.id, what)

        def work():
            self.cloud.get(Subnet, subnet.id, KIND)
            registry.ensure_unused(self.cloud, Subnet, subnet.id, what)
            self.store.delete(Subnet, subnet.id)
        return self.cloud.operations.start(subnet_service_pb2.DeleteSubnetMetadata(subnet_id=subnet.id), work,
                                           'Delete subnet')
