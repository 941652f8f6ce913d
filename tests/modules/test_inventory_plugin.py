"""The yc_compute inventory plugin against localcloud, through `ansible-inventory` as a user runs it: two instance
groups of real instances; hosts named by preference, ansible_host, yc_* variables, the instance_groups / labels /
statuses filters, constructed (compose, groups, keyed_groups), the cache (a second run sends no List), and a clear
error without credentials."""

import json
import os
import subprocess
import sys
import uuid

import pytest
import yaml

from support import REPO_ROOT, ansible_env
from test_instance_group import group_args
from yc_modules_support import instance_group_base, ok, remove_instance_group_base, run_module

INVENTORY = os.path.join(os.path.dirname(sys.executable), 'ansible-inventory')
pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def groups(localcloud):
    """web (2 instances, labels tier=web) and db (1 instance, tier=db), labelled with this run's id."""
    base = instance_group_base(localcloud, 'inv')
    run_id = base['suffix']
    made = {}
    for tier, size in (('web', 2), ('db', 1)):
        args = group_args(base, size)
        name = 'inv-%s-%s' % (tier, run_id)
        args['name'] = name
        args['instance_template'].update(name=name + '-{instance.index}', hostname=name + '-{instance.index}',
                                         labels=dict(tier=tier, run=run_id))
        made[tier] = ok(run_module('yc_instance_group', localcloud, **args))
    yield dict(run_id=run_id, **made)
    for tier in ('web', 'db'):
        run_module('yc_instance_group', localcloud, name='inv-%s-%s' % (tier, run_id), state='absent')
    remove_instance_group_base(localcloud, base)


def inventory(localcloud, tmp_path, config, with_token=True, check=True, name=None, extra_args=()):
    """`ansible-inventory --list` of <name>.yc_compute.yml (a new name by default; the cache key is the file)
    holding `config`; the token comes from YC_TOKEN."""
    path = tmp_path / ('%s.yc_compute.yml' % (name or uuid.uuid4().hex[:6]))
    config = dict(dict(plugin='filmopoisk.shs.yc_compute', endpoint=localcloud.endpoint,
                       root_certificates=os.path.join(localcloud.state_dir, 'ca.pem'),
                       folder_id=localcloud.folder_id), **config)
    path.write_text(yaml.safe_dump(config))
    env = dict((k, v) for k, v in ansible_env().items() if not k.startswith('YC_'))
    if with_token:
        env['YC_TOKEN'] = localcloud.token
    env['ANSIBLE_INVENTORY_UNPARSED_FAILED'] = '1'
    done = subprocess.run([INVENTORY, '-i', str(path), '--list', *extra_args], cwd=REPO_ROOT, env=env, text=True,
                          capture_output=True, timeout=120)
    if check:
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)
    return done


def plain(value):
    """ansible-inventory marks values from the cloud as untrusted: {"__ansible_unsafe": value} (data tagging)."""
    if isinstance(value, dict):
        if set(value) == {'__ansible_unsafe'}:
            return value['__ansible_unsafe']
        return dict((k, plain(v)) for k, v in value.items())
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def hostvars(listed):
    return plain(listed['_meta']['hostvars'])


def test_hosts_of_groups_with_their_variables(localcloud, groups, tmp_path):
    run_id = groups['run_id']
    listed = inventory(localcloud, tmp_path, dict(instance_groups=['inv-web-' + run_id, groups['db']['instance_group']
                                                                   ['id']]))
    found = hostvars(listed)
    expected = sorted(i['fqdn'] for tier in ('web', 'db') for i in groups[tier]['instances'])
    assert sorted(found) == expected
    (web1,) = [i for i in groups['web']['instances'] if i['name'] == 'inv-web-%s-1' % run_id]
    host = found[web1['fqdn']]
    assert host['yc_id'] == web1['instance_id'] and host['yc_name'] == web1['name']
    assert host['ansible_host'] == host['yc_private_ip'] == web1['address']
    assert host['yc_status'] == 'RUNNING' and host['yc_zone_id'] == 'ru-central1-a'
    assert host['yc_instance_group'] == 'inv-web-' + run_id and host['yc_labels'] == {'tier': 'web', 'run': run_id}
    assert host['yc_folder_id'] == localcloud.folder_id


def test_filters_hostnames_and_constructed(localcloud, groups, tmp_path):
    run_id = groups['run_id']
    listed = inventory(localcloud, tmp_path, dict(
        labels=dict(run=run_id, tier='web'), hostnames=['nat_ip', 'name'], ansible_host='fqdn',
        compose=dict(tier="yc_labels.tier"), groups=dict(first="yc_name.endswith('-1')"),
        keyed_groups=[dict(key='yc_labels.tier', prefix='tier')]))
    found = hostvars(listed)
    # no NAT on these instances: the name is the next preference
    assert sorted(found) == ['inv-web-%s-1' % run_id, 'inv-web-%s-2' % run_id]
    for name, host in found.items():
        assert host['ansible_host'] == host['yc_fqdn'] == '%s.ru-central1.internal' % name
        assert host['tier'] == 'web'
    assert sorted(listed['tier_web']['hosts']) == sorted(found)
    assert listed['first']['hosts'] == ['inv-web-%s-1' % run_id]
    none = inventory(localcloud, tmp_path, dict(labels=dict(run=run_id), statuses=['STOPPED']))
    assert hostvars(none) == {}


def test_cache_spares_the_api(localcloud, groups, tmp_path):
    config = dict(labels=dict(run=groups['run_id']), cache=True, cache_plugin='ansible.builtin.jsonfile',
                  cache_connection=str(tmp_path / 'cache'), cache_timeout=600)
    def instance_lists():
        return len([c for c in localcloud.calls() if c['method'].endswith('.InstanceService/List')])

    localcloud.reset_calls()
    first = inventory(localcloud, tmp_path, config, name='cached')
    assert len(hostvars(first)) == 3 and instance_lists() == 1
    second = inventory(localcloud, tmp_path, config, name='cached')
    assert hostvars(second) == hostvars(first)
    assert instance_lists() == 1, 'the second run listed the instances again instead of using the cache'
    inventory(localcloud, tmp_path, config, name='cached', extra_args=['--flush-cache'])
    assert instance_lists() == 2


def test_no_credentials_is_a_clear_error(localcloud, groups, tmp_path):
    done = inventory(localcloud, tmp_path, {}, with_token=False, check=False)
    assert done.returncode != 0
    assert 'credentials' in done.stderr.lower() and 'YC_TOKEN' in done.stderr, done.stderr
    assert localcloud.token not in done.stderr
