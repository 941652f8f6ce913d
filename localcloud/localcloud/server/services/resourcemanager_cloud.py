"""resourcemanager.v1 CloudService: the bootstrap cloud and its access bindings."""

from yandex.cloud.resourcemanager.v1 import cloud_pb2, cloud_service_pb2, cloud_service_pb2_grpc

from localcloud.server import access, registry, validate


@registry.register
class CloudService(access.AccessBindingsMixin, cloud_service_pb2_grpc.CloudServiceServicer):
    def __init__(self, cloud):
        self.cloud = cloud
        self.store = cloud.store

    def _get(self, cloud_id, field):
        validate.required(field, cloud_id)
        found = self.store.get(cloud_pb2.Cloud, cloud_id)
        if found is None:
            raise self.cloud.permission_denied_cloud(cloud_id)
        return found

    def check_access_resource(self, resource_id):
        self._get(resource_id, 'resource_id')

    def Get(self, request, context):
        return self._get(request.cloud_id, 'cloud_id')

    def List(self, request, context):
        names = validate.parse_filter(request.filter)
        clouds = self.store.list(cloud_pb2.Cloud, name=names.get('name'))
        if request.organization_id:
            clouds = [c for c in clouds if c.organization_id == request.organization_id]
        items, token = validate.page(clouds, request.page_size, request.page_token)
        return cloud_service_pb2.ListCloudsResponse(clouds=items, next_page_token=token)
