# -*- coding: utf-8 -*-
# Copyright: filmopoisk.shs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One role for one subject on one resource, like Terraform's C(*_iam_member): shared by yc_folder_iam_binding,
yc_service_account_iam_binding and yc_container_registry_iam_binding, and the listing of their _info twins (one
binding shape for both, binding_to_user()).

Every YC service with access bindings takes the same requests of yandex/cloud/access/access.proto
(ListAccessBindings / UpdateAccessBindings with a resource_id), so only the stub and the resource differ:

    result = ensure_binding(module, ServiceAccountServiceStub, 'service account', 'service_account_id', account_id)
    bindings = list_bindings(module, ServiceAccountServiceStub, 'service account', 'service_account_id', account_id)
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.filmopoisk.shs.plugins.module_utils.yc import YCError

try:
    from yandex.cloud.access import access_pb2
except ImportError:
    pass  # YCModule reports the missing SDK

SUBJECT_TYPES = ('serviceAccount', 'userAccount', 'federatedUser', 'group', 'system')
# access.proto: resource_id and role_id are required, at most 64 characters; subject.id required, at most 100.
MAX_RESOURCE_ID, MAX_ROLE_ID, MAX_SUBJECT_ID = 64, 64, 100


def binding_spec(**options):
    """Options of a binding module: role, subject_id, subject_type, state, plus its own (the resource's id)."""
    spec = dict(role=dict(type='str', required=True),
                subject_id=dict(type='str', required=True),
                subject_type=dict(type='str', default='serviceAccount', choices=list(SUBJECT_TYPES)),
                state=dict(type='str', default='present', choices=['present', 'absent']))
    spec.update(options)
    return spec


def subject_of(params):
    """(type, id) of the subject: from O(member) ('<type>:<id>', Terraform's way) when the module has it and it is
    set, else from O(subject_type)/O(subject_id)."""
    member = params.get('member')
    if not member:
        return params['subject_type'], params['subject_id']
    subject_type, subject_id = member.partition(':')[::2]
    if subject_type not in SUBJECT_TYPES or not subject_id:
        raise YCError("member: %r is not '<type>:<id>' with type one of %s" % (member, ', '.join(SUBJECT_TYPES)))
    return subject_type, subject_id


def binding_filter_spec(**options):
    """Options of a binding _info module: the filters role, member, subject_id, subject_type (all optional), plus
    its own (the resource's id)."""
    spec = dict(role=dict(type='str'), member=dict(type='str'), subject_id=dict(type='str'),
                subject_type=dict(type='str', choices=list(SUBJECT_TYPES)))
    spec.update(options)
    return spec


def binding_to_user(resource_option, resource_id, role_id, subject_type, subject_id):
    """A binding as the modules return it: {<resource_option>: id, role_id, subject: {id, type}}."""
    return {resource_option: resource_id, 'role_id': role_id, 'subject': dict(id=subject_id, type=subject_type)}


def _check(option, value, limit):
    if not value or len(value) > limit:
        raise YCError('%s: must be 1 to %d characters, got %r' % (option, limit, value))


def ensure_binding(module, stub, kind, resource_option, resource_id):
    """Read the resource's bindings; add (state=present) or remove (absent) the role's binding of the options'
    subject (subject_of()) with a delta if needed. Returns the module's result (changed, binding, diff,
    operation_id). kind names the resource in messages ('folder'); resource_option is its id's key in the returned
    binding and in errors ('folder_id')."""
    role = module.params['role']
    subject_type, subject_id = subject_of(module.params)
    # Before any API call: what access.proto requires, each error naming its option.
    _check(resource_option, resource_id, MAX_RESOURCE_ID)
    _check('role', role, MAX_ROLE_ID)
    _check('member' if module.params.get('member') else 'subject_id', subject_id, MAX_SUBJECT_ID)

    binding = binding_to_user(resource_option, resource_id, role, subject_type, subject_id)
    resource = "binding of role %s to %s:%s on %s %s" % (role, subject_type, subject_id, kind, resource_id)
    bindings = module.yc.list_all(stub, 'ListAccessBindings',
                                  access_pb2.ListAccessBindingsRequest(resource_id=resource_id), 'access_bindings',
                                  'ListAccessBindings of %s %s' % (kind, resource_id))
    exists = any(b.role_id == role and b.subject.id == subject_id and b.subject.type == subject_type
                 for b in bindings)
    wanted = module.params['state'] == 'present'
    if exists == wanted:
        return dict(changed=False, binding=binding)
    result = dict(changed=True, binding=binding,
                  diff=dict(before=dict(binding=binding if exists else None),
                            after=dict(binding=binding if wanted else None)))
    if module.check_mode:
        return result
    delta = access_pb2.AccessBindingDelta(
        action=access_pb2.ADD if wanted else access_pb2.REMOVE,
        access_binding=access_pb2.AccessBinding(role_id=role,
                                                subject=access_pb2.Subject(id=subject_id, type=subject_type)))
    # A delta, not SetAccessBindings: other subjects' bindings stay, and adding the same binding twice is a no-op,
    # so a retry is safe.
    operation = module.yc.call(stub, 'UpdateAccessBindings',
                               access_pb2.UpdateAccessBindingsRequest(resource_id=resource_id,
                                                                      access_binding_deltas=[delta]),
                               resource)
    module.yc.wait(operation, resource)
    return dict(result, operation_id=operation.id)


def list_bindings(module, stub, kind, resource_option, resource_id):
    """The resource's access bindings (ListAccessBindings), those matching the filter options (role, the subject
    of member or subject_id/subject_type) only, sorted by role and subject; in binding_to_user()'s shape."""
    params = module.params
    _check(resource_option, resource_id, MAX_RESOURCE_ID)
    if params['role'] is not None:
        _check('role', params['role'], MAX_ROLE_ID)
    subject_type, subject_id = params['subject_type'], params['subject_id']
    if params['member']:
        if subject_id or subject_type:
            raise YCError('member: set either member or subject_id/subject_type, not both')
        subject_type, subject_id = subject_of(params)
    if subject_id is not None:
        _check('subject_id', subject_id, MAX_SUBJECT_ID)
    found = module.yc.list_all(stub, 'ListAccessBindings',
                               access_pb2.ListAccessBindingsRequest(resource_id=resource_id), 'access_bindings',
                               'ListAccessBindings of %s %s' % (kind, resource_id))
    wanted = [b for b in found if params['role'] in (None, b.role_id) and subject_type in (None, b.subject.type)
              and subject_id in (None, b.subject.id)]
    wanted.sort(key=lambda b: (b.role_id, b.subject.type, b.subject.id))
    return [binding_to_user(resource_option, resource_id, b.role_id, b.subject.type, b.subject.id) for b in wanted]
