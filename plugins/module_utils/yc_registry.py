# -*- coding: utf-8 -*-
# Copyright: filmopoisk.shs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Container Registry names, checked before any call: shared by yc_container_repository and yc_container_image."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.filmopoisk.shs.plugins.module_utils.yc import YCError

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
