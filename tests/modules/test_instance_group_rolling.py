"""yc_instance_group_rolling against localcloud: check mode lists what it would restart and calls nothing that
writes; bad input names the option before any write; a restart keeps the VMs, a recreate of one (by name) replaces
only that one; both report changed and return the group RUNNING_ACTUAL again. Then playbooks/rolling_restart.yml
on the same group as a deployment's app tier."""

import json
import os
import re
import subprocess
import sys

import pytest

from instance_group_support import leftovers
from test_instance_group import group_args
from yc_modules_support import REPO_ROOT, instance_group_base, ok, remove_instance_group_base, run_module

ROLLING = ('/RollingRestart', '/RollingRecreate')
PLAYBOOK = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')


@pytest.fixture(scope='module')
def base(localcloud):
    found = instance_group_base(localcloud, 'igr')
    yield found
    run_module('yc_instance_group', localcloud, name='igr%s-app' % found['suffix'], state='absent')  # a failure
    remove_instance_group_base(localcloud, found)


def rolling_calls(localcloud):
    return [call for call in localcloud.calls() if call['method'].endswith(ROLLING)]


def play(localcloud, tmp_path, **extra):
    """playbooks/rolling_restart.yml with inventory/local pointed at the fixture's localcloud: (rc, output)."""
    extra = dict(localcloud_state_dir=localcloud.state_dir, shs_group_wait_timeout=180, **extra)
    extra_file = tmp_path / 'extra.json'
    extra_file.write_text(json.dumps(extra))
    done = subprocess.run([PLAYBOOK, '-i', 'inventory/local', 'playbooks/rolling_restart.yml', '-e',
                           '@' + str(extra_file)], cwd=REPO_ROOT, text=True, capture_output=True, timeout=400,
                          env=dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO_ROOT, 'ansible.cfg')))
    return done.returncode, done.stdout + done.stderr


def recap(output):
    match = re.search(r'localhost\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)', output)
    assert match, output[-3000:]
    return dict(zip(('ok', 'changed', 'unreachable', 'failed'), map(int, match.groups())))


def test_rolling_restart_and_recreate(localcloud, base, tmp_path):
    prefix = 'igr' + base['suffix']
    name = prefix + '-app'  # named like a deployment's app tier, for the playbook below
    args = group_args(base, size=2)
    args['name'] = name
    args['instance_template'].update(name=name + '-{instance.index}', hostname=name + '-{instance.index}')
    group = ok(run_module('yc_instance_group', localcloud, **args))
    try:
        first = group['instances']
        assert [i['status'] for i in first] == ['RUNNING_ACTUAL'] * 2

        # Check mode: what it would restart, no rolling call
        localcloud.reset_calls()
        preview = ok(run_module('yc_instance_group_rolling', localcloud, check=True, name=name))
        assert preview['changed'] is True and preview['action'] == 'restart'
        assert [t['name'] for t in preview['targets']] == [name + '-1', name + '-2']
        assert 'operation_id' not in preview and rolling_calls(localcloud) == []

        # Bad input names the option; nothing is called
        for bad, option in (([name + '-9'], 'instance_ids[0]'), ([first[0]['instance_id'], ''], 'instance_ids[1]')):
            failed = run_module('yc_instance_group_rolling', localcloud, name=name, instance_ids=bad)
            assert failed['failed'] and option in failed['msg'], failed
        failed = run_module('yc_instance_group_rolling', localcloud, name=name, action='reboot')
        assert failed['failed'] and 'action' in failed['msg']
        failed = run_module('yc_instance_group_rolling', localcloud, name=name + '-none')
        assert failed['failed'] and 'not found' in failed['msg'] and name + '-none' in failed['msg']
        failed = run_module('yc_instance_group_rolling', localcloud, name='Bad_Name')
        assert failed['failed'] and 'name' in failed['msg']
        assert rolling_calls(localcloud) == [], 'bad input reached the API'

        # Restart all: the same VMs, running again when the module returns
        restarted = ok(run_module('yc_instance_group_rolling', localcloud, name=name, wait_timeout=180))
        assert restarted['changed'] is True and restarted['operation_id']
        assert [c['method'].rsplit('/', 1)[1] for c in rolling_calls(localcloud)] == ['RollingRestart']
        assert [i['instance_id'] for i in restarted['instances']] == [i['instance_id'] for i in first]
        assert all(i['status'] == 'RUNNING_ACTUAL' for i in restarted['instances'])

        # Recreate the second, by name: a new VM for it, the first kept
        localcloud.reset_calls()
        recreated = ok(run_module('yc_instance_group_rolling', localcloud, name=name, action='recreate',
                                  instance_ids=[name + '-2'], wait_timeout=180))
        assert recreated['changed'] is True and [t['name'] for t in recreated['targets']] == [name + '-2']
        (call,) = rolling_calls(localcloud)
        assert call['method'].endswith('/RollingRecreate')
        after = recreated['instances']
        assert [i['name'] for i in after] == [name + '-1', name + '-2']
        assert after[0]['instance_id'] == first[0]['instance_id']
        assert after[1]['instance_id'] != first[1]['instance_id']
        assert all(i['status'] == 'RUNNING_ACTUAL' for i in after)

        # The playbook: a bad tier fails before any call; the app tier's second VM restarted, changed=1
        localcloud.reset_calls()
        rc, output = play(localcloud, tmp_path, shs_prefix=prefix, shs_rolling_tier='web')
        assert rc != 0 and 'shs_rolling_tier must be app, lb or db' in output and rolling_calls(localcloud) == []
        rc, output = play(localcloud, tmp_path, shs_prefix=prefix, shs_rolling_instance_ids=[name + '-2'])
        assert rc == 0, output[-3000:]
        assert recap(output)['changed'] == 1 and recap(output)['failed'] == 0
        assert [c['method'].rsplit('/', 1)[1] for c in rolling_calls(localcloud)] == ['RollingRestart']
        listed = ok(run_module('yc_instance_group_info', localcloud, name=name))['instance_groups'][0]['instances']
        assert [(i['instance_id'], i['status']) for i in listed] == \
            [(i['instance_id'], 'RUNNING_ACTUAL') for i in after]
    finally:
        ok(run_module('yc_instance_group', localcloud, name=name, state='absent'))
    assert leftovers(group['instance_group']['id']) == []
