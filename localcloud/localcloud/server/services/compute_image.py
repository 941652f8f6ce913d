"""compute.v1 ImageService: the public Container Optimized Image, backed by the local coi-node docker image.

The image `container-optimized-image` of the folder `standard-images` is the docker image
filmopoisk/coi-node:latest (built by tools/images.py). Its id is derived from the docker image id (`fd8` + 17
characters), so it stays the same across restarts and changes when coi-node is rebuilt; every image seen once
stays resolvable (the docker reference it maps to is the content-hash tag when there is one, else the image id),
and GetLatestByFamily answers the newest. Instance groups boot their nodes from the image's docker reference.
"""

import hashlib
import string
import subprocess

from yandex.cloud.compute.v1 import image_pb2, image_service_pb2, image_service_pb2_grpc

from localcloud.server import registry, resources, validate
from localcloud.server.errors import not_found

Image = image_pb2.Image
KIND = 'Image'
STANDARD_FOLDER = 'standard-images'
COI_FAMILY = 'container-optimized-image'
DEFAULT_COI_IMAGE = 'filmopoisk/coi-node:latest'
NS_DOCKER = 'compute.image.docker'  # kv: image id -> docker reference
GB = 1 << 30
MIN_DISK_SIZE = 8 * GB
INSPECT_FORMAT = '{{.Id}}|{{range .RepoTags}}{{.}},{{end}}|{{.Size}}'


def _image_id(docker_id):
    number = int(hashlib.sha256(docker_id.encode()).hexdigest(), 16)
    alphabet = string.digits + string.ascii_lowercase
    chars = []
    for _ in range(17):
        number, rest = divmod(number, 36)
        chars.append(alphabet[rest])
    return 'fd8' + ''.join(chars)


def _inspect(ref):
    """(docker image id, repo tags, size) of a local docker image, or None."""
    try:
        result = subprocess.run(['docker', 'image', 'inspect', '-f', INSPECT_FORMAT, ref], capture_output=True,
                                text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None
    docker_id, tags, size = result.stdout.strip().split('|')
    return docker_id, [t for t in tags.split(',') if t], int(size or 0)


def refresh(cloud):
    """Register the current coi-node docker image as the newest COI image (no-op when already known)."""
    ref = cloud.options.get('coi_image') or DEFAULT_COI_IMAGE
    found = _inspect(ref)
    if found is None:
        return None
    docker_id, tags, size = found
    image_id = _image_id(docker_id)
    if cloud.store.get(Image, image_id) is not None:
        return image_id
    repo = ref.rpartition(':')[0] if ':' in ref.rpartition('/')[2] else ref
    pinned = sorted(t for t in tags if t.startswith(repo + ':') and not t.endswith(':latest'))
    docker_ref = pinned[0] if pinned else docker_id
    tag = (pinned[0].rpartition(':')[2] if pinned else docker_id.split(':')[-1][:12])
    image = Image(id=image_id, folder_id=STANDARD_FOLDER, created_at=resources.now(),
                  name='%s-%s' % (COI_FAMILY, tag.lower()), family=COI_FAMILY,
                  description='Container Optimized Image (localcloud: docker image %s)' % docker_ref,
                  size=size, storage_size=size, min_disk_size=MIN_DISK_SIZE, status=Image.READY,
                  os=image_pb2.Os(type=image_pb2.Os.LINUX))
    with cloud.store.transaction():
        cloud.store.put(image)
        cloud.store.kv_put(NS_DOCKER, image_id, docker_ref)
    return image_id


def docker_image(cloud, image_id):
    """The docker reference an image id boots, or None."""
    refresh(cloud)
    return cloud.store.kv_get(NS_DOCKER, image_id)


def _check_folder(cloud, folder_id):
    validate.required('folder_id', folder_id)
    if folder_id != STANDARD_FOLDER:
        cloud.require_folder(folder_id)


@registry.register
class ImageService(image_service_pb2_grpc.ImageServiceServicer):
    def __init__(self, cloud):
        self.cloud = cloud
        refresh(cloud)

    def Get(self, request, context):
        refresh(self.cloud)
        return self.cloud.get(Image, request.image_id, KIND)

    def GetLatestByFamily(self, request, context):
        validate.required('family', request.family)
        _check_folder(self.cloud, request.folder_id)
        refresh(self.cloud)
        images = self.cloud.store.list(Image, folder_id=request.folder_id,
                                       where=lambda i: i.family == request.family and i.status == Image.READY)
        if not images:
            raise not_found('Image family %s in folder' % request.family, request.folder_id)
        return max(images, key=lambda i: (i.created_at.seconds, i.created_at.nanos))

    def List(self, request, context):
        _check_folder(self.cloud, request.folder_id)
        refresh(self.cloud)
        wanted = validate.parse_filter(request.filter, ('name', 'family'))
        items = self.cloud.store.list(Image, folder_id=request.folder_id, name=wanted.get('name'),
                                      where=lambda i: i.family == wanted.get('family', i.family))
        page, token = validate.page(items, request.page_size, request.page_token)
        return image_service_pb2.ListImagesResponse(images=page, next_page_token=token)
