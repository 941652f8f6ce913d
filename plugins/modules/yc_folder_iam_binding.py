#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: filmopoisk.shs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: yc_folder_iam_binding
short_description: Grant or revoke one role on a Yandex Cloud folder for one subject
version_added: 0.2.0
description:
  - Read-modify-update of the folder's access bindings, like Terraform's C(yandex_resourcemanager_folder_iam_member)
    (not the authoritative C(_iam_binding)). Only this subject's role is added (C(ADD) delta) or removed
    (C(REMOVE) delta); bindings of everybody else are left alone.
options:
  role:
    description: Role ID, e.g. V(compute.editor), V(container-registry.images.puller).
    type: str
    required: true
  member:
    description:
      - The subject as Terraform writes it, V(<type>:<id>), e.g. V(serviceAccount:aje1...), V(userAccount:...),
        V(group:...), V(system:allUsers). Mutually exclusive with O(subject_id).
    type: str
  subject_id:
    description: ID of the subject. Requires O(subject_type).
    type: str
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
- name: Instance groups may create and delete VMs
  filmopoisk.shs.yc_folder_iam_binding:
    role: compute.editor
    subject_id: "{{ ig_sa.service_account.id }}"

- name: VMs may pull images from the registry
  filmopoisk.shs.yc_folder_iam_binding:
    role: container-registry.images.puller
    member: "serviceAccount:{{ vm_sa.service_account.id }}"
'''

RETURN = r'''
binding:
  description: The binding this task manages.
  returned: always
  type: dict
  contains:
    folder_id:
      description: The folder.
      type: str
      sample: b1gabcdefghijklmnopq
    role_id:
      description: The role.
      type: str
      sample: compute.editor
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
    from yandex.cloud.resourcemanager.v1.folder_service_pb2_grpc import FolderServiceStub
except ImportError:
    pass  # YCModule reports the missing SDK


def main():
    module = YCModule(
        # subject_id is optional here: member is the other way to name the subject.
        argument_spec=binding_spec(member=dict(type='str'), subject_id=dict(type='str')),
        mutually_exclusive=[['member', 'subject_id']],
        required_one_of=[['member', 'subject_id']],
        supports_check_mode=True,
    )
    try:
        result = ensure_binding(module, FolderServiceStub, 'folder', 'folder_id', module.require_folder_id())
    except YCError as exc:
        module.fail_json(msg=exc.msg, **exc.extra)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
