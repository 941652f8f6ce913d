#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: filmopoisk.shs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: yc_container_registry_iam_binding
short_description: Grant or revoke one role on a Yandex Container Registry registry for one subject
version_added: 0.3.0
description:
  - Read-modify-update of the access bindings of one registry, like Terraform's
    C(yandex_container_registry_iam_member) (not the authoritative C(_iam_binding)). Only this subject's role is
    added (C(ADD) delta) or removed (C(REMOVE) delta); bindings of everybody else are left alone.
  - A role on the registry applies to its repositories and images only, not to the rest of the folder
    (YC docs C(en/container-registry/operations/roles/grant.md)), e.g. V(container-registry.images.puller) for
    the VMs that pull, V(container-registry.images.pusher) for the build.
options:
  registry_id:
    description:
      - ID of the registry the role is granted on, e.g.
        RV(filmopoisk.shs.yc_container_registry#module:registry.id).
    type: str
    required: true
  role:
    description: Role ID, e.g. V(container-registry.images.puller), V(container-registry.images.pusher).
    type: str
    required: true
  subject_id:
    description: ID of the subject the role is granted to (of the type O(subject_type)).
    type: str
    required: true
  subject_type:
    description: Type of the subject.
    type: str
    choices: [serviceAccount, userAccount, federatedUser, group, system]
    default: serviceAccount
  state:
    description: V(present) grants the role, V(absent) revokes it.
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
- name: VMs may pull images from this registry only
  filmopoisk.shs.yc_container_registry_iam_binding:
    registry_id: "{{ registry.registry.id }}"
    role: container-registry.images.puller
    subject_id: "{{ vm_sa.service_account.id }}"

- name: The build pushes to it
  filmopoisk.shs.yc_container_registry_iam_binding:
    registry_id: "{{ registry.registry.id }}"
    role: container-registry.images.pusher
    subject_type: userAccount
    subject_id: ajeugsk5ubk6abcdefgh
'''

RETURN = r'''
binding:
  description: The binding this task manages (also when it was absent and stays so).
  returned: always
  type: dict
  contains:
    registry_id:
      description: The registry.
      type: str
      sample: crp1abcdefghijklmnop
    role_id:
      description: The role.
      type: str
      sample: container-registry.images.puller
    subject:
      description: Who has the role.
      type: dict
      contains:
        id:
          description: Subject ID.
          type: str
          sample: aje1abcdefghijklmnop
        type:
          description: Subject type.
          type: str
          sample: serviceAccount
operation_id:
  description: The API operation of the write.
  returned: when something was written
  type: str
'''

from ansible_collections.filmopoisk.shs.plugins.module_utils.yc import YCError, YCModule
from ansible_collections.filmopoisk.shs.plugins.module_utils.yc_access import binding_spec, ensure_binding

try:
    from yandex.cloud.containerregistry.v1.registry_service_pb2_grpc import RegistryServiceStub
except ImportError:
    pass  # YCModule reports the missing SDK


def main():
    module = YCModule(
        argument_spec=binding_spec(registry_id=dict(type='str', required=True)),
        supports_check_mode=True,
    )
    try:
        # containerregistry/v1/registry_service.proto: ListAccessBindings / UpdateAccessBindings, resource_id =
        # the registry.
        result = ensure_binding(module, RegistryServiceStub, 'registry', 'registry_id', module.params['registry_id'])
    except YCError as exc:
        module.fail_json(msg=exc.msg, **exc.extra)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
