"""Fault injection and the call log (both driven by the admin API; kept in memory, reset by a restart).

Both are for tests only: off unless `serve --test-faults` / `--call-log` (see admin.py).

A fault spec (JSON from POST /faults):
    {"method": "/yandex.cloud.vpc.v1.NetworkService/Create", "code": "UNAVAILABLE", "count": 2, "message": "..."}
        -> the next `count` calls of the method fail with that gRPC status (before the handler: nothing happens)
    {"method": ..., "code": "UNAVAILABLE", "lose_response": true, "count": 1}
        -> the next `count` calls of the method that succeed are processed (the write is done, the operation
           started has finished its work) and then the client gets that status instead of the response: what
           a connection lost after the server acted looks like (see rpc.py)
    {"method": ..., "operation_error": {"code": 13, "message": "..."}, "count": 1}
        -> the next `count` operations started by the method finish with that error (nothing is changed)
    {"method": ..., "operation_delay": 5.0, "count": 1}
        -> the next `count` operations started by the method take that long (may be combined with
           operation_error: the error comes after the delay)
"""

import collections
import threading

import grpc

MAX_CALLS = 100000


class FaultError(ValueError):
    pass


def _status_code(value, field):
    if isinstance(value, int) and not isinstance(value, bool):
        for code in grpc.StatusCode:
            if code.value[0] == value:
                return code
    elif isinstance(value, str) and value.upper() in grpc.StatusCode.__members__:
        return grpc.StatusCode[value.upper()]
    raise FaultError('%s: %r is not a gRPC status code (name like "UNAVAILABLE" or number)' % (field, value))


def parse(spec):
    """Validate a fault spec; return the normalised dict. Raises FaultError naming the field."""
    if not isinstance(spec, dict):
        raise FaultError('a fault is a JSON object')
    unknown = set(spec) - {'method', 'code', 'message', 'count', 'operation_error', 'operation_delay',
                           'lose_response'}
    if unknown:
        raise FaultError('unknown keys: %s' % ', '.join(sorted(unknown)))
    method = spec.get('method')
    if not isinstance(method, str) or not method.startswith('/') or method.count('/') != 2:
        raise FaultError('method: expected "/package.Service/Method", got %r' % (method,))
    count = spec.get('count', 1)
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise FaultError('count: expected a positive integer, got %r' % (count,))
    fault = {'method': method, 'count': count}
    if 'code' in spec:
        if 'operation_error' in spec or 'operation_delay' in spec:
            raise FaultError('code: a call fault cannot be combined with operation_error/operation_delay')
        code = _status_code(spec['code'], 'code')
        if code == grpc.StatusCode.OK:
            raise FaultError('code: OK is not a fault')
        fault['code'] = code.name
        fault['message'] = str(spec.get('message') or 'injected fault: %s' % code.name)
        lose = spec.get('lose_response', False)
        if not isinstance(lose, bool):
            raise FaultError('lose_response: expected true or false, got %r' % (lose,))
        if lose:
            fault['lose_response'] = True
        return fault
    if 'lose_response' in spec:
        raise FaultError('lose_response: needs code (the status the client gets instead of the response)')
    if 'operation_error' not in spec and 'operation_delay' not in spec:
        raise FaultError('one of code, operation_error, operation_delay is required')
    if 'operation_error' in spec:
        error = spec['operation_error']
        if not isinstance(error, dict) or 'code' not in error:
            raise FaultError('operation_error: expected {"code": N, "message": "..."}')
        code = _status_code(error['code'], 'operation_error.code')
        if code == grpc.StatusCode.OK:
            raise FaultError('operation_error.code: OK is not an error')
        fault['operation_error'] = {'code': code.value[0],
                                    'message': str(error.get('message') or 'injected operation error')}
    if 'operation_delay' in spec:
        delay = spec['operation_delay']
        if not isinstance(delay, (int, float)) or isinstance(delay, bool) or delay < 0:
            raise FaultError('operation_delay: expected seconds >= 0, got %r' % (delay,))
        fault['operation_delay'] = float(delay)
    return fault


class Faults:
    def __init__(self):
        self._lock = threading.Lock()
        self._faults = []

    def add(self, spec):
        fault = parse(spec)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self):
        with self._lock:
            self._faults = []

    def pending(self):
        with self._lock:
            return [dict(f) for f in self._faults]

    def _take(self, method, kinds, lose_response=False):
        with self._lock:
            for fault in self._faults:
                if (fault['method'] == method and any(k in fault for k in kinds)
                        and fault.get('lose_response', False) == lose_response):
                    fault['count'] -= 1
                    if fault['count'] <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def take_call(self, method, lose_response=False):
        """(grpc.StatusCode, message) for the next call of `method`, or None. lose_response=True: the faults
        that apply after the handler succeeded."""
        fault = self._take(method, ('code',), lose_response)
        return (grpc.StatusCode[fault['code']], fault['message']) if fault else None

    def take_operation(self, method):
        """{'operation_delay': s, 'operation_error': {...}} (either key optional) or None."""
        fault = self._take(method, ('operation_error', 'operation_delay'))
        if not fault:
            return None
        return dict((k, fault[k]) for k in ('operation_delay', 'operation_error') if k in fault)


class CallLog:
    def __init__(self, enabled=True):
        self.enabled = enabled  # off: nothing is kept (request bodies may hold secrets)
        self._lock = threading.Lock()
        self._calls = collections.deque(maxlen=MAX_CALLS)

    def append(self, entry):
        if not self.enabled:
            return
        with self._lock:
            self._calls.append(entry)

    def list(self, method_prefix=None):
        with self._lock:
            calls = list(self._calls)
        return [c for c in calls if not method_prefix or c['method'].startswith(method_prefix)]

    def clear(self):
        with self._lock:
            self._calls.clear()
