#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: filmopoisk.shs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: yc_container_registry_info
short_description: List Yandex Container Registry registries
version_added: 0.3.0
description:
  - Returns the Container Registry registries of the folder, or the one named O(name), or the one of ID
    O(registry_id). Changes nothing.
  - A registry has the same shape as RV(filmopoisk.shs.yc_container_registry#module:registry) (one conversion for
    both modules). Its repositories are listed by M(filmopoisk.shs.yc_container_repository_info), its access
    bindings by M(filmopoisk.shs.yc_container_registry_iam_binding_info).
options:
  name:
    description: Only the registry of this name (an empty list when there is none).
    type: str
  registry_id:
    description: Only the registry of this ID, read with C(Get) (an empty list when there is none). With O(name),
      it must also have that name.
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
- name: The deployment's registry
  filmopoisk.shs.yc_container_registry_info:
    name: shs-registry
  register: registry

- name: Where its images are pushed
  ansible.builtin.debug:
    msg: "cr.yandex/{{ registry.registries[0].id }}"
  when: registry.registries
'''

RETURN = r'''
registries:
  description: The registries, by name.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: The registry ID.
      type: str
      sample: crp1abcdefghijklmnop
    folder_id:
      description: The folder it is in.
      type: str
      sample: b1gabcdefghijklmnopq
    name:
      description: Name.
      type: str
      sample: shs-registry
    labels:
      description: Labels.
      type: dict
      sample: {project: shs}
    status:
      description: V(CREATING), V(ACTIVE) or V(DELETING).
      type: str
      sample: ACTIVE
    created_at:
      description: Creation time (RFC 3339).
      type: str
      sample: '2026-11-28T08:00:00Z'
'''

from ansible_collections.filmopoisk.shs.plugins.module_utils.yc import YCError, YCModule, id_ok
from ansible_collections.filmopoisk.shs.plugins.module_utils.yc_registry import registry_name_ok, registry_to_user

try:
    from yandex.cloud.containerregistry.v1 import registry_service_pb2 as svc
    from yandex.cloud.containerregistry.v1.registry_service_pb2_grpc import RegistryServiceStub
except ImportError:
    pass  # YCModule reports the missing SDK


def main():
    module = YCModule(
        waits=False,
        argument_spec=dict(name=dict(type='str'), registry_id=dict(type='str')),
        supports_check_mode=True,
    )
    params = module.params
    try:
        registry_name_ok(params['name'])
        id_ok(params['registry_id'], 'registry_id')
        get = svc.GetRegistryRequest(registry_id=params['registry_id']) if params['registry_id'] else None
        request = svc.ListRegistriesRequest(folder_id='' if get else module.require_folder_id())
        registries = module.yc.list_info(RegistryServiceStub, request, 'registries', params['name'],
                                         'of registries', get)
    except YCError as exc:
        module.fail_json(msg=exc.msg, **exc.extra)
    module.exit_json(changed=False, registries=[registry_to_user(r) for r in registries])


if __name__ == '__main__':
    main()
