"""roles/watchdog: the rendered payload fragment, variable checks, the unit, and the program's decisions.

The role is rendered the way a play uses it (ansible-playbook + include_role filmopoisk.shs.watchdog);
the program (roles/watchdog/files/shs_watchdog.py) is imported and its logic exercised in-process, with the
settings file the role renders, against a fake Docker Engine API (the real engine is
tests/integration/test_watchdog.py's job).
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from support import ansible_env

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROLE = os.path.join(ROOT, 'roles', 'watchdog')
PROGRAM = os.path.join(ROLE, 'files', 'shs_watchdog.py')
SCRIPT_PATH = '/usr/local/lib/filmopoisk/shs-watchdog.py'  # watchdog_script_path's default
CONFIG_PATH = '/etc/filmopoisk/shs-watchdog.json'  # watchdog_config_path's default
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')
if not os.path.exists(ANSIBLE_PLAYBOOK):
    ANSIBLE_PLAYBOOK = shutil.which('ansible-playbook') or 'ansible-playbook'

PLAYBOOK = '''---
- name: Render the watchdog role
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Render
      ansible.builtin.include_role:
        name: filmopoisk.shs.watchdog
    - name: Save the fragment
      ansible.builtin.copy:
        content: "{{ watchdog_payload | to_json }}"
        dest: "%s"
        mode: "0644"
      when: not ansible_check_mode
    - name: The fragment exists in check mode too
      ansible.builtin.assert:
        that: >-
          watchdog_payload.systemd_units | length
          == ((2 if watchdog_drain_enabled | default(true) | bool else 1) if watchdog_enabled | default(true) | bool else 0)
'''


def render(tmp_path, extra=None, check=False, name='render'):
    """Run the role; return (CompletedProcess, payload dict or None)."""
    workdir = tmp_path / name
    workdir.mkdir()
    out = workdir / 'payload.json'
    (workdir / 'play.yml').write_text(PLAYBOOK % out)
    (workdir / 'vars.json').write_text(json.dumps(extra or {}))
    env = dict(ansible_env(), ANSIBLE_LOCAL_TEMP=str(workdir / 'tmp'))
    cmd = [ANSIBLE_PLAYBOOK, str(workdir / 'play.yml'), '-e', '@' + str(workdir / 'vars.json')]
    if check:
        cmd.append('--check')
    proc = subprocess.run(cmd, cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=180)
    payload = json.loads(out.read_text()) if out.exists() else None
    return proc, payload


@pytest.fixture(scope='module')
def default_render(tmp_path_factory):
    proc, payload = render(tmp_path_factory.mktemp('watchdog-default'))
    assert proc.returncode == 0, proc.stdout
    return proc, payload


def files_by_path(payload):
    return {item['path']: item for item in payload['files']}


def write_delivered(payload, directory, script_path=SCRIPT_PATH, config_path=CONFIG_PATH):
    """The program and its settings file as the fragment delivers them; returns (script, config) paths."""
    files = files_by_path(payload)
    script, config = directory / 'shs-watchdog.py', directory / 'shs-watchdog.json'
    script.write_text(files[script_path]['content'])
    config.write_text(files[config_path]['content'])
    return script, config


@pytest.fixture(scope='module')
def script():
    """The role's program, imported from the role's files/."""
    spec = importlib.util.spec_from_file_location('shs_watchdog', PROGRAM)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def defaults(script, default_render, tmp_path_factory):
    """The settings of the role's defaults, read by the program from the settings file the role renders."""
    path = tmp_path_factory.mktemp('watchdog-config') / 'shs-watchdog.json'
    path.write_text(files_by_path(default_render[1])[CONFIG_PATH]['content'])
    settings, errors = script.load_settings(str(path), {})
    assert errors == []
    return settings


# ------------------------------------------------------------------ the fragment

def test_default_fragment(default_render):
    proc, payload = default_render
    assert set(payload) == {'name', 'compose', 'files', 'bootcmd', 'runcmd', 'systemd_units'}
    assert payload['name'] == 'watchdog'
    assert payload['compose'] == {} and payload['bootcmd'] == [] and payload['runcmd'] == []

    files = files_by_path(payload)
    assert set(files) == {SCRIPT_PATH, CONFIG_PATH}
    script_file = files[SCRIPT_PATH]
    assert script_file['permissions'] == '0755'
    assert script_file['owner'] == 'root:root'
    content = script_file['content']
    assert content.startswith('#!/usr/bin/python3\n') and content.endswith('\n')
    # The program is the role's file as is (data, not a template), behind the interpreter line.
    with open(PROGRAM) as handle:
        assert content == '#!/usr/bin/python3\n' + handle.read()
    compile(content, 'shs-watchdog.py', 'exec')
    config_file = files[CONFIG_PATH]
    assert config_file['permissions'] == '0644' and config_file['owner'] == 'root:root'
    settings = json.loads(config_file['content'])['settings']
    assert settings['port'] == 80 and settings['interval'] == 3.0 and settings['failures'] == 2
    assert isinstance(settings['interval'], float) and isinstance(settings['port'], int)
    assert settings['service'] == 'shs' and settings['project'] == ''

    unit, drain = payload['systemd_units']
    assert unit['name'] == 'shs-watchdog.service' and unit['enabled'] is True
    assert drain['name'] == 'shs-drain.service' and drain['enabled'] is True
    lines = unit['content'].splitlines()
    for expected in ('Restart=always', 'RestartSec=1', 'After=docker.service cloud-init.service', 'Wants=docker.service',
                     'WantedBy=multi-user.target', 'StartLimitIntervalSec=0',
                     'ExecStart=/usr/bin/python3 -u /usr/local/lib/filmopoisk/shs-watchdog.py'
                     ' --config /etc/filmopoisk/shs-watchdog.json',
                     'EnvironmentFile=-/etc/default/shs-watchdog'):
        assert expected in lines, expected
    # A missing docker.service (local COI nodes use the host's engine) must not stop the unit.
    assert not [line for line in lines if line.startswith(('Requires=', 'BindsTo=', 'Requisite='))]
    # The role only sets a fact: nothing changed but the test's own copy task.
    assert 'changed=1 ' in proc.stdout


def test_configured_values_reach_script_and_unit(tmp_path):
    proc, payload = render(tmp_path, {
        'watchdog_port': 18123, 'watchdog_interval': 1.5, 'watchdog_timeout': 1, 'watchdog_failures': 3,
        'watchdog_service': 'app', 'watchdog_project': 'node-7', 'watchdog_memory_limit_mb': 700,
        'watchdog_expect_body': 'ok "quoted"', 'watchdog_script_path': '/opt/wd/wd.py',
        'watchdog_unit_name': 'app-watchdog.service', 'watchdog_stop_timeout': 5,
        'watchdog_config_path': '/opt/wd/wd.json'})
    assert proc.returncode == 0, proc.stdout
    files = files_by_path(payload)
    assert set(files) == {'/opt/wd/wd.py', '/opt/wd/wd.json'}
    settings = json.loads(files['/opt/wd/wd.json']['content'])['settings']
    expected = {'port': 18123, 'interval': 1.5, 'timeout': 1.0, 'failures': 3, 'service': 'app', 'project': 'node-7',
                'memory_limit_mb': 700, 'expect_body': 'ok "quoted"', 'stop_timeout': 5}
    assert {key: settings[key] for key in expected} == expected
    assert isinstance(settings['timeout'], float)
    unit = payload['systemd_units'][0]
    assert unit['name'] == 'app-watchdog.service'
    # The drain stops before the watchdog (whatever its name): After= it.
    assert payload['systemd_units'][1]['name'] == 'shs-drain.service'
    assert ('After=docker.service coi-compose.service app-watchdog.service'
            in payload['systemd_units'][1]['content'].splitlines())
    assert 'ExecStart=/usr/bin/python3 -u /opt/wd/wd.py --config /opt/wd/wd.json' in unit['content'].splitlines()
    assert 'SyslogIdentifier=app-watchdog' in unit['content'].splitlines()


# ------------------------------------------------------------------ the drain unit

def unit_named(payload, name):
    [unit] = [u for u in payload['systemd_units'] if u['name'] == name]
    return unit['content'].splitlines()


def test_drain_unit_default(default_render):
    """The drain: a oneshot unit that stops before the watchdog and the app's unit, and drains in ExecStop."""
    payload = default_render[1]
    lines = unit_named(payload, 'shs-drain.service')
    command = '/usr/bin/python3 -u /usr/local/lib/filmopoisk/shs-watchdog.py --config /etc/filmopoisk/shs-watchdog.json'
    for expected in ('Type=oneshot', 'RemainAfterExit=yes', 'Wants=docker.service',
                     'After=docker.service coi-compose.service shs-watchdog.service',
                     'ExecStart=%s --undrain' % command, 'ExecStop=%s --drain' % command,
                     'TimeoutStopSec=40', 'EnvironmentFile=-/etc/default/shs-watchdog', 'SyslogIdentifier=shs-drain',
                     'WantedBy=multi-user.target'):
        assert expected in lines, expected
    assert not [line for line in lines if line.startswith(('Requires=', 'BindsTo=', 'Requisite='))]
    # No default dependencies (multi-user.target after it, coi-compose after cloud-final after multi-user.target
    # would be a cycle), but stopped at shutdown like any service.
    for expected in ('DefaultDependencies=no', 'After=sysinit.target basic.target', 'Conflicts=shutdown.target',
                     'Before=shutdown.target'):
        assert expected in lines, expected
    # Nothing the multi-user.target waits for is ordered after coi-compose.service (the same cycle).
    assert not [line for line in unit_named(payload, 'shs-watchdog.service') if 'coi-compose' in line]
    settings = json.loads(files_by_path(payload)[CONFIG_PATH]['content'])['settings']
    assert settings['drain_port'] == 80 and settings['drain_seconds'] == 10.0
    assert isinstance(settings['drain_seconds'], float)


def test_drain_seconds_cover_the_lbs_check():
    """The default drain is long enough for the openresty role's default check to mark the VM down (fall
    rounds, interval apart, a round taking up to timeout) plus the longest SHS request (~1 s) in flight."""
    with open(os.path.join(ROOT, 'roles', 'openresty', 'defaults', 'main.yml')) as handle:
        lb = yaml.safe_load(handle)
    with open(os.path.join(ROLE, 'defaults', 'main.yml')) as handle:
        ours = yaml.safe_load(handle)
    mark_down_s = (lb['openresty_healthcheck_interval'] * lb['openresty_healthcheck_fall']
                   + lb['openresty_healthcheck_timeout']) / 1000.0
    assert ours['watchdog_drain_seconds'] >= mark_down_s + 1.0, (ours['watchdog_drain_seconds'], mark_down_s)


def test_drain_port_follows_the_watchdog_port_unless_set(tmp_path):
    proc, payload = render(tmp_path, {'watchdog_port': 8081, 'watchdog_drain_seconds': 45}, name='follows')
    assert proc.returncode == 0, proc.stdout
    settings = json.loads(files_by_path(payload)[CONFIG_PATH]['content'])['settings']
    assert settings['drain_port'] == 8081 and settings['drain_seconds'] == 45.0
    # systemd gives the stop more than the drain.
    assert 'TimeoutStopSec=75' in unit_named(payload, 'shs-drain.service')
    proc, payload = render(tmp_path, {'watchdog_port': 8081, 'watchdog_drain_port': 9000,
                                      'watchdog_drain_unit_name': 'app-drain.service'}, name='set')
    assert proc.returncode == 0, proc.stdout
    assert json.loads(files_by_path(payload)[CONFIG_PATH]['content'])['settings']['drain_port'] == 9000
    assert 'SyslogIdentifier=app-drain' in unit_named(payload, 'app-drain.service')


def test_drain_disabled_renders_the_watchdog_only(tmp_path):
    proc, payload = render(tmp_path, {'watchdog_drain_enabled': False})
    assert proc.returncode == 0, proc.stdout
    assert [unit['name'] for unit in payload['systemd_units']] == ['shs-watchdog.service']


def test_render_is_deterministic(tmp_path, default_render):
    proc, again = render(tmp_path)
    assert proc.returncode == 0, proc.stdout
    assert json.dumps(again, sort_keys=True) == json.dumps(default_render[1], sort_keys=True)


def test_check_mode_renders_and_changes_nothing(tmp_path):
    proc, _ = render(tmp_path, check=True)
    assert proc.returncode == 0, proc.stdout
    assert 'changed=0 ' in proc.stdout and 'failed=0 ' in proc.stdout


def test_disabled_renders_an_empty_fragment(tmp_path):
    proc, payload = render(tmp_path, {'watchdog_enabled': 'false'})
    assert proc.returncode == 0, proc.stdout
    assert payload == {'name': 'watchdog', 'compose': {}, 'files': [], 'bootcmd': [], 'runcmd': [],
                       'systemd_units': []}


@pytest.mark.parametrize('extra, expected', [
    ({'watchdog_interval': 'abc'}, "argument 'watchdog_interval' is of type str"),
    ({'watchdog_port': 70000}, 'watchdog_port must be a TCP port (1-65535), got 70000'),
    ({'watchdog_port': 'http'}, "argument 'watchdog_port' is of type str"),
    ({'watchdog_failures': [2]}, "argument 'watchdog_failures' is of type list"),
    ({'watchdog_enabled': 'maybe'}, "argument 'watchdog_enabled' is of type str"),
    ({'watchdog_timeout': 0}, 'watchdog_timeout must be 0.1-60 seconds, got 0'),
    ({'watchdog_service': {'name': 'shs'}}, 'watchdog_service must be a compose service name'),
    ({'watchdog_project': 'Has Space'}, 'watchdog_project must be empty or a compose project name'),
    ({'watchdog_ping_path': 'ping'}, 'watchdog_ping_path must start with /'),
    ({'watchdog_script_path': 'relative/x.py'}, 'watchdog_script_path must be an absolute path'),
    ({'watchdog_unit_name': 'shs-watchdog'}, 'watchdog_unit_name must be a systemd unit name'),
    ({'watchdog_intervall': 5}, 'unknown variable(s) watchdog_intervall'),
    ({'watchdog_drain_seconds': 301}, 'watchdog_drain_seconds must be 0-300 seconds, got 301'),
    ({'watchdog_drain_seconds': 'long'}, "argument 'watchdog_drain_seconds' is of type str"),
    ({'watchdog_drain_port': 0}, 'watchdog_drain_port must be a TCP port (1-65535), got 0'),
    ({'watchdog_drain_enabled': 'maybe'}, "argument 'watchdog_drain_enabled' is of type str"),
    ({'watchdog_drain_unit_name': 'drain'}, 'watchdog_drain_unit_name must be a systemd unit name'),
])
def test_bad_variables_fail_before_rendering(tmp_path, extra, expected):
    proc, payload = render(tmp_path, extra)
    assert proc.returncode != 0
    assert payload is None
    flat = ' '.join(proc.stdout.split())
    assert expected in flat, proc.stdout
    assert 'Render the watchdog payload fragment' not in proc.stdout  # failed before that task


def test_units_pass_systemd_analyze_verify(tmp_path):
    """Both units (the watchdog's and the drain's) as systemd reads them."""
    analyze = shutil.which('systemd-analyze')
    if not analyze:
        pytest.skip('systemd-analyze is not installed')
    script_path = tmp_path / 'root' / 'usr-local-lib' / 'shs-watchdog.py'
    proc, payload = render(tmp_path, {'watchdog_script_path': str(script_path)})
    assert proc.returncode == 0, proc.stdout
    script_path.parent.mkdir(parents=True)
    script_path.write_text(files_by_path(payload)[str(script_path)]['content'])
    script_path.chmod(0o755)
    assert [unit['name'] for unit in payload['systemd_units']] == ['shs-watchdog.service', 'shs-drain.service']
    for unit in payload['systemd_units']:
        unit_path = tmp_path / unit['name']
        unit_path.write_text(unit['content'])
        result = subprocess.run([analyze, 'verify', '--man=no', str(unit_path)], text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        ours = [line for line in result.stdout.splitlines() if unit['name'] in line or str(script_path) in line]
        assert result.returncode == 0 and not ours, result.stdout


def test_script_print_config_and_env_overrides(default_render, tmp_path):
    path, config = write_delivered(default_render[1], tmp_path)
    env = dict(os.environ, SHS_WATCHDOG_PROJECT='node-3', SHS_WATCHDOG_INTERVAL='0.5')
    out = subprocess.run([sys.executable, str(path), '--config', str(config), '--print-config'], env=env, text=True,
                         capture_output=True, timeout=30)
    assert out.returncode == 0, out.stderr
    settings = json.loads(out.stdout)
    assert settings['project'] == 'node-3' and settings['interval'] == 0.5 and settings['port'] == 80
    env = dict(os.environ, SHS_WATCHDOG_PORT='99999', SHS_WATCHDOG_FAILURES='two')
    bad = subprocess.run([sys.executable, str(path), '--config', str(config)], env=env, text=True,
                         capture_output=True, timeout=30)
    assert bad.returncode == 2
    assert 'SHS_WATCHDOG_FAILURES' in bad.stderr and 'port must be 1-65535' in bad.stderr


def test_program_holds_its_settings_file_to_the_rules_in_it(script, default_render, tmp_path):
    """The program checks the settings file with the numbers the role's table put in it, and refuses a file
    it cannot use with a message naming the setting."""
    _, config = write_delivered(default_render[1], tmp_path)
    data = json.loads(config.read_text())
    data['settings']['port'] = 70000
    data['settings']['failures'] = 2
    data['rules']['failures']['max'] = 1  # the file's rules, not numbers of the program's own, decide
    config.write_text(json.dumps(data))
    _, errors = script.load_settings(str(config), {})
    assert errors == ['failures must be 1-1, got 2', 'port must be 1-65535, got 70000']

    del data['settings']['timeout']
    data['settings']['interval'] = '3'
    data['settings']['intervall'] = 3.0
    config.write_text(json.dumps(data))
    _, errors = script.load_settings(str(config), {})
    assert "%s: unknown setting 'intervall'" % config in errors
    assert "%s: no setting 'timeout'" % config in errors
    assert '%s: interval="3" is not a float' % config in errors

    _, errors = script.load_settings(str(tmp_path / 'missing.json'), {})
    assert errors == ['cannot read the settings file %s: No such file or directory' % (tmp_path / 'missing.json')]


def test_one_table_of_ranges(default_render):
    """vars/main.yml is the table; the settings file carries its entries, and the argument spec and the
    README quote the same ranges."""
    with open(os.path.join(ROLE, 'vars', 'main.yml')) as handle:
        rules = yaml.safe_load(handle)['watchdog__rules']
    with open(os.path.join(ROLE, 'meta', 'argument_specs.yml')) as handle:
        options = yaml.safe_load(handle)['argument_specs']['main']['options']
    with open(os.path.join(ROLE, 'README.md')) as handle:
        readme = handle.read()
    assert set(rules) <= {name[len('watchdog_'):] for name in options}
    config = json.loads(files_by_path(default_render[1])[CONFIG_PATH]['content'])
    assert config['rules'] == {key: rules[key] for key in config['settings'] if key in rules}
    for key, rule in rules.items():
        if 'min' not in rule:
            continue
        span = '%s-%s' % (rule['min'], rule['max'])
        description = options['watchdog_' + key]['description']
        description = description if isinstance(description, str) else ' '.join(description)
        assert 'Range %s.' % span in description, key
        [row] = [line for line in readme.splitlines() if line.startswith('| `watchdog_%s` |' % key)]
        assert ' %s ' % span in row, key


MERGE_PLAYBOOK = '''---
- name: Render the watchdog role and merge it like an instance group does
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Render
      ansible.builtin.include_role:
        name: filmopoisk.shs.watchdog
    - name: Save the instance metadata
      ansible.builtin.copy:
        content: "{{ [watchdog_payload] | filmopoisk.shs.coi_metadata(project_name='shs') | to_json }}"
        dest: "%s"
        mode: "0644"
'''


def test_fragment_merges_into_coi_metadata(tmp_path):
    """The fragment is what filmopoisk.shs.coi_metadata accepts: script in write_files, unit enabled."""
    out = tmp_path / 'metadata.json'
    (tmp_path / 'play.yml').write_text(MERGE_PLAYBOOK % out)
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'), ANSIBLE_NOCOLOR='1',
               PATH=os.path.dirname(ANSIBLE_PLAYBOOK) + os.pathsep + os.environ.get('PATH', ''))
    proc = subprocess.run([ANSIBLE_PLAYBOOK, str(tmp_path / 'play.yml')], cwd=ROOT, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=180)
    assert proc.returncode == 0, proc.stdout
    metadata = json.loads(out.read_text())
    user_data = metadata['user-data']
    assert user_data.startswith('#cloud-config')
    cloud = yaml.safe_load(user_data)
    files = {f['path']: f for f in cloud['write_files']}
    script = files['/usr/local/lib/filmopoisk/shs-watchdog.py']
    assert script['permissions'] == '0755' and script['content'].startswith('#!/usr/bin/python3')
    assert 'Restart=always' in files['/etc/systemd/system/shs-watchdog.service']['content']
    assert json.loads(files[CONFIG_PATH]['content'])['settings']['service'] == 'shs'
    assert any('shs-watchdog.service' in (c if isinstance(c, str) else ' '.join(c)) and 'enable' in str(c)
               for c in cloud['runcmd'])


# ------------------------------------------------------------------ the script's decisions (fake engine)

class FakeDocker:
    def __init__(self, containers=(), memory=0):
        self.items = list(containers)
        self.calls = []
        self.memory = memory

    def containers(self, labels):
        wanted = dict(label.split('=', 1) for label in labels)
        return [{'Id': c['Id'], 'Labels': c['Config']['Labels']} for c in self.items
                if all(c['Config']['Labels'].get(k) == v for k, v in wanted.items())]

    def inspect(self, cid):
        return next(c for c in self.items if c['Id'] == cid)

    def start(self, cid):
        self.calls.append(('start', cid))

    def restart(self, cid, stop_timeout):
        self.calls.append(('restart', cid, stop_timeout))

    def unpause(self, cid):
        self.calls.append(('unpause', cid))

    def memory_usage(self, cid):
        return self.memory


def fake_container(cid, project='p1', service='shs', status='running', started='2020-01-01T00:00:00.5Z',
                   paused=False, oneoff='False'):
    return {'Id': cid * 64 if len(cid) == 1 else cid, 'Name': '/%s-%s-1' % (project, service),
            'State': {'Status': status, 'Running': status in ('running', 'paused'), 'Paused': paused,
                      'StartedAt': started, 'ExitCode': 137 if status == 'exited' else 0},
            'Config': {'Labels': {'com.docker.compose.service': service, 'com.docker.compose.project': project,
                                  'com.docker.compose.oneoff': oneoff}}}


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def watchdog(script, defaults, docker, ping_results, **overrides):
    settings = dict(defaults, **overrides)
    clock = Clock()
    wd = script.Watchdog(settings, docker, stop=None, clock=clock, wall=lambda: 1577836900.0)  # 2020-01-01T00:01:40Z
    results = iter(ping_results)
    wd.ping = lambda: next(results)
    return wd, clock


DOWN = (False, 'connection refused')
UP = (True, 'ok')


def test_exited_container_is_started_at_the_first_failure(script, defaults, capsys):
    docker = FakeDocker([fake_container('a', status='exited')])
    wd, _ = watchdog(script, defaults, docker, [DOWN])
    wd.check()
    assert docker.calls == [('start', 'a' * 64)]
    err = capsys.readouterr().err
    assert 'starting container aaaaaaaaaaaa (name p1-shs-1, service shs, project p1): /ping failed: ' \
           'connection refused; the container is exited (exit code 137)' in err


def test_running_container_is_restarted_after_consecutive_failures(script, defaults, capsys):
    docker = FakeDocker([fake_container('a')])
    wd, _ = watchdog(script, defaults, docker, [DOWN, UP, DOWN, DOWN])
    wd.check()
    wd.check()  # a success resets the count
    wd.check()
    assert docker.calls == []
    wd.check()
    assert docker.calls == [('restart', 'a' * 64, 3)]
    assert 'restarting container aaaaaaaaaaaa (name p1-shs-1, service shs, project p1): 2 consecutive /ping ' \
           'failures: connection refused' in capsys.readouterr().err


def test_booting_container_is_not_restarted(script, defaults, capsys):
    # wall clock is 00:01:40Z; started 5 s earlier, grace 10 s
    docker = FakeDocker([fake_container('a', started='2020-01-01T00:01:35.000000001Z')])
    wd, _ = watchdog(script, defaults, docker, [DOWN] * 5)
    for _ in range(5):
        wd.check()
    assert docker.calls == []
    assert 'started 5.0 s ago (grace 10 s): not counted' in capsys.readouterr().err


def test_paused_container_is_unpaused_and_restarted(script, defaults):
    docker = FakeDocker([fake_container('a', status='paused', paused=True)])
    wd, _ = watchdog(script, defaults, docker, [DOWN, DOWN])
    wd.check()
    wd.check()
    assert docker.calls == [('unpause', 'a' * 64), ('restart', 'a' * 64, 3)]


def test_other_projects_and_oneoff_containers_are_never_touched(script, defaults):
    docker = FakeDocker([fake_container('a', project='p1', status='exited'),
                         fake_container('b', project='p2', status='exited'),
                         fake_container('c', project='p1', status='exited', oneoff='True')])
    wd, _ = watchdog(script, defaults, docker, [DOWN], project='p1')
    wd.check()
    assert docker.calls == [('start', 'a' * 64)]


def test_ambiguous_match_without_project_touches_nothing(script, defaults, capsys):
    docker = FakeDocker([fake_container('a', project='p1', status='exited'),
                         fake_container('b', project='p2', status='exited')])
    wd, _ = watchdog(script, defaults, docker, [DOWN] * 3)
    for _ in range(3):
        wd.check()
    assert docker.calls == []
    err = capsys.readouterr().err
    assert err.count('containers of 2 compose projects (p1, p2) have service shs: not touching any') == 1


def test_no_container_is_logged_once(script, defaults, capsys):
    wd, _ = watchdog(script, defaults, FakeDocker(), [DOWN] * 3)
    for _ in range(3):
        wd.check()
    assert capsys.readouterr().err.count('no container with labels com.docker.compose.service=shs') == 1


def test_crash_loop_is_started_once_per_grace_period(script, defaults, capsys):
    docker = FakeDocker([fake_container('a', status='exited')])  # start() does not make it run
    wd, clock = watchdog(script, defaults, docker, [DOWN] * 3)
    wd.check()
    clock.now += 3
    wd.check()
    assert docker.calls == [('start', 'a' * 64)]
    assert 'next start in 7.0 s' in capsys.readouterr().err
    clock.now += 8
    wd.check()
    assert docker.calls == [('start', 'a' * 64)] * 2


def test_container_that_answered_is_started_again_at_once(script, defaults, capsys):
    docker = FakeDocker([fake_container('a', status='exited')])
    wd, clock = watchdog(script, defaults, docker, [DOWN, UP, DOWN])
    wd.check()
    clock.now += 1.5
    wd.check()
    assert 'answers /ping again, 1.5 s after the start' in capsys.readouterr().err
    clock.now += 1
    wd.check()  # killed again 2.5 s after the start, but it had recovered: no crash-loop wait
    assert docker.calls == [('start', 'a' * 64)] * 2


def test_memory_limit(script, defaults, capsys):
    docker = FakeDocker([fake_container('a')], memory=300 * 1024 * 1024)
    wd, _ = watchdog(script, defaults, docker, [UP, UP], memory_limit_mb=200)
    wd.check()
    assert docker.calls == [('restart', 'a' * 64, 3)]
    assert 'memory usage 300.0 MiB is over the limit of 200 MiB' in capsys.readouterr().err
    docker.memory = 100 * 1024 * 1024
    docker.calls.clear()
    wd.check()
    assert docker.calls == []


def test_docker_time(script):
    assert script.docker_time('2020-01-01T00:00:00Z') == 1577836800.0
    assert script.docker_time('2020-01-01T00:00:01.250000000Z') == pytest.approx(1577836801.25)
    assert script.docker_time('2020-01-01T03:00:00+03:00') == 1577836800.0
    assert script.docker_time('0001-01-01T00:00:00Z') < 0
    assert script.docker_time('') is None and script.docker_time(None) is None


def test_engine_unreachable_is_survived(script, defaults, capsys, tmp_path):
    docker = script.Docker(str(tmp_path / 'missing.sock'))
    wd, _ = watchdog(script, defaults, docker, [DOWN, DOWN])
    wd.check()
    wd.check()
    err = capsys.readouterr().err
    assert 'cannot list containers: Docker API GET /containers/json via' in err and 'no such socket' in err


# ------------------------------------------------------------------ the drain's iptables commands (fake iptables)

class FakeIptables:
    """Records `iptables -w ...` calls; `exists` says whether the chain/hook checks succeed."""

    def __init__(self, chain_exists=False, hooked=(), refused=7):
        self.calls, self.chain_exists, self.hooked, self.refused = [], chain_exists, set(hooked), refused

    def __call__(self, argv, **kwargs):
        assert argv[:2] == ['iptables', '-w'], argv
        args = argv[2:]
        self.calls.append(args)
        code, out = 0, ''
        if args[:2] == ['-n', '-L'] or args[:2] == ['-n', '-v']:
            code = 0 if self.chain_exists else 1
            out = ('Chain SHS-DRAIN (2 references)\n    pkts      bytes target     prot opt in     out     source'
                   '               destination\n       0        0 RETURN     all  --  lo     *       0.0.0.0/0'
                   '            0.0.0.0/0\n       %d      420 REJECT     tcp  --  *      *       0.0.0.0/0'
                   '            0.0.0.0/0\n' % self.refused)
        elif args[0] == '-N':
            self.chain_exists = True
        elif args[0] == '-C':
            code = 0 if args[1] in self.hooked else 1
        elif args[0] == '-I':
            self.hooked.add(args[1])
        elif args[0] == '-D':
            code = 0 if args[1] in self.hooked else 1
            self.hooked.discard(args[1])
        elif args[0] == '-X':
            self.chain_exists = False
        return subprocess.CompletedProcess(argv, code, out, '' if code == 0 else 'iptables: No chain/target/match')


def test_drain_refuses_other_hosts_then_waits(script, defaults, monkeypatch, capsys, tmp_path):
    fake = FakeIptables()
    monkeypatch.setattr(script.subprocess, 'run', fake)
    slept, mark = [], tmp_path / 'run' / 'shs-drain'
    script.drain(dict(defaults, drain_port=80, drain_seconds=10.0), sleep=slept.append, clock=lambda: 50.0,
                 mark=str(mark))
    assert mark.exists()  # the watchdog's sign that the app's stop is on purpose
    assert ['-N', 'SHS-DRAIN'] in fake.calls
    assert ['-A', 'SHS-DRAIN', '-i', 'lo', '-j', 'RETURN'] in fake.calls
    reject = ['-A', 'SHS-DRAIN', '-p', 'tcp', '--syn', '-m', 'conntrack', '--ctorigdstport', '80',
              '-j', 'REJECT', '--reject-with', 'tcp-reset']
    assert reject in fake.calls
    # loopback first: this host's own checks (the watchdog's) are never refused
    assert fake.calls.index(['-A', 'SHS-DRAIN', '-i', 'lo', '-j', 'RETURN']) < fake.calls.index(reject)
    assert ['-I', 'INPUT', '1', '-j', 'SHS-DRAIN'] in fake.calls and ['-I', 'FORWARD', '1', '-j', 'SHS-DRAIN'] in fake.calls
    assert slept == [10.0]
    err = capsys.readouterr().err
    assert 'draining: new TCP connections to port 80 from other hosts are refused' in err
    assert '(7 new connection(s) refused): the app may stop now' in err


def test_drain_again_replaces_its_rules_and_hooks_once(script, defaults, monkeypatch, tmp_path):
    fake = FakeIptables(chain_exists=True, hooked={'INPUT', 'FORWARD'})
    monkeypatch.setattr(script.subprocess, 'run', fake)
    script.drain(dict(defaults, drain_port=8081, drain_seconds=0.0), sleep=lambda s: None,
                 mark=str(tmp_path / 'shs-drain'))
    assert ['-F', 'SHS-DRAIN'] in fake.calls and ['-N', 'SHS-DRAIN'] not in fake.calls
    assert not [c for c in fake.calls if c[0] == '-I']
    assert [c for c in fake.calls if c[0] == '-A'][1][8] == '8081'


def test_undrain_removes_hooks_chain_and_mark(script, monkeypatch, tmp_path):
    fake = FakeIptables(chain_exists=True, hooked={'INPUT', 'FORWARD'})
    monkeypatch.setattr(script.subprocess, 'run', fake)
    mark = tmp_path / 'shs-drain'
    mark.write_text('1\n')
    script.undrain(mark=str(mark))
    assert ['-D', 'INPUT', '-j', 'SHS-DRAIN'] in fake.calls and ['-D', 'FORWARD', '-j', 'SHS-DRAIN'] in fake.calls
    assert fake.calls[-2:] == [['-F', 'SHS-DRAIN'], ['-X', 'SHS-DRAIN']]
    assert not mark.exists()
    fake = FakeIptables()  # nothing there: nothing to remove, no error
    monkeypatch.setattr(script.subprocess, 'run', fake)
    script.undrain(mark=str(mark))
    assert not [c for c in fake.calls if c[0] in ('-F', '-X')]


def test_drain_without_iptables_fails_at_once(script, defaults, monkeypatch, capsys, tmp_path):
    def missing(argv, **kwargs):
        raise FileNotFoundError(2, 'No such file or directory', 'iptables')
    monkeypatch.setattr(script.subprocess, 'run', missing)
    monkeypatch.setattr(script.time, 'sleep', lambda s: pytest.fail('waited with nothing drained'))
    mark = tmp_path / 'shs-drain'
    assert script.run_drain(dict(defaults), undo=False, mark=str(mark)) == 1
    assert not mark.exists()  # nothing drained: the watchdog keeps healing
    assert script.run_drain(dict(defaults), undo=True, mark=str(mark)) == 1
    err = capsys.readouterr().err
    assert 'drain failed: ' in err and 'undrain failed: ' in err


def test_drain_overrides_are_held_to_the_rules(default_render, tmp_path):
    path, config = write_delivered(default_render[1], tmp_path)
    env = dict(os.environ, SHS_WATCHDOG_DRAIN_SECONDS='3', SHS_WATCHDOG_DRAIN_PORT='8081')
    out = subprocess.run([sys.executable, str(path), '--config', str(config), '--print-config'], env=env, text=True,
                         capture_output=True, timeout=30)
    assert out.returncode == 0, out.stderr
    settings = json.loads(out.stdout)
    assert settings['drain_seconds'] == 3.0 and settings['drain_port'] == 8081
    env = dict(os.environ, SHS_WATCHDOG_DRAIN_SECONDS='999')
    bad = subprocess.run([sys.executable, str(path), '--config', str(config), '--drain'], env=env, text=True,
                         capture_output=True, timeout=30)
    assert bad.returncode == 2 and 'drain_seconds must be 0-300, got 999.0' in bad.stderr


def test_watchdog_leaves_the_app_alone_while_the_vm_drains(script, defaults, capsys, tmp_path):
    """After the drain the app is stopped on purpose (the VM shuts down): not started again, not restarted."""
    mark = tmp_path / 'shs-drain'
    mark.write_text('1\n')
    docker = FakeDocker([fake_container('a', status='exited'), fake_container('b', project='p1')])
    wd = script.Watchdog(dict(defaults, project='p1'), docker, stop=None, clock=Clock(),
                         wall=lambda: 1577836900.0, drain_mark=str(mark))
    results = iter([DOWN, DOWN, DOWN])
    wd.ping = lambda: next(results)
    for _ in range(3):
        wd.check()
    assert docker.calls == []
    assert 'the VM is draining' in capsys.readouterr().err
    mark.unlink()  # undrained (or the next boot): it acts again
    wd.ping = lambda: DOWN
    wd.check()
    assert ('start', 'a' * 64) in docker.calls
