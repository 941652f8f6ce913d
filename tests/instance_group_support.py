"""Helpers for instance group tests: a small COI payload that answers /ping, and what a group leaves behind.

    metadata = ping_metadata('pong')   # {"docker-compose", "user-data"}: python's http.server from the shs image
    leftovers(group_id)                # containers the group still has on the docker engine
    remove_nodes(state_dir)            # safety net: nodes outlive their localcloud, a failed test must not leak them
"""

import hashlib
import os
import random

from support import docker

# The web service runs in the node's netns; "80:8080" becomes a REDIRECT in the node (as on a COI VM).
PING_COMPOSE = '''services:
  web:
    image: %s
    entrypoint: ["python3", "-m", "http.server", "8080", "--directory", "/opt/www"]
    volumes: ["/opt/www:/opt/www:ro"]
    ports: ["80:8080"]
'''
PING_USER_DATA = '''#cloud-config
write_files:
  - path: /opt/www/ping
    content: "%s"
  - path: /opt/www/whoami
    content: "{instance.index} {instance.short_id} {instance_group.id}"
'''
OWNER_LABEL = 'org.filmopoisk.localcloud'
GROUP_LABEL = OWNER_LABEL + '.instance-group'


def ping_metadata(text='pong', image='filmopoisk/shs:latest'):
    return {'docker-compose': PING_COMPOSE % image, 'user-data': PING_USER_DATA % text}


def random_cidr():
    """A /24 no other test run is likely to use (docker refuses overlapping network subnets)."""
    return '10.%d.%d.0/24' % (random.randint(150, 250), random.randint(0, 255))


def leftovers(group_id):
    containers = docker('ps', '-aq', '--filter', 'label=%s=%s' % (GROUP_LABEL, group_id)).stdout.split()
    return containers


def subnet_networks(subnet_id):
    return docker('network', 'ls', '-q', '--filter', 'name=lc-' + subnet_id).stdout.split()


def owner_selector(state_dir):
    """The docker filter matching what the localcloud of state_dir made (its engine labels them)."""
    return 'label=%s=%s' % (OWNER_LABEL, hashlib.sha256(os.path.abspath(str(state_dir)).encode()).hexdigest()[:12])


def node_resources(state_dir):
    """(containers, networks) the localcloud of state_dir has on the docker engine."""
    selector = owner_selector(state_dir)
    return (docker('ps', '-aq', '--filter', selector).stdout.split(),
            docker('network', 'ls', '-q', '--filter', selector).stdout.split())


def remove_nodes(state_dir):
    """Remove every container and network the localcloud of state_dir made (its engine labels them), and its network
    load balancers' data plane (which outlives the server by design)."""
    selector = owner_selector(state_dir)
    containers = docker('ps', '-aq', '--filter', selector).stdout.split()
    containers += docker('ps', '-aq', '--filter', selector.replace(OWNER_LABEL + '=', OWNER_LABEL + '.nlb=')).stdout.split()
    if containers:
        docker('rm', '-f', '-v', *containers, check=False)
    networks = docker('network', 'ls', '-q', '--filter', selector).stdout.split()
    if networks:
        docker('network', 'rm', *networks, check=False)
    return containers
