#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: filmopoisk.shs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: yc_container_registry
short_description: Manage a Yandex Container Registry registry
version_added: 0.2.0
description:
  - Create, update or delete a Container Registry registry, found by O(name) in the folder.
  - Updates send only the changed fields (an update mask); a second run with the same options reports no change.
  - The same resource as Terraform's C(yandex_container_registry). Repositories are managed with
    M(filmopoisk.shs.yc_container_repository); images are built and pushed with M(filmopoisk.shs.yc_container_image).
options:
  name:
    description: Registry name (3-63 lower-case letters, digits and hyphens; starts with a letter).
    type: str
    required: true
  labels:
    description: Labels. Not managed when omitted; see O(purge_labels).
    type: dict
  purge_labels:
    description: Remove labels that are not in O(labels). With V(false), O(labels) are added to the existing ones.
    type: bool
    default: true
  force_absent:
    description:
      - With O(state=absent), delete the registry together with its repositories and images (the API's
        C(ForceDelete)).
      - With V(false) the API refuses to delete a registry that still has repositories.
    type: bool
    default: false
  state:
    description: V(absent) deletes the registry.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - filmopoisk.shs.yc
  - filmopoisk.shs.yc.wait
  - filmopoisk.shs.yc.attributes
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
author:
  - filmopoisk.shs contributors (@filmopoisk)
'''

EXAMPLES = r'''
- name: The deployment's registry
  filmopoisk.shs.yc_container_registry:
    name: shs-registry
    labels: {project: shs}
    folder_id: "{{ yc_folder_id }}"
  register: registry

- name: Remove it with every image in it
  filmopoisk.shs.yc_container_registry:
    name: shs-registry
    force_absent: true
    state: absent
'''

RETURN = r'''
registry:
  description: The registry as the API holds it after the run (empty when absent; the requested state in check mode).
  returned: always
  type: dict
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
update_mask:
  description: Fields sent in the update (only those that changed).
  returned: when updated
  type: list
  elements: str
operation_id:
  description: The API operation of the write.
  returned: when something was written
  type: str
'''

from ansible_collections.filmopoisk.shs.plugins.module_utils.yc import (
    YCError, YCModule, Resource, field_mask, labels_ok, named_resource_spec)
from ansible_collections.filmopoisk.shs.plugins.module_utils.yc_registry import registry_name_ok, registry_to_user

try:
    from yandex.cloud.containerregistry.v1 import registry_pb2, registry_service_pb2 as svc
    from yandex.cloud.containerregistry.v1.registry_service_pb2_grpc import RegistryServiceStub
except ImportError:
    pass  # YCModule reports the missing SDK


class ContainerRegistry(Resource):
    kind = 'registry'
    list_field = 'registries'
    UPDATABLE = ('labels',)

    def __init__(self, module):
        super(ContainerRegistry, self).__init__(module)
        self.stub = RegistryServiceStub
        self.response_type = registry_pb2.Registry

    def list_request(self):
        return svc.ListRegistriesRequest(folder_id=self.module.require_folder_id())

    def get_request(self, resource_id):
        return svc.GetRegistryRequest(registry_id=resource_id)

    def to_user(self, registry):
        return registry_to_user(registry)

    def create_request(self, desired):
        return svc.CreateRegistryRequest(folder_id=self.module.require_folder_id(), name=self.params['name'],
                                         labels=desired.get('labels', {}))

    def update_request(self, registry, after, paths):
        return svc.UpdateRegistryRequest(registry_id=registry.id, update_mask=field_mask(paths), name=registry.name,
                                         labels=after['labels'])

    def delete_request(self, registry):
        return svc.DeleteRegistryRequest(registry_id=registry.id)

    def absent(self, current, before, method='Delete'):
        # ForceDelete removes the repositories and images too; Delete refuses a registry that has them.
        return super(ContainerRegistry, self).absent(current, before,
                                                     'ForceDelete' if self.params['force_absent'] else method)


def main():
    module = YCModule(
        argument_spec=named_resource_spec(
            description=None,
            force_absent=dict(type='bool', default=False),
        ),
        supports_check_mode=True,
    )
    try:
        registry_name_ok(module.params['name'])
        labels_ok(module.params['labels'])
        module.require_folder_id()
        result = ContainerRegistry(module).ensure()
    except YCError as exc:
        module.fail_json(msg=exc.msg, **exc.extra)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
