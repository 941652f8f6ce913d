"""Command line for COI nodes: what molecule scenarios (and people at a shell) use.

    python -m coinode apply --name N --network NET --metadata FILE [--fqdn F] [--image I]
                            [--label K=V ...] [--state-dir D] [--timeout S]
    python -m coinode remove --name N [--keep-disks] [--network NET]
    python -m coinode status --name N

`apply` is idempotent: a running node whose metadata hash label equals the file's is left alone
(`"changed": false`); otherwise the node is replaced (its disks kept) and booted. Output: one JSON line.
The package is installed into the venv by tools/setup.sh (`pip install -e coinode`).
"""

import argparse
import hashlib
import json
import sys

from coinode import DEFAULT_IMAGE, DEFAULT_STATE_DIR, Node, NodeError, docker

METADATA_HASH_LABEL = 'org.filmopoisk.coi-node.metadata-hash'


def metadata_hash(metadata, image):
    blob = json.dumps({'metadata': metadata, 'image': image}, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def running_hash(name):
    result = docker('inspect', '-f', '{{.State.Running}} {{index .Config.Labels "%s"}}' % METADATA_HASH_LABEL,
                     name, check=False)
    if result.returncode != 0:
        return None
    running, _, digest = result.stdout.strip().partition(' ')
    return digest if running == 'true' else None


def load_metadata(path):
    try:
        with open(path) as handle:
            metadata = json.load(handle)
    except (OSError, ValueError) as exc:
        raise NodeError('--metadata %s: %s' % (path, exc))
    if not isinstance(metadata, dict):
        raise NodeError('--metadata %s: expected a JSON object with docker-compose and user-data' % path)
    return metadata


def cmd_apply(args):
    metadata = load_metadata(args.metadata)
    digest = metadata_hash(metadata, args.image)
    labels = dict(label.split('=', 1) for label in args.label)
    labels[METADATA_HASH_LABEL] = digest
    node = Node(args.name, metadata, args.network, image=args.image, fqdn=args.fqdn, labels=labels,
                state_dir=args.state_dir)
    if running_hash(args.name) == digest:
        return {'changed': False, 'name': args.name, 'metadata_hash': digest}
    node.remove(keep_disks=True)  # a changed template replaces the instance; its disks stay
    node.start()
    seconds = node.wait_ready(timeout=args.timeout)
    return {'changed': True, 'name': args.name, 'metadata_hash': digest, 'boot_seconds': round(seconds, 2)}


def cmd_remove(args):
    existed = docker('inspect', args.name, check=False).returncode == 0
    Node(args.name, {}, args.network, state_dir=args.state_dir).remove(keep_disks=args.keep_disks)
    return {'changed': existed, 'name': args.name}


def cmd_status(args):
    return Node(args.name, {}, '', state_dir=args.state_dir).status()


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m coinode', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest='command', required=True)
    apply_p = commands.add_parser('apply', help='create or replace a node so it runs this metadata')
    apply_p.add_argument('--name', required=True)
    apply_p.add_argument('--network', required=True)
    apply_p.add_argument('--metadata', required=True, help='JSON file {"docker-compose": ..., "user-data": ...}')
    apply_p.add_argument('--fqdn')
    apply_p.add_argument('--image', default=DEFAULT_IMAGE)
    apply_p.add_argument('--label', action='append', default=[], help='KEY=VALUE, repeatable')
    apply_p.add_argument('--timeout', type=float, default=90)
    remove_p = commands.add_parser('remove', help='remove a node, its services and (unless kept) its disks')
    remove_p.add_argument('--name', required=True)
    remove_p.add_argument('--network', default='', help='removed too when this library created it and it is empty')
    remove_p.add_argument('--keep-disks', action='store_true')
    status_p = commands.add_parser('status', help='state of a node and its services')
    status_p.add_argument('--name', required=True)
    for sub in (apply_p, remove_p, status_p):
        sub.add_argument('--state-dir', default=DEFAULT_STATE_DIR)
    args = parser.parse_args(argv)
    try:
        result = {'apply': cmd_apply, 'remove': cmd_remove, 'status': cmd_status}[args.command](args)
    except NodeError as exc:
        print(json.dumps({'failed': True, 'msg': str(exc)}))
        return 1
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == '__main__':
    sys.exit(main())
