"""site.yml end to end through the YC API path: a fresh localcloud, the whole deployment, the stack serving
through the LB, a second run with changed=0 (and no secret in its -vvv output), then destroy.yml removes it all.

This is the README's `make up` / `make down` with its own localcloud, ports, names, subnet and secrets, so it never
touches a stack a developer has up. The figures (times, API calls of the no-op run) print with `pytest -s`.
"""

import http.client
import json
import os
import re
import secrets
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections import Counter

import pytest

from instance_group_support import node_resources, owner_selector, remove_nodes
from support import REPO_ROOT, ansible_env, docker, free_listener_port, free_port, wait_for

PLAYBOOK = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')
WRITES = ('/Create', '/Update', '/Delete', '/ForceDelete', '/UpdateRules', '/Upsert', '/UpdateAccessBindings',
          '/SetAccessBindings')
pytestmark = pytest.mark.slow


def recap(output):
    match = re.search(r'localhost\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)', output)
    assert match, output[-3000:]
    return dict(zip(('ok', 'changed', 'unreachable', 'failed'), map(int, match.groups())))


def fetch(url, timeout=10):
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # self-signed, like curl -k
    with urllib.request.urlopen(url, timeout=timeout, context=context) as response:
        return response.status, response.read().decode()


@pytest.fixture(scope='module')
def deployment(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('site')
    run_id = uuid.uuid4().hex[:4]
    https_port, http_port = free_listener_port(), free_listener_port()
    prefix = 't' + run_id
    extra = dict(
        localcloud_state_dir=str(tmp / 'localcloud'), localcloud_listen='127.0.0.1:%d' % free_port(),
        localcloud_call_log=True,  # the no-op run's API calls are read from it (GET /calls)
        shs_nlb_https_port=https_port, shs_nlb_http_port=http_port,  # the network load balancer's listeners
        shs_public_url='https://127.0.0.1:%d' % https_port, shs_prefix=prefix,
        shs_subnet_cidr='10.131.%d.0/24' % (int(run_id, 16) % 250), shs_tls_selfsigned_dir=str(tmp / 'tls'),
        shs_db_password=secrets.token_urlsafe(18))
    extra_file = tmp / 'extra.json'
    extra_file.write_text(json.dumps(extra))

    def play(playbook, *args):
        started = time.monotonic()
        done = subprocess.run([PLAYBOOK, playbook, '-e', '@' + str(extra_file), *args], cwd=REPO_ROOT,
                              env=ansible_env(), text=True, capture_output=True, timeout=1500)
        return done, time.monotonic() - started

    found = dict(play=play, extra=extra, https='https://127.0.0.1:%d' % https_port,
                 http='http://127.0.0.1:%d' % http_port, state_dir=tmp / 'localcloud', tls_dir=tmp / 'tls')
    yield found
    play(os.path.join('playbooks', 'destroy.yml'))
    play(os.path.join('playbooks', 'localcloud.yml'), '-e', 'localcloud_state=absent')
    remove_nodes(found['state_dir'])  # safety net: nodes outlive localcloud


def admin(deployment, method, path):
    info = json.loads((deployment['state_dir'] / 'endpoint.json').read_text())
    request = urllib.request.Request(info['admin'] + path, method=method,
                                     headers={'Authorization': 'Bearer %s' % info['admin_token']})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b'null')


def test_check_mode_on_an_empty_folder_shows_the_plan_and_creates_nothing(deployment):
    """`site.yml --check` before anything exists (a new user's dry run): every step reports what it would create,
    the ids it cannot know yet are "(known after apply)", and the API sees reads only."""
    done, _ = deployment['play'](os.path.join('playbooks', 'localcloud.yml'))  # check mode would not start it
    assert done.returncode == 0, done.stdout[-3000:]
    admin(deployment, 'DELETE', '/calls')
    done, took = deployment['play']('site.yml', '--check')
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    print('\nsite.yml --check on an empty folder: %.0f s, %s' % (took, recap(done.stdout)))
    assert recap(done.stdout)['changed'] > 0  # the plan: network, gateway, ..., the three groups
    for task in ('Network', 'NAT gateway', 'Container registry', 'Instance group %s-db' % deployment['extra']['shs_prefix'],
                 'Instance group %s-lb' % deployment['extra']['shs_prefix']):
        assert re.search(r'TASK \[%s[^\]]*\]\s*\**\s*\n(changed|ok): ' % re.escape(task), done.stdout), task
    calls = admin(deployment, 'GET', '/calls')['calls']
    writes = [c['method'] for c in calls if c['method'].rsplit('.', 1)[-1].endswith(WRITES)
              and 'IamTokenService' not in c['method']]
    assert writes == [], writes


def test_up_serves_the_stack_through_the_lb(deployment):
    done, took = deployment['play']('site.yml')
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    print('\nsite.yml cold: %.0f s, %s' % (took, recap(done.stdout)))
    assert 'SHS is served at %s' % deployment['https'] in done.stdout
    assert fetch(deployment['https'] + '/ping') == (200, 'pong')
    assert fetch(deployment['http'] + '/ping') == (200, 'pong')
    # the app reaches the database the db group prepared
    status, body = fetch(deployment['https'] + '/api/customer/1')
    assert status == 200 and json.loads(body)['id'] == 1
    containers, _ = node_resources(deployment['state_dir'])
    images = subprocess.run(['docker', 'inspect', '-f', '{{.Config.Image}}'] + containers, text=True,
                            capture_output=True, check=True).stdout.split()
    registry = json.loads((deployment['state_dir'] / 'endpoint.json').read_text())['registry']
    # Besides the nodes themselves, every container runs an image pulled from the project's registry
    payload = set(image.rsplit('/', 1)[-1].split(':')[0] for image in images if image.startswith(registry + '/'))
    assert payload == {'lb', 'postgres', 'shs'}, images
    assert [image for image in images if not image.startswith((registry + '/', 'filmopoisk/coi-node:'))] == []


def test_second_run_changes_nothing_and_shows_no_secret(deployment):
    admin(deployment, 'DELETE', '/calls')
    done, took = deployment['play']('site.yml', '-vvv')
    assert done.returncode == 0, done.stdout[-6000:]
    assert recap(done.stdout)['changed'] == 0, done.stdout[-6000:]
    calls = admin(deployment, 'GET', '/calls')['calls']
    per_method = Counter(call['method'].rsplit('.', 1)[-1] for call in calls)
    module_runs = len(re.findall(r'Using module file \S+/plugins/modules/yc_\w+\.py', done.stdout))
    print('\nsite.yml re-run: %.0f s, %d API calls in %d yc module runs: %s' % (
        took, len(calls), module_runs, dict(sorted(per_method.items()))))
    # One endpoint discovery and one token exchange for the play (yc_iam_token; the other modules get its IAM token
    # and endpoint map through module_defaults), then one read per module run (the groups also list instances).
    assert per_method['IamTokenService/Create'] <= 1, per_method
    assert 0 < module_runs and per_method['ApiEndpointService/List'] == 1, (module_runs, per_method)
    reads = len(calls) - 2 - per_method['InstanceGroupService/ListInstances']
    assert reads <= module_runs - 1, (module_runs, per_method)
    writes = [m for m in per_method if m.endswith(WRITES) and not m.startswith('IamTokenService/')]
    assert writes == [], writes
    info = json.loads((deployment['state_dir'] / 'endpoint.json').read_text())
    with open(info['sa_key_file']) as handle:
        sa_key = json.load(handle)['private_key'].splitlines()[1]
    tls_key = (deployment['tls_dir'] / 'server.key').read_text().splitlines()[1]  # the generated self-signed one
    output = done.stdout + done.stderr
    for name, secret in [('OAuth token', info['token']), ('SA key', sa_key),
                         ('db password', deployment['extra']['shs_db_password']), ('TLS key', tls_key)]:
        assert secret not in output, '%s shows in the -vvv output' % name
    # IAM tokens (YC's and localcloud's start with t1.): the play's own and any other
    assert not re.search(r't1\.[-\w]{20,}', output), 'an IAM token shows in the -vvv output'


def test_status_playbook_shows_the_groups_and_the_answer(deployment):
    done, _ = deployment['play'](os.path.join('playbooks', 'status.yml'))
    assert done.returncode == 0 and recap(done.stdout)['changed'] == 0, done.stdout[-6000:]
    prefix = deployment['extra']['shs_prefix']
    for tier, size in (('db', 1), ('app', 2), ('lb', 1)):
        assert '(item=%s-%s)' % (prefix, tier) in done.stdout
        assert 'running_actual: %d of %d' % (size, size) in done.stdout, done.stdout[-6000:]
    assert '%s/ping -> 200 pong' % deployment['https'] in done.stdout


def test_the_watchdog_restarts_a_killed_app_container(deployment):
    """On the deployed app VMs the watchdog finds its own app container (not the other VM's: every local VM
    shares one engine) and starts it again after a docker kill; the LB keeps answering meanwhile."""
    selector = owner_selector(deployment['state_dir'])
    apps = docker('ps', '--filter', selector, '--filter', 'label=com.docker.compose.service=shs',
                  '--format', '{{.Names}}').stdout.split()
    assert len(apps) == 2, apps
    app, other = sorted(apps)
    node = app[len('coi-'):-len('-shs-1')]
    other_started = docker('inspect', '-f', '{{.State.StartedAt}}', other).stdout
    started = time.monotonic()
    docker('kill', app)
    assert fetch(deployment['https'] + '/ping') == (200, 'pong')  # the other peer answers
    line = wait_for(lambda: [entry for entry in docker('exec', node, 'journalctl', '-u', 'shs-watchdog', '--no-pager',
                                                        '-o', 'cat').stdout.splitlines()
                             if 'answers /ping again' in entry and app in entry], 20, interval=0.5,
                    what='the watchdog restarting %s' % app)
    print('\nwatchdog: docker kill -> /ping again in %.1f s: %s' % (time.monotonic() - started, line[-1]))
    assert docker('inspect', '-f', '{{.State.Running}}', app).stdout.strip() == 'true'
    assert docker('inspect', '-f', '{{.State.StartedAt}}', other).stdout == other_started, 'the other VM\'s app was touched'


class Load:
    """Requests through the entry point from a few threads, each on its own kept-alive connection (as clients do):
    GET /api/customer/1, GET /ping and POST /operation in turn, ~50 per second in all; every failure is kept."""

    def __init__(self, url, threads=3, pause=0.05):
        host, port = url.split('//')[1].split(':')
        self.host, self.port, self.pause = host, int(port), pause
        self.answered, self.failures = 0, []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self):
        context = ssl._create_unverified_context()  # the self-signed certificate, like curl -k
        connection = None
        requests = [('GET', '/api/customer/1', None), ('GET', '/ping', None),
                    ('POST', '/operation', json.dumps({'operation': 42}))]
        turn = 0
        while not self._stop.wait(self.pause):
            method, path, body = requests[turn % len(requests)]
            turn += 1
            try:
                if connection is None:
                    connection = http.client.HTTPSConnection(self.host, self.port, context=context, timeout=10)
                connection.request(method, path, body=body, headers={'Content-Type': 'application/json'})
                response = connection.getresponse()
                response.read()
                if response.status >= 400:
                    self.failures.append((time.monotonic(), method, path, response.status))
                else:
                    self.answered += 1
                if response.getheader('Connection', '').lower() == 'close':
                    connection.close()
                    connection = None
            except (OSError, http.client.HTTPException) as exc:
                self.failures.append((time.monotonic(), method, path, repr(exc)))
                connection = None

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for thread in self._threads:
            thread.join(15)


def test_a_rolling_restart_of_the_app_group_under_load_fails_no_request(deployment):
    """playbooks/rolling_restart.yml on the app tier while clients send requests through the network load balancer
    (before the payload change below, which leaves the LB with one peer):
    each app VM is drained out of the LB before its app stops (the watchdog role's drain unit), so no request fails;
    both VMs were restarted (same instance ids, the app started again)."""
    selector = owner_selector(deployment['state_dir'])

    def apps():
        names = docker('ps', '--filter', selector, '--filter', 'label=com.docker.compose.service=shs',
                       '--format', '{{.Names}}').stdout.split()
        return dict((name, docker('inspect', '-f', '{{.State.StartedAt}}', name).stdout.strip()) for name in names)
    before = apps()

    def all_peers_up():  # on both LB VMs (the balancer alternates): the watchdog test above restarted an app
        pages = [json.loads(fetch(deployment['https'] + '/hck_status')[1]) for _ in range(4)]
        # the page lists a rollout's spare name too (shs_app_surge), down while no VM has it
        return all(page['up'] == 2 for page in pages)
    wait_for(all_peers_up, 30, interval=0.5, what='both app VMs up on the LB VMs')
    with Load(deployment['https']) as load:
        time.sleep(3)
        done, took = deployment['play'](os.path.join('playbooks', 'rolling_restart.yml'), '-e', 'shs_rolling_tier=app')
        time.sleep(3)
    assert done.returncode == 0, done.stdout[-6000:]
    print('\nrolling restart of the app group under load: %.0f s, %d answered, %d failed' % (
        took, load.answered, len(load.failures)))
    assert load.failures == [], load.failures[:10]
    assert load.answered > 20 * took
    after = apps()
    assert sorted(after) == sorted(before) and all(after[name] != before[name] for name in before), (before, after)


def test_a_payload_change_reaches_the_running_vms(deployment):
    """A changed role variable is a metadata change: on YC (and in localcloud) it restarts each VM with the same
    instance id (en/compute/concepts/instance-groups/deploy/instance.md), where cloud-init's write_files does not
    run again. The collection rewrites its files at every boot, so the running VMs serve the change: the LB's
    nginx.conf peer list, the app's config.yaml (on the app VMs and in the db VM's prepare job), the db keeping
    its data."""
    prefix = deployment['extra']['shs_prefix']
    selector = owner_selector(deployment['state_dir'])

    def nodes():
        return sorted(docker('ps', '--filter', selector, '--filter', 'label=org.filmopoisk.coi-node',
                             '--format', '{{.Names}}').stdout.split())
    before = nodes()
    peer = '%s-app-1.ru-central1.internal' % prefix
    email = 'rollout-%s@example.com' % uuid.uuid4().hex[:6]
    change = {'shs_student_email': email, 'openresty_upstream_peers': [peer]}
    done, took = deployment['play']('site.yml', '-e', json.dumps(change))
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    print('\nsite.yml rollout of a payload change (db, app x2, lb restarted): %.0f s, %s' % (took, recap(done.stdout)))
    # Restarted, not re-created, but for the app group's surge VM: it may stay in place of an old one
    # (deploy-policy.md, footnote 1), so one node may differ.
    after = nodes()
    assert len(after) == len(before) and len(set(after) - set(before)) <= 1, (before, after)
    # The LB VMs were restarted one at a time behind the network load balancer: it answers at once.
    status, body = fetch(deployment['https'] + '/hck_status')
    health = json.loads(body)
    assert status == 200 and health['total'] == 1 and [p['name'] for p in health['peers']] == [peer], body
    apps = docker('ps', '--filter', selector, '--filter', 'label=com.docker.compose.service=shs',
                  '--format', '{{.Names}}').stdout.split()
    assert len(apps) == 2
    for app in apps:
        assert email in docker('exec', app, 'cat', '/opt/bingo/config.yaml').stdout
    # an app VM restarted in place has the change too: its files are written at every boot
    assert [app for app in apps if app[len('coi-'):-len('-shs-1')] in before], (apps, before)
    assert fetch(deployment['https'] + '/ping') == (200, 'pong')
    status, body = fetch(deployment['https'] + '/api/customer/1')  # the db restarted with its data
    assert status == 200 and json.loads(body)['id'] == 1


def test_destroy_removes_everything(deployment):
    done, _ = deployment['play'](os.path.join('playbooks', 'destroy.yml'))
    assert done.returncode == 0, done.stdout[-6000:]
    assert node_resources(deployment['state_dir']) == ([], [])
    again, _ = deployment['play'](os.path.join('playbooks', 'destroy.yml'))
    assert again.returncode == 0 and recap(again.stdout)['changed'] == 0, again.stdout[-6000:]
    stopped, _ = deployment['play'](os.path.join('playbooks', 'localcloud.yml'), '-e', 'localcloud_state=absent')
    assert stopped.returncode == 0 and recap(stopped.stdout)['changed'] == 1
    assert not (deployment['state_dir'] / 'endpoint.json').exists()
