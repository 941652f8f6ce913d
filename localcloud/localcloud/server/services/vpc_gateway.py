"""vpc.v1 GatewayService: NAT gateways (type shared egress), as en/vpc/concepts/gateways.md describes them.

A gateway belongs to a folder, not to a network; route tables use it as a next hop (`gateway_id`, only with
the 0.0.0.0/0 prefix: see vpc_route_table.py). It cannot be deleted while a route table uses it
(en/vpc/operations/delete-nat-gateway.md: "Before deleting your NAT gateway, disassociate it from all route
tables that use it").
"""

import re

from yandex.cloud.operation import operation_pb2
from yandex.cloud.vpc.v1 import gateway_pb2, gateway_service_pb2, gateway_service_pb2_grpc

from localcloud.server import ids, masks, registry, resources, validate

Gateway = gateway_pb2.Gateway
KIND = 'Gateway'
# Gateway ids look like the other VPC ids (`enpkq1v2e7p0...` in en/vpc/operations/create-nat-gateway.md).
ID_PREFIX = 'enp'
# Patterns from gateway_service.proto: names are lower-case (unlike networks), labels allow `./\@`.
NAME = re.compile(r'|[a-z]([-a-z0-9]{0,61}[a-z0-9])?')
SPEC = 'shared_egress_gateway_spec'


def check_fields(request, paths):
    if 'name' in paths:
        validate.name('name', request.name, NAME)
    if 'description' in paths:
        validate.description('description', request.description)
    if 'labels' in paths:
        validate.labels('labels', request.labels, validate.SG_LABEL_KEY, validate.SG_LABEL_VALUE)


def operations_of(cloud, metadata_types, field, resource_id, request, response_cls):
    """ListOperations: the operations whose metadata (one of metadata_types) names the resource, oldest first."""
    names = {cls.DESCRIPTOR.full_name: cls for cls in metadata_types}

    def about(op):
        cls = names.get(op.metadata.TypeName())
        if cls is None:
            return False
        meta = cls()
        op.metadata.Unpack(meta)
        return getattr(meta, field) == resource_id
    found = cloud.store.list(operation_pb2.Operation, where=about)
    items, token = validate.page(found, request.page_size, request.page_token)
    return response_cls(operations=items, next_page_token=token)


@registry.register
class GatewayService(gateway_service_pb2_grpc.GatewayServiceServicer):
    def __init__(self, cloud):
        self.cloud = cloud
        self.store = cloud.store

    def Get(self, request, context):
        return self.cloud.get(Gateway, request.gateway_id, KIND)

    def List(self, request, context):
        return resources.list_page(self.cloud, Gateway, request, gateway_service_pb2.ListGatewaysResponse,
                                   'gateways')

    def Create(self, request, context):
        self.cloud.require_folder(request.folder_id)
        check_fields(request, ('name', 'description', 'labels'))
        resources.ensure_unique_name(self.cloud, Gateway, request.folder_id, request.name, KIND)
        gateway = Gateway(id=ids.new(ID_PREFIX), folder_id=request.folder_id, created_at=resources.now(),
                          name=request.name, description=request.description, labels=request.labels)
        # Shared egress is the only type (gateway.proto's oneof has one member). A request without the spec gets
        # it too: the console's "default gateway type is Egress NAT" (create-nat-gateway.md); that the API does
        # the same is a guess (Terraform and `yc` always send the spec).
        gateway.shared_egress_gateway.SetInParent()

        def work():
            resources.ensure_unique_name(self.cloud, Gateway, gateway.folder_id, gateway.name, KIND)
            return self.store.put(gateway)
        return self.cloud.operations.start(gateway_service_pb2.CreateGatewayMetadata(gateway_id=gateway.id), work,
                                           'Create gateway')

    def Update(self, request, context):
        gateway = self.cloud.get(Gateway, request.gateway_id, KIND)
        paths = masks.update_paths(request, 'gateway_id')
        check_fields(request, paths)
        if 'name' in paths:
            resources.ensure_unique_name(self.cloud, Gateway, gateway.folder_id, request.name, KIND, gateway.id)

        def work():
            current = self.cloud.get(Gateway, gateway.id, KIND)
            if 'name' in paths:
                resources.ensure_unique_name(self.cloud, Gateway, current.folder_id, request.name, KIND, current.id)
            # The spec names the type; there is one type, so it changes nothing (a gateway always keeps one).
            masks.apply(request, current, paths, skip=(SPEC,))
            return self.store.put(current)
        return self.cloud.operations.start(gateway_service_pb2.UpdateGatewayMetadata(gateway_id=gateway.id), work,
                                           'Update gateway')

    def Delete(self, request, context):
        gateway = self.cloud.get(Gateway, request.gateway_id, KIND)
        what = 'Gateway %s' % gateway.id
        registry.ensure_unused(self.cloud, Gateway, gateway.id, what)

        def work():
            self.cloud.get(Gateway, gateway.id, KIND)
            registry.ensure_unused(self.cloud, Gateway, gateway.id, what)
            self.store.delete(Gateway, gateway.id)
        return self.cloud.operations.start(gateway_service_pb2.DeleteGatewayMetadata(gateway_id=gateway.id), work,
                                           'Delete gateway')

    def ListOperations(self, request, context):
        gateway = self.cloud.get(Gateway, request.gateway_id, KIND)
        return operations_of(self.cloud, (gateway_service_pb2.CreateGatewayMetadata,
                                          gateway_service_pb2.UpdateGatewayMetadata,
                                          gateway_service_pb2.DeleteGatewayMetadata), 'gateway_id', gateway.id,
                             request, gateway_service_pb2.ListGatewayOperationsResponse)
