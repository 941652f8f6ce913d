#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: filmopoisk.shs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: yc_container_image
short_description: Build a Docker image and push it to Yandex Container Registry, tagged by its content
version_added: 0.2.0
description:
  - Builds the image of a context directory with the local Docker engine and pushes it to
    C(<registry_host>/<registry_id>/<name>:<tag>), where the tag is a hash of the context's files
    (plugins/module_utils/content_hash.py) and the build options.
  - Before anything is built the registry is asked (C(ImageService.List)) whether that tag is already there;
    if it is, nothing is built or pushed and the result is C(changed=false). So an unchanged context costs one
    API call, and every change gets a new, unique tag (COI does not restart containers for a reused tag).
  - The push logs in like C(docker login cr.yandex -u iam -p <IAM token>), with an IAM token obtained for the
    module's credentials (an O(iam_token) as it is; O(token) and O(service_account_key) exchanged through
    C(IamTokenService.Create), as the SDK does).
  - Check mode builds and pushes nothing; it reports whether the tag would be pushed.
options:
  registry_id:
    description: ID of the registry (RV(filmopoisk.shs.yc_container_registry#module:registry.id)).
    type: str
    required: true
  name:
    description:
      - Repository name inside the registry, e.g. V(shs) (lower-case letters, digits and C(._-) separated path
        components). The repository is created by the push if it does not exist.
    type: str
    required: true
  path:
    description: The build context directory.
    type: path
    required: true
  dockerfile:
    description: The Dockerfile, relative to O(path).
    type: str
    default: Dockerfile
  build_args:
    description: Build arguments (C(ARG) values). They are part of the tag's hash.
    type: dict
    default: {}
  tag:
    description:
      - A tag to use instead of the content hash (the image is still pushed only when this tag is missing).
    type: str
  pull:
    description: Pull newer versions of the base images while building (needs access to their registry).
    type: bool
    default: false
  registry_host:
    description:
      - Host of the registry in image names. Falls back to E(YC_REGISTRY_HOST), then to C(cr.yandex).
      - For localcloud it is the C(registry) value of its C(endpoint.json) (C(127.0.0.1:PORT)).
    type: str
  docker_host:
    description:
      - The Docker engine that builds and pushes (C(unix:///var/run/docker.sock), C(tcp://...)).
        Falls back to E(DOCKER_HOST), then to the local socket.
      - The engine is reached as C(docker.from_env()) reaches it, so E(DOCKER_TLS_VERIFY) and E(DOCKER_CERT_PATH)
        (a directory with C(ca.pem), C(cert.pem), C(key.pem)) turn on TLS as for the docker CLI; O(tls_ca_cert),
        O(tls_client_cert) and O(tls_client_key) give the files one by one instead.
    type: str
  tls_ca_cert:
    description:
      - CA certificate file the engine's TLS certificate is verified against. Setting it, or the client pair, turns
        on TLS with verification.
      - Falls back to E(DOCKER_TLS_CA_CERT) (what the collection's AWX credential type "Docker engine (TLS)"
        injects); an empty value counts as unset.
    type: path
    version_added: 0.3.0
  tls_client_cert:
    description:
      - Client certificate file for an engine that requires one (C(dockerd --tlsverify)); needs O(tls_client_key).
      - Falls back to E(DOCKER_TLS_CLIENT_CERT).
    type: path
    version_added: 0.3.0
  tls_client_key:
    description:
      - The client certificate's private key file; needs O(tls_client_cert).
      - Falls back to E(DOCKER_TLS_CLIENT_KEY).
    type: path
    version_added: 0.3.0
extends_documentation_fragment:
  - filmopoisk.shs.yc
  - filmopoisk.shs.yc.attributes
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
requirements:
  - docker (Python SDK) >= 7.0
  - a Docker engine
author:
  - filmopoisk.shs contributors (@filmopoisk)
'''

EXAMPLES = r'''
- name: Build and push the app image (skipped when this content was pushed before)
  filmopoisk.shs.yc_container_image:
    registry_id: "{{ registry.registry.id }}"
    name: shs
    path: "{{ playbook_dir }}/files/images/shs"
  register: shs_image

- name: Use it in a COI compose spec
  ansible.builtin.set_fact:
    shs_app_image: "{{ shs_image.image.reference }}"

- name: Against localcloud, the registry host comes from its endpoint.json
  filmopoisk.shs.yc_container_image:
    registry_id: "{{ registry.registry.id }}"
    registry_host: "{{ (lookup('ansible.builtin.file', '.run/localcloud/endpoint.json') | from_json).registry }}"
    name: shs
    path: files/images/shs

- name: On an engine reached over TCP with TLS client certificates (as an AWX "Docker engine (TLS)" credential gives)
  filmopoisk.shs.yc_container_image:
    registry_id: "{{ registry.registry.id }}"
    name: shs
    path: files/images/shs
    docker_host: tcp://build-engine.example.com:2376
    tls_ca_cert: /etc/docker-tls/ca.pem
    tls_client_cert: /etc/docker-tls/cert.pem
    tls_client_key: /etc/docker-tls/key.pem
'''

RETURN = r'''
image:
  description:
    - The image in the registry. In check mode, when the tag is not there yet, RV(image.digest) and RV(image.id)
      are empty.
  returned: always
  type: dict
  contains:
    reference:
      description: The full image reference for compose specs and C(docker pull).
      type: str
      sample: cr.yandex/crp1abcdefghijklmnop/shs:1a2b3c4d5e6f
    registry_host:
      description: Host part of the reference.
      type: str
    registry_id:
      description: The registry.
      type: str
    repository:
      description: The repository's full name, C(<registry_id>/<name>).
      type: str
    tag:
      description: The tag (the content hash unless O(tag) was given).
      type: str
    digest:
      description: The manifest digest the registry reports.
      type: str
      sample: sha256:0123...
    id:
      description: The image's ID in the Container Registry API.
      type: str
pushed:
  description: Whether this run built and pushed the image (false in check mode, where C(changed) says it would).
  returned: always
  type: bool
'''

import json
import os
import re
import traceback

from ansible.module_utils.basic import env_fallback, missing_required_lib
from ansible_collections.filmopoisk.shs.plugins.module_utils.content_hash import context_hash
from ansible_collections.filmopoisk.shs.plugins.module_utils.yc import YCError, YCModule
from ansible_collections.filmopoisk.shs.plugins.module_utils.yc_registry import repository_of

DOCKER_IMPORT_ERROR = None
try:
    import docker
    from docker.errors import BuildError, DockerException
except ImportError:
    DOCKER_IMPORT_ERROR = traceback.format_exc()

try:
    from yandex.cloud.containerregistry.v1 import image_service_pb2
    from yandex.cloud.containerregistry.v1.image_service_pb2_grpc import ImageServiceStub
except ImportError:
    pass  # YCModule reports the missing SDK

DEFAULT_REGISTRY_HOST = 'cr.yandex'
TAG = r'^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$'
REGISTRY_HOST = r'^[A-Za-z0-9.-]+(:[0-9]+)?$'


def check_options(module):
    """Every option checked before the API or the engine is touched; the repository ('<registry_id>/<name>')."""
    params = module.params
    repository = repository_of(params)
    if params['tag'] is not None and not re.match(TAG, params['tag']):
        raise YCError('tag: invalid tag %r (letters, digits, _.-; at most 128)' % params['tag'])
    if not re.match(REGISTRY_HOST, params['registry_host']):
        raise YCError('registry_host: %r is not a host[:port]' % params['registry_host'])
    if not os.path.isdir(params['path']):
        raise YCError('path: %s is not a directory' % params['path'])
    dockerfile = os.path.normpath(os.path.join(params['path'], params['dockerfile']))
    if not dockerfile.startswith(os.path.normpath(params['path']) + os.sep) or not os.path.isfile(dockerfile):
        raise YCError('dockerfile: %s is not a file inside path %s' % (params['dockerfile'], params['path']))
    for key, value in params['build_args'].items():
        if not isinstance(value, (str, int, float, bool)):
            raise YCError('build_args: %s must be a string, got %s' % (key, type(value).__name__))
    for name in ('tls_ca_cert', 'tls_client_cert', 'tls_client_key'):
        params[name] = params[name] or None  # AWX renders an input left out as ''
        if params[name] and not os.path.isfile(params[name]):
            raise YCError('%s: %s is not a file' % (name, params[name]))
    if bool(params['tls_client_cert']) != bool(params['tls_client_key']):
        raise YCError('tls_client_cert and tls_client_key: give both or neither')
    return repository


def engine(params):
    """The Docker engine as docker.from_env() finds it (DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH), with
    docker_host in place of DOCKER_HOST and the tls_* files, when given, in place of DOCKER_CERT_PATH's."""
    environment = dict(os.environ)
    if params['docker_host']:
        environment['DOCKER_HOST'] = params['docker_host']
    kwargs = docker.utils.kwargs_from_env(environment=environment)
    if params['tls_ca_cert'] or params['tls_client_cert']:
        client_cert = (params['tls_client_cert'], params['tls_client_key']) if params['tls_client_cert'] else None
        kwargs['tls'] = docker.tls.TLSConfig(client_cert=client_cert, ca_cert=params['tls_ca_cert'], verify=True)
    if getattr(kwargs.get('tls'), 'ca_cert', None):
        # requests prefers REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE to the client's CA file: the engine's own CA must win
        # (this module process talks to nothing else over requests: the YC API is gRPC)
        for name in ('REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE'):
            os.environ.pop(name, None)
    return docker.DockerClient(**kwargs)


def content_tag(params):
    build_args = dict((k, str(v)) for k, v in params['build_args'].items())
    return context_hash(params['path'], extra={'dockerfile': params['dockerfile'],
                                               'build_args': json.dumps(build_args, sort_keys=True)})


def find_image(module, repository, tag):
    """The registry's image with that tag (ImageService.List of the repository), or None."""
    request = image_service_pb2.ListImagesRequest(repository_name=repository)
    images = module.yc.list_all(ImageServiceStub, 'List', request, 'images', "images of repository '%s'" % repository)
    for image in images:
        if tag in image.tags:
            return image
    return None


def build(module, client, reference):
    params = module.params
    try:
        client.images.build(path=params['path'], dockerfile=params['dockerfile'], tag=reference, rm=True,
                            forcerm=True, pull=params['pull'],
                            buildargs=dict((k, str(v)) for k, v in params['build_args'].items()))
    except BuildError as exc:
        lines = [entry.get('stream', entry.get('error', '')).rstrip() for entry in exc.build_log]
        raise YCError('Building %s from %s failed: %s' % (reference, params['path'], exc.msg),
                      build_log=[line for line in lines if line][-30:])
    except DockerException as exc:
        raise YCError('Building %s from %s failed: %s' % (reference, params['path'], exc))


def push(client, repository, tag, token):
    """Push with an IAM-token login; the registry's own error when it refuses."""
    try:
        for event in client.api.push(repository, tag=tag, auth_config=dict(username='iam', password=token),
                                     stream=True, decode=True):
            if event.get('error'):
                raise YCError('Pushing %s:%s failed: %s' % (repository, tag, event['error']))
    except DockerException as exc:
        raise YCError('Pushing %s:%s failed: %s' % (repository, tag, exc))


def result_image(params, reference, tag, image):
    return dict(reference=reference, registry_host=params['registry_host'], registry_id=params['registry_id'],
                repository='%s/%s' % (params['registry_id'], params['name']), tag=tag,
                digest=image.digest if image is not None else '', id=image.id if image is not None else '')


def ensure(module):
    """Find the tag in the registry; build and push it when it is not there; return the module's result."""
    params = module.params
    params['registry_host'] = params['registry_host'] or DEFAULT_REGISTRY_HOST
    repository = check_options(module)
    if DOCKER_IMPORT_ERROR:
        raise YCError(missing_required_lib('docker'), exception=DOCKER_IMPORT_ERROR)

    tag = params['tag'] or content_tag(params)
    remote = '%s/%s' % (params['registry_host'], repository)
    reference = '%s:%s' % (remote, tag)

    found = find_image(module, repository, tag)
    if found is not None:
        return dict(changed=False, pushed=False, image=result_image(params, reference, tag, found))
    diff = dict(before={}, after=dict(reference=reference))
    if module.check_mode:
        return dict(changed=True, pushed=False, diff=diff, image=result_image(params, reference, tag, None))

    token = module.yc.iam_token()[0]  # the registry login (an IAM token given is used as it is)
    try:
        client = engine(params)
        client.ping()
    except DockerException as exc:
        raise YCError('docker_host: cannot reach the Docker engine %s: %s'
                      % (params['docker_host'] or '(DOCKER_HOST or the local socket)', exc))
    build(module, client, reference)
    push(client, remote, tag, token)
    pushed = find_image(module, repository, tag)
    if pushed is None:
        raise YCError('Pushed %s, but the registry does not list tag %s in %s' % (reference, tag, repository))
    return dict(changed=True, pushed=True, diff=diff, image=result_image(params, reference, tag, pushed))


def main():
    module = YCModule(
        waits=False,
        argument_spec=dict(
            registry_id=dict(type='str', required=True),
            name=dict(type='str', required=True),
            path=dict(type='path', required=True),
            dockerfile=dict(type='str', default='Dockerfile'),
            build_args=dict(type='dict', default={}),
            tag=dict(type='str'),
            pull=dict(type='bool', default=False),
            registry_host=dict(type='str', fallback=(env_fallback, ['YC_REGISTRY_HOST'])),
            docker_host=dict(type='str', fallback=(env_fallback, ['DOCKER_HOST'])),
            tls_ca_cert=dict(type='path', fallback=(env_fallback, ['DOCKER_TLS_CA_CERT'])),
            tls_client_cert=dict(type='path', fallback=(env_fallback, ['DOCKER_TLS_CLIENT_CERT'])),
            tls_client_key=dict(type='path', fallback=(env_fallback, ['DOCKER_TLS_CLIENT_KEY'])),
        ),
        supports_check_mode=True,
    )
    try:
        result = ensure(module)
    except YCError as exc:
        module.fail_json(msg=exc.msg, **exc.extra)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
