# -*- coding: utf-8 -*-
# Copyright: filmopoisk.shs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one base every yc_* module uses: auth, the SDK client, retries, operation waits, errors, proto <-> dict.

    module = YCModule(argument_spec=dict(name=dict(type='str', required=True)), supports_check_mode=True)
    try:
        network = module.yc.call(NetworkServiceStub, 'Get', GetNetworkRequest(network_id=...), resource='network x')
        operation = module.yc.call(NetworkServiceStub, 'Create', request, resource="network 'x'",
                                   idempotent=False, recheck=lambda: find_network())
        network = module.yc.wait(operation, resource="network 'x'", response_type=Network)
    except YCError as exc:  # every failure, bad input included, is a YCError naming the option or the call
        module.fail_json(msg=exc.msg, **exc.extra)
    module.exit_json(changed=True, network=...)

A resource module's main() is the same with `result = SomeResource(module).ensure()`: ensure() returns the
result (changed, the resource, diff, update_mask, operation_id), main() exits once with it.

Channels: with O(api_endpoints) (the map yc_iam_token discovered once for the play) the client opens gRPC channels
to those addresses itself, with the IAM token as call credentials, so no module process repeats the discovery;
without it the SDK discovers the endpoints before its first call, as it always does.

Why our own waits and retries: the SDK's wait_operation_and_get_result returns silently when its timeout runs
out, and its retry policy makes an unreachable endpoint hang forever in discovery.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import json
import os
import random
import re
import time
import traceback
import uuid

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib

YC_IMPORT_ERROR = None
try:
    import grpc
    import yandexcloud
    from google.protobuf import json_format
    from google.protobuf.descriptor import FieldDescriptor
    from google.protobuf.field_mask_pb2 import FieldMask
    from yandex.cloud.endpoint.api_endpoint_service_pb2 import ListApiEndpointsRequest
    from yandex.cloud.endpoint.api_endpoint_service_pb2_grpc import ApiEndpointServiceStub
    from yandex.cloud.iam.v1.iam_token_service_pb2_grpc import IamTokenServiceStub
    from yandex.cloud.operation.operation_pb2 import Operation
    from yandex.cloud.operation.operation_service_pb2 import GetOperationRequest
    from yandex.cloud.operation.operation_service_pb2_grpc import OperationServiceStub
    from yandexcloud.auth import get_auth_token_requester
except ImportError:  # reported by YCModule with the package to install
    YC_IMPORT_ERROR = traceback.format_exc()

# No port: the SDK signs a service account's JWT for aud https://iam.<endpoint>/iam/v1/tokens, and YC documents
# exactly https://iam.api.cloud.yandex.net/iam/v1/tokens (en/iam/operations/iam-token/create-for-sa.md).
DEFAULT_ENDPOINT = 'api.cloud.yandex.net'
USER_AGENT = 'filmopoisk.shs-ansible'
# A single call's own deadline: a hung connection must not eat the whole retry budget.
CALL_TIMEOUT = 30
CREDENTIAL_OPTIONS = ('token', 'iam_token', 'service_account_key')
CREDENTIAL_ENV = (('token', 'YC_TOKEN'), ('iam_token', 'YC_IAM_TOKEN'),
                  ('service_account_key', 'YC_SERVICE_ACCOUNT_KEY_FILE'))
# Python package of a generated stub -> its id in ApiEndpointService.List, for the APIs the collection calls
# (the same ids the SDK maps them to: yandexcloud/_sdk.py _supported_modules).
SERVICE_IDS = (('yandex.cloud.compute.', 'compute'), ('yandex.cloud.containerregistry.', 'container-registry'),
               ('yandex.cloud.endpoint.', 'endpoint'), ('yandex.cloud.iam.', 'iam'),
               ('yandex.cloud.loadbalancer.', 'load-balancer'), ('yandex.cloud.operation.', 'operation'),
               ('yandex.cloud.resourcemanager.', 'resource-manager'),
               ('yandex.cloud.vpc.', 'vpc'))
# The SDK's own auth plugin sends no token to these two (yandexcloud/_auth_plugin.py): neither needs one.
UNAUTHENTICATED_SERVICES = ('yandex.cloud.endpoint.', 'yandex.cloud.iam.v1.iam_token_service_pb2_grpc')


def yc_argument_spec(waits=True):
    """The options of doc_fragments/yc.py (its WAIT options only for modules that wait for operations)."""
    spec = dict(
        token=dict(type='str', no_log=True),
        iam_token=dict(type='str', no_log=True),
        service_account_key=dict(type='raw', no_log=True),
        endpoint=dict(type='str', fallback=(env_fallback, ['YC_ENDPOINT'])),
        api_endpoints=dict(type='dict'),
        root_certificates=dict(type='str', fallback=(env_fallback, ['YC_ROOT_CERTIFICATES'])),
        folder_id=dict(type='str', fallback=(env_fallback, ['YC_FOLDER_ID'])),
        api_retry_timeout=dict(type='int', default=60),
    )
    if waits:
        spec.update(wait=dict(type='bool', default=True), wait_timeout=dict(type='int', default=600))
    return spec


def _retriable_codes():
    return (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.DEADLINE_EXCEEDED)


class YCError(Exception):
    """A failure to report as it is: msg names the resource/option; extra goes into the module result."""

    def __init__(self, msg, **extra):
        super(YCError, self).__init__(msg)
        self.msg = msg
        self.extra = extra


class YCClient(object):
    """Credentials, the SDK and calls with retries and waits. Raises YCError; used by YCModule and by the
    yc_compute inventory plugin. Nothing is sent to the API until the first call()."""

    def __init__(self, params, environ=None):
        self.params = dict(dict(api_retry_timeout=60, wait=True, wait_timeout=600), **params)
        environ = os.environ if environ is None else environ
        for option in ('api_retry_timeout', 'wait_timeout'):
            if self.params[option] is None or self.params[option] < 0:
                raise YCError('%s must be 0 or more, got %s' % (option, self.params[option]))
        self.endpoint = sdk_endpoint(self.params.get('endpoint') or DEFAULT_ENDPOINT)
        self.credentials = resolve_credentials(self.params, environ)
        self.root_certificates = read_root_certificates(self.params.get('root_certificates'))
        self.api_endpoints = api_endpoints_ok(self.params.get('api_endpoints'))
        self._sdk = None
        self._clients = {}
        self._channels = {}
        self._exchanged = None

    def sdk(self):
        if self._sdk is None:
            name, value = self.credentials
            self._sdk = yandexcloud.SDK(endpoint=self.endpoint, root_certificates=self.root_certificates,
                                        user_agent=USER_AGENT, **{name: value})
        return self._sdk

    def client(self, stub):
        if stub not in self._clients:
            self._clients[stub] = stub(self._channel(stub)) if self.api_endpoints else self.sdk().client(stub)
        return self._clients[stub]

    def _channel(self, stub):
        """A TLS channel to the stub's service address from api_endpoints (the same roots the SDK would use),
        with the IAM token as call credentials unless the service needs none. The token is exchanged once, here,
        when the credentials are not an IAM token."""
        service = service_id(stub)
        address = self.api_endpoints.get(service)
        if not address:
            raise YCError('api_endpoints: no address for service %r (%s); pass the map yc_iam_token returned, '
                          'or leave api_endpoints out to discover the endpoints' % (service, stub.__name__))
        authenticated = not stub.__module__.startswith(UNAUTHENTICATED_SERVICES)
        key = (address, authenticated)
        if key not in self._channels:
            credentials = grpc.ssl_channel_credentials(root_certificates=self.root_certificates)
            if authenticated:
                credentials = grpc.composite_channel_credentials(
                    credentials, grpc.access_token_call_credentials(self.iam_token()[0]))
            self._channels[key] = grpc.secure_channel(address, credentials,
                                                      options=(('grpc.primary_user_agent', USER_AGENT),))
        return self._channels[key]

    def discover(self):
        """The API's endpoints (ApiEndpointService.List at self.endpoint, no credentials): service id -> address.
        The same call the SDK makes before its first call; later clients get the map as api_endpoints."""
        if not self.api_endpoints:
            channel = grpc.secure_channel(self.endpoint, grpc.ssl_channel_credentials(self.root_certificates),
                                          options=(('grpc.primary_user_agent', USER_AGENT),))
            self._clients[ApiEndpointServiceStub] = ApiEndpointServiceStub(channel)
            found = self.list_all(ApiEndpointServiceStub, 'List', ListApiEndpointsRequest(), 'endpoints',
                                  'of API endpoints at %s' % self.endpoint)
            self.api_endpoints = dict((item.id, item.address) for item in found)
        return dict(self.api_endpoints)

    def call(self, stub, method, request, resource, idempotent=True, recheck=None, not_found_ok=False):
        """One RPC with retries; a gRPC error raises YCError naming the call, the resource and the code.

        idempotent=False (Create): a retriable failure is retried only when recheck() (a lookup) shows the
        resource was not created meanwhile; recheck()'s result is returned when it was. The request carries
        an Idempotency-Key, which YC honours for creates, as a second guard.
        not_found_ok: NOT_FOUND returns None (a Get of something that may not exist).
        """
        deadline = time.monotonic() + self.params['api_retry_timeout']
        metadata = None if idempotent else (('idempotency-key', str(uuid.uuid4())),)
        attempt = 0
        while True:
            attempt += 1
            try:
                # Discovery (first call) and the IAM token exchange happen in here too.
                rpc = getattr(self.client(stub), method)
                return rpc(request, timeout=CALL_TIMEOUT, metadata=metadata)
            except grpc.RpcError as exc:
                code = exc.code() if hasattr(exc, 'code') else None
                if not_found_ok and code == grpc.StatusCode.NOT_FOUND:
                    return None
                # A refused OAuth token or key comes back from the SDK's auth plugin as UNAVAILABLE: not retried.
                auth_failed = 'Getting metadata from plugin failed' in (exc.details() or '')
                if code not in _retriable_codes() or auth_failed or time.monotonic() >= deadline:
                    raise grpc_error(exc, '%s %s' % (method, resource), attempts=attempt)
                if not idempotent and recheck is not None:
                    created = recheck()
                    if created is not None:
                        return created
                delay = min(2 ** (attempt - 1) * 0.5, 8) * random.uniform(0.5, 1.0)
                time.sleep(max(0, min(delay, deadline - time.monotonic())))

    def iam_token(self):
        """(IAM token, expires_at RFC 3339 or None) for these credentials: the exchange the SDK itself makes
        (IamTokenService.Create with the OAuth token or the key's JWT, signed for self.endpoint); an IAM token is
        returned as it is, without a call. One exchange per client."""
        name, value = self.credentials
        if name == 'iam_token':
            return value, None
        if self._exchanged is None:
            request = get_auth_token_requester(**{name: value, 'endpoint': self.endpoint}).get_token_request()
            response = self.call(IamTokenServiceStub, 'Create', request, 'IAM token (from %s)' % name)
            self._exchanged = (response.iam_token, response.expires_at.ToJsonString())
        return self._exchanged

    def list_all(self, stub, method, request, field, resource):
        """Every item of a paged List call."""
        items = []
        while True:
            response = self.call(stub, method, request, resource)
            items.extend(getattr(response, field))
            if not response.next_page_token:
                return items
            request.page_token = response.next_page_token

    def find_by_name(self, stub, request, field, name, resource):
        """The one resource of that name in a List (filter name="..."), or None."""
        request.filter = 'name="%s"' % name.replace('\\', '\\\\').replace('"', '\\"')
        found = [item for item in self.list_all(stub, 'List', request, field, resource) if item.name == name]
        return found[0] if found else None

    def list_named(self, stub, request, field, name, resource):
        """What an _info module lists, by name: the one resource called name (none: []), or all when name is empty."""
        if name:
            found = self.find_by_name(stub, request, field, name, resource)
            return [found] if found is not None else []
        return sorted(self.list_all(stub, 'List', request, field, resource), key=lambda item: item.name)

    def list_info(self, stub, request, field, name, resource, get_request=None):
        """An _info module's listing: with get_request (the user gave an id), that one resource by Get (not found:
        []), kept only if it is also called name when name is set; else list_named()."""
        if get_request is None:
            return self.list_named(stub, request, field, name, resource)
        found = self.call(stub, 'Get', get_request, resource, not_found_ok=True)
        return [found] if found is not None and (not name or found.name == name) else []

    def wait(self, operation, resource, response_type=None):
        """Wait for an operation with our own deadline; return its unpacked response (or the Operation).

        With wait=false: return None at once (the caller reports operation_id).
        """
        if not self.params['wait']:
            return None
        deadline = time.monotonic() + self.params['wait_timeout']
        delay = 0.2
        while not operation.done:
            if time.monotonic() >= deadline:
                raise YCError('Timed out after %ds waiting for operation %s (%s) of %s; it goes on in the cloud, '
                              're-run to converge' % (self.params['wait_timeout'], operation.id,
                                                      operation.description, resource), operation_id=operation.id)
            time.sleep(min(delay, max(0, deadline - time.monotonic())))
            delay = min(delay * 2, 2.0)
            operation = self.call(OperationServiceStub, 'Get', GetOperationRequest(operation_id=operation.id),
                                  'operation %s of %s' % (operation.id, resource))
        if operation.HasField('error') and operation.error.code:
            code = grpc_code_name(operation.error.code)
            raise YCError('Operation %s (%s) of %s failed: %s: %s' % (
                operation.id, operation.description, resource, code, operation.error.message),
                operation_id=operation.id, grpc_code=code)
        if response_type is None:
            return operation
        response = response_type()
        if operation.HasField('response'):
            operation.response.Unpack(response)
        return response


def service_id(stub):
    for package, service in SERVICE_IDS:
        if stub.__module__.startswith(package):
            return service
    raise YCError('%s: not an API this collection knows the endpoint id of' % stub.__name__)


def api_endpoints_ok(value):
    """None, or a non-empty dict service id -> 'host:port'."""
    if value is None:
        return None
    if not isinstance(value, dict) or not value:
        raise YCError('api_endpoints must be a non-empty dict of service id -> host:port')
    for service, address in value.items():
        if not isinstance(address, str) or not re.match(r'^[^\s/]+:[0-9]+$', address):
            raise YCError('api_endpoints.%s: %r is not host:port' % (service, address))
    return dict(value)


def sdk_endpoint(endpoint):
    """The endpoint as the SDK gets it: 'host:443' -> 'host'. gRPC connects to 443 when no port is given (the same
    connection), and the SDK builds a JWT's aud from the endpoint string, so 'api.cloud.yandex.net:443' would
    sign for https://iam.api.cloud.yandex.net:443/iam/v1/tokens, which is not the audience YC documents."""
    host, sep, port = endpoint.rpartition(':')
    return host if sep and host and port == '443' else endpoint


def grpc_error(exc, action, attempts=1):
    code = exc.code().name if hasattr(exc, 'code') and exc.code() else 'UNKNOWN'
    details = exc.details() if hasattr(exc, 'details') else str(exc)
    msg = '%s failed: %s: %s' % (action, code, details)
    if attempts > 1:
        msg += ' (after %d attempts)' % attempts
    return YCError(msg, grpc_code=code)


def resolve_credentials(params, environ):
    """(option name, value) of the one credential to use; explicit options win over the environment."""
    explicit = [name for name in CREDENTIAL_OPTIONS if params.get(name) not in (None, '')]
    if len(explicit) > 1:
        raise YCError('parameters are mutually exclusive: %s' % ', '.join(explicit))
    if explicit:
        name = explicit[0]
        value = params[name]
    else:
        from_env = [(name, var) for name, var in CREDENTIAL_ENV if environ.get(var)]
        if not from_env:
            raise YCError('No Yandex Cloud credentials: set one of token, iam_token or service_account_key '
                          '(or YC_TOKEN, YC_IAM_TOKEN, YC_SERVICE_ACCOUNT_KEY_FILE).')
        if len(from_env) > 1:
            raise YCError('Several credentials in the environment (%s): keep one, or pass one of token, '
                          'iam_token, service_account_key' % ', '.join(pair[1] for pair in from_env))
        name, var = from_env[0]
        value = environ[var]
    if name == 'service_account_key':
        value = load_service_account_key(value)
    elif not isinstance(value, str):
        raise YCError('%s must be a string' % name)
    return name, value


def load_service_account_key(value):
    if isinstance(value, str) and not value.lstrip().startswith('{'):
        path = os.path.expanduser(value)
        try:
            with open(path) as handle:
                value = handle.read()
        except (IOError, OSError) as exc:
            raise YCError('service_account_key: cannot read the key file %s: %s' % (path, exc.strerror))
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise YCError('service_account_key: not a JSON authorized key (yc iam key create --output)')
    if not isinstance(value, dict):
        raise YCError('service_account_key must be a dict or the path of a JSON key file')
    missing = [key for key in ('id', 'service_account_id', 'private_key') if not value.get(key)]
    if missing:
        raise YCError('service_account_key: missing %s' % ', '.join(missing))
    if '-----BEGIN PRIVATE KEY-----' not in str(value['private_key']):
        raise YCError('service_account_key: private_key is not a PEM private key')
    return value


def read_root_certificates(value):
    """PEM text or the path of a PEM file -> bytes; None for the system trust store."""
    if not value:
        return None
    if '-----BEGIN' in value:
        return value.encode()
    path = os.path.expanduser(value)
    try:
        with open(path, 'rb') as handle:
            return handle.read()
    except (IOError, OSError) as exc:
        raise YCError('root_certificates: cannot read %s: %s' % (path, exc.strerror))


class YCModule(AnsibleModule):
    """AnsibleModule + its YCClient (module.yc), whose failures raise YCError. A module's main() catches YCError
    once, around all it does, and ends with one exit_json or fail_json."""

    def __init__(self, argument_spec=None, mutually_exclusive=None, waits=True, **kwargs):
        spec = yc_argument_spec(waits)
        spec.update(argument_spec or {})
        exclusive = list(mutually_exclusive or []) + [list(CREDENTIAL_OPTIONS)]
        super(YCModule, self).__init__(argument_spec=spec, mutually_exclusive=exclusive, **kwargs)
        if YC_IMPORT_ERROR:
            self.fail_json(msg=missing_required_lib('yandexcloud'), exception=YC_IMPORT_ERROR)
        try:  # like the argument spec checks above: bad credentials end the module before it starts
            self.yc = YCClient(self.params)
        except YCError as exc:
            self.fail_json(msg=exc.msg, **exc.extra)

    def require_folder_id(self):
        if not self.params.get('folder_id'):
            raise YCError('folder_id is required (or set YC_FOLDER_ID)')
        return self.params['folder_id']


def grpc_code_name(number):
    """13 -> 'INTERNAL' (an operation's error carries the bare number)."""
    for code in grpc.StatusCode:
        if code.value[0] == number:
            return code.name
    return str(number)


# -- proto <-> dict ---------------------------------------------------------------------------------------


def message_to_dict(message):
    """A message as plain python: int64 as int (MessageToDict gives strings), enums as names, every field
    present (defaults included) so before/after compare like for like; Duration -> seconds (int when whole)."""
    result = {}
    for field in message.DESCRIPTOR.fields:
        value = getattr(message, field.name)
        if _is_map(field):
            value_field = field.message_type.fields_by_name['value']
            result[field.name] = dict((k, _value_to_python(value_field, v)) for k, v in value.items())
        elif _is_repeated(field):
            result[field.name] = [_value_to_python(field, item) for item in value]
        elif field.type == FieldDescriptor.TYPE_MESSAGE and not message.HasField(field.name):
            result[field.name] = None
        else:
            result[field.name] = _value_to_python(field, value)
    return result


def _is_repeated(field):
    # protobuf >= 5 has is_repeated; label is deprecated there
    return field.is_repeated if hasattr(field, 'is_repeated') else field.label == FieldDescriptor.LABEL_REPEATED


def _is_map(field):
    return (_is_repeated(field) and field.type == FieldDescriptor.TYPE_MESSAGE
            and field.message_type.GetOptions().map_entry)


def _value_to_python(field, value):
    if field.type == FieldDescriptor.TYPE_ENUM:
        enum_value = field.enum_type.values_by_number.get(value)
        return enum_value.name if enum_value else value
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        full_name = field.message_type.full_name
        if full_name == 'google.protobuf.Duration':
            seconds = value.seconds + value.nanos / 1e9
            return int(seconds) if seconds == int(seconds) else seconds
        if full_name == 'google.protobuf.Timestamp':
            return value.ToJsonString() if (value.seconds or value.nanos) else None
        if full_name.startswith('google.protobuf.') and full_name.endswith('Value'):
            return value.value  # wrappers
        return message_to_dict(value)
    return value


def dict_to_message(data, message_type, field_name):
    """ParseDict with the error turned into a message naming the option."""
    try:
        return json_format.ParseDict(data, message_type(), ignore_unknown_fields=False)
    except json_format.ParseError as exc:
        raise ValueError('%s: %s' % (field_name, exc))


def changed_paths(before, after, paths):
    """The paths (dotted, of the given list) whose value differs between two plain dicts."""
    def get(data, path):
        for part in path.split('.'):
            if not isinstance(data, dict):
                return None
            data = data.get(part)
        return data
    return [path for path in paths if _normalise(get(before, path)) != _normalise(get(after, path))]


def _normalise(value):
    # An empty list/dict/string and "not set" are the same to the API.
    if value in ('', [], {}, None):
        return None
    if isinstance(value, dict):
        return dict((k, _normalise(v)) for k, v in value.items() if _normalise(v) is not None) or None
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    return value


def field_mask(paths):
    return FieldMask(paths=sorted(paths))


def named_resource_spec(**options):
    """Options of a module for one named resource of a folder: name, description, labels, purge_labels, state,
    plus its own (`option=None` leaves a common one out)."""
    spec = dict(name=dict(type='str', required=True), description=dict(type='str'), labels=dict(type='dict'),
                purge_labels=dict(type='bool', default=True),
                state=dict(type='str', default='present', choices=['present', 'absent']))
    spec.update(options)
    return dict((key, value) for key, value in spec.items() if value is not None)


def check_named_resource(module):
    """The checks of named_resource_spec's options, before any API call."""
    name_ok(module.params['name'])
    labels_ok(module.params['labels'])
    module.require_folder_id()


def labels_ok(labels, option='labels'):
    """YC label rules (keys [a-z][-_./\\@0-9a-z]{0,62}, values [-_./\\@0-9a-z]{0,63}, at most 64)."""
    if labels is None:
        return
    if len(labels) > 64:
        raise YCError('%s: at most 64 labels, got %d' % (option, len(labels)))
    for key, value in labels.items():
        if not re.match(r'^[a-z][-_./\\@0-9a-z]{0,62}$', key):
            raise YCError('%s: invalid key %r (lower-case letter first, then [-_./\\@0-9a-z], at most 63)'
                          % (option, key))
        if not isinstance(value, str) or not re.match(r'^[-_./\\@0-9a-z]{0,63}$', value):
            raise YCError('%s: invalid value %r for %r ([-_./\\@0-9a-z], at most 63)' % (option, value, key))


NAME_PATTERN = r'^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$'


def name_ok(name, option='name'):
    if name is not None and not re.match(NAME_PATTERN, name):
        raise YCError('%s: invalid name %r (lower-case letters, digits and hyphens, starts with a letter, '
                      'at most 63)' % (option, name))


def id_ok(value, option, limit=50):
    """A resource ID option: set (not V('')) and at most limit characters (the Get requests' rule in the protos,
    e.g. vpc/v1/network_service.proto GetNetworkRequest.network_id). None: the option was not given."""
    if value is not None and not (value and len(value) <= limit and re.match(r'^[-_.a-zA-Z0-9]+$', value)):
        raise YCError('%s: invalid ID %r (1 to %d letters, digits and -_.)' % (option, value, limit))


# -- the present/absent cycle every resource module shares --------------------------------------------------

class Resource(object):
    """How one kind of resource is read, created, updated and deleted; ensure() runs the cycle:
    find by name -> compare user-facing fields -> create / update (field mask of the changed paths only) /
    delete -> wait -> read back, and returns the module's result. Check mode stops before any write; the result's
    diff shows before/after.

    A subclass sets kind, stub, list_field and response_type and implements list_request(), get_request(id),
    to_user(message), create_request(desired), update_request(message, desired, paths) and
    delete_request(message). UPDATABLE: user-facing keys sent with a mask (the mask path is the key);
    IMMUTABLE: keys that cannot change once created (a clear error instead of a silent recreate).
    desired() gives the options of both that the user set; a subclass whose options need converting overrides it.
    """

    kind = None
    stub = None
    list_field = None
    response_type = None
    UPDATABLE = ('description', 'labels')
    IMMUTABLE = ()

    def __init__(self, module):
        self.module = module
        self.yc = module.yc
        self.params = module.params

    @property
    def label(self):
        return "%s '%s'" % (self.kind, self.params['name'])

    def find(self):
        return self.yc.find_by_name(self.stub, self.list_request(), self.list_field, self.params['name'],
                                    'of %ss' % self.kind)

    def get(self, resource_id):
        return self.yc.call(self.stub, 'Get', self.get_request(resource_id), self.label)

    def desired(self):
        """The UPDATABLE and IMMUTABLE options the user set (an option left out is not managed)."""
        return dict((key, self.params[key]) for key in self.UPDATABLE + self.IMMUTABLE
                    if self.params.get(key) is not None)

    def merged(self, before, desired):
        """What the resource looks like after an update: desired keys win; labels merge unless purged."""
        after = dict(before)
        for key, value in desired.items():
            if key == 'labels' and not self.params.get('purge_labels', True):
                value = dict(before.get('labels') or {}, **value)
            after[key] = value
        return after

    def result(self, changed, resource, before=None, **extra):
        """The module's result: changed, the resource under its kind, a diff when something changes, extras."""
        result = dict(extra, changed=changed, **{self.kind: resource})
        if changed:
            result['diff'] = dict(before=before or {}, after=resource)
        return result

    def ensure(self):
        """Bring the resource to the options; return the module's result (see result())."""
        current = self.find()
        before = self.to_user(current) if current is not None else {}
        if self.params['state'] == 'absent':
            return self.absent(current, before)

        desired = self.desired()
        if current is None:
            if self.module.check_mode:
                return self.result(True, dict(desired, name=self.params['name']))
            operation = self.yc.call(self.stub, 'Create', self.create_request(desired), self.label,
                                     idempotent=False, recheck=self.find)
            return self.finish(operation, {})

        after = self.merged(before, desired)
        for key in self.IMMUTABLE:
            if key in desired and changed_paths(before, after, [key]):
                raise YCError('%s: %s cannot be changed once created (it is %r, asked %r); delete the %s first or '
                              'use another name' % (self.label, key, before.get(key), desired[key], self.kind))
        paths = changed_paths(before, after, [key for key in self.UPDATABLE if key in desired])
        if not paths:
            return self.result(False, before)
        if self.module.check_mode:
            return self.result(True, after, before, update_mask=paths)
        return self.finish(self.update(current, after, paths), before, resource_id=current.id, update_mask=paths)

    def absent(self, current, before, method='Delete'):
        if current is None:
            return self.result(False, {})
        result = self.result(True, {}, before)
        if not self.module.check_mode:
            operation = self.yc.call(self.stub, method, self.delete_request(current), self.label)
            self.yc.wait(operation, self.label)
            result['operation_id'] = operation.id
        return result

    def update(self, current, after, paths):
        """Send the update; return its operations. One Update with a mask unless a subclass needs more."""
        return [self.yc.call(self.stub, 'Update', self.update_request(current, after, paths), self.label)]

    def finish(self, operations, before, resource_id=None, **extra):
        """Wait, then read the resource back so what is returned is what the cloud holds."""
        if not isinstance(operations, (list, Operation)):  # recheck() found what a retried create had made
            return self.result(True, self.to_user(operations), before, **extra)
        if not isinstance(operations, list):
            operations = [operations]
        done = None
        for operation in operations:
            done = self.yc.wait(operation, self.label, response_type=self.response_type)
        extra['operation_id'] = operations[-1].id
        if done is None:  # wait=false: the result is not known yet
            return dict(extra, changed=True, **{self.kind: {}})
        return self.result(True, self.to_user(self.get(resource_id or done.id)), before, **extra)


ZONE_PATTERN = r'^[a-z]{2}-[a-z]+[0-9]+-[a-z]$'


def zone_ok(zone, option='zone_id'):
    if zone is not None and not re.match(ZONE_PATTERN, zone):
        raise YCError('%s: invalid zone %r (like ru-central1-a)' % (option, zone))


def ipv4_network(cidr, option):
    """An IPv4 network in canonical form ('10.1.0.0/16'), as YC wants it: a host address with a prefix, or no
    prefix, is refused with the form to write."""
    try:
        network = ipaddress.IPv4Network(cidr, strict=False)
    except ValueError as exc:
        raise YCError('%s: invalid IPv4 CIDR %r: %s' % (option, cidr, exc))
    if '/' not in cidr or str(network) != cidr:
        raise YCError('%s: write %r as %s' % (option, cidr, network))
    return network


def cidrs_ok(cidrs, option):
    for cidr in cidrs or []:
        ipv4_network(cidr, option)
