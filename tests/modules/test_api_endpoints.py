"""api_endpoints: yc_iam_token discovers the API's endpoints once (the exchange needs them anyway) and hands the map
on; a module given it opens its channels to those addresses itself (TLS, the IAM token as call credentials) and
makes no endpoint discovery, so a play costs one discovery and one exchange, not one of each per module run."""

import json
import os
import re
import subprocess
import uuid

from support import REPO_ROOT, ansible_env
from test_iam_token import EXCHANGE, PLAYBOOK, SHARED_DEFAULTS, without_credentials
from yc_modules_support import ok, run_module

DISCOVERY = '/yandex.cloud.endpoint.ApiEndpointService/List'


def methods(localcloud):
    return [c['method'].rsplit('/', 2)[-2].rsplit('.', 1)[-1] + '/' + c['method'].rsplit('/', 1)[-1]
            for c in localcloud.calls()]


def token_and_endpoints(localcloud):
    result = ok(run_module('yc_iam_token', localcloud))
    assert result['api_endpoints']['vpc'] and result['api_endpoints']['iam'], result['api_endpoints']
    return result['iam_token'], result['api_endpoints']


def test_the_token_module_discovers_once_and_exchanges_once(localcloud):
    localcloud.reset_calls()
    result = ok(run_module('yc_iam_token', localcloud))
    assert methods(localcloud) == ['ApiEndpointService/List', 'IamTokenService/Create']
    # the map is the API's own answer: every service id it lists, with its address
    assert result['api_endpoints']['compute'] == localcloud.endpoint
    assert 'iam_token' not in json.dumps(result['api_endpoints'])


def test_a_module_given_the_endpoints_and_an_iam_token_neither_discovers_nor_exchanges(localcloud):
    token, endpoints = token_and_endpoints(localcloud)
    args = dict(without_credentials(localcloud), iam_token=token, api_endpoints=endpoints)
    name = 'ep-%s' % uuid.uuid4().hex[:6]

    localcloud.reset_calls()
    created = ok(run_module('yc_network', auth=False, name=name, labels={'a': 'b'}, **args))
    assert created['changed'] is True and created['network']['labels'] == {'a': 'b'}
    called = methods(localcloud)
    assert 'ApiEndpointService/List' not in called and 'IamTokenService/Create' not in called, called
    assert called[:2] == ['NetworkService/List', 'NetworkService/Create'], called
    assert all(c['code'] == 'OK' for c in localcloud.calls())  # the token reached the API as call credentials

    localcloud.reset_calls()
    assert ok(run_module('yc_network', auth=False, name=name, labels={'a': 'b'}, **args))['changed'] is False
    assert methods(localcloud) == ['NetworkService/List']  # one read for the resource, nothing else
    ok(run_module('yc_network', auth=False, name=name, state='absent', **args))


def test_the_endpoints_with_an_oauth_token_cost_one_exchange_and_no_discovery(localcloud):
    _, endpoints = token_and_endpoints(localcloud)
    localcloud.reset_calls()
    ok(run_module('yc_network', localcloud, name='ep-oauth', state='absent', api_endpoints=endpoints))
    assert methods(localcloud) == ['IamTokenService/Create', 'NetworkService/List']
    # without the map the SDK path is as it was: its own discovery, then the exchange
    localcloud.reset_calls()
    ok(run_module('yc_network', localcloud, name='ep-oauth', state='absent'))
    assert len(localcloud.calls(DISCOVERY)) == 1 and len(localcloud.calls(EXCHANGE)) == 1


def test_bad_endpoints_are_refused_naming_the_field_before_any_call(localcloud):
    token, endpoints = token_and_endpoints(localcloud)
    args = dict(without_credentials(localcloud), iam_token=token)
    localcloud.reset_calls()
    bad = run_module('yc_network', auth=False, name='ep-bad', api_endpoints=dict(endpoints, vpc='no port'), **args)
    assert bad['failed'] and 'api_endpoints.vpc' in bad['msg'], bad
    missing = dict((key, value) for key, value in endpoints.items() if key != 'vpc')
    unknown = run_module('yc_network', auth=False, name='ep-bad', api_endpoints=missing, **args)
    assert unknown['failed'] and 'api_endpoints' in unknown['msg'] and "'vpc'" in unknown['msg'], unknown
    assert localcloud.calls() == []


def test_an_iam_token_in_discovers_only_when_asked(localcloud):
    token, endpoints = token_and_endpoints(localcloud)
    args = dict(without_credentials(localcloud), iam_token=token)
    localcloud.reset_calls()
    assert ok(run_module('yc_iam_token', auth=False, **args))['api_endpoints'] is None
    assert localcloud.calls() == []
    asked = ok(run_module('yc_iam_token', auth=False, discover_endpoints=True, **args))
    assert asked['api_endpoints'] == endpoints and methods(localcloud) == ['ApiEndpointService/List']
    # given the map, it is handed back as it is
    localcloud.reset_calls()
    assert ok(run_module('yc_iam_token', localcloud, api_endpoints=endpoints))['api_endpoints'] == endpoints
    assert methods(localcloud) == ['IamTokenService/Create']


def test_a_play_discovers_the_endpoints_once(localcloud, tmp_path):
    """The playbooks' module_defaults (group_vars/all/yc_api.yml): one discovery and one exchange for the play,
    then one read per resource, however many modules run."""
    playbook = tmp_path / 'play.yml'
    modules = [{'filmopoisk.shs.yc_network': {'name': 'ep-play', 'state': 'absent'}},
               {'filmopoisk.shs.yc_service_account': {'name': 'ep-play', 'state': 'absent'}},
               {'filmopoisk.shs.yc_instance_group_info': {'name': 'ep-play'}},
               {'filmopoisk.shs.yc_vpc_gateway_info': {}}]
    playbook.write_text(json.dumps([{
        'hosts': 'localhost', 'connection': 'local', 'gather_facts': False, 'vars_files': [SHARED_DEFAULTS],
        'module_defaults': {'group/filmopoisk.shs.yc': '{{ shs_yc_defaults }}'},
        'tasks': [{'filmopoisk.shs.yc_iam_token': None, 'register': 'shs_iam'}] + modules}]))
    extra = dict(yc_endpoint=localcloud.endpoint, yc_root_certificates=os.path.join(localcloud.state_dir, 'ca.pem'),
                 yc_token=localcloud.token, yc_folder_id=localcloud.folder_id)
    env = dict((k, v) for k, v in ansible_env().items() if not k.startswith('YC_'))
    localcloud.reset_calls()
    done = subprocess.run([PLAYBOOK, str(playbook), '-e', json.dumps(extra)], cwd=REPO_ROOT, env=env, text=True,
                          capture_output=True, timeout=300)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    assert re.search(r'localhost\s+: ok=5\s+changed=0\s', done.stdout), done.stdout[-2000:]
    assert methods(localcloud) == ['ApiEndpointService/List', 'IamTokenService/Create', 'NetworkService/List',
                                   'ServiceAccountService/List', 'InstanceGroupService/List', 'GatewayService/List']
