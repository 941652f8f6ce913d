"""iam.v1 ServiceAccountService. Names are unique within the cloud; a service account something uses
(an instance group, registered through registry.references) cannot be deleted: FAILED_PRECONDITION.
Deleting one removes its keys, its IAM tokens and its access bindings everywhere.
"""

from yandex.cloud.iam.v1 import key_pb2, service_account_pb2, service_account_service_pb2
from yandex.cloud.iam.v1 import service_account_service_pb2_grpc
from yandex.cloud.resourcemanager.v1 import folder_pb2

from localcloud.server import access, ids, masks, registry, resources, validate
from localcloud.server.errors import already_exists

ServiceAccount = service_account_pb2.ServiceAccount
KIND = 'Service account'


def check_fields(request, paths):
    if 'name' in paths:
        validate.name('name', request.name, validate.LOWER_NAME, required_=True)
    if 'description' in paths:
        validate.description('description', request.description)
    if 'labels' in paths:
        validate.labels('labels', request.labels)


def ensure_unique_in_cloud(cloud, cloud_id, name, exclude_id=None):
    folders = {f.id for f in cloud.store.list(folder_pb2.Folder, where=lambda f: f.cloud_id == cloud_id)}
    for sa in cloud.store.list(ServiceAccount, name=name):
        if sa.folder_id in folders and sa.id != exclude_id:
            raise already_exists(KIND, name)


@registry.register
class ServiceAccountService(access.AccessBindingsMixin, service_account_service_pb2_grpc.ServiceAccountServiceServicer):
    def __init__(self, cloud):
        self.cloud = cloud
        self.store = cloud.store

    def check_access_resource(self, resource_id):
        self.cloud.get(ServiceAccount, resource_id, KIND)

    def Get(self, request, context):
        return self.cloud.get(ServiceAccount, request.service_account_id, KIND)

    def List(self, request, context):
        return resources.list_page(self.cloud, ServiceAccount, request,
                                   service_account_service_pb2.ListServiceAccountsResponse, 'service_accounts')

    def Create(self, request, context):
        folder = self.cloud.require_folder(request.folder_id)
        check_fields(request, ('name', 'description', 'labels'))
        ensure_unique_in_cloud(self.cloud, folder.cloud_id, request.name)
        sa = ServiceAccount(id=ids.new(ids.SERVICE_ACCOUNT), folder_id=folder.id, created_at=resources.now(),
                            name=request.name, description=request.description, labels=request.labels,
                            status=ServiceAccount.ACTIVE)
        if request.HasField('expires_at'):
            sa.expires_at.CopyFrom(request.expires_at)

        def work():
            ensure_unique_in_cloud(self.cloud, folder.cloud_id, sa.name)
            return self.store.put(sa)
        return self.cloud.operations.start(
            service_account_service_pb2.CreateServiceAccountMetadata(service_account_id=sa.id), work,
            'Create service account')

    def Update(self, request, context):
        sa = self.cloud.get(ServiceAccount, request.service_account_id, KIND)
        paths = masks.update_paths(request, 'service_account_id')
        check_fields(request, paths)
        cloud_id = self.cloud.require_folder(sa.folder_id).cloud_id
        if 'name' in paths:
            ensure_unique_in_cloud(self.cloud, cloud_id, request.name, sa.id)

        def work():
            current = self.cloud.get(ServiceAccount, sa.id, KIND)
            if 'name' in paths:
                ensure_unique_in_cloud(self.cloud, cloud_id, request.name, sa.id)
            masks.apply(request, current, paths)
            return self.store.put(current)
        return self.cloud.operations.start(
            service_account_service_pb2.UpdateServiceAccountMetadata(service_account_id=sa.id), work,
            'Update service account')

    def Delete(self, request, context):
        sa = self.cloud.get(ServiceAccount, request.service_account_id, KIND)
        what = 'Service account %s' % sa.id
        registry.ensure_unused(self.cloud, ServiceAccount, sa.id, what)

        def work():
            self.cloud.get(ServiceAccount, sa.id, KIND)
            registry.ensure_unused(self.cloud, ServiceAccount, sa.id, what)
            for key in self.store.list(key_pb2.Key, where=lambda k: k.service_account_id == sa.id):
                self.store.delete(key_pb2.Key, key.id)
            access.remove_subject(self.store, sa.id)
            self.store.kv_delete(access.NS, sa.id)
            self.cloud.auth.forget_subject(sa.id)
            self.store.delete(ServiceAccount, sa.id)
        return self.cloud.operations.start(
            service_account_service_pb2.DeleteServiceAccountMetadata(service_account_id=sa.id), work,
            'Delete service account')
