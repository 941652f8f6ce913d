"""coinode: a COI node as a container runs real instance metadata.

The metadata is what ships: the `shs` role's fragment (rendered by ansible) plus a test fragment, merged by
the collection's `coi_metadata` filter. The app's blocked startup address is a TEST-NET address (192.0.2.1),
never 8.8.8.8; no traffic leaves the machine (the REJECT answers inside the node's netns).
"""

import hashlib
import importlib.util
import json
import os
import time
import uuid

import coinode
import pytest
import yaml

from support import TEST_LABEL, docker, render_role, wait_for
from yaml_core import LOOKALIKES, load_core, random_lookalikes


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

pytestmark = pytest.mark.slow

BLOCKED = '192.0.2.1'
EMAIL = 'coinode@example.com'
LOG_DIR = '/opt/bongo/logs/' + hashlib.sha1(EMAIL.encode()).hexdigest()[:10]
LABEL_KEY, LABEL_VALUE = TEST_LABEL.split('=', 1)
UNIT = ('[Unit]\nDescription=coinode test unit\n\n[Service]\nExecStart=/bin/sleep infinity\n\n'
        '[Install]\nWantedBy=multi-user.target\n')


def _load_filter():
    spec = importlib.util.spec_from_file_location('coi_metadata_filter',
                                                  os.path.join(ROOT, 'plugins', 'filter', 'coi_metadata.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.coi_metadata


def extra_fragment():
    return {
        'name': 'coinode-test',
        'compose': {'services': {'probe': {
            'image': None,  # set below
            'entrypoint': ['/bin/sleep', 'infinity'],
            'volumes': ['/etc/filmopoisk:/etc/filmopoisk:ro'],
        }}},
        'files': [{'path': '/etc/filmopoisk/marker.txt', 'content': 'written by cloud-init\n'}],
        'bootcmd': [['sh', '-c', 'echo boot >> /var/lib/coinode-test.boot']],
        'runcmd': [['sh', '-c', 'echo run >> /var/lib/coinode-test.run']],
        'systemd_units': [{'name': 'coinode-test.service', 'content': UNIT}],
    }


@pytest.fixture(scope='module')
def env(image, tmp_path_factory):
    shs_image, node_image = image('shs'), image('coi-node')
    tmp = tmp_path_factory.mktemp('coinode')
    _, shs_payload = render_role(tmp, 'shs', 'shs_payload', {
        'shs_image': shs_image, 'shs_student_email': EMAIL, 'shs_db_password': 'unused',
        'shs_db_hosts': [{'address': 'db.invalid', 'port': 5432}],  # /ping needs no database
        'shs_blocked_startup_address': BLOCKED,
        'shs_environment': {'SHS_STARTUP_URL': 'http://%s/runtime_version' % BLOCKED,
                            'SHS_STARTUP_TIMEOUT': '20'},
    })
    extra = extra_fragment()
    extra['compose']['services']['probe']['image'] = shs_image
    metadata = _load_filter()([shs_payload, extra], project_name='shs')

    suffix = uuid.uuid4().hex[:6]
    network = 'fp-test-coinet-%s' % suffix
    labels = {LABEL_KEY: LABEL_VALUE}
    state = str(tmp / 'nodes')
    app = coinode.Node('fp-app-%s' % suffix, metadata, network, image=node_image,
                       fqdn='app-%s.ru-central1.internal' % suffix, labels=labels, state_dir=state)
    other = coinode.Node('fp-other-%s' % suffix, {'user-data': '#cloud-config\n{}\n'}, network,
                         image=node_image, fqdn='other-%s.ru-central1.internal' % suffix, labels=labels,
                         state_dir=state)
    client = 'fp-test-client-%s' % suffix
    try:
        started = time.monotonic()
        app.start()
        other.start()
        print('\ncoi-node boot (docker create+cp+start -> cloud-init done, compose unit active): '
              'app %.2f s, other %.2f s (both started at once, %.2f s in all)'
              % (app.wait_ready(60), other.wait_ready(60), time.monotonic() - started))
        docker('run', '-d', '--label', TEST_LABEL, '--name', client, '--network', network,
               '--entrypoint', '/bin/sleep', shs_image, 'infinity')
        yield {'app': app, 'other': other, 'client': client, 'metadata': metadata, 'network': network}
    finally:
        docker('rm', '-f', client, check=False)
        for node in (app, other):
            node.remove()
        docker('network', 'rm', network, check=False)


def service_container(node, service):
    ids = docker('ps', '-q', '--filter', 'label=com.docker.compose.project=%s' % node.project,
                 '--filter', 'label=com.docker.compose.service=%s' % service).stdout.split()
    assert len(ids) == 1, 'service %s of %s: %r' % (service, node.name, ids)
    return ids[0]


def http_get_from(container, url, timeout=3):
    code = ('import sys, urllib.request; '
            'print(urllib.request.urlopen(sys.argv[1], timeout=%s).read().decode())' % timeout)
    return docker('exec', container, 'python3', '-c', code, url, check=False)


def wait_pong(node, timeout=30):
    return wait_for(lambda: node.exec('curl -fsS -m 2 http://localhost:80/ping', check=False).stdout == 'pong',
                    timeout=timeout, interval=0.2, what='pong on localhost:80 in %s' % node.name)


def test_boot_applies_user_data(env):
    app = env['app']
    status = app.status()
    assert status['state'] == 'running' and status['system'] == 'running'
    assert status['cloud_init'] == 'done' and status['compose'] == 'active'
    assert set(status['services']) == {'shs', 'probe'}
    assert app.exec(['cat', '/etc/filmopoisk/marker.txt']).stdout == 'written by cloud-init\n'
    # The same file, at the same path, from a compose container (per-node host dir mounted in both).
    probe = service_container(app, 'probe')
    assert docker('exec', probe, 'cat', '/etc/filmopoisk/marker.txt').stdout == 'written by cloud-init\n'
    # config.yaml: write_files (0600) + runcmd chown to the app uid; the app (uid 10001) reads it.
    shs = service_container(app, 'shs')
    assert 'student_email: "%s"' % EMAIL in docker('exec', shs, 'cat', '/opt/bingo/config.yaml').stdout
    assert app.exec(['stat', '-c', '%u %a', '/opt/bingo/config.yaml']).stdout.strip() == '10001 600'
    assert app.exec(['cat', '/var/lib/coinode-test.run']).stdout == 'run\n'
    assert app.exec(['cat', '/var/lib/coinode-test.boot']).stdout == 'boot\n'
    assert app.exec(['systemctl', 'is-active', 'coinode-test.service']).stdout.strip() == 'active'
    # The spec applied is the rewritten one, on the host engine, in the node's netns.
    mode = docker('inspect', '-f', '{{.HostConfig.NetworkMode}}', shs).stdout.strip()
    assert mode == 'container:%s' % app.id
    labels = json.loads(docker('inspect', '-f', '{{json .Config.Labels}}', shs).stdout)
    assert labels[LABEL_KEY] == LABEL_VALUE
    # Two nodes never share /opt: the other node has none of it.
    assert env['other'].exec(['test', '-e', '/opt/bingo/config.yaml'], check=False).returncode != 0


def test_service_answers_on_vm_port(env):
    app = env['app']
    wait_pong(app)
    # From inside the node: localhost and its own name, on the VM port (REDIRECT 80 -> 8080).
    assert app.exec(['curl', '-fsS', '-m', '2', 'http://%s:80/ping' % app.name]).stdout == 'pong'
    # From another container on the network, by name and by FQDN.
    for host in (app.name, app.fqdn):
        result = http_get_from(env['client'], 'http://%s:80/ping' % host)
        assert result.returncode == 0 and result.stdout.strip() == 'pong', result.stderr
    # From another node, by name.
    assert env['other'].exec(['curl', '-fsS', '-m', '2', 'http://%s/ping' % app.fqdn]).stdout == 'pong'


def test_startup_request_rejected_at_once(env):
    app = env['app']
    shs = service_container(app, 'shs')
    logs = docker('logs', shs).stderr + docker('logs', shs).stdout
    done = [json.loads(line) for line in logs.splitlines() if 'startup request done' in line]
    assert done, logs[-2000:]
    assert done[-1]['result'] == 'failed' and done[-1]['waited'] < 1, done[-1]
    # And directly from the app container: refused at once (tcp-reset from DOCKER-USER), no hang.
    code = ('import socket, time; t = time.monotonic()\n'
            'try:\n    socket.create_connection(("%s", 80), timeout=10); print("connected")\n'
            'except OSError as e:\n    print(type(e).__name__, round(time.monotonic() - t, 3))' % BLOCKED)
    started = time.monotonic()
    out = docker('exec', shs, 'python3', '-c', code).stdout.split()
    assert out[0] == 'ConnectionRefusedError' and float(out[1]) < 1, out
    assert time.monotonic() - started < 5
    rules = app.exec(['iptables', '-S', 'DOCKER-USER']).stdout
    assert '-d %s/32 -p tcp -m tcp --dport 80 -j REJECT --reject-with tcp-reset' % BLOCKED in rules


def test_nodes_resolve_each_other(env):
    app, other = env['app'], env['other']
    for src, dst in ((app, other), (other, app)):
        for name in (dst.name, dst.fqdn):
            assert src.exec(['getent', 'hosts', name]).stdout.strip(), '%s cannot resolve %s' % (src.name, name)
    assert other.exec(['hostname']).stdout.strip() == other.name


def test_restart_brings_back_service_and_rule(env):
    app = env['app']
    before = service_container(app, 'shs')
    started = time.monotonic()
    app.restart()
    app.wait_ready(60)
    wait_pong(app)
    print('\ncoi-node restart -> pong on localhost:80: %.2f s' % (time.monotonic() - started))
    assert service_container(app, 'shs') != before  # recreated into the new netns
    assert app.exec(['cat', '/var/lib/coinode-test.boot']).stdout == 'boot\nboot\n'
    assert app.exec(['cat', '/var/lib/coinode-test.run']).stdout == 'run\n'
    assert BLOCKED in app.exec(['iptables', '-S', 'DOCKER-USER']).stdout
    result = http_get_from(env['client'], 'http://%s:80/ping' % app.fqdn)
    assert result.stdout.strip() == 'pong', result.stderr


def test_changed_metadata_reaches_a_restarted_node(env):
    # A YC metadata update restarts the VM with the same instance id (en/compute/concepts/instance-groups/deploy/
    # instance.md): cloud-init's write_files and runcmd (once per instance) do not run again, bootcmd does. The
    # collection's metadata rewrites its files in bootcmd, so the new content arrives; runcmd stays done.
    import yaml
    app = env['app']
    instance_id = app.instance_id
    user_data = yaml.safe_load(env['metadata']['user-data'])
    for entry in user_data['write_files']:
        if entry['path'] == '/etc/filmopoisk/marker.txt':
            entry['content'] = 'written again at boot\n'
    metadata = dict(env['metadata'], **{'user-data': '#cloud-config\n' + yaml.safe_dump(user_data)})
    assert app.reconfigure(metadata)
    app.restart()
    app.wait_ready(60)
    wait_pong(app)
    assert app.exec(['cat', '/etc/filmopoisk/marker.txt']).stdout == 'written again at boot\n'
    assert docker('exec', service_container(app, 'probe'), 'cat', '/etc/filmopoisk/marker.txt').stdout == \
        'written again at boot\n'
    assert app.exec(['cat', '/var/lib/coinode-test.run']).stdout == 'run\n'
    assert app.exec(['cloud-init', 'query', 'instance_id']).stdout.strip() == instance_id
    assert app.status()['cloud_init'] == 'done'

    # Plain write_files (no rewrite at boot) ran once for this instance id and is not applied again: what a
    # restarted YC VM does. (A module skipped for want of config at the first boot runs when config appears.)
    other = env['other']
    for content in ('old', 'new'):
        plain = '#cloud-config\nwrite_files:\n  - {path: /etc/filmopoisk/plain.txt, content: %s}\n' % content
        assert other.reconfigure({'user-data': plain})
        other.restart()
        other.wait_ready(60)
    assert other.exec(['cat', '/etc/filmopoisk/plain.txt']).stdout == 'old'
    assert 'content: new' in other.exec(['cat', '/var/lib/cloud/instance/user-data.txt']).stdout


def test_hard_kill_and_start(env):
    app = env['app']
    docker('kill', app.name)
    started = time.monotonic()
    app.start()
    app.wait_ready(60)
    wait_pong(app)
    print('\ncoi-node kill + start -> pong: %.2f s' % (time.monotonic() - started))
    assert BLOCKED in app.exec(['iptables', '-S', 'DOCKER-USER']).stdout


def test_remove_cleans_up(env):
    app = env['app']
    node_dir = app.node_dir
    assert os.path.isdir(node_dir)
    other_started = docker('inspect', '-f', '{{.State.StartedAt}}', env['other'].name).stdout
    app.remove()
    assert not docker('ps', '-aq', '--filter', 'label=org.filmopoisk.coi-node=%s' % app.name).stdout.strip()
    assert not docker('ps', '-aq', '--filter', 'label=com.docker.compose.project=%s' % app.project).stdout.strip()
    assert not os.path.exists(node_dir)
    # The other node (and the network it still uses) is untouched: running, and not restarted.
    assert env['other'].status()['state'] == 'running'
    assert docker('inspect', '-f', '{{.State.StartedAt}}', env['other'].name).stdout == other_started
    assert docker('network', 'inspect', env['network'], check=False).returncode == 0


def test_a_node_removed_while_it_boots_is_reported_gone_at_once(env, image):
    """A VM deleted while it boots (the bench removes a node that auto-healing is restarting): wait_ready says so at
    once instead of waiting out its timeout, so the group can replace the VM."""
    node = coinode.Node('fp-gone-%s' % uuid.uuid4().hex[:6], {'user-data': '#cloud-config\n{}\n'}, env['network'],
                        image=image('coi-node'), labels={LABEL_KEY: LABEL_VALUE},
                        state_dir=os.path.dirname(env['other'].node_dir))
    try:
        node.start()
        docker('rm', '-f', node.name)
        started = time.monotonic()
        with pytest.raises(coinode.NodeError, match='is gone'):
            node.wait_ready(60)
        took = time.monotonic() - started
        print('\ncoi-node removed while booting -> reported gone after %.2f s' % took)
        assert took < 5
    finally:
        node.remove()


def test_stop_and_start_again(env):
    other = env['other']
    other.stop()
    assert other.status()['state'] == 'exited'
    other.start()
    print('\ncoi-node stop + start -> ready: %.2f s' % other.wait_ready(60))
    assert other.status()['system'] == 'running'


# -- the spec rewrite alone (no containers)

def test_rewrite_spec_maps_ports_paths_and_disks():
    spec = '''
name: shs
services:
  app:
    image: x
    ports: ["80:8080", "127.0.0.1:443:8443/tcp", "9000", {target: 53, published: 5353, protocol: udp},
            "7000-7001:8000-8001"]
    expose: ["8080"]
    networks: [front]
    hostname: h
    volumes:
      - /opt/bingo:/opt/bingo:ro
      - /srv/data/x:/data
      - /mnt/pgdata/db:/var/lib/postgresql/data
      - /var/run/docker.sock:/var/run/docker.sock
      - named:/named
      - {type: bind, source: /etc/app/conf, target: /conf}
    labels: [a=b]
    init: false
networks: {front: {}}
volumes: {named: {}}
x-yc-disks:
  - {device_name: pgdata, fs_type: ext4, host_path: /mnt/pgdata, partition: 1}
'''
    plan = coinode.rewrite_spec(spec, 'coi-n1', 'f' * 64, '/nodes/n1', labels={'l': 'v'})
    app = plan.spec['services']['app']
    assert plan.spec['name'] == 'coi-n1' and 'networks' not in plan.spec
    assert app['network_mode'] == 'container:' + 'f' * 64
    for key in ('ports', 'expose', 'networks', 'hostname'):
        assert key not in app
    assert app['init'] is False and app['labels'] == {'a': 'b', 'l': 'v'}
    assert app['volumes'] == [
        '/nodes/n1/fs/opt/bingo:/opt/bingo:ro', '/nodes/n1/fs/srv/data/x:/data',
        '/nodes/n1/disks/pgdata/db:/var/lib/postgresql/data', '/var/run/docker.sock:/var/run/docker.sock',
        'named:/named', {'type': 'bind', 'source': '/nodes/n1/fs/etc/app/conf', 'target': '/conf'}]
    assert plan.ports == [(80, 8080, 'tcp'), (443, 8443, 'tcp'), (5353, 53, 'udp'),
                          (7000, 8000, 'tcp'), (7001, 8001, 'tcp')]
    assert plan.disks == {'pgdata': '/mnt/pgdata'}
    assert plan.shared_paths == sorted(set(coinode.DEFAULT_SHARED_PATHS) | {'/srv', '/etc/app'})
    script = coinode.ports_script(plan.ports)
    assert '-A COI-PORTS -p tcp --dport 80 -j REDIRECT --to-ports 8080' in script
    assert '-A COI-PORTS -p udp --dport 5353 -j REDIRECT --to-ports 53' in script


@pytest.mark.parametrize('source', ['/etc', '/var/lib', '/usr/bin/x', '/etc/systemd/system/x', '/var/lib/cloud/seed'])
def test_rewrite_spec_refuses_system_dirs(source):
    spec = 'services: {app: {image: x, volumes: ["%s:/x"]}}' % source
    with pytest.raises(coinode.NodeError, match=source):
        coinode.rewrite_spec(spec, 'coi-n1', 'f' * 64, '/nodes/n1')


def test_rewrite_spec_errors():
    with pytest.raises(coinode.NodeError, match='published twice'):
        coinode.rewrite_spec('services: {a: {image: x, ports: ["80:1"]}, b: {image: x, ports: ["80:2"]}}',
                             'p', 'f', '/n')
    with pytest.raises(coinode.NodeError, match='node name'):
        coinode.Node('Bad_Name', {}, 'net')
    assert coinode.rewrite_spec('', 'p', 'f', '/n').spec is None


def number_like_plan():
    """A spec (JSON: every string quoted) and node labels full of strings YAML readers take for numbers."""
    values = LOOKALIKES + random_lookalikes()
    environment = dict(('V%03d' % index, value) for index, value in enumerate(values))
    spec_labels = dict(('s%03d' % index, value) for index, value in enumerate(values))
    node_labels = dict(('n%03d' % index, value) for index, value in enumerate(values))
    node_labels[LABEL_KEY] = '004859582582'  # issue 10: a random TEST_LABEL of digits came back as 4.859582582e+09
    spec = json.dumps({'services': {'app': {'image': 'x', 'environment': environment, 'labels': spec_labels}}})
    plan = coinode.rewrite_spec(spec, 'coi-n1', 'f' * 64, '/nodes/n1', labels=node_labels)
    return plan, environment, dict(spec_labels, **node_labels)


def test_rewritten_spec_keeps_number_like_strings():
    plan, environment, labels = number_like_plan()
    text = coinode.dump_spec(plan.spec)
    for reader in (yaml.safe_load, load_core):
        app = reader(text)['services']['app']
        assert app['environment'] == environment, reader.__name__
        assert app['labels'] == labels, reader.__name__


def test_compose_reads_number_like_strings_of_the_rewritten_spec(tmp_path):
    plan, environment, labels = number_like_plan()
    (tmp_path / 'docker-compose.yaml').write_text(coinode.dump_spec(plan.spec))
    result = docker('compose', '--project-directory', str(tmp_path), '-f', str(tmp_path / 'docker-compose.yaml'),
                    'config', '--format', 'json', check=False)
    assert result.returncode == 0, result.stderr
    app = json.loads(result.stdout)['services']['app']
    assert app['environment'] == environment
    assert app['labels'] == labels
