"""Which roles include which, and whether a subject holds a role on a resource (its bindings, its folder's, its cloud's).

    has_role(cloud, subject, 'vpc.publicAdmin', [folder_id])      # folder, then the folder's cloud (inherited)
    has_role(cloud, subject, 'iam.serviceAccounts.user', [sa_id, sa.folder_id])
    missing_role(cloud, subject, role, chain, what)               # None, or the message naming role and resource

Only the roles localcloud checks are modelled (see the README's "IAM" section for where they are checked). Sources,
yandex-cloud/docs (documented unless marked *inferred*):

- primitive roles: resource-manager.clouds.owner > admin > editor > viewer > auditor
  (en/_roles/resource-manager/clouds/owner.md, en/_roles/primitive-roles/{admin,editor,viewer}.md);
- editor includes compute.editor (en/compute/security/index.md "assign the editor role instead of compute.editor"),
  vpc.publicAdmin / vpc.privateAdmin / vpc.securityGroups.admin (en/vpc/security/index.md, the "or editor" column),
  iam.serviceAccounts.user (en/_roles/iam/serviceAccounts/user.md: "also part of editor, admin and
  resource-manager.clouds.owner"); the container-registry roles (*inferred* from "manage any resources"; the
  primitive roles "allow users to perform actions in all services", en/_includes/roles-primitive.md);
- viewer includes container-registry.images.puller (en/cos/error/index.md#permission-denied: "assign the viewer or
  container-registry.images.puller role"), and the service viewer roles;
- load-balancer.admin > .editor > .viewer (en/network-load-balancer/security/index.md); editor and admin include them
  (*inferred*, as for the registry roles);
- compute.admin > compute.editor > vpc.user, compute.operator > compute.viewer (en/_mermaid/roles/compute.md, the
  chart in en/compute/security/index.md); iam.serviceAccounts.user is NOT in compute.editor (same chart);
- vpc.admin > vpc.privateAdmin, vpc.publicAdmin, vpc.securityGroups.admin (en/_roles/vpc/admin.md);
  vpc.publicAdmin > vpc.viewer (en/_roles/vpc/publicAdmin.md); vpc.privateAdmin > vpc.user (*inferred*: it manages
  networks and subnets, en/vpc/security/index.md);
- container-registry.admin > .editor > .viewer (en/_roles/container-registry/{admin,editor}.md); .editor and
  .images.pusher also "download" images (en/_roles/container-registry/editor.md, images/pusher.md), so both include
  .images.puller.

Bindings: a role bound on a cloud is inherited by its folders and their resources
(en/resource-manager/concepts/resources-hierarchy.md#access-rights-inheritance); service accounts and registries can
have bindings of their own (en/iam/concepts/access-control/index.md, en/container-registry/security/index.md).
Subjects `allUsers` / `allAuthenticatedUsers` match anyone with a valid token (en/iam/concepts/access-control/
public-group.md).
"""

from yandex.cloud.containerregistry.v1 import registry_pb2
from yandex.cloud.iam.v1 import service_account_pb2
from yandex.cloud.resourcemanager.v1 import cloud_pb2, folder_pb2
from yandex.cloud.vpc.v1 import network_pb2, security_group_pb2, subnet_pb2

from localcloud.server import access

# role -> the roles it includes directly (the closure is computed below).
INCLUDES = {
    'resource-manager.clouds.owner': {'admin', 'resource-manager.clouds.member'},
    'admin': {'editor', 'compute.admin', 'vpc.admin', 'container-registry.admin', 'load-balancer.admin'},
    'editor': {'viewer', 'compute.editor', 'vpc.privateAdmin', 'vpc.publicAdmin', 'vpc.securityGroups.admin',
               'vpc.user', 'iam.serviceAccounts.user', 'container-registry.editor',
               'container-registry.images.pusher', 'load-balancer.editor'},
    'viewer': {'auditor', 'compute.viewer', 'vpc.viewer', 'container-registry.viewer',
               'container-registry.images.puller'},
    'compute.admin': {'compute.editor'},
    'load-balancer.admin': {'load-balancer.editor'},
    'load-balancer.editor': {'load-balancer.viewer'},
    'compute.editor': {'compute.operator', 'compute.viewer', 'vpc.user'},
    'compute.operator': {'compute.viewer'},
    'vpc.admin': {'vpc.privateAdmin', 'vpc.publicAdmin', 'vpc.securityGroups.admin'},
    'vpc.privateAdmin': {'vpc.user', 'vpc.viewer'},
    'vpc.publicAdmin': {'vpc.viewer'},
    'vpc.user': {'vpc.viewer'},
    'container-registry.admin': {'container-registry.editor'},
    'container-registry.editor': {'container-registry.viewer', 'container-registry.images.pusher',
                                  'container-registry.images.puller'},
    'container-registry.images.pusher': {'container-registry.images.puller'},
}
ANYONE = ('allUsers', 'allAuthenticatedUsers')


def included(role):
    """The role and every role it includes."""
    seen, todo = set(), [role]
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(INCLUDES.get(current, ()))
    return seen


def holders(role):
    """Every modelled role that gives `role` (for messages: "or one that includes it")."""
    return sorted(r for r in set(INCLUDES) | {role} if role in included(r))


def chain(cloud, *resource_ids, folder_id=''):
    """Resource ids to look at, innermost first: the given ones, then the folder and the folder's cloud."""
    ids = [r for r in resource_ids if r]
    if folder_id:
        ids.append(folder_id)
        folder = cloud.store.get(folder_pb2.Folder, folder_id)
        if folder is not None and folder.cloud_id:
            ids.append(folder.cloud_id)
    return ids


KINDS = ((folder_pb2.Folder, 'folder'), (cloud_pb2.Cloud, 'cloud'), (service_account_pb2.ServiceAccount,
         'service account'), (registry_pb2.Registry, 'registry'), (network_pb2.Network, 'network'),
         (subnet_pb2.Subnet, 'subnet'), (security_group_pb2.SecurityGroup, 'security group'))


def describe(cloud, resource_id):
    """'folder b1g...', 'service account aje...' (for messages)."""
    for cls, kind in KINDS:
        if cloud.store.get(cls, resource_id) is not None:
            return '%s %s' % (kind, resource_id)
    return resource_id


def _matches(binding, subject):
    return binding.subject.type in ANYONE or (binding.subject.type == subject['type']
                                              and binding.subject.id == subject['id'])


def has_role(cloud, subject, role, resources):
    """True when a binding of `subject` on one of `resources` (see chain()) is `role` or a role that includes it."""
    if not subject:
        return False
    for resource_id in resources:
        for binding in access.get(cloud.store, resource_id):
            if _matches(binding, subject) and role in included(binding.role_id):
                return True
    return False


def missing_role(cloud, subject, role, resources, what):
    """None when the subject has the role; else the reason, naming the role, the subject and where it was looked."""
    if has_role(cloud, subject, role, resources):
        return None
    others = [r for r in holders(role) if r != role]
    who = '%s %s' % (subject['type'], subject['id']) if subject else 'an anonymous caller'
    return '%s has no role %s (or one that includes it: %s) on %s, needed to %s' % (
        who, role, ', '.join(others) or '-', ', '.join(describe(cloud, r) for r in resources) or '-', what)
