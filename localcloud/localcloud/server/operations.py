"""Operations: a mutating call returns Operation(done=False) and its work runs in a background thread.

    def Create(self, request, context):
        ...validate (errors here fail the call itself)...
        def work():                       # runs in the worker, inside a store transaction
            self.store.put(network)
            return network                # the operation's response (None -> google.protobuf.Empty)
        return self.cloud.operations.start(CreateNetworkMetadata(network_id=nid), work, 'Create network')

The metadata and response are packed as the method's `yandex.cloud.api.operation` option says (the
metadata type is checked). An ApiError raised by `work` becomes the operation's error. Faults injected
for the calling method delay the work or replace it with an error.

Long work (booting instances, health waits) passes transaction=False: it then runs without holding the store
lock (the rest of the API keeps answering) and opens its own store.transaction() for each change.
"""

import logging
import threading

import grpc
from google.protobuf import descriptor_pool, empty_pb2, message_factory, timestamp_pb2
from yandex.cloud.api import operation_pb2 as api_operation_pb2
from yandex.cloud.operation import operation_pb2, operation_service_pb2_grpc

from localcloud.server import ids, registry, rpc
from localcloud.server.errors import ApiError, not_found

log = logging.getLogger('localcloud.operations')

Operation = operation_pb2.Operation

# Operation id prefix per API package (YC's operation ids look like the service's resource ids).
OP_PREFIX = {'vpc': 'enp', 'iam': 'aje', 'resourcemanager': 'b1g', 'compute': 'fhm', 'containerregistry': 'crp'}
# How long OperationService.Get waits for a running quick operation (transactional work, no injected delay):
# the work takes milliseconds, so the SDK's first poll already sees done=True (and does not sleep its 1 s).
GET_SETTLE_SECONDS = 0.5


def _resolve(name, package):
    """Resolve a type name from an operation option the way protoc resolves names (innermost scope first)."""
    pool = descriptor_pool.Default()
    parts = package.split('.')
    for i in range(len(parts), -1, -1):
        candidate = '.'.join(parts[:i] + [name])
        try:
            return message_factory.GetMessageClass(pool.FindMessageTypeByName(candidate))
        except KeyError:
            continue
    raise KeyError('cannot resolve %s in %s' % (name, package))


def operation_types(method):
    """(metadata class, response class) from the `yandex.cloud.api.operation` option of "/pkg.Svc/Method"."""
    service, name = method.strip('/').split('/')
    descriptor = descriptor_pool.Default().FindMethodByName('%s.%s' % (service, name))
    options = descriptor.GetOptions()
    if not options.HasExtension(api_operation_pb2.operation):
        raise TypeError('%s does not return an operation' % method)
    option = options.Extensions[api_operation_pb2.operation]
    package = descriptor.containing_service.file.package
    return _resolve(option.metadata, package), _resolve(option.response, package)


def _now():
    stamp = timestamp_pb2.Timestamp()
    stamp.GetCurrentTime()
    return stamp


class Operations:
    def __init__(self, cloud):
        self.cloud = cloud
        self.store = cloud.store
        self._lock = threading.Lock()
        self._running = {}  # id -> (threading.Event done, threading.Event cancel, quick)
        self._stopping = threading.Event()

    @property
    def stopping(self):
        """threading.Event set when the server stops: long (transaction=False) work should give up then."""
        return self._stopping

    def fail_interrupted(self):
        """Operations a previous process left running cannot finish: mark them failed."""
        for op in self.store.list(Operation, where=lambda o: not o.done):
            op.done = True
            op.modified_at.CopyFrom(_now())
            op.error.code = 10  # ABORTED
            op.error.message = 'operation interrupted by a localcloud restart'
            self.store.put(op)

    def stop(self, timeout):
        """Cut injected delays short and give running work `timeout` seconds to finish."""
        self._stopping.set()
        with self._lock:
            running = list(self._running.values())
        for done, cancel, _ in running:
            cancel.set()
            done.wait(timeout)

    def start(self, metadata, work, description='', transaction=True, method=None):
        """Start an operation of the calling RPC's method (`method`: for one started outside an RPC)."""
        call = rpc.current() or rpc.Call(method)
        method = method or call.method
        meta_cls, response_cls = operation_types(method)
        if not isinstance(metadata, meta_cls):
            raise TypeError('%s: metadata must be %s' % (method, meta_cls.DESCRIPTOR.full_name))
        package = method.strip('/').split('.')[2]
        subject = call.subject or {}
        op = Operation(id=ids.new(OP_PREFIX.get(package, 'lco')), description=description,
                       created_at=_now(), created_by=subject.get('id', ''), done=False)
        op.modified_at.CopyFrom(op.created_at)
        op.metadata.Pack(metadata)
        self.store.put(op)
        fault = self.cloud.faults.take_operation(method) or {}
        done, cancel = threading.Event(), threading.Event()
        quick = transaction and 'operation_delay' not in fault
        with self._lock:
            self._running[op.id] = (done, cancel, quick)
        threading.Thread(target=self._run, args=(op.id, work, response_cls, fault, done, cancel, transaction),
                         name='op-' + op.id, daemon=True).start()
        return op

    def _run(self, op_id, work, response_cls, fault, done, cancel, transaction):
        error = response = None
        try:
            delay = fault.get('operation_delay', 0)
            if delay and cancel.wait(delay):
                if self._stopping.is_set():
                    raise ApiError(grpc.StatusCode.ABORTED, 'operation interrupted: localcloud stopped')
                raise ApiError(grpc.StatusCode.CANCELLED, 'operation cancelled')
            if 'operation_error' in fault:
                error = fault['operation_error']
            elif transaction:
                with self.store.transaction():
                    response = work()
            else:
                response = work()
            if response is None:
                response = empty_pb2.Empty()
            if error is None and not isinstance(response, response_cls):
                raise TypeError('operation response must be %s, got %s'
                                % (response_cls.DESCRIPTOR.full_name, response.DESCRIPTOR.full_name))
        except ApiError as exc:
            error = {'code': exc.rpc_code, 'message': exc.message}
        except Exception as exc:
            log.exception('operation %s failed', op_id)
            error = {'code': 13, 'message': 'internal error: %s' % exc}
        try:
            op = self.store.get(Operation, op_id)
            op.done = True
            op.modified_at.CopyFrom(_now())
            if error:
                op.error.code, op.error.message = error['code'], error['message']
            else:
                op.response.Pack(response)
            self.store.put(op)
        except Exception:
            log.exception('operation %s: cannot record the result', op_id)
        finally:
            with self._lock:
                self._running.pop(op_id, None)
            done.set()

    def get(self, op_id):
        with self._lock:
            running = self._running.get(op_id)
        if running and running[2]:
            running[0].wait(GET_SETTLE_SECONDS)
        op = self.store.get(Operation, op_id)
        if op is None:
            raise not_found('Operation', op_id)
        return op

    def cancel(self, op_id):
        with self._lock:
            running = self._running.get(op_id)
        if running:
            running[1].set()
            running[0].wait(5)
        return self.get(op_id)


@registry.register
class OperationService(operation_service_pb2_grpc.OperationServiceServicer):
    def __init__(self, cloud):
        self.operations = cloud.operations

    def Get(self, request, context):
        return self.operations.get(request.operation_id)

    def Cancel(self, request, context):
        return self.operations.cancel(request.operation_id)
