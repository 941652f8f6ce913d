"""resourcemanager.v1 FolderService: the bootstrap folder(s), their access bindings."""

from yandex.cloud.resourcemanager.v1 import cloud_pb2, folder_pb2, folder_service_pb2, folder_service_pb2_grpc

from localcloud.server import access, registry, validate


@registry.register
class FolderService(access.AccessBindingsMixin, folder_service_pb2_grpc.FolderServiceServicer):
    def __init__(self, cloud):
        self.cloud = cloud
        self.store = cloud.store

    def check_access_resource(self, resource_id):
        self.cloud.require_folder(resource_id, 'resource_id')

    def Get(self, request, context):
        return self.cloud.require_folder(request.folder_id)

    def List(self, request, context):
        validate.required('cloud_id', request.cloud_id)
        if self.store.get(cloud_pb2.Cloud, request.cloud_id) is None:
            raise self.cloud.permission_denied_cloud(request.cloud_id)
        names = validate.parse_filter(request.filter)
        folders = self.store.list(folder_pb2.Folder, name=names.get('name'),
                                  where=lambda f: f.cloud_id == request.cloud_id)
        items, token = validate.page(folders, request.page_size, request.page_token)
        return folder_service_pb2.ListFoldersResponse(folders=items, next_page_token=token)
