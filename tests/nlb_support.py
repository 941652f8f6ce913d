"""Helpers of the network load balancer tests: a free listener port, and removing a state dir's data plane."""

import hashlib
import os
import random
import socket
import time

from localcloud import nlb


def listen_port():
    """A free port a listener may use (YC: 1-32767, below the ephemeral range support.free_port draws from)."""
    for _ in range(100):
        port = random.randint(20000, 32000)
        with socket.socket() as sock:
            try:
                sock.bind(('127.0.0.1', port))
            except OSError:
                continue
            return port
    raise RuntimeError('no free port below 32768')


def remove_data_plane(state_dir, settle=3, timeout=20):
    """The data plane (HAProxy container) outlives the API server by design. Once a test's balancers are gone the
    plane removes its container on a later pass, but it may still be applying an older state (starting it): wait
    until the container has been gone for `settle` seconds, then remove it in any case."""
    name = nlb.CONTAINER_PREFIX + hashlib.sha256(os.path.abspath(state_dir).encode()).hexdigest()[:12]
    deadline, gone_since = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        if nlb.docker('inspect', name).returncode == 0:
            gone_since = None
        elif gone_since is None:
            gone_since = time.monotonic()
        elif time.monotonic() - gone_since >= settle:
            break
        time.sleep(0.2)
    nlb.remove(state_dir)
