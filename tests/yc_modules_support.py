"""Run a yc_* module the way Ansible does (a python process reading its args file), against localcloud.

    result = run_module('yc_network', localcloud, name='shs-net', check=True)

The module process is real: real SDK, real gRPC over TLS to localcloud. Only the Ansible executor around it is
skipped (that path is covered by the playbook tests), which keeps a module call at ~0.5 s.
"""

import json
import os
import subprocess
import sys
import tempfile
import uuid

from support import REPO_ROOT

COLLECTIONS = os.path.join(REPO_ROOT, '.collections')


def auth_args(localcloud):
    return dict(endpoint=localcloud.endpoint, root_certificates=os.path.join(localcloud.state_dir, 'ca.pem'),
                token=localcloud.token, folder_id=localcloud.folder_id)


def run_module(module, localcloud=None, check=False, diff=True, env=None, auth=True, **args):
    """Return the module's result dict (failed=True + msg on failure)."""
    module_args = dict(auth_args(localcloud) if (auth and localcloud) else {}, **args)
    module_args.update(_ansible_check_mode=check, _ansible_diff=diff)
    with tempfile.NamedTemporaryFile('w', suffix='.json', delete=False) as handle:
        json.dump({'ANSIBLE_MODULE_ARGS': module_args}, handle)
    try:
        # The caller's env exactly, or ours without YC_* (so a developer's own credentials never leak in).
        base = env if env is not None else dict((k, v) for k, v in os.environ.items() if not k.startswith('YC_'))
        # The collection as Ansible runs a module: the `ansible_collections` package from the collections path
        # (ansible.cfg's .collections, where tools/setup.sh installs filmopoisk.shs), as AnsiballZ puts it on the
        # module's path. Collection code reached the way Ansible reaches it, not the repo's code by file location.
        process_env = dict(base, PYTHONPATH=COLLECTIONS)
        done = subprocess.run([sys.executable, '-m', 'ansible_collections.filmopoisk.shs.plugins.modules.' + module,
                               handle.name], capture_output=True, text=True, env=process_env, timeout=300)
    finally:
        os.unlink(handle.name)
    try:
        return json.loads(done.stdout)
    except ValueError:
        raise AssertionError('%s printed no JSON (rc %d):\n%s\n%s' % (module, done.returncode, done.stdout,
                                                                    done.stderr))


def ok(result):
    assert not result.get('failed'), result.get('msg')
    return result


def instance_group_base(localcloud, prefix):
    """What an instance group needs, made with the modules: network, subnet (a random /24), service account and
    the COI image; names <prefix>-net/-sub/-sa-<suffix>. Undo with remove_instance_group_base()."""
    from instance_group_support import random_cidr
    suffix = uuid.uuid4().hex[:6]
    network = ok(run_module('yc_network', localcloud, name='%s-net-%s' % (prefix, suffix)))['network']
    subnet = ok(run_module('yc_subnet', localcloud, name='%s-sub-%s' % (prefix, suffix), network_id=network['id'],
                           zone_id='ru-central1-a', v4_cidr_blocks=[random_cidr()]))['subnet']
    account = ok(run_module('yc_service_account', localcloud, name='%s-sa-%s' % (prefix, suffix)))['service_account']
    from iam_support import INSTANCE_GROUP_ROLES, grant
    grant(localcloud, account['id'], *INSTANCE_GROUP_ROLES)  # what YC checks for the group's VMs
    image = ok(run_module('yc_image_info', localcloud, family='container-optimized-image',
                          folder_id='standard-images'))['image']
    return dict(network=network, subnet=subnet, account=account, image=image, suffix=suffix, prefix=prefix)


def remove_instance_group_base(localcloud, base):
    """Remove what instance_group_base() made, and any node its groups left (nodes outlive localcloud)."""
    from instance_group_support import remove_nodes
    for module, kind in (('yc_service_account', 'sa'), ('yc_subnet', 'sub'), ('yc_network', 'net')):
        run_module(module, localcloud, name='%s-%s-%s' % (base['prefix'], kind, base['suffix']), state='absent')
    remove_nodes(localcloud.state_dir)
