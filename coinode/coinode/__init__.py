"""coinode: a Container Optimized Image VM as a container on the local Docker engine (see node.py, README.md).

    from coinode import Node, NodeError
    node = Node('app-1', {'docker-compose': spec, 'user-data': cloud_config}, 'my-network')
    node.start(); node.wait_ready()

Used by localcloud's instance groups, by molecule (`python -m coinode apply ...`) and by the tests.
"""

from coinode.node import (DEFAULT_IMAGE, DEFAULT_SHARED_PATHS, DEFAULT_STATE_DIR, Node, NodeError, SpecPlan,
                          docker, dump_spec, parse_ports, ports_script, rewrite_spec)

__all__ = ['DEFAULT_IMAGE', 'DEFAULT_SHARED_PATHS', 'DEFAULT_STATE_DIR', 'Node', 'NodeError', 'SpecPlan', 'docker',
           'dump_spec', 'parse_ports', 'ports_script', 'rewrite_spec']
