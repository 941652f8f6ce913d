"""What a network load balancer listener gives: a loopback TCP port that forwards to an instance group.

    forwarder = Forwarder('127.0.0.1', 8443, lambda: engine.running_addresses(group_id), 443)
    forwarder.start(); ...; forwarder.stop()

Each connection goes to the next address the lookup returns (round robin over the group's RUNNING instances,
asked again per connection, so healed and updated instances are picked up); an address that refuses is skipped.
No instance -> the connection is closed at once (an NLB with no healthy target answers nothing either).
"""

import itertools
import logging
import re
import socket
import threading

log = logging.getLogger('localcloud.publish')

CONNECT_TIMEOUT = 3
SPEC_RE = re.compile(r'(?:(?P<host>[0-9.]+|localhost):)?(?P<port>\d{1,5})=(?P<group>[a-z][-a-z0-9]{0,62}):'
                     r'(?P<target>\d{1,5})')


def parse_spec(spec):
    """'127.0.0.1:8443=shs-lb:443' -> (host, port, group name, target port); ValueError naming the problem."""
    match = SPEC_RE.fullmatch(spec.strip())
    if not match:
        raise ValueError('--publish %r: expected [HOST:]PORT=GROUP_NAME:PORT, e.g. 127.0.0.1:8443=shs-lb:443' % spec)
    port, target = int(match.group('port')), int(match.group('target'))
    if not (0 < port < 65536 and 0 < target < 65536):
        raise ValueError('--publish %r: ports must be 1-65535' % spec)
    return match.group('host') or '127.0.0.1', port, match.group('group'), target


class Forwarder:
    def __init__(self, host, port, targets, target_port, name=''):
        self.host, self.port, self.target_port = host, port, target_port
        self.targets = targets  # () -> [address, ...]
        self.name = name or '%s:%d' % (host, port)
        self._counter = itertools.count()
        self._server = None
        self._thread = None
        self._closing = threading.Event()

    def start(self):
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            server.bind((self.host, self.port))
        except OSError as exc:
            server.close()
            raise OSError('--publish %s: cannot listen on %s:%d: %s' % (self.name, self.host, self.port,
                                                                      exc.strerror or exc))
        server.listen(128)
        server.settimeout(0.5)
        self._server = server
        self._thread = threading.Thread(target=self._accept, name='publish-%d' % self.port, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._closing.set()
        if self._thread:
            self._thread.join(2)
        if self._server:
            self._server.close()

    def _accept(self):
        while not self._closing.is_set():
            try:
                client, _ = self._server.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _connect(self):
        addresses = [a for a in self.targets() if a]
        if not addresses:
            return None
        start = next(self._counter)
        for i in range(len(addresses)):
            address = addresses[(start + i) % len(addresses)]
            try:
                return socket.create_connection((address, self.target_port), timeout=CONNECT_TIMEOUT)
            except OSError as exc:
                log.info('%s: %s:%d refused (%s), trying the next instance', self.name, address, self.target_port,
                         exc)
        return None

    def _serve(self, client):
        upstream = self._connect()
        if upstream is None:
            client.close()
            return
        upstream.settimeout(None)
        client.settimeout(None)

        def pipe(source, sink):
            try:
                while True:
                    data = source.recv(65536)
                    if not data:
                        break
                    sink.sendall(data)
            except OSError:
                pass
            finally:
                try:
                    sink.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
        back = threading.Thread(target=pipe, args=(upstream, client), daemon=True)
        back.start()
        pipe(client, upstream)
        back.join()
        client.close()
        upstream.close()
