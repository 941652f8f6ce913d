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
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
author:
  - filmopoisk.shs contributors
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
  sample: {folder_id: b1g..., role_id: compute.editor, subject: {id: aje1..., type: serviceAccount}}
operation_id:
  description: The API operation of the write.
  returned: when something was written
  type: str
'''

from ansible_collections.filmopoisk.shs.plugins.module_utils.yc import YCModule

try:
    from yandex.cloud.access import access_pb2
    from yandex.cloud.resourcemanager.v1.folder_service_pb2_grpc import FolderServiceStub
except ImportError:
    pass  # YCModule reports the missing SDK

SUBJECT_TYPES = ('serviceAccount', 'userAccount', 'federatedUser', 'group', 'system')


def main():
    module = YCModule(
        argument_spec=dict(
            role=dict(type='str', required=True),
            member=dict(type='str'),
            subject_id=dict(type='str'),
            subject_type=dict(type='str', default='serviceAccount', choices=list(SUBJECT_TYPES)),
            state=dict(type='str', default='present', choices=['present', 'absent']),
        ),
        mutually_exclusive=[['member', 'subject_id']],
        required_one_of=[['member', 'subject_id']],
        supports_check_mode=True,
    )
    params = module.params
    folder_id = module.require_folder_id()
    if params['member']:
        subject_type, _, subject_id = params['member'].partition(':')
        if subject_type not in SUBJECT_TYPES or not subject_id:
            module.fail_json(msg="member: %r is not '<type>:<id>' with type one of %s"
                                 % (params['member'], ', '.join(SUBJECT_TYPES)))
    else:
        subject_type, subject_id = params['subject_type'], params['subject_id']
    binding = dict(folder_id=folder_id, role_id=params['role'], subject=dict(id=subject_id, type=subject_type))
    resource = "binding of role %s to %s:%s on folder %s" % (params['role'], subject_type, subject_id, folder_id)

    bindings = module.list_all(FolderServiceStub, 'ListAccessBindings',
                               access_pb2.ListAccessBindingsRequest(resource_id=folder_id), 'access_bindings',
                               'ListAccessBindings of folder %s' % folder_id)
    exists = any(b.role_id == params['role'] and b.subject.id == subject_id and b.subject.type == subject_type
                 for b in bindings)
    wanted = params['state'] == 'present'
    if exists == wanted:
        module.exit_json(changed=False, binding=binding)
    diff = dict(before=dict(binding=binding if exists else None), after=dict(binding=binding if wanted else None))
    if module.check_mode:
        module.exit_json(changed=True, binding=binding, diff=diff)
    delta = access_pb2.AccessBindingDelta(
        action=access_pb2.ADD if wanted else access_pb2.REMOVE,
        access_binding=access_pb2.AccessBinding(role_id=params['role'],
                                                subject=access_pb2.Subject(id=subject_id, type=subject_type)))
    # A delta, not SetAccessBindings: adding the same binding twice is a no-op, so a retry is safe.
    operation = module.call(FolderServiceStub, 'UpdateAccessBindings',
                            access_pb2.UpdateAccessBindingsRequest(resource_id=folder_id, access_binding_deltas=[delta]),
                            resource)
    module.wait(operation, resource)
    module.exit_json(changed=True, binding=binding, diff=diff, operation_id=operation.id)


if __name__ == '__main__':
    main()
