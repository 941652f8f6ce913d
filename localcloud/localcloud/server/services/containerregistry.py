"""containerregistry.v1 RegistryService, RepositoryService, ImageService over a real registry server.

Registries are resources in the store; repositories and images are what the registry server (the data plane,
localcloud.containerregistry, started with the first servicer) really holds, read through its HTTP API, plus
repositories made empty by Upsert. Image and repository ids are derived from their names and digests, so
they stay the same across restarts without being stored.

Image names: <plane.host>/<registry id>/<repository>:<tag> (cr.yandex/<registry id>/... on Yandex Cloud);
endpoint.json's `registry` is plane.host. node_docker_config() is what a COI node needs to pull.
"""

import hashlib
import logging
import re

import grpc
from google.protobuf import timestamp_pb2
from yandex.cloud.containerregistry.v1 import (blob_pb2, image_pb2, image_service_pb2, image_service_pb2_grpc,
                                               registry_pb2, registry_service_pb2, registry_service_pb2_grpc,
                                               repository_pb2, repository_service_pb2,
                                               repository_service_pb2_grpc)
from yandex.cloud.iam.v1 import service_account_pb2

from localcloud import containerregistry
from localcloud.server import access, iam_roles, ids, masks, registry, resources, validate
from localcloud.server.egress import has_internet_egress
from localcloud.server.errors import ApiError, failed_precondition, invalid, not_found

log = logging.getLogger('localcloud.containerregistry')

Registry = registry_pb2.Registry
KIND = 'Registry'
PREFIX = 'crp'
# The patterns of the protos' (yandex.cloud.pattern) options.
NAME = re.compile(r'[a-z][-a-z0-9]{1,61}[a-z0-9]')
REPOSITORY_NAME = re.compile(r'[a-z0-9]+(?:[._-][a-z0-9]+)*(/([a-z0-9]+(?:[._-][a-z0-9]+)*))*')
NS_REPOSITORIES = 'containerregistry.repository'  # repositories made by Upsert: full name -> {}
_ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz'


def derived_id(*parts):
    """A YC-looking id (crp + 17 characters) that is a function of its parts."""
    number = int.from_bytes(hashlib.sha256('\0'.join(parts).encode()).digest(), 'big')
    chars = []
    for _ in range(17):
        number, digit = divmod(number, 36)
        chars.append(_ALPHABET[digit])
    return PREFIX + ''.join(chars)


# -- the data plane: one per server ---------------------------------------------------------------------------

def plane(cloud):
    """The server's registry data plane: started once, stopped with the server."""
    found = getattr(cloud, 'container_registry', None)
    if found is not None:
        return found

    def authenticate(username, password):
        try:
            if username == 'iam':
                subject = cloud.auth.authenticate(password)
                return dict(subject, instance=cloud.auth.token_instance(password))
            return dict(cloud.auth.subject_for_oauth(password), instance=None)
        except ApiError:
            return None

    def registry_exists(registry_id):
        return cloud.store.get(Registry, registry_id) is not None

    found = cloud.container_registry = containerregistry.Plane(
        cloud.state_dir, authenticate, registry_exists, authorize=lambda login, registry_id, actions:
        authorize(cloud, login, registry_id, actions))
    found.start()
    cloud.on_stop(found.stop)
    # endpoint.json's "registry": the host part of image names (cr.yandex on Yandex Cloud).
    getattr(cloud, 'info_extra', {})['registry'] = found.host
    return found


def _plane_call(fn, *args):
    try:
        return fn(*args)
    except (containerregistry.RegistryError, OSError) as exc:
        raise ApiError(grpc.StatusCode.UNAVAILABLE, 'container registry data plane: %s' % exc)


def node_docker_config(cloud, service_account_id, instance=None):
    """/root/.docker/config.json for a COI node whose VM runs as `service_account_id`: its IAM token (12 h) as
    the registry login, what a COI VM gets from the metadata service. {} without a service account (a VM without
    one cannot pull from a private registry either). `instance` ({'instance_id', 'subnet_id', 'public_ip'}): the VM
    the token is bound to, whose egress the token endpoint checks (authorize)."""
    if not service_account_id or cloud.store.get(service_account_pb2.ServiceAccount, service_account_id) is None:
        return {}
    token, _ = cloud.auth.issue_iam_token({'type': 'serviceAccount', 'id': service_account_id}, instance)
    return containerregistry.docker_config(plane(cloud).host, token)


# -- IAM and egress at the token endpoint ----------------------------------------------------------------------
# en/container-registry/security/index.md ("What roles do I need"): pull needs container-registry.images.puller, push
# and delete container-registry.images.pusher, "for the registry or repository" (or the folder/cloud above it:
# bindings are inherited, en/resource-manager/concepts/resources-hierarchy.md). Roles that include them:
# localcloud.server.iam_roles. Without the role the action is not granted, so the registry answers
# "denied: requested access to the resource is denied" and docker "pull access denied" (en/cos/error/index.md
# #permission-denied shows that message). Repository-level bindings: localcloud has none.
ACTION_ROLES = {'pull': 'container-registry.images.puller', 'push': 'container-registry.images.pusher',
                'delete': 'container-registry.images.pusher'}
CR_HOST = 'cr.yandex'


def egress(cloud, instance):
    """(ok, reason): can this VM reach cr.yandex? Without a public address only through a NAT gateway on its subnet's
    route table (en/cos/error/index.md#connection-to-cr; the VPC rules: localcloud.server.egress)."""
    return has_internet_egress(cloud, instance.get('subnet_id') or '', bool(instance.get('public_ip')))


def authorize(cloud, login, registry_id, actions):
    """The actions of `actions` the login may do in the registry; Refused when the VM it was issued to has no way
    out (on YC the connection times out: localcloud refuses at once, with the reason)."""
    instance = (login or {}).get('instance')
    if instance and actions:
        ok, reason = egress(cloud, instance)
        if not ok:
            raise containerregistry.Refused(
                'instance %s has no connection to %s (localcloud registry %s): %s. On Yandex Cloud the pull times '
                'out ("net/http: request canceled while waiting for connection"); give the VM a public IP address '
                'or route its subnet through a NAT gateway (en/cos/error/index.md#connection-to-cr)'
                % (instance.get('instance_id'), CR_HOST, plane(cloud).host, reason))
    item = cloud.store.get(Registry, registry_id)
    if item is None or not login:
        return []
    resources_ = iam_roles.chain(cloud, registry_id, folder_id=item.folder_id)
    subject = {'type': login['type'], 'id': login['id']}
    return [a for a in actions if a in ACTION_ROLES and iam_roles.has_role(cloud, subject, ACTION_ROLES[a],
                                                                            resources_)]


# -- reading the registry --------------------------------------------------------------------------------------

def _timestamp(seconds):
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(int(seconds * 1e9))
    return stamp


def repository_names(cloud, registry_id):
    """Repositories of a registry: those with tagged images in the registry server, and Upserted ones."""
    data = plane(cloud)
    prefix = registry_id + '/'
    names = set(name for name, _ in cloud.store.kv_items(NS_REPOSITORIES) if name.startswith(prefix))
    for name in _plane_call(data.catalog):
        if name.startswith(prefix) and _plane_call(data.tags, name):
            names.add(name)
    return sorted(names)


def repository_message(name):
    return repository_pb2.Repository(name=name, id=derived_id('repository', name))


def images_of(cloud, repository):
    """The images of a repository as the registry holds them (one per manifest digest, with its tags)."""
    data = plane(cloud)
    by_digest = {}
    for tag in _plane_call(data.tags, repository):
        found = _plane_call(data.manifest, repository, tag)
        if found:
            by_digest.setdefault(found[0], (found[1], []))[1].append(tag)
    images = []
    for digest, (manifest, tags) in by_digest.items():
        config = manifest.get('config') or {}
        layers = manifest.get('layers') or manifest.get('manifests') or []
        image = image_pb2.Image(
            id=derived_id('image', repository, digest), name=repository, digest=digest, tags=sorted(tags),
            compressed_size=sum(int(b.get('size') or 0) for b in layers + [config]),
            layers=[blob_pb2.Blob(id=derived_id('blob', b.get('digest', '')), digest=b.get('digest', ''),
                                  size=int(b.get('size') or 0)) for b in layers],
            created_at=_timestamp(data.manifest_time(repository, digest)))
        if config:
            image.config.CopyFrom(blob_pb2.Blob(id=derived_id('blob', config.get('digest', '')),
                                                digest=config.get('digest', ''), size=int(config.get('size') or 0)))
        images.append(image)
    return sorted(images, key=lambda i: (i.created_at.seconds, i.created_at.nanos, i.digest))


def registry_of(cloud, repository_name, field):
    """The registry a "<registry id>/<repo>" name is in (NOT_FOUND when it does not exist)."""
    if not REPOSITORY_NAME.fullmatch(repository_name or '') or '/' not in repository_name:
        raise invalid(field, '%r must be "<registry id>/<repository>" of lower-case letters, digits and ._-'
                      % repository_name)
    return cloud.get(Registry, repository_name.split('/')[0], KIND)


def check_fields(request, paths):
    if 'name' in paths:
        validate.name('name', request.name, NAME, required_=True)
    if 'labels' in paths:
        validate.labels('labels', request.labels)


# -- the services ----------------------------------------------------------------------------------------------

@registry.register
class RegistryService(access.AccessBindingsMixin, registry_service_pb2_grpc.RegistryServiceServicer):
    def __init__(self, cloud):
        self.cloud = cloud
        self.store = cloud.store
        self.plane = plane(cloud)

    def check_access_resource(self, resource_id):
        self.cloud.get(Registry, resource_id, KIND)

    def Get(self, request, context):
        return self.cloud.get(Registry, request.registry_id, KIND)

    def List(self, request, context):
        return resources.list_page(self.cloud, Registry, request, registry_service_pb2.ListRegistriesResponse,
                                   'registries')

    def Create(self, request, context):
        self.cloud.require_folder(request.folder_id)
        check_fields(request, ('name', 'labels'))
        resources.ensure_unique_name(self.cloud, Registry, request.folder_id, request.name, KIND)
        # `secure` (a scan policy on push) has no scanner here: accepted, nothing more.
        item = Registry(id=ids.new(PREFIX), folder_id=request.folder_id, name=request.name,
                        status=Registry.ACTIVE, created_at=resources.now(), labels=request.labels)

        def work():
            resources.ensure_unique_name(self.cloud, Registry, item.folder_id, item.name, KIND)
            return self.store.put(item)
        return self.cloud.operations.start(registry_service_pb2.CreateRegistryMetadata(registry_id=item.id), work,
                                           'Create registry')

    def Update(self, request, context):
        current = self.cloud.get(Registry, request.registry_id, KIND)
        paths = masks.update_paths(request, 'registry_id')
        check_fields(request, paths)
        if 'name' in paths:
            resources.ensure_unique_name(self.cloud, Registry, current.folder_id, request.name, KIND, current.id)

        def work():
            latest = self.cloud.get(Registry, current.id, KIND)
            if 'name' in paths:
                resources.ensure_unique_name(self.cloud, Registry, latest.folder_id, request.name, KIND, latest.id)
            masks.apply(request, latest, paths)
            return self.store.put(latest)
        return self.cloud.operations.start(registry_service_pb2.UpdateRegistryMetadata(registry_id=current.id),
                                           work, 'Update registry')

    def _delete(self, request, force):
        item = self.cloud.get(Registry, request.registry_id, KIND)
        if not force:
            repositories = repository_names(self.cloud, item.id)
            if repositories:
                raise failed_precondition('Registry %s is not empty: it has repositories %s (delete them, or use '
                                          'ForceDelete)' % (item.id, ', '.join(repositories)))

        def work():
            self.cloud.get(Registry, item.id, KIND)
            for name in repository_names(self.cloud, item.id):
                _plane_call(self.plane.remove_repository, name)
                self.store.kv_delete(NS_REPOSITORIES, name)
            self.store.kv_delete(access.NS, item.id)
            self.store.delete(Registry, item.id)
        return self.cloud.operations.start(registry_service_pb2.DeleteRegistryMetadata(registry_id=item.id), work,
                                           'Delete registry')

    def Delete(self, request, context):
        return self._delete(request, force=False)

    def ForceDelete(self, request, context):
        return self._delete(request, force=True)


@registry.register
class RepositoryService(repository_service_pb2_grpc.RepositoryServiceServicer):
    def __init__(self, cloud):
        self.cloud = cloud
        self.store = cloud.store
        self.plane = plane(cloud)

    def _all(self, folder_id=None):
        names = []
        for item in self.store.list(Registry, folder_id=folder_id):
            names.extend(repository_names(self.cloud, item.id))
        return names

    def _by_id(self, repository_id):
        validate.required('repository_id', repository_id)
        for name in self._all():
            if derived_id('repository', name) == repository_id:
                return name
        raise not_found('Repository', repository_id)

    def Get(self, request, context):
        return repository_message(self._by_id(request.repository_id))

    def GetByName(self, request, context):
        name = request.repository_name
        item = registry_of(self.cloud, name, 'repository_name')
        if name not in repository_names(self.cloud, item.id):
            raise not_found('Repository', name)
        return repository_message(name)

    def List(self, request, context):
        if request.registry_id:
            self.cloud.get(Registry, request.registry_id, KIND)
            names = repository_names(self.cloud, request.registry_id)
        elif request.folder_id:
            self.cloud.require_folder(request.folder_id)
            names = self._all(request.folder_id)
        else:
            raise invalid('registry_id', 'one of registry_id, folder_id is required')
        wanted = validate.parse_filter(request.filter, ('name',)).get('name')
        items = [repository_message(n) for n in names if wanted is None or n == wanted]
        page, token = validate.page(items, request.page_size, request.page_token)
        return repository_service_pb2.ListRepositoriesResponse(repositories=page, next_page_token=token)

    def Upsert(self, request, context):
        name = request.name
        registry_of(self.cloud, name, 'name')
        repository = repository_message(name)

        def work():
            registry_of(self.cloud, name, 'name')
            if name not in repository_names(self.cloud, name.split('/')[0]):
                self.store.kv_put(NS_REPOSITORIES, name, {})
            return repository
        return self.cloud.operations.start(
            repository_service_pb2.UpsertRepositoryMetadata(repository_id=repository.id), work, 'Upsert repository')

    def Delete(self, request, context):
        name = self._by_id(request.repository_id)

        def work():
            _plane_call(self.plane.remove_repository, name)
            self.store.kv_delete(NS_REPOSITORIES, name)
        return self.cloud.operations.start(
            repository_service_pb2.DeleteRepositoryMetadata(repository_id=request.repository_id), work,
            'Delete repository')


@registry.register
class ImageService(image_service_pb2_grpc.ImageServiceServicer):
    def __init__(self, cloud):
        self.cloud = cloud
        self.store = cloud.store
        self.plane = plane(cloud)

    def _repositories(self, request):
        if request.repository_name:
            registry_of(self.cloud, request.repository_name, 'repository_name')
            return [request.repository_name]
        if request.registry_id:
            self.cloud.get(Registry, request.registry_id, KIND)
            return repository_names(self.cloud, request.registry_id)
        if request.folder_id:
            self.cloud.require_folder(request.folder_id)
            return [n for item in self.store.list(Registry, folder_id=request.folder_id)
                    for n in repository_names(self.cloud, item.id)]
        raise invalid('registry_id', 'one of repository_name, registry_id, folder_id is required')

    def _find(self, image_id):
        validate.required('image_id', image_id)
        for item in self.store.list(Registry):
            for name in repository_names(self.cloud, item.id):
                for image in images_of(self.cloud, name):
                    if image.id == image_id:
                        return image
        raise not_found('Image', image_id)

    def List(self, request, context):
        wanted = validate.parse_filter(request.filter, ('name',)).get('name')
        images = [image for name in self._repositories(request) if wanted is None or name == wanted
                  for image in images_of(self.cloud, name)]
        page, token = validate.page(images, request.page_size, request.page_token)
        return image_service_pb2.ListImagesResponse(images=page, next_page_token=token)

    def Get(self, request, context):
        return self._find(request.image_id)

    def Delete(self, request, context):
        image = self._find(request.image_id)

        def work():
            _plane_call(self.plane.delete_manifest, image.name, image.digest)
        return self.cloud.operations.start(image_service_pb2.DeleteImageMetadata(image_id=image.id), work,
                                           'Delete image')
