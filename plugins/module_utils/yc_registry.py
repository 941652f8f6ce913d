# -*- coding: utf-8 -*-
# Copyright: filmopoisk.shs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Container Registry: registries and repositories as the user sees them (one conversion for a module and its _info
twin), and the names checked before any call (yc_container_registry(_info), yc_container_repository(_info),
yc_container_image)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.filmopoisk.shs.plugins.module_utils.yc import YCError

try:
    from yandex.cloud.containerregistry.v1 import registry_pb2
except ImportError:
    pass  # YCModule reports the missing SDK

# CreateRegistryRequest.name's pattern (3-63 characters).
REGISTRY_NAME = r'^[a-z][-a-z0-9]{1,61}[a-z0-9]$'

# UpsertRepositoryRequest.name's pattern (containerregistry/v1/repository_service.proto), without the registry id.
REPOSITORY_NAME = r'^[a-z0-9]+(?:[._-][a-z0-9]+)*(/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$'


def repository_of(params):
    """'<registry_id>/<name>' of the options registry_id and name, each checked."""
    if not re.match(r'^[a-z0-9]+$', params['registry_id']):
        raise YCError('registry_id: invalid registry ID %r' % params['registry_id'])
    if not re.match(REPOSITORY_NAME, params['name']):
        raise YCError('name: invalid repository name %r (lower-case letters, digits and ._- in path components '
                      'separated by /)' % params['name'])
    return '%s/%s' % (params['registry_id'], params['name'])


def registry_name_ok(name, option='name'):
    if name is not None and not re.match(REGISTRY_NAME, name):
        raise YCError('%s: invalid registry name %r (3-63 lower-case letters, digits and hyphens, starts with a '
                      'letter, does not end with a hyphen)' % (option, name))


def registry_to_user(registry):
    return dict(id=registry.id, folder_id=registry.folder_id, name=registry.name,
                status=registry_pb2.Registry.Status.Name(registry.status), labels=dict(registry.labels),
                created_at=registry.created_at.ToJsonString())


def repository_to_user(repository):
    """id and the full name C(<registry_id>/<name>): all a Repository message holds."""
    return dict(id=repository.id, name=repository.name)
