#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: filmopoisk.shs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: yc_container_repository
short_description: Manage a repository of a Yandex Container Registry registry
version_added: 0.2.0
description:
  - Make sure a repository exists in a registry (the API's C(Upsert)), or delete it with every image in it.
  - A push creates its repository by itself; this module is for repositories made ahead of the images
    (e.g. to give them access bindings) and for removing one.
  - The same resource as Terraform's C(yandex_container_repository).
options:
  registry_id:
    description: ID of the registry (RV(filmopoisk.shs.yc_container_registry#module:registry.id)).
    type: str
    required: true
  name:
    description:
      - Repository name inside the registry, e.g. V(shs) or V(team/shs) (lower-case letters, digits and
        C(._-) separated path components). The full name the API uses is C(<registry_id>/<name>).
    type: str
    required: true
  state:
    description: V(absent) deletes the repository and its images.
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
- name: The app's repository
  filmopoisk.shs.yc_container_repository:
    registry_id: "{{ registry.registry.id }}"
    name: shs

- name: Remove it and its images
  filmopoisk.shs.yc_container_repository:
    registry_id: "{{ registry.registry.id }}"
    name: shs
    state: absent
'''

RETURN = r'''
repository:
  description: The repository (empty when absent; the requested one in check mode, without id).
  returned: always
  type: dict
  contains:
    id:
      description: The repository ID (none in check mode).
      type: str
      sample: crp5abcdefghijklmnop
    name:
      description: The full name, C(<registry_id>/<name>).
      type: str
      sample: crp1abcdefghijklmnop/shs
operation_id:
  description: The API operation of the write.
  returned: when something was written
  type: str
'''

from ansible_collections.filmopoisk.shs.plugins.module_utils.yc import YCError, YCModule
from ansible_collections.filmopoisk.shs.plugins.module_utils.yc_registry import repository_of, repository_to_user

try:
    from yandex.cloud.containerregistry.v1 import repository_pb2, repository_service_pb2 as svc
    from yandex.cloud.containerregistry.v1.repository_service_pb2_grpc import RepositoryServiceStub
except ImportError:
    pass  # YCModule reports the missing SDK


def ensure(module):
    """Find the repository by its full name; Upsert or Delete it; return the module's result."""
    params = module.params
    full_name = repository_of(params)
    label = "repository '%s'" % full_name

    current = module.yc.call(RepositoryServiceStub, 'GetByName',
                             svc.GetRepositoryByNameRequest(repository_name=full_name), label, not_found_ok=True)
    before = repository_to_user(current) if current is not None else {}
    if params['state'] == 'absent':
        if current is None:
            return dict(changed=False, repository={})
        result = dict(changed=True, diff=dict(before=before, after={}), repository={})
        if not module.check_mode:
            operation = module.yc.call(RepositoryServiceStub, 'Delete',
                                       svc.DeleteRepositoryRequest(repository_id=current.id), label)
            module.yc.wait(operation, label)
            result['operation_id'] = operation.id
        return result

    if current is not None:
        return dict(changed=False, repository=before)
    if module.check_mode:
        return dict(changed=True, diff=dict(before={}, after=dict(name=full_name)), repository=dict(name=full_name))
    # Upsert is idempotent: a retried call cannot make a second repository.
    operation = module.yc.call(RepositoryServiceStub, 'Upsert', svc.UpsertRepositoryRequest(name=full_name), label)
    done = module.yc.wait(operation, label, response_type=repository_pb2.Repository)
    after = repository_to_user(done) if done is not None else {}
    return dict(changed=True, diff=dict(before={}, after=after), repository=after, operation_id=operation.id)


def main():
    module = YCModule(
        argument_spec=dict(
            registry_id=dict(type='str', required=True),
            name=dict(type='str', required=True),
            state=dict(type='str', default='present', choices=['present', 'absent']),
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
