"""Access bindings (role + subject) of a resource: folders, clouds, service accounts share this code.

A servicer gets ListAccessBindings / SetAccessBindings / UpdateAccessBindings by mixing in
AccessBindingsMixin and defining `check_access_resource(resource_id)` (raise if it does not exist).
"""

import re

import grpc
from yandex.cloud.access import access_pb2
from yandex.cloud.iam.v1 import service_account_pb2

from localcloud.server import operations, rpc, validate
from localcloud.server.errors import ApiError, invalid

NS = 'access_bindings'
SUBJECT_TYPES = ('userAccount', 'serviceAccount', 'federatedUser', 'group', 'system', 'allUsers',
                 'allAuthenticatedUsers')
ROLE_ID = re.compile(r'[a-z][-a-z0-9]*(\.[a-zA-Z][-a-zA-Z0-9]*)*')
MAX_DELTAS = 1000


def _key(binding):
    return binding.role_id, binding.subject.type, binding.subject.id


def get(store, resource_id):
    return [access_pb2.AccessBinding(role_id=b['role_id'], subject=access_pb2.Subject(**b['subject']))
            for b in store.kv_get(NS, resource_id, [])]


def _put(store, resource_id, bindings):
    store.kv_put(NS, resource_id, [{'role_id': b.role_id, 'subject': {'id': b.subject.id, 'type': b.subject.type}}
                                   for b in bindings])


def check_binding(store, field, binding):
    if not ROLE_ID.fullmatch(binding.role_id):
        raise invalid(field + '.role_id', 'invalid role id %r' % binding.role_id)
    subject = binding.subject
    if subject.type not in SUBJECT_TYPES:
        raise invalid(field + '.subject.type', 'unknown subject type %r (types: %s)'
                      % (subject.type, ', '.join(SUBJECT_TYPES)))
    if not subject.id:
        raise invalid(field + '.subject.id', 'this field is required')
    if subject.type == 'serviceAccount' and store.get(service_account_pb2.ServiceAccount, subject.id) is None:
        raise ApiError(grpc.StatusCode.NOT_FOUND, 'Service account %s not found' % subject.id)


def apply_deltas(store, resource_id, deltas):
    """Apply ADD/REMOVE deltas; return the effective ones (an ADD of a present binding changes nothing)."""
    bindings = get(store, resource_id)
    present = {_key(b): b for b in bindings}
    effective = []
    for delta in deltas:
        key = _key(delta.access_binding)
        if delta.action == access_pb2.ADD and key not in present:
            present[key] = delta.access_binding
            effective.append(delta)
        elif delta.action == access_pb2.REMOVE and key in present:
            del present[key]
            effective.append(delta)
    _put(store, resource_id, list(present.values()))
    return effective


def replace(store, resource_id, bindings):
    before = {_key(b): b for b in get(store, resource_id)}
    after = {_key(b): b for b in bindings}
    effective = [access_pb2.AccessBindingDelta(action=access_pb2.REMOVE, access_binding=b)
                 for k, b in before.items() if k not in after]
    effective += [access_pb2.AccessBindingDelta(action=access_pb2.ADD, access_binding=b)
                  for k, b in after.items() if k not in before]
    _put(store, resource_id, list(after.values()))
    return effective


def remove_subject(store, subject_id):
    """Drop every binding of a subject (its service account was deleted)."""
    for resource_id, bindings in store.kv_items(NS):
        kept = [b for b in bindings if b['subject']['id'] != subject_id]
        if len(kept) != len(bindings):
            store.kv_put(NS, resource_id, kept)


def _result_type():
    """effective deltas -> the operation's response as the calling method's proto declares it (looked up here, in
    the RPC's thread): AccessBindingsOperationResult for iam/v1 and resourcemanager/v1, google.protobuf.Empty
    (None) for containerregistry/v1/registry_service.proto's Set/UpdateAccessBindings."""
    response_cls = operations.operation_types(rpc.current().method)[1]
    if response_cls is access_pb2.AccessBindingsOperationResult:
        return lambda effective: access_pb2.AccessBindingsOperationResult(effective_deltas=effective)
    return lambda effective: None


class AccessBindingsMixin:
    def check_access_resource(self, resource_id):
        raise NotImplementedError

    def ListAccessBindings(self, request, context):
        self.check_access_resource(request.resource_id)
        items, token = validate.page(get(self.cloud.store, request.resource_id), request.page_size,
                                     request.page_token)
        return access_pb2.ListAccessBindingsResponse(access_bindings=items, next_page_token=token)

    def SetAccessBindings(self, request, context):
        self.check_access_resource(request.resource_id)
        for i, binding in enumerate(request.access_bindings):
            check_binding(self.cloud.store, 'access_bindings[%d]' % i, binding)
        resource_id, bindings = request.resource_id, list(request.access_bindings)
        result = _result_type()

        def work():
            return result(replace(self.cloud.store, resource_id, bindings))
        return self.cloud.operations.start(access_pb2.SetAccessBindingsMetadata(resource_id=resource_id), work,
                                           'Set access bindings')

    def UpdateAccessBindings(self, request, context):
        self.check_access_resource(request.resource_id)
        validate.required('access_binding_deltas', request.access_binding_deltas)
        if len(request.access_binding_deltas) > MAX_DELTAS:
            raise invalid('access_binding_deltas', 'at most %d deltas' % MAX_DELTAS)
        for i, delta in enumerate(request.access_binding_deltas):
            field = 'access_binding_deltas[%d]' % i
            if delta.action not in (access_pb2.ADD, access_pb2.REMOVE):
                raise invalid(field + '.action', 'must be ADD or REMOVE')
            check_binding(self.cloud.store, field + '.access_binding', delta.access_binding)
        resource_id, deltas = request.resource_id, list(request.access_binding_deltas)
        result = _result_type()

        def work():
            return result(apply_deltas(self.cloud.store, resource_id, deltas))
        return self.cloud.operations.start(access_pb2.UpdateAccessBindingsMetadata(resource_id=resource_id), work,
                                           'Update access bindings')
