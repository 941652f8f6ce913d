"""The servicers localcloud serves. A service module subclasses the SDK's generated Servicer and registers it:

    from yandex.cloud.vpc.v1 import network_service_pb2_grpc

    @registry.register
    class NetworkService(network_service_pb2_grpc.NetworkServiceServicer):
        public_methods = ()            # methods callable without an IAM token (default: none)
        def __init__(self, cloud): ...  # cloud: the app.LocalCloud (store, operations, ...)

and is listed in services/__init__.py. Methods it does not override answer UNIMPLEMENTED.
"""

import importlib
import sys

_REGISTERED = []


def _generated_base(cls):
    for base in cls.__mro__[1:]:
        if base.__name__.endswith('Servicer') and base.__module__.endswith('_pb2_grpc'):
            return base
    raise TypeError('%s does not subclass a generated *Servicer class' % cls.__name__)


def register(cls):
    base = _generated_base(cls)
    grpc_module = sys.modules[base.__module__]
    service_name = base.__name__[:-len('Servicer')]
    pb2 = importlib.import_module(base.__module__[:-len('_grpc')])
    cls.service_full_name = pb2.DESCRIPTOR.services_by_name[service_name].full_name
    cls.add_to_server = staticmethod(getattr(grpc_module, 'add_%s_to_server' % base.__name__))
    _REGISTERED.append(cls)
    return cls


def servicers():
    importlib.import_module('localcloud.server.services')  # imports every service module: they register
    return list(_REGISTERED)


def public_methods():
    return {'/%s/%s' % (cls.service_full_name, name) for cls in servicers()
            for name in getattr(cls, 'public_methods', ())}


# -- references between resources: "who uses this?" before a delete ----------------------------------
_REFERENCES = {}


def references(resource_cls):
    """Register fn(cloud, resource_id) -> ["instance group cl1...", ...] listing the users of a resource.

    Delete handlers call ensure_unused(); a service added later (e.g. instance groups using a service
    account, a subnet or a security group) only registers a function here.
    """
    def wrap(fn):
        _REFERENCES.setdefault(resource_cls.DESCRIPTOR.full_name, []).append(fn)
        return fn
    return wrap


def users_of(cloud, resource_cls, resource_id):
    found = []
    for fn in _REFERENCES.get(resource_cls.DESCRIPTOR.full_name, ()):
        found.extend(fn(cloud, resource_id))
    return found


def ensure_unused(cloud, resource_cls, resource_id, what):
    from localcloud.server.errors import failed_precondition
    found = users_of(cloud, resource_cls, resource_id)
    if found:
        raise failed_precondition('%s is in use by %s' % (what, ', '.join(found)))
