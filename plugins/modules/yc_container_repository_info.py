#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: filmopoisk.shs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: yc_container_repository_info
short_description: List the repositories of Yandex Container Registry registries
version_added: 0.3.0
description:
  - Returns the repositories of one registry (O(registry_id)) or of every registry of the folder, or the one
    named O(name) in O(registry_id), or the one of ID O(repository_id). Changes nothing.
  - A repository has the same shape as RV(filmopoisk.shs.yc_container_repository#module:repository) (one
    conversion for both modules).
options:
  registry_id:
    description:
      - Only the repositories of this registry (RV(filmopoisk.shs.yc_container_registry_info#module:registries[].id)).
      - Without it, the repositories of every registry of the folder.
    type: str
  name:
    description:
      - Only the repository of this name inside O(registry_id), e.g. V(shs) (read with C(GetByName); an empty list
        when there is none). Requires O(registry_id). The same name as
        O(filmopoisk.shs.yc_container_repository#module:name).
    type: str
  repository_id:
    description: Only the repository of this ID, read with C(Get) (an empty list when there is none, or when it is
      not in O(registry_id)). Mutually exclusive with O(name).
    type: str
extends_documentation_fragment:
  - filmopoisk.shs.yc
  - filmopoisk.shs.yc.info_attributes
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
author:
  - filmopoisk.shs contributors (@filmopoisk)
'''

EXAMPLES = r'''
- name: The repositories of the deployment's registry
  filmopoisk.shs.yc_container_repository_info:
    registry_id: "{{ registry.registries[0].id }}"
  register: repositories

- name: Is the app's repository there?
  filmopoisk.shs.yc_container_repository_info:
    registry_id: "{{ registry.registries[0].id }}"
    name: shs
  register: shs_repository
'''

RETURN = r'''
repositories:
  description: The repositories, by full name.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: The repository ID.
      type: str
      sample: crp5abcdefghijklmnop
    name:
      description: The full name, C(<registry_id>/<name>).
      type: str
      sample: crp1abcdefghijklmnop/shs
'''

from ansible_collections.filmopoisk.shs.plugins.module_utils.yc import YCError, YCModule, id_ok
from ansible_collections.filmopoisk.shs.plugins.module_utils.yc_registry import repository_of, repository_to_user

try:
    from yandex.cloud.containerregistry.v1 import repository_service_pb2 as svc
    from yandex.cloud.containerregistry.v1.repository_service_pb2_grpc import RepositoryServiceStub
except ImportError:
    pass  # YCModule reports the missing SDK


def repositories(module):
    params = module.params
    id_ok(params['registry_id'], 'registry_id')
    id_ok(params['repository_id'], 'repository_id')
    if params['name'] is not None and not params['registry_id']:
        raise YCError('name: a repository name needs registry_id (names are unique within a registry)')
    if params['repository_id']:
        found = module.yc.call(RepositoryServiceStub, 'Get', svc.GetRepositoryRequest(
            repository_id=params['repository_id']), 'repository %s' % params['repository_id'], not_found_ok=True)
        return [found] if found is not None and params['registry_id'] in (None, found.name.split('/')[0]) else []
    if params['name'] is not None:
        # The same lookup as yc_container_repository (GetByName of <registry_id>/<name>).
        full_name = repository_of(params)
        found = module.yc.call(RepositoryServiceStub, 'GetByName', svc.GetRepositoryByNameRequest(
            repository_name=full_name), "repository '%s'" % full_name, not_found_ok=True)
        return [found] if found is not None else []
    if params['registry_id']:
        request = svc.ListRepositoriesRequest(registry_id=params['registry_id'])
        where = 'of registry %s' % params['registry_id']
    else:
        request = svc.ListRepositoriesRequest(folder_id=module.require_folder_id())
        where = 'of folder %s' % params['folder_id']
    found = module.yc.list_all(RepositoryServiceStub, 'List', request, 'repositories', 'of repositories ' + where)
    return sorted(found, key=lambda repository: repository.name)


def main():
    module = YCModule(
        waits=False,
        argument_spec=dict(registry_id=dict(type='str'), name=dict(type='str'), repository_id=dict(type='str')),
        mutually_exclusive=[['name', 'repository_id']],
        supports_check_mode=True,
    )
    try:
        found = repositories(module)
    except YCError as exc:
        module.fail_json(msg=exc.msg, **exc.extra)
    module.exit_json(changed=False, repositories=[repository_to_user(r) for r in found])


if __name__ == '__main__':
    main()
