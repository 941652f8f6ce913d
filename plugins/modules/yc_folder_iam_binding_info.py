#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: filmopoisk.shs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: yc_folder_iam_binding_info
short_description: List the access bindings (roles) of a Yandex Cloud folder
version_added: 0.3.0
description:
  - Returns the access bindings of the folder O(folder_id) (who has which role on it), each binding in the shape
    M(filmopoisk.shs.yc_folder_iam_binding) manages, optionally only those of one role and/or one subject.
  - Roles inherited from above (the cloud's for a folder, the folder's for a registry or an account) are not listed;
    C(ListAccessBindings) returns the bindings set on the resource itself.
  - Changes nothing.
options:
  role:
    description: Only the bindings of this role, e.g. V(compute.editor).
    type: str
  member:
    description:
      - Only the bindings of this subject, as Terraform writes it, V(<type>:<id>), e.g. V(serviceAccount:aje1...).
        Mutually exclusive with O(subject_id) and O(subject_type).
    type: str
  subject_id:
    description: Only the bindings of the subject of this ID.
    type: str
  subject_type:
    description: Only the bindings of subjects of this type.
    type: str
    choices: [serviceAccount, userAccount, federatedUser, group, system]
extends_documentation_fragment:
  - filmopoisk.shs.yc
  - filmopoisk.shs.yc.info_attributes
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
author:
  - filmopoisk.shs contributors (@filmopoisk)
'''

EXAMPLES = r'''
- name: The roles of the instance groups' account on the folder
  filmopoisk.shs.yc_folder_iam_binding_info:
    member: "serviceAccount:{{ ig_sa.service_accounts[0].id }}"
  register: ig_roles

- name: They include compute.editor
  ansible.builtin.assert:
    that: "'compute.editor' in ig_roles.bindings | map(attribute='role_id')"

- name: Who may pull images anywhere in the folder
  filmopoisk.shs.yc_folder_iam_binding_info:
    role: container-registry.images.puller
  register: pullers
'''

RETURN = r'''
bindings:
  description: The access bindings, by role, subject type and subject ID, in the shape of
    RV(filmopoisk.shs.yc_folder_iam_binding#module:binding).
  returned: always
  type: list
  elements: dict
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
'''

from ansible_collections.filmopoisk.shs.plugins.module_utils.yc import YCError, YCModule
from ansible_collections.filmopoisk.shs.plugins.module_utils.yc_access import binding_filter_spec, list_bindings

try:
    from yandex.cloud.resourcemanager.v1.folder_service_pb2_grpc import FolderServiceStub
except ImportError:
    pass  # YCModule reports the missing SDK


def main():
    module = YCModule(
        waits=False,
        argument_spec=binding_filter_spec(),
        mutually_exclusive=[['member', 'subject_id'], ['member', 'subject_type']],
        supports_check_mode=True,
    )
    try:
        # resourcemanager/v1/folder_service.proto: ListAccessBindings, resource_id = the folder.
        bindings = list_bindings(module, FolderServiceStub, 'folder', 'folder_id', module.require_folder_id())
    except YCError as exc:
        module.fail_json(msg=exc.msg, **exc.extra)
    module.exit_json(changed=False, bindings=bindings)


if __name__ == '__main__':
    main()
