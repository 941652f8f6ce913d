"""AWX jobs for real, with no AWX server: the EE image (make ee), and site.yml run inside it the way AWX runs a job
(shs_ee.awx_job: project checkout, inventory update from the yc_compute source, credentials rendered from the
custom credential types' injectors, ansible-runner with container isolation), against a localcloud of its own
(own state dir, ports, prefix and subnet), reached from the EE container over the host's loopback (--network host).

The images: the images job builds and pushes them with the engine of a "Docker engine (TLS)" credential (a TLS front
with client certificates of the local engine, shs_ee.docker_tls); the deploy job then has no engine at all and finds
every content-hash tag in the registry. Figures print with `pytest -s`.
"""

import json
import os
import re
import secrets
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest
import yaml

from instance_group_support import node_resources, remove_nodes
from support import REPO_ROOT, free_listener_port, free_port, wait_for

from shs_ee import awx_job  # the installed ee/ project (tools/setup.sh: pip install -e ee)

pytestmark = pytest.mark.slow


def recap(stdout):
    match = re.search(r'localhost\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)', stdout)
    assert match, stdout[-3000:]
    return dict(zip(('ok', 'changed', 'unreachable', 'failed'), map(int, match.groups())))


def fetch(url, timeout=10):
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # the test's self-signed pair
    with urllib.request.urlopen(url, timeout=timeout, context=context) as response:
        return response.status, response.read().decode()


@pytest.fixture(scope='module')
def ee_image():
    started = time.monotonic()
    done = subprocess.run([sys.executable, '-m', 'shs_ee.build', 'build'], cwd=REPO_ROOT,
                          text=True, capture_output=True, timeout=1800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ref = done.stdout.strip().splitlines()[-1]
    size = int(subprocess.run(['docker', 'image', 'inspect', '--format', '{{.Size}}', ref], text=True,
                              capture_output=True, check=True).stdout)
    print('\nEE %s: %.0f MB, make ee %.0f s (%s)' % (ref, size / 1e6, time.monotonic() - started,
                                                     done.stdout.strip().splitlines()[0]))
    return ref


@pytest.fixture(scope='module')
def cloud(tmp_path_factory, ee_image):
    tmp = tmp_path_factory.mktemp('ee-job')
    run_id = uuid.uuid4().hex[:4]
    prefix, https_port = 'e' + run_id, free_listener_port()
    state_dir = tmp / 'localcloud'
    started = subprocess.run([sys.executable, '-m', 'localcloud', 'serve', '--daemon', '--state-dir', str(state_dir),
                              '--listen', '127.0.0.1:0'],
                             text=True, capture_output=True, timeout=60)
    assert started.returncode == 0, started.stderr
    info = json.loads(started.stdout.strip().splitlines()[-1])
    # the Docker engine over TLS with client certificates, as a job's engine credential describes one
    pki = tmp / 'docker-pki'
    subprocess.run([sys.executable, '-m', 'shs_ee.docker_tls', 'pki', str(pki)], check=True,
                   capture_output=True)
    front = subprocess.Popen([sys.executable, '-m', 'shs_ee.docker_tls', 'serve', str(pki)],
                             stdout=subprocess.PIPE, text=True)
    docker_host = json.loads(front.stdout.readline())['docker_host']
    tls = tmp / 'lb-tls'
    tls.mkdir()
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
                    '-days', '2', '-subj', '/CN=shs.test', '-keyout', str(tls / 'key.pem'), '-out', str(tls / 'crt.pem')],
                   check=True, capture_output=True)
    yandex = {'type': 'Yandex Cloud', 'inputs': {
        'service_account_key': open(info['sa_key_file']).read(), 'folder_id': info['folder_id'],
        'cloud_id': info['cloud_id'], 'endpoint': info['endpoint'], 'registry_host': info['registry'],
        'ca_bundle': open(info['ca']).read()}}
    deploy_secrets = {'type': 'SHS deployment secrets', 'inputs': {
        'db_password': secrets.token_urlsafe(18), 'tls_certificate': (tls / 'crt.pem').read_text(),
        'tls_private_key': (tls / 'key.pem').read_text()}}
    engine = {'type': 'Docker engine (TLS)', 'inputs': {
        'host': docker_host, 'ca_certificate': (pki / 'ca.pem').read_text(),
        'client_certificate': (pki / 'cert.pem').read_text(), 'client_key': (pki / 'key.pem').read_text()}}
    # the job templates' extra vars and survey answers (playbooks/awx/vars/controller.yml)
    extra_vars = dict(shs_prefix=prefix, shs_public_url='https://127.0.0.1:%d' % https_port,
                      shs_nlb_https_port=https_port, shs_nlb_http_port=free_listener_port(),
                      shs_subnet_cidr='10.132.%d.0/24' % (int(run_id, 16) % 250), shs_db_scale='small')
    jobs = []

    def job(playbook, credentials, job_tags=None, **more):
        started = time.monotonic()
        # keep_env: the injected files are checked below (by default they go with the job, as in AWX)
        runner, private_data_dir = awx_job.run_job(playbook, credentials, dict(extra_vars, **more), image=ee_image,
                                                   private_data_dir=str(tmp / ('job-%d' % len(jobs))), keep_env=True,
                                                   job_tags=job_tags)
        jobs.append(private_data_dir)
        stdout = re.sub(r'\x1b\[[0-9;]*m', '', runner.stdout.read())  # the job's colours
        return dict(runner=runner, dir=private_data_dir, stdout=stdout, took=time.monotonic() - started)

    found = dict(job=job, jobs=jobs, info=info, prefix=prefix, https='https://127.0.0.1:%d' % https_port,
                 yandex=yandex, secrets=deploy_secrets, engine=engine, state_dir=state_dir, extra_vars=extra_vars)
    yield found
    front.send_signal(signal.SIGINT)
    front.wait(10)
    subprocess.run([sys.executable, '-m', 'localcloud', 'stop', '--state-dir', str(state_dir)], capture_output=True,
                   timeout=60)
    remove_nodes(state_dir)  # whatever destroy did not remove: nodes outlive localcloud


def secrets_of(cloud):
    key = json.loads(cloud['yandex']['inputs']['service_account_key'])['private_key'].splitlines()[1]
    return [('SA key', key), ('db password', cloud['secrets']['inputs']['db_password']),
            ('TLS key', cloud['secrets']['inputs']['tls_private_key'].splitlines()[1]),
            ('Docker client key', cloud['engine']['inputs']['client_key'].splitlines()[1])]


def assert_no_secret_in_artifacts(cloud, private_data_dir):
    texts = []
    for base in (os.path.join(private_data_dir, 'artifacts'), os.path.join(private_data_dir, 'inventory')):
        for dirpath, _, names in os.walk(base):
            for name in names:
                with open(os.path.join(dirpath, name), errors='replace') as handle:
                    texts.append((os.path.join(dirpath, name), handle.read()))
    assert len(texts) > 3, texts
    for what, secret in secrets_of(cloud):
        assert not [path for path, text in texts if secret in text], '%s in the job artifacts' % what
    assert not [path for path, text in texts if re.search(r't1\.[-\w]{20,}', text)], 'an IAM token in the artifacts'


def test_images_job_builds_and_pushes_with_the_tls_engine_of_its_credential(cloud):
    done = cloud['job']('playbooks/awx_images.yml', [cloud['yandex'], cloud['engine']])
    assert done['runner'].rc == 0, done['stdout'][-6000:]
    print('\nimages job (build + push over TLS): %.0f s, %s' % (done['took'], recap(done['stdout'])))
    references = re.findall(r"- (127\.0\.0\.1:\d+/\w+/(?:shs|postgres|lb):[0-9a-f]{12})", done['stdout'])
    assert sorted(r.rsplit('/', 1)[1].split(':')[0] for r in references) == ['lb', 'postgres', 'shs'], done['stdout']
    assert 'Build each missing image' in done['stdout'] and 'changed: [localhost] => (item=' in done['stdout']
    assert_no_secret_in_artifacts(cloud, done['dir'])
    # A job without the engine credential: nothing is missing any more, so no engine is needed
    again = cloud['job']('playbooks/awx_images.yml', [cloud['yandex']])
    assert again['runner'].rc == 0 and recap(again['stdout'])['changed'] == 0, again['stdout'][-6000:]


def test_deploy_job_brings_the_stack_up_with_no_engine(cloud):
    done = cloud['job']('site.yml', [cloud['yandex'], cloud['secrets']])
    assert done['runner'].rc == 0, done['stdout'][-8000:]
    print('\ndeploy job, cold: %.0f s, %s' % (done['took'], recap(done['stdout'])))
    assert 'SHS is served at %s' % cloud['https'] in done['stdout']
    assert fetch(cloud['https'] + '/ping') == (200, 'pong')
    status, body = fetch(cloud['https'] + '/api/customer/1')
    assert status == 200 and json.loads(body)['id'] == 1
    # the LB serves the certificate of the secrets credential
    served = ssl.get_server_certificate(('127.0.0.1', int(cloud['https'].rsplit(':', 1)[1])))
    assert served.split() == cloud['secrets']['inputs']['tls_certificate'].split()
    # no engine in this job: the environment the injectors gave it has none, and every image was found
    with open(os.path.join(done['dir'], 'job_env.json')) as handle:
        job_env = json.load(handle)
    assert not [name for name in job_env if name.startswith('DOCKER_')]
    images = [event['event_data']['res'] for event in done['runner'].events
              if event['event'] == 'runner_item_on_ok'
              and event['event_data'].get('task_action') == 'filmopoisk.shs.yc_container_image']
    assert sorted(res['item'] for res in images) == ['lb', 'postgres', 'shs']
    assert not [res for res in images if res['changed'] or res['pushed']], images


def test_second_deploy_job_changes_nothing_and_leaks_nothing(cloud):
    done = cloud['job']('site.yml', [cloud['yandex'], cloud['secrets']])
    assert done['runner'].rc == 0, done['stdout'][-8000:]
    print('\ndeploy job, again: %.0f s, %s' % (done['took'], recap(done['stdout'])))
    assert recap(done['stdout'])['changed'] == 0, done['stdout'][-8000:]
    for private_data_dir in cloud['jobs']:
        assert_no_secret_in_artifacts(cloud, private_data_dir)


def test_the_rollouts_tier_steps_run_their_tags_only(cloud):
    """Two of the workflow's steps as their job templates define them (playbooks/awx/vars/controller.yml: playbook,
    job_tags, credentials): each runs its tier's tasks and those of the steps before it, nothing of a later tier, and
    on the deployed stack changes nothing."""
    with open(os.path.join(REPO_ROOT, 'playbooks', 'awx', 'vars', 'controller.yml')) as handle:
        templates = dict((t['name'], t) for t in yaml.safe_load(handle)['shs_awx_job_templates'])
    credentials = {'SHS Yandex Cloud': cloud['yandex'], 'SHS deployment secrets': cloud['secrets']}
    group = 'Instance group %s-%%s' % cloud['prefix']
    for name, ran, skipped in (
            ('SHS network and IAM', ['Security group of the database', 'Service account of the VMs'],
             ['Container registry', group % 'db', group % 'app', group % 'lb', 'Where it answers']),
            ('SHS database tier', ['Subnet, bound to the route table', 'Container registry', group % 'db'],
             [group % 'app', group % 'lb', 'Where it answers'])):
        template = templates[name]
        done = cloud['job'](template['playbook'], [credentials[c] for c in template['credentials']],
                            job_tags=template['job_tags'])
        assert done['runner'].rc == 0, done['stdout'][-6000:]
        print('\n%s job (--tags %s): %.0f s, %s' % (name, template['job_tags'], done['took'], recap(done['stdout'])))
        assert recap(done['stdout'])['changed'] == 0, done['stdout'][-6000:]
        for task in ran:
            assert 'TASK [%s' % task in done['stdout'], (task, done['stdout'][-6000:])
        for task in skipped:
            assert 'TASK [%s' % task not in done['stdout'], (task, done['stdout'][-6000:])
        assert_no_secret_in_artifacts(cloud, done['dir'])


def test_the_job_environment_is_what_the_credential_types_inject(cloud):
    """What the deploy job got is exactly the env of the Yandex Cloud type's injectors: the YC_* the modules read,
    the SA key and the CA as files in the job's env/ (in-container paths), secrets masked in what AWX would store."""
    types = awx_job.credential_types()  # playbooks/awx/vars/credential_types.yml
    job_dir = cloud['jobs'][-1]
    with open(os.path.join(job_dir, 'job_env.json')) as handle:
        job_env = json.load(handle)
    assert set(job_env) == set(types['Yandex Cloud']['injectors']['env'])
    assert job_env['YC_FOLDER_ID'] == cloud['info']['folder_id']
    assert job_env['YC_ENDPOINT'] == cloud['info']['endpoint']
    assert job_env['YC_TOKEN'] == ''  # the SA key is the credential here
    for name in ('YC_SERVICE_ACCOUNT_KEY_FILE', 'YC_ROOT_CERTIFICATES'):
        assert re.match(r'^/runner/env/tmp\w+$', job_env[name]), job_env
        on_host = os.path.join(job_dir, job_env[name][len('/runner/'):])
        assert oct(os.stat(on_host).st_mode & 0o777) == '0o600'
    with open(os.path.join(job_dir, job_env['YC_SERVICE_ACCOUNT_KEY_FILE'][len('/runner/'):])) as handle:
        assert handle.read() == cloud['yandex']['inputs']['service_account_key']
    # the env file ansible-runner hands docker holds these names, and no secret
    env_list = [open(os.path.join(root, 'env.list')).read() for root, _, names in
                os.walk(os.path.join(job_dir, 'artifacts')) if 'env.list' in names]
    assert env_list and all(('YC_SERVICE_ACCOUNT_KEY_FILE=' + job_env['YC_SERVICE_ACCOUNT_KEY_FILE']) in text
                            for text in env_list)


def test_the_inventory_source_lists_the_deployed_vms(cloud):
    """The inventory update of the last job ran the yc_compute source inside the EE with the injected credential."""
    script = os.path.join(cloud['jobs'][-1], 'inventory', 'hosts')
    inventory = json.loads(subprocess.run([script, '--list'], text=True, capture_output=True, check=True).stdout)
    prefix = cloud['prefix']
    groups = dict((tier, inventory.get('ig_%s_%s' % (prefix, tier), {}).get('hosts', [])) for tier in ('db', 'app', 'lb'))
    assert [len(groups[tier]) for tier in ('db', 'app', 'lb')] == [1, 2, 2], inventory.keys()  # two LB VMs
    hostvars = inventory['_meta']['hostvars']
    app = sorted(groups['app'])[0]
    # the plugin's values are untrusted data (no templates): ansible-inventory --export marks them so
    assert hostvars[app]['yc_tier'] in ('app', {'__ansible_unsafe': 'app'}), hostvars[app]
    assert hostvars[app]['yc_status'] in ('RUNNING', {'__ansible_unsafe': 'RUNNING'}), hostvars[app]
    # the deployment's settings came along with the hosts (inventory/awx/group_vars), still templates
    assert inventory['all']['vars']['shs_cloud'] == 'yandex'
    assert 'YC_FOLDER_ID' in inventory['all']['vars']['yc_folder_id']


def test_destroy_job_needs_the_typed_confirmation(cloud):
    refused = cloud['job']('playbooks/awx_destroy.yml', [cloud['yandex']], shs_destroy_confirm='nope')
    assert refused['runner'].rc != 0 and 'nothing was removed' in refused['stdout'], refused['stdout'][-4000:]
    assert fetch(cloud['https'] + '/ping') == (200, 'pong')
    done = cloud['job']('playbooks/awx_destroy.yml', [cloud['yandex']], shs_destroy_confirm=cloud['prefix'])
    assert done['runner'].rc == 0, done['stdout'][-6000:]
    print('\ndestroy job: %.0f s, %s' % (done['took'], recap(done['stdout'])))
    wait_for(lambda: node_resources(cloud['state_dir']) == ([], []), 30, what='the nodes removed')
