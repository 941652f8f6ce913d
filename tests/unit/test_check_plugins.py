"""The collection's shared checks (test plugins filmopoisk.shs.ipv4_address, cidr, port, hostname): what each
accepts and refuses, called directly and from a playbook the way the roles call them."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from support import REPO_ROOT, ansible_env

PLUGIN_DIR = os.path.join(REPO_ROOT, 'plugins', 'test')


def load(name):
    spec = importlib.util.spec_from_file_location('check_' + name, os.path.join(PLUGIN_DIR, name + '.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.TestModule().tests()[name]


ipv4_address, cidr, port, hostname = (load(n) for n in ('ipv4_address', 'cidr', 'port', 'hostname'))


@pytest.mark.parametrize('value', ['10.130.0.5', '0.0.0.0', '255.255.255.255', '127.0.0.1'])
def test_ipv4_address_accepts(value):
    assert ipv4_address(value)


@pytest.mark.parametrize('value', ['256.1.1.1', '10.0.0', '10.0.0.1/32', 'dns.example', '::1', '010.0.0.1',
                                   ' 10.0.0.1', '', None, 167772161, True])
def test_ipv4_address_refuses(value):
    assert not ipv4_address(value)


@pytest.mark.parametrize('value,kwargs', [
    ('10.128.0.0/24', {}), ('127.0.0.1', {}), ('10.0.0.1/24', {}), ('0.0.0.0/0', {}), ('fd00::/8', {}),
    ('::1', {}), ('2001:db8::1/128', {}), ('10.10.0.0/24', {'version': 4, 'require_prefix': True}),
    ('8.8.8.8', {'version': 4}), ('fd00::/8', {'version': 6}),
])
def test_cidr_accepts(value, kwargs):
    assert cidr(value, **kwargs)


@pytest.mark.parametrize('value,kwargs', [
    ('10.0.0.0/33', {}), ('everyone', {}), ('10.0.0.0/', {}), ('10.0.0.0/24/8', {}), ('fd00::/129', {}),
    ('10.0.0.0/255.0.0.0', {}), ('10.0.0.0/ 8', {}), (None, {}), (10, {}), ('', {}),
    ('10.10.0.0', {'version': 4, 'require_prefix': True}), ('fd00::/8', {'version': 4}),
    ('10.0.0.0/8', {'version': 6}),
])
def test_cidr_refuses(value, kwargs):
    assert not cidr(value, **kwargs)


@pytest.mark.parametrize('value', [1, 80, 5432, 65535, '8080', '1'])
def test_port_accepts(value):
    assert port(value)


@pytest.mark.parametrize('value', [0, 65536, -1, '0', '65536', 'http', '80 ', '', '８０', 80.0, True, None, [80]])
def test_port_refuses(value):
    assert not port(value)


@pytest.mark.parametrize('value', ['localhost', 'shs-app-1.ru-central1.internal', 'a', 'x.y.', '10.130.0.5',
                                   'a' * 63 + '.example', 'A-1.B-2'])
def test_hostname_accepts(value):
    assert hostname(value)


@pytest.mark.parametrize('value', ['bad host', 'host:80', '-a.example', 'a-.example', 'a..b', '.a', 'under_score',
                                   'a' * 64 + '.example', ('a' * 60 + '.') * 5, '', None, 42])
def test_hostname_refuses(value):
    assert not hostname(value)


def test_the_roles_call_them_from_a_playbook(tmp_path):
    """Ansible finds them by their collection names, with arguments, in `is` and in select/reject."""
    out = tmp_path / 'out.json'
    checks = {
        'ipv4': "{{ ['10.0.0.1', 'dns.example'] | select('filmopoisk.shs.ipv4_address') | list }}",
        'cidr': "{{ ['10.0.0.0/8', '10.0.0.1', 'fd00::/8'] | select('filmopoisk.shs.cidr', version=4, require_prefix=true) | list }}",
        'port': "{{ [80, '8080', 0, 'x'] | select('filmopoisk.shs.port') | list }}",
        'hostname': "{{ 'shs-db-1.ru-central1.internal' is filmopoisk.shs.hostname and 'bad host' is not filmopoisk.shs.hostname }}",
    }
    playbook = tmp_path / 'checks.yml'
    playbook.write_text(json.dumps([{'hosts': 'localhost', 'gather_facts': False, 'tasks': [
        {'ansible.builtin.copy': {'content': '{{ checks | to_json }}', 'dest': str(out), 'mode': '0600'},
         'vars': {'checks': checks}}]}]))
    result = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), str(playbook)],
                            cwd=REPO_ROOT, env=ansible_env(), text=True, capture_output=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert json.loads(out.read_text()) == {'ipv4': ['10.0.0.1'], 'cidr': ['10.0.0.0/8'], 'port': [80, '8080'],
                                           'hostname': True}
