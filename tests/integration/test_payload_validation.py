"""The metadata filmopoisk.shs.coi_metadata produces is accepted by the real tools that consume it.

- docker-compose: `docker compose config` (Compose v2, the same parser COI nodes run) accepts it and reads
  back exactly what the fragments said (file contents with tabs and trailing spaces included);
- user-data: cloud-init's own schema check (`cloud-init schema`, cloud-init 22.4 inside the coi-node image,
  so nothing is installed on this machine);
- systemd units: `systemd-analyze verify` on the host;
- through Ansible: the filter called by FQCN from a playbook writes byte-identical files run after run
  (changed=0) and the same bytes the filter gives in Python; a bad fragment fails the play naming the field.

Each validator is also shown a broken payload first, so a validator that accepts anything fails the test.
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
import uuid

import pytest
import yaml

from support import TEST_LABEL, docker
from yaml_core import LOOKALIKES, random_lookalikes

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_BIN = os.path.dirname(sys.executable)


def _load_filter():
    spec = importlib.util.spec_from_file_location(
        'coi_metadata_filter', os.path.join(ROOT, 'plugins', 'filter', 'coi_metadata.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.coi_metadata


coi_metadata = _load_filter()

NGINX_CONF = 'events {}\nhttp {\n\tserver {\n\t\tlisten 80;   \n\t\treturn 200 "ok";\n\t}\n}\n'
WATCHDOG_UNIT = textwrap.dedent('''\
    [Unit]
    Description=SHS watchdog (payload validation test)
    After=docker.service

    [Service]
    Type=oneshot
    ExecStart=/bin/true
    Restart=no

    [Install]
    WantedBy=multi-user.target
    ''')
TIMER_UNIT = textwrap.dedent('''\
    [Unit]
    Description=Run the watchdog every 10 s

    [Timer]
    OnBootSec=10s
    OnUnitActiveSec=10s
    Unit=fp-payload-watchdog.service

    [Install]
    WantedBy=timers.target
    ''')


def fragments():
    """Fragments shaped like what the roles render for an app + lb + db node (one of each kind of field)."""
    return [
        {
            'name': 'shs',
            'compose': {
                'version': '3.8',
                'services': {'shs': {
                    'image': 'cr.example/filmopoisk/shs:0.0.0-never-pulled',
                    'init': True, 'restart': 'always',
                    'network_mode': 'host',
                    'environment': {'SHS_CONFIG': '/opt/bingo/config.yaml', 'GREETING': 'Привет, $${USER}'},
                    'volumes': ['/opt/bingo/config.yaml:/opt/bingo/config.yaml:ro', '/opt/bongo/logs:/opt/bongo/logs'],
                    'healthcheck': {'test': ['CMD', 'curl', '-fsS', 'http://127.0.0.1:80/ping'],
                                    'interval': '10s', 'timeout': '2s', 'retries': 3},
                    'logging': {'driver': 'json-file', 'options': {'max-size': '10m'}},
                }},
            },
            'files': [{'path': '/opt/bingo/config.yaml', 'permissions': '0640',
                       'content': 'student_email: someone@example.com\npostgres_cluster:\n  hosts:\n'
                                  '    - address: 10.0.0.5\n      port: 5432\n'}],
            'bootcmd': ['iptables -w -N DOCKER-USER 2>/dev/null || true',
                        ['iptables', '-w', '-I', 'DOCKER-USER', '-d', '8.8.8.8', '-j', 'REJECT']],
            'runcmd': ['mkdir -p /opt/bongo/logs/0123456789'],
        },
        {
            'name': 'lb',
            'compose': {
                'services': {'lb': {'image': 'cr.example/filmopoisk/lb:0.0.0-never-pulled', 'init': True,
                                    'configs': [{'source': 'nginx_conf', 'target': '/etc/nginx/nginx.conf'}],
                                    'depends_on': ['shs']}},
                'configs': {'nginx_conf': {'content': NGINX_CONF}},
            },
            'files': [{'path': '/etc/nginx/certs/tls.key', 'content': 'LS0tLS1CRUdJTi0tLS0tCg==',
                       'encoding': 'b64', 'permissions': '0600', 'defer': True}],
        },
        {
            'name': 'postgres',
            'compose': {
                'services': {'postgres': {'image': 'cr.example/filmopoisk/postgres:15-never-pulled', 'init': True,
                                          'volumes': ['pgdata:/var/lib/postgresql/data', 'scratch:/scratch'],
                                          'networks': ['backend'],
                                          'command': ['postgres', '-c', 'shared_buffers=256MB']}},
                'volumes': {'pgdata': {'driver': 'local'}, 'scratch': None},
                'networks': {'backend': {'internal': True}},
                'x-yc-disks': [{'device_name': 'pgdata', 'fs_type': 'ext4', 'host_path': '/mnt/pgdata',
                                'partition': 1}],
            },
            'packages': [],
        },
        None,
        {
            'name': 'watchdog',
            'systemd_units': [{'name': 'fp-payload-watchdog.service', 'content': WATCHDOG_UNIT, 'enabled': False},
                              {'name': 'fp-payload-watchdog.timer', 'content': TIMER_UNIT}],
            'runcmd': [['echo', 'watchdog installed']],
        },
    ]


@pytest.fixture(scope='module')
def metadata():
    return coi_metadata(fragments(), project_name='fp-payload-test')


# ------------------------------------------------------------------------------------------ docker compose

def compose_config(tmp_path, text, *args):
    path = tmp_path / 'docker-compose.yml'
    path.write_text(text)
    return docker('compose', '--project-directory', str(tmp_path), '-f', str(path), 'config', *args, check=False)


def test_compose_rejects_a_broken_spec(tmp_path):
    broken = compose_config(tmp_path, 'services:\n  shs:\n    image: x\n    restart_policy: always\n', '-q')
    assert broken.returncode != 0, 'docker compose config accepted an unknown service key'
    assert 'restart_policy' in broken.stderr


def test_compose_accepts_the_merged_spec(tmp_path, metadata):
    result = compose_config(tmp_path, metadata['docker-compose'], '-q')
    assert result.returncode == 0, result.stderr
    # The one warning: Compose v2 calls `version` obsolete. It stays: COI's docs say the spec starts with it
    # (en/cos/concepts/coi-specifications.md) and a Compose v1 reader needs it.
    warnings = [line for line in result.stderr.splitlines() if line.strip()]
    assert all('the attribute `version` is obsolete' in line for line in warnings), result.stderr


def test_compose_reads_back_what_the_fragments_said(tmp_path, metadata):
    result = compose_config(tmp_path, metadata['docker-compose'], '--format', 'json')
    assert result.returncode == 0, result.stderr
    spec = json.loads(result.stdout)
    assert spec['name'] == 'fp-payload-test'
    assert sorted(spec['services']) == ['lb', 'postgres', 'shs']
    assert spec['services']['shs']['image'] == 'cr.example/filmopoisk/shs:0.0.0-never-pulled'
    assert spec['services']['shs']['environment']['GREETING'] == 'Привет, $${USER}'  # kept escaped, unexpanded
    assert spec['configs']['nginx_conf']['content'] == NGINX_CONF  # tabs, trailing spaces and all
    assert spec['services']['postgres']['command'] == ['postgres', '-c', 'shared_buffers=256MB']
    assert sorted(spec['volumes']) == ['pgdata', 'scratch']
    assert spec['networks']['backend']['internal'] is True
    assert spec['x-yc-disks'] == [{'device_name': 'pgdata', 'fs_type': 'ext4', 'host_path': '/mnt/pgdata',
                                   'partition': 1}]


def test_compose_reads_number_like_strings_back_as_strings(tmp_path):
    # Compose reads YAML 1.2 (Go): a plain 08 or 1e3 that PyYAML (1.1) takes for a string is a number there.
    values = LOOKALIKES + random_lookalikes()
    fragment = {'compose': {'services': {'a': {
        'image': 'a',
        'environment': dict(('V%03d' % index, value) for index, value in enumerate(values)),
        'labels': dict(('l%03d' % index, value) for index, value in enumerate(values)),
        'command': values}},
        'x-keys': dict((value, 'v') for value in values)}}
    result = compose_config(tmp_path, coi_metadata([fragment])['docker-compose'], '--format', 'json')
    assert result.returncode == 0, result.stderr
    spec = json.loads(result.stdout)
    service = fragment['compose']['services']['a']
    for key in ('environment', 'labels'):
        got = spec['services']['a'][key]
        assert got == service[key], [(value, got.get(name)) for name, value in service[key].items()
                                     if got.get(name) != value]
    assert spec['services']['a']['command'] == values
    assert spec['x-keys'] == fragment['compose']['x-keys']


# ------------------------------------------------------------------------------------------ cloud-init

def cloud_init_schema(image_ref, user_data):
    """`cloud-init schema` on user_data inside the coi-node image (fed on stdin: no bind mount needed)."""
    return subprocess.run(
        ['docker', 'run', '--rm', '-i', '--label', TEST_LABEL, '--name', 'fp-test-schema-%s' % uuid.uuid4().hex[:8],
         '--entrypoint', '/bin/sh', image_ref, '-c',
         'cat > /tmp/user-data && cloud-init schema --config-file /tmp/user-data'],
        input=user_data, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120, check=False)


@pytest.fixture(scope='module')
def coi_node_image(image):
    return image('coi-node')


def test_cloud_init_rejects_a_broken_user_data(coi_node_image):
    broken = cloud_init_schema(coi_node_image, '#cloud-config\nwrite_files:\n- path: /x\n  permissions: 420\n'
                                               'runcmd: echo\n')
    assert broken.returncode != 0, broken.stdout
    assert 'write_files.0.permissions' in broken.stdout + broken.stderr


def test_cloud_init_schema_accepts_the_merged_user_data(coi_node_image, metadata):
    result = cloud_init_schema(coi_node_image, metadata['user-data'])
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'Valid cloud-config' in result.stdout


def test_cloud_init_schema_accepts_empty_metadata(coi_node_image):
    result = cloud_init_schema(coi_node_image, coi_metadata([])['user-data'])
    assert result.returncode == 0, result.stdout + result.stderr


# ------------------------------------------------------------------------------------------ systemd

def systemd_verify(path):
    return subprocess.run(['systemd-analyze', 'verify', '--man=no', str(path)], cwd=str(path.parent), text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60, check=False)


def test_systemd_analyze_rejects_a_broken_unit(tmp_path):
    unit = tmp_path / 'fp-broken.service'
    unit.write_text('[Service]\nExecStart=/nonexistent/fp-binary\n')
    broken = systemd_verify(unit)
    assert broken.returncode != 0
    assert '/nonexistent/fp-binary' in broken.stderr


def test_units_in_the_user_data_pass_systemd_analyze(tmp_path, metadata):
    written = yaml.safe_load(metadata['user-data'])['write_files']
    units = {entry['path'].rsplit('/', 1)[1]: entry for entry in written
             if entry['path'].startswith('/etc/systemd/system/')}
    assert sorted(units) == ['fp-payload-watchdog.service', 'fp-payload-watchdog.timer']
    assert units['fp-payload-watchdog.service']['content'] == WATCHDOG_UNIT
    # Both in one directory: the timer is verified together with the service it triggers.
    for name, entry in units.items():
        assert entry['permissions'] == '0644' and entry['owner'] == 'root:root'
        (tmp_path / name).write_text(entry['content'])
    for name in sorted(units):
        result = systemd_verify(tmp_path / name)
        assert result.returncode == 0, '%s: %s' % (name, result.stderr)
    runcmd = yaml.safe_load(metadata['user-data'])['runcmd']
    assert runcmd[-2:] == ['systemctl daemon-reload', 'systemctl enable --now --no-block fp-payload-watchdog.timer']


# ------------------------------------------------------------------------------------------ through Ansible

PLAYBOOK = '''\
- name: Render COI metadata with filmopoisk.shs.coi_metadata
  hosts: localhost
  connection: local
  gather_facts: false
  vars_files:
    - fragments.yml
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
    group: "{{ 'fp-payload' ~ '-test' }}"
    metadata: "{{ fragments | filmopoisk.shs.coi_metadata(project_name=group) }}"
  tasks:
    - name: Write the docker-compose spec
      ansible.builtin.copy:
        content: "{{ metadata['docker-compose'] }}"
        dest: "{{ playbook_dir }}/out/docker-compose.yml"
        mode: "0644"
    - name: Write the user-data
      ansible.builtin.copy:
        content: "{{ metadata['user-data'] }}"
        dest: "{{ playbook_dir }}/out/user-data"
        mode: "0644"
'''


def ansible_playbook(directory, *args):
    env = dict(os.environ, PATH=VENV_BIN + os.pathsep + os.environ.get('PATH', ''),
               ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'), ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0',
               ANSIBLE_LOCAL_TEMP=str(directory / '.ansible-tmp'))
    return subprocess.run([os.path.join(VENV_BIN, 'ansible-playbook'), '-i', 'localhost,', 'playbook.yml', *args],
                          cwd=str(directory), env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=300, check=False)


def reorder(value):
    if isinstance(value, dict):
        return {key: reorder(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return [reorder(item) for item in value]
    return value


def test_playbook_output_is_byte_identical_run_after_run(tmp_path):
    (tmp_path / 'out').mkdir()
    (tmp_path / 'playbook.yml').write_text(PLAYBOOK)
    (tmp_path / 'fragments.yml').write_text(yaml.safe_dump({'fragments': fragments()}, allow_unicode=True))

    first = ansible_playbook(tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    assert 'changed=2' in first.stdout
    compose_bytes = (tmp_path / 'out' / 'docker-compose.yml').read_bytes()
    user_data_bytes = (tmp_path / 'out' / 'user-data').read_bytes()

    # What Ansible writes is exactly what the filter gives in Python.
    expected = coi_metadata(fragments(), project_name='fp-payload-test')
    assert compose_bytes == expected['docker-compose'].encode()
    assert user_data_bytes == expected['user-data'].encode()

    second = ansible_playbook(tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    assert 'changed=0' in second.stdout

    # The same payload written with every mapping in another key order: still nothing to change.
    (tmp_path / 'fragments.yml').write_text(yaml.safe_dump({'fragments': reorder(fragments())}, sort_keys=False,
                                                           allow_unicode=True))
    third = ansible_playbook(tmp_path)
    assert third.returncode == 0, third.stdout + third.stderr
    assert 'changed=0' in third.stdout
    assert (tmp_path / 'out' / 'docker-compose.yml').read_bytes() == compose_bytes
    assert (tmp_path / 'out' / 'user-data').read_bytes() == user_data_bytes


def test_playbook_with_a_bad_fragment_fails_naming_the_field(tmp_path):
    (tmp_path / 'out').mkdir()
    (tmp_path / 'playbook.yml').write_text(PLAYBOOK)
    bad = [{'name': 'shs', 'compose': {'services': {'shs': {'image': 'x'}}}},
           {'files': [{'content': 'no path'}]}]
    (tmp_path / 'fragments.yml').write_text(yaml.safe_dump({'fragments': bad}))
    result = ansible_playbook(tmp_path)
    assert result.returncode != 0
    assert 'fragment 1: files[0].path is required' in result.stdout + result.stderr
    assert not os.listdir(str(tmp_path / 'out'))


def test_tools_are_available():
    """The validators above need these on the host (tools/setup.sh installs Compose v2; systemd is Debian's)."""
    assert shutil.which('systemd-analyze'), 'systemd-analyze not found'
    assert docker('compose', 'version', check=False).returncode == 0, 'docker compose v2 plugin not found'
