"""Roles for test service accounts: localcloud checks them where Yandex Cloud does (localcloud/README.md, "IAM").

    grant(localcloud, sa_id, *INSTANCE_GROUP_ROLES)        # folder bindings, added through the API
    revoke(localcloud, sa_id, 'vpc.publicAdmin')
"""

from yandex.cloud.access import access_pb2
from yandex.cloud.resourcemanager.v1.folder_service_pb2_grpc import FolderServiceStub

# What an instance group's service account needs when it is also the VMs' account, as the tests' groups use it
# (en/compute/security/index.md: compute.editor, + vpc.publicAdmin for a public IP; iam.serviceAccounts.user to
# attach an account to the VMs; container-registry.images.puller for the VMs to pull).
INSTANCE_GROUP_ROLES = ('compute.editor', 'vpc.publicAdmin', 'iam.serviceAccounts.user',
                        'container-registry.images.puller')


def _deltas(localcloud, sa_id, roles, action, resource_id=None):
    sdk = localcloud.sdk()
    deltas = [access_pb2.AccessBindingDelta(action=action, access_binding=access_pb2.AccessBinding(
        role_id=role, subject=access_pb2.Subject(type='serviceAccount', id=sa_id))) for role in roles]
    operation = sdk.client(FolderServiceStub).UpdateAccessBindings(access_pb2.UpdateAccessBindingsRequest(
        resource_id=resource_id or localcloud.folder_id, access_binding_deltas=deltas))
    sdk.wait_operation_and_get_result(operation)


def grant(localcloud, sa_id, *roles):
    """Bind the roles to the service account on the fixture's folder (an ADD of a present binding is a no-op)."""
    _deltas(localcloud, sa_id, roles, access_pb2.ADD)


def revoke(localcloud, sa_id, *roles):
    _deltas(localcloud, sa_id, roles, access_pb2.REMOVE)
