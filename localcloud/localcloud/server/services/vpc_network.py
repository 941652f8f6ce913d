"""vpc.v1 NetworkService."""

from yandex.cloud.vpc.v1 import (network_pb2, network_service_pb2, network_service_pb2_grpc, security_group_pb2,
                                 subnet_pb2)

from localcloud.server import ids, masks, registry, resources, validate

Network = network_pb2.Network
KIND = 'Network'


def check_fields(request, paths):
    if 'name' in paths:
        validate.name('name', request.name)
    if 'description' in paths:
        validate.description('description', request.description)
    if 'labels' in paths:
        validate.labels('labels', request.labels)


@registry.references(Network)
def _subnets_and_security_groups(cloud, network_id):
    subnets = cloud.store.list(subnet_pb2.Subnet, where=lambda s: s.network_id == network_id)
    groups = cloud.store.list(security_group_pb2.SecurityGroup, where=lambda g: g.network_id == network_id)
    return ['subnet %s' % s.id for s in subnets] + ['security group %s' % g.id for g in groups]


@registry.register
class NetworkService(network_service_pb2_grpc.NetworkServiceServicer):
    def __init__(self, cloud):
        self.cloud = cloud
        self.store = cloud.store

    def Get(self, request, context):
        return self.cloud.get(Network, request.network_id, KIND)

    def List(self, request, context):
        return resources.list_page(self.cloud, Network, request, network_service_pb2.ListNetworksResponse, 'networks')

    def Create(self, request, context):
        self.cloud.require_folder(request.folder_id)
        check_fields(request, ('name', 'description', 'labels'))
        resources.ensure_unique_name(self.cloud, Network, request.folder_id, request.name, KIND)
        network = Network(id=ids.new(ids.NETWORK), folder_id=request.folder_id, created_at=resources.now(),
                          name=request.name, description=request.description, labels=request.labels)

        def work():
            resources.ensure_unique_name(self.cloud, Network, network.folder_id, network.name, KIND)
            return self.store.put(network)
        return self.cloud.operations.start(network_service_pb2.CreateNetworkMetadata(network_id=network.id), work,
                                           'Create network')

    def Update(self, request, context):
        network = self.cloud.get(Network, request.network_id, KIND)
        paths = masks.update_paths(request, 'network_id')
        check_fields(request, paths)
        if 'name' in paths:
            resources.ensure_unique_name(self.cloud, Network, network.folder_id, request.name, KIND, network.id)

        def work():
            current = self.cloud.get(Network, network.id, KIND)
            if 'name' in paths:
                resources.ensure_unique_name(self.cloud, Network, current.folder_id, request.name, KIND, current.id)
            masks.apply(request, current, paths)
            return self.store.put(current)
        return self.cloud.operations.start(network_service_pb2.UpdateNetworkMetadata(network_id=network.id), work,
                                           'Update network')

    def Delete(self, request, context):
        network = self.cloud.get(Network, request.network_id, KIND)
        what = 'Network %s' % network.id
        registry.ensure_unused(self.cloud, Network, network.id, what)

        def work():
            self.cloud.get(Network, network.id, KIND)
            registry.ensure_unused(self.cloud, Network, network.id, what)
            self.store.delete(Network, network.id)
        return self.cloud.operations.start(network_service_pb2.DeleteNetworkMetadata(network_id=network.id), work,
                                           'Delete network')

    def ListSubnets(self, request, context):
        network = self.cloud.get(Network, request.network_id, KIND)
        subnets = self.store.list(subnet_pb2.Subnet, where=lambda s: s.network_id == network.id)
        items, token = validate.page(subnets, request.page_size, request.page_token)
        return network_service_pb2.ListNetworkSubnetsResponse(subnets=items, next_page_token=token)

    def ListSecurityGroups(self, request, context):
        network = self.cloud.get(Network, request.network_id, KIND)
        groups = self.store.list(security_group_pb2.SecurityGroup, where=lambda g: g.network_id == network.id)
        items, token = validate.page(groups, request.page_size, request.page_token)
        return network_service_pb2.ListNetworkSecurityGroupsResponse(security_groups=items, next_page_token=token)
