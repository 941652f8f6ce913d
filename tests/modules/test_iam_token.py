"""yc_iam_token: the credentials are exchanged for an IAM token once; the other modules then use that token as it is
(no exchange of their own), and ansible-playbook never shows it, even with -vvv."""

import json
import os
import re
import subprocess
import sys
import uuid
from datetime import datetime

from support import REPO_ROOT, ansible_env
from yc_modules_support import auth_args, ok, run_module

EXCHANGE = '/yandex.cloud.iam.v1.IamTokenService/Create'
PLAYBOOK = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')
SHARED_DEFAULTS = os.path.join(REPO_ROOT, 'inventory', 'local', 'group_vars', 'all', 'yc_api.yml')


def without_credentials(localcloud):
    args = auth_args(localcloud)
    args.pop('token')
    return args


def test_an_oauth_token_is_exchanged_once_and_the_iam_token_needs_no_exchange(localcloud):
    localcloud.reset_calls()
    result = ok(run_module('yc_iam_token', localcloud))
    assert result['changed'] is False and result['credential'] == 'token'
    assert result['iam_token'] and result['iam_token'] != localcloud.token
    assert datetime.fromisoformat(result['expires_at'].replace('Z', '+00:00')) > datetime.now().astimezone()
    assert len(localcloud.calls(EXCHANGE)) == 1

    # A module given the IAM token reads the folder with it and exchanges nothing
    localcloud.reset_calls()
    name = 'iam-%s' % uuid.uuid4().hex[:6]
    ok(run_module('yc_network', auth=False, name=name, state='absent', iam_token=result['iam_token'],
                  **without_credentials(localcloud)))
    assert localcloud.calls(EXCHANGE) == []
    assert [c['code'] for c in localcloud.calls('/yandex.cloud.vpc.v1.NetworkService/List')] == ['OK']
    # ... where the OAuth token costs an exchange in every module run
    localcloud.reset_calls()
    ok(run_module('yc_network', localcloud, name=name, state='absent'))
    assert len(localcloud.calls(EXCHANGE)) == 1


def test_a_service_account_key_is_exchanged(localcloud):
    result = ok(run_module('yc_iam_token', auth=False, service_account_key=localcloud.sa_key_file,
                           **without_credentials(localcloud)))
    assert result['credential'] == 'service_account_key'
    ok(run_module('yc_network', auth=False, name='iam-sa-net', state='absent', iam_token=result['iam_token'],
                  **without_credentials(localcloud)))


def test_an_iam_token_is_returned_as_it_is_without_any_call(localcloud):
    given = ok(run_module('yc_iam_token', localcloud))['iam_token']
    localcloud.reset_calls()
    result = ok(run_module('yc_iam_token', auth=False, iam_token=given, **without_credentials(localcloud)))
    # not masked as the no_log option it also is: the token is the result
    assert (result['iam_token'], result['expires_at'], result['credential']) == (given, None, 'iam_token')
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith('YC_'))
    env['YC_IAM_TOKEN'] = given
    assert ok(run_module('yc_iam_token', auth=False, env=env, **without_credentials(localcloud)))['iam_token'] == given
    assert localcloud.calls() == []  # not even endpoint discovery


def test_check_mode_gets_the_token_too(localcloud):
    localcloud.reset_calls()
    result = ok(run_module('yc_iam_token', localcloud, check=True))
    assert result['changed'] is False and result['iam_token']
    assert len(localcloud.calls(EXCHANGE)) == 1


def test_a_refused_token_fails_clearly_without_showing_it(localcloud):
    refused = 'y0_refused-%s' % uuid.uuid4().hex
    result = run_module('yc_iam_token', auth=False, token=refused, **without_credentials(localcloud))
    assert result.get('failed') and 'IAM token' in result['msg'] and 'UNAUTHENTICATED' in result['msg'], result
    assert refused not in json.dumps(result)


def test_a_play_exchanges_once_and_never_shows_the_token(localcloud, tmp_path):
    """The playbooks' own module_defaults (group_vars/all/yc_api.yml): the first task's token reaches every later
    module; the token task's result is censored in -vvv output, in check mode as well."""
    token_file = tmp_path / 'token'
    playbook = tmp_path / 'play.yml'
    playbook.write_text(json.dumps([{
        'hosts': 'localhost', 'connection': 'local', 'gather_facts': False,
        'vars_files': [SHARED_DEFAULTS],
        'module_defaults': {'group/filmopoisk.shs.yc': '{{ shs_yc_defaults }}'},
        'tasks': [{'filmopoisk.shs.yc_iam_token': None, 'register': 'shs_iam'}] + [
            {'filmopoisk.shs.yc_network': {'name': 'iam-play-%s' % item, 'state': 'absent'}} for item in ('a', 'b')] + [
            # what the test greps for; no_log: it is a secret here too
            {'ansible.builtin.copy': {'content': '{{ shs_iam.iam_token }}', 'dest': str(token_file), 'mode': '0600'},
             'no_log': True, 'check_mode': False}],
    }]))
    extra = dict(yc_endpoint=localcloud.endpoint, yc_root_certificates=os.path.join(localcloud.state_dir, 'ca.pem'),
                 yc_token=localcloud.token, yc_folder_id=localcloud.folder_id)
    env = dict((k, v) for k, v in ansible_env().items() if not k.startswith('YC_'))
    for check in ([], ['--check']):
        localcloud.reset_calls()
        done = subprocess.run([PLAYBOOK, str(playbook), '-vvv', '-e', json.dumps(extra), *check], cwd=REPO_ROOT,
                              env=env, text=True, capture_output=True, timeout=300)
        output = done.stdout + done.stderr
        assert done.returncode == 0, output[-4000:]
        assert re.search(r'localhost\s+: ok=4\s+changed=[01]\s', output), output[-2000:]  # the copy may change
        assert len(localcloud.calls(EXCHANGE)) == 1
        assert len(localcloud.calls('/yandex.cloud.vpc.v1.NetworkService/List')) == 2
        token = token_file.read_text()
        assert token and token not in output
        assert localcloud.token not in output
        assert 'censored' in output
