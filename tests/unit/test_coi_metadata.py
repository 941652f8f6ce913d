"""filmopoisk.shs.coi_metadata: payload fragments of a group -> COI metadata {docker-compose, user-data}.

What the roles render is what ships, so the merge must be strict (no silent override), deterministic
(byte-identical output for the same payload) and readable (block scalars for file contents).
"""

import copy
import importlib.util
import os

import pytest
import yaml

from ansible.errors import AnsibleFilterError

from yaml_core import LOOKALIKES, CoreLoader, load_core, random_lookalikes

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLUGIN = os.path.join(ROOT, 'plugins', 'filter', 'coi_metadata.py')


def _load_plugin():
    spec = importlib.util.spec_from_file_location('coi_metadata_filter', PLUGIN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


plugin = _load_plugin()
coi_metadata = plugin.coi_metadata

CONFIG = 'student_email: someone@example.com\npostgres_cluster:\n  hosts:\n    - address: db\n'
UNIT = '[Unit]\nDescription=SHS watchdog\n\n[Service]\nExecStart=/bin/true\n\n[Install]\nWantedBy=multi-user.target\n'


def shs_fragment():
    return {
        'name': 'shs',
        'compose': {
            'version': '3.7',
            'services': {'shs': {'image': 'cr.example/shs:1.0.0', 'init': True, 'restart': 'always',
                                 'volumes': ['/opt/bingo/config.yaml:/opt/bingo/config.yaml:ro'],
                                 'environment': {'B': '2', 'A': 'yes'}}},
            'volumes': {'logs': None},
        },
        'files': [{'path': '/opt/bingo/config.yaml', 'content': CONFIG, 'permissions': '0640'}],
        'bootcmd': ['iptables -w -N DOCKER-USER || true',
                    ['iptables', '-w', '-I', 'DOCKER-USER', '-d', '8.8.8.8', '-j', 'REJECT']],
        'runcmd': ['mkdir -p /opt/bongo/logs'],
    }


def watchdog_fragment():
    return {
        'name': 'watchdog',
        'systemd_units': [{'name': 'shs-watchdog.service', 'content': UNIT},
                          {'name': 'shs-watchdog.timer', 'content': '[Timer]\nOnBootSec=1min\n', 'enabled': False}],
        'runcmd': ['echo watchdog-installed'],
    }


def postgres_fragment():
    return {
        'compose': {
            'services': {'postgres': {'image': 'cr.example/postgres:15', 'init': True,
                                      'volumes': ['pgdata:/var/lib/postgresql/data']}},
            'volumes': {'pgdata': {'driver': 'local'}},
            'x-yc-disks': [{'device_name': 'pgdata', 'fs_type': 'ext4', 'host_path': '/mnt/pgdata', 'partition': 1}],
        },
        'bootcmd': ['sysctl -w vm.swappiness=1'],
        'runcmd': [['echo', 'postgres']],
        'packages': ['htop'],
    }


def load(metadata):
    return yaml.safe_load(metadata['docker-compose']), yaml.safe_load(metadata['user-data'])


def reorder(value):
    """The same data with every mapping's insertion order reversed (lists keep their order)."""
    if isinstance(value, dict):
        return {key: reorder(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return [reorder(item) for item in value]
    return value


def error_of(fragments, **kwargs):
    with pytest.raises(AnsibleFilterError) as info:
        coi_metadata(fragments, **kwargs)
    return str(info.value)


# ------------------------------------------------------------------------------------------ merging

def test_two_fragments_merge():
    compose, user_data = load(coi_metadata([shs_fragment(), watchdog_fragment()], project_name='shs'))
    assert compose['name'] == 'shs'
    assert list(compose['services']) == ['shs']
    assert compose['services']['shs']['image'] == 'cr.example/shs:1.0.0'
    assert compose['volumes'] == {'logs': None}
    paths = [entry['path'] for entry in user_data['write_files']]
    assert paths == ['/opt/bingo/config.yaml', '/etc/systemd/system/shs-watchdog.service',
                     '/etc/systemd/system/shs-watchdog.timer']
    assert user_data['write_files'][0] == {'path': '/opt/bingo/config.yaml', 'owner': 'root:root',
                                           'permissions': '0640', 'content': CONFIG}
    assert user_data['bootcmd'][3] == ['iptables', '-w', '-I', 'DOCKER-USER', '-d', '8.8.8.8', '-j', 'REJECT']


def test_three_fragments_merge_in_fragment_order():
    compose, user_data = load(coi_metadata([shs_fragment(), watchdog_fragment(), postgres_fragment()]))
    assert 'name' not in compose
    assert sorted(compose['services']) == ['postgres', 'shs']
    assert compose['volumes'] == {'logs': None, 'pgdata': {'driver': 'local'}}
    assert compose['x-yc-disks'] == [{'device_name': 'pgdata', 'fs_type': 'ext4', 'host_path': '/mnt/pgdata',
                                      'partition': 1}]
    assert user_data['bootcmd'] == [['cloud-init', 'single', '--name', 'write_files', '--frequency', 'always'],
                                    ['systemctl', 'daemon-reload'],
                                    'iptables -w -N DOCKER-USER || true',
                                    ['iptables', '-w', '-I', 'DOCKER-USER', '-d', '8.8.8.8', '-j', 'REJECT'],
                                    'sysctl -w vm.swappiness=1']
    # Fragments' runcmd in fragment order, then the units' commands (daemon-reload once, enabled units only).
    assert user_data['runcmd'] == ['mkdir -p /opt/bongo/logs', 'echo watchdog-installed', ['echo', 'postgres'],
                                   'systemctl daemon-reload',
                                   'systemctl enable --now --no-block shs-watchdog.service']
    assert user_data['packages'] == ['htop']


def test_none_and_empty_fragments_are_skipped_but_keep_their_index():
    assert coi_metadata([None, {}, shs_fragment()]) == coi_metadata([shs_fragment()])
    message = error_of([None, {}, {'files': [{'content': ''}]}])
    assert message.startswith('fragment 2: files[0].path is required')


def test_empty_input_gives_valid_empty_metadata():
    metadata = coi_metadata([])
    assert metadata == {'docker-compose': "version: '3.7'\nservices: {}\n", 'user-data': '#cloud-config\n{}\n'}


def test_units_become_write_files_and_runcmd():
    _, user_data = load(coi_metadata([watchdog_fragment()]))
    unit_file = user_data['write_files'][0]
    assert unit_file == {'path': '/etc/systemd/system/shs-watchdog.service', 'owner': 'root:root',
                         'permissions': '0644', 'content': UNIT}
    assert user_data['write_files'][1]['path'] == '/etc/systemd/system/shs-watchdog.timer'
    assert user_data['runcmd'] == ['echo watchdog-installed', 'systemctl daemon-reload',
                                   'systemctl enable --now --no-block shs-watchdog.service']


def test_units_of_several_fragments_enable_in_order_after_all_runcmd():
    first = {'systemd_units': [{'name': 'a.service', 'content': UNIT}], 'runcmd': ['echo 1']}
    second = {'systemd_units': [{'name': 'b.service', 'content': UNIT}], 'runcmd': ['echo 2']}
    _, user_data = load(coi_metadata([first, second]))
    assert user_data['runcmd'] == ['echo 1', 'echo 2', 'systemctl daemon-reload',
                                   'systemctl enable --now --no-block a.service',
                                   'systemctl enable --now --no-block b.service']
    assert user_data['runcmd'].count('systemctl daemon-reload') == 1


def test_no_units_no_systemctl():
    _, user_data = load(coi_metadata([shs_fragment()]))
    assert not [cmd for cmd in user_data['runcmd'] if 'systemctl' in str(cmd)]


def test_file_defaults_and_optional_fields():
    fragment = {'files': [{'path': '/etc/a', 'content': ''},
                          {'path': '/etc/b', 'content': 'aGk=', 'encoding': 'b64', 'defer': True,
                           'owner': 'nobody', 'permissions': '600'}]}
    _, user_data = load(coi_metadata([fragment]))
    assert user_data['write_files'] == [
        {'path': '/etc/a', 'owner': 'root:root', 'permissions': '0644', 'content': ''},
        {'path': '/etc/b', 'owner': 'nobody', 'permissions': '0600', 'encoding': 'b64', 'defer': True,
         'content': 'aGk='},
    ]


def test_packages_are_deduplicated_first_wins():
    _, user_data = load(coi_metadata([{'packages': ['curl', ['jq', '1.6']]}, {'packages': ['htop', 'curl']}]))
    assert user_data['packages'] == ['curl', ['jq', '1.6'], 'htop']


def test_x_extensions_pass_through_and_merge():
    first = {'compose': {'x-yc-disks': [{'device_name': 'a', 'host_path': '/mnt/a'}], 'x-labels': {'one': 1},
                         'services': {'a': {'image': 'a'}}}}
    second = {'compose': {'x-yc-disks': [{'device_name': 'b', 'host_path': '/mnt/b'}], 'x-labels': {'two': 2}}}
    compose, _ = load(coi_metadata([first, second]))
    assert [disk['device_name'] for disk in compose['x-yc-disks']] == ['a', 'b']
    assert compose['x-labels'] == {'one': 1, 'two': 2}


def test_networks_configs_secrets_merge():
    first = {'compose': {'services': {'a': {'image': 'a', 'configs': ['cfg']}}, 'networks': {'front': None},
                         'configs': {'cfg': {'content': 'x\ny\n'}}}}
    second = {'compose': {'networks': {'back': {'internal': True}}, 'secrets': {'s': {'environment': 'S'}}}}
    compose, _ = load(coi_metadata([first, second]))
    assert compose['networks'] == {'back': {'internal': True}, 'front': None}
    assert compose['configs'] == {'cfg': {'content': 'x\ny\n'}}
    assert compose['secrets'] == {'s': {'environment': 'S'}}


class TaggedStr(str):
    """Like Ansible 2.19's tagged strings: a str subclass yaml.SafeDumper cannot represent."""


class TaggedDict(dict):
    pass


class TaggedList(list):
    pass


def tagged(value):
    if isinstance(value, dict):
        return TaggedDict((TaggedStr(key), tagged(item)) for key, item in value.items())
    if isinstance(value, list):
        return TaggedList(tagged(item) for item in value)
    if isinstance(value, str):
        return TaggedStr(value)
    return value


def test_str_dict_list_subclasses_give_the_same_output():
    fragments = [shs_fragment(), watchdog_fragment(), postgres_fragment()]
    expected = coi_metadata(fragments, project_name='shs')
    assert coi_metadata(tagged(fragments), project_name=TaggedStr('shs')) == expected


def test_input_is_not_modified():
    fragments = [shs_fragment(), watchdog_fragment(), postgres_fragment()]
    before = copy.deepcopy(fragments)
    coi_metadata(fragments)
    assert fragments == before


# ------------------------------------------------------------------------------------------ output form

def test_deterministic_whatever_the_insertion_order():
    fragments = [shs_fragment(), watchdog_fragment(), postgres_fragment()]
    first = coi_metadata(fragments, project_name='shs')
    assert coi_metadata(fragments, project_name='shs') == first
    assert coi_metadata(copy.deepcopy(fragments), project_name='shs') == first
    shuffled = coi_metadata(reorder(fragments), project_name='shs')
    assert shuffled['docker-compose'].encode() == first['docker-compose'].encode()
    assert shuffled['user-data'].encode() == first['user-data'].encode()


def test_compose_mappings_are_sorted_lists_keep_order():
    text = coi_metadata([shs_fragment()])['docker-compose']
    assert text.index('environment:') < text.index('image:') < text.index('init:') < text.index('restart:')
    assert text.index('      A:') < text.index('      B:')
    fragment = {'compose': {'services': {'z': {'image': 'z', 'command': ['c', 'b', 'a']}, 'a': {'image': 'a'}}}}
    text = coi_metadata([fragment])['docker-compose']
    assert text.index('  a:') < text.index('  z:')
    assert yaml.safe_load(text)['services']['z']['command'] == ['c', 'b', 'a']


def test_user_data_header_and_layout():
    text = coi_metadata([shs_fragment(), watchdog_fragment(), postgres_fragment()])['user-data']
    assert text.startswith('#cloud-config\n')
    top = [line.split(':')[0] for line in text.splitlines()[1:] if line and not line[0] in ' -']
    assert top == ['bootcmd', 'write_files', 'packages', 'runcmd']
    # argv commands are one flow-style line each
    assert '- [echo, postgres]\n' in text


def test_version_leads_the_spec():
    # COI: "version: Specification version tag the file should start with" (en/cos/concepts/coi-specifications.md);
    # a Compose v1 reader takes a file without it for the legacy format, where `services` would be a service.
    fragments = [shs_fragment(), postgres_fragment()]
    assert fragments[0]['compose']['version'] == '3.7'
    text = coi_metadata(fragments)['docker-compose']
    assert text.startswith("version: '3.7'\nservices:\n")
    assert yaml.safe_load(coi_metadata([{'compose': {'services': {'a': {'image': 'x'}}}}])['docker-compose'])[
        'version'] == '3.7'
    with pytest.raises(AnsibleFilterError, match=r"fragment 1: compose.version '3.8' differs from '3.7' of fragment 0"):
        coi_metadata([{'compose': {'version': '3.7'}}, {'compose': {'version': '3.8'}}])


def test_files_are_written_again_at_every_boot():
    # A YC metadata update restarts the VM with the same instance id: write_files (once per instance) would not
    # run again, so the files are rewritten by bootcmd, before the fragments' own commands.
    user_data = yaml.safe_load(coi_metadata([shs_fragment()])['user-data'])
    assert user_data['bootcmd'][0] == ['cloud-init', 'single', '--name', 'write_files', '--frequency', 'always']
    assert 'bootcmd' not in yaml.safe_load(coi_metadata([{'compose': {'services': {'a': {'image': 'x'}}}}])[
        'user-data'])


def test_name_only_with_project_name():
    assert 'name' not in yaml.safe_load(coi_metadata([shs_fragment()])['docker-compose'])
    text = coi_metadata([shs_fragment()], project_name='shs-app_1')['docker-compose']
    assert text.startswith("version: '3.7'\nname: shs-app_1\nservices:\n")


def test_multiline_strings_are_literal_block_scalars():
    text = coi_metadata([shs_fragment(), watchdog_fragment()])['user-data']
    assert '  content: |\n    student_email: someone@example.com\n    postgres_cluster:\n      hosts:\n' in text
    assert '    [Unit]\n    Description=SHS watchdog\n' in text
    assert '\\n' not in text


def test_block_scalars_survive_tabs_trailing_spaces_and_unicode():
    awkward = {
        'tabs': 'server {\n\tlisten 80;\n\t\treturn 200;\n}\n',
        'trailing': 'key: value   \n  indented  \nlast\n',
        'leading': '  starts indented\nsecond\n',
        'no-final-newline': 'one\ntwo',
        'blank-lines': 'a\n\n\n  \nb\n\n',
        'unicode': 'Фильмопоиск\nкино\n',
        'crlf': 'windows\r\nline\r\n',
    }
    fragment = {'files': [{'path': '/f/' + name, 'content': content} for name, content in sorted(awkward.items())]}
    text = coi_metadata([fragment])['user-data']
    loaded = {entry['path'][3:]: entry['content'] for entry in yaml.safe_load(text)['write_files']}
    assert loaded == awkward
    for name in ('tabs', 'trailing', 'leading', 'no-final-newline', 'blank-lines', 'unicode'):
        assert '- path: /f/%s\n  owner: root:root\n  permissions: \'0644\'\n  content: |' % name in text, name
    assert 'Фильмопоиск' in text  # not \u escapes


def test_no_anchors_or_aliases_for_shared_objects():
    env = {'TZ': 'UTC', 'LANG': 'C.UTF-8'}
    command = ['serve', '--port', '80']
    fragment = {'compose': {'services': {'a': {'image': 'a', 'environment': env, 'command': command},
                                         'b': {'image': 'b', 'environment': env, 'command': command}}},
                'runcmd': [command, command]}
    metadata = coi_metadata([fragment])
    for text in metadata.values():
        assert '&id' not in text and '*id' not in text
    compose, user_data = load(metadata)
    assert compose['services']['a']['environment'] == compose['services']['b']['environment'] == env
    assert user_data['runcmd'] == [command, command]


def test_scalars_that_look_like_other_types_stay_strings():
    environment = {'A': 'yes', 'B': '0644', 'C': 'null', 'D': '1.0', 'E': 'on', 'F': '~', 'G': '2024-01-01'}
    fragment = {'compose': {'services': {'a': {'image': 'a', 'environment': environment}}}}
    compose, _ = load(coi_metadata([fragment]))
    assert compose['services']['a']['environment'] == environment


def lookalike_fragment(values):
    """Every value as an environment value, a label value, a label key and a command argument."""
    return {'compose': {'services': {'a': {
        'image': 'a',
        'environment': dict(('V%03d' % index, value) for index, value in enumerate(values)),
        'labels': dict(('l%03d' % index, value) for index, value in enumerate(values)),
        'command': list(values)}},
        'x-keys': dict((value, index) for index, value in enumerate(values))}}


def assert_lookalikes_stay_strings(values):
    text = coi_metadata([lookalike_fragment(values)])['docker-compose']
    expected = dict(lookalike_fragment(values)['compose'], version='3.7')
    for reader in (yaml.safe_load, load_core):
        loaded = reader(text)
        changed = [(value, got) for value, got in zip(values, loaded['services']['a']['command']) if got != value]
        assert not changed, '%s reads %s' % (reader.__name__, changed)
        assert loaded == expected, reader.__name__


def test_number_like_strings_stay_strings_ordinary_ones_stay_plain():
    assert_lookalikes_stay_strings(LOOKALIKES)
    ordinary = ['foo', '1.2.3', 'x86_64', 'a_b', '_1', '0:20', 'v1e3', '1e', 'e3', '0x', 'cr.example/shs:1.0.0']
    text = coi_metadata([lookalike_fragment(ordinary)])['docker-compose']
    assert '    command:\n' + ''.join('    - %s\n' % value for value in ordinary) in text  # byte-identical


def test_random_number_like_strings_stay_strings():
    values = random_lookalikes()
    assert_lookalikes_stay_strings(values)
    assert len([value for value in values if not plugin.plain_is_string(value)]) > 100  # the batch tests quoting


def test_plain_is_string_agrees_with_the_yaml_1_1_and_1_2_resolvers():
    resolvers = (yaml.SafeLoader, CoreLoader)
    for value in LOOKALIKES + random_lookalikes() + ['foo', '1.2.3', 'x86_64', '_1', '0:20', 'v1e3', '1e']:
        tags = set(loader.resolve(loader, yaml.ScalarNode, value, (True, False)) for loader in resolvers)
        if plugin.plain_is_string(value):
            assert tags == {'tag:yaml.org,2002:str'}, value


# ------------------------------------------------------------------------------------------ errors

def _unit(name='x.service', **extra):
    return dict({'name': name, 'content': UNIT}, **extra)


ERRORS = [
    # (fragments, kwargs, the exact beginning of the message)
    ([{'runcmd': []}, {'files': [{'content': 'x'}]}], {}, 'fragment 1: files[0].path is required'),
    ([{'compose': {'services': {'shs': 'image: x'}}}], {}, 'fragment 0: compose.services.shs must be a mapping'),
    ([{'servces': {}}], {}, "fragment 0: unknown key 'servces' (allowed: name, compose, files, bootcmd"),
    ([{'compose': {'services': {'app': {'image': 'a', 'build': '.'}}}}], {},
     'fragment 0: compose.services.app.build is not supported: COI cannot build images'),
    ([{'compose': {'services': {'app': {'command': 'x'}}}}], {}, 'fragment 0: compose.services.app.image is required'),
    ([{'compose': {'services': {'a b': {'image': 'x'}}}}], {}, 'fragment 0: compose.services.a b is not a valid'),
    ([{'compose': {'servics': {}}}], {}, "fragment 0: compose: unknown top-level key 'servics'"),
    ([{'compose': {'name': 'x'}}], {}, 'fragment 0: compose.name is not allowed in a fragment'),
    ([{'compose': {'volumes': ['data']}}], {}, 'fragment 0: compose.volumes must be a mapping, got list'),
    ([{'compose': ['services']}], {}, 'fragment 0: compose must be a mapping, got list'),
    ([{'compose': {'x-yc-disks': [{'host_path': '/mnt'}]}}], {},
     'fragment 0: compose.x-yc-disks[0].device_name is required'),
    ([{'files': {'path': '/x'}}], {}, 'fragment 0: files must be a list, got mapping'),
    ([{'files': ['/x']}], {}, 'fragment 0: files[0] must be a mapping, got string'),
    ([{'files': [{'path': '/x'}]}], {}, 'fragment 0: files[0].content is required'),
    ([{'files': [{'path': 'opt/x', 'content': ''}]}], {}, "fragment 0: files[0].path must be an absolute file path"),
    ([{'files': [{'path': '/x', 'content': '', 'permissions': 416}]}], {},
     "fragment 0: files[0].permissions must be a quoted octal string like '0640', got 416"),
    ([{'files': [{'path': '/x', 'content': '', 'permissions': '0999'}]}], {}, 'fragment 0: files[0].permissions'),
    ([{'files': [{'path': '/x', 'content': '', 'encoding': 'zip'}]}], {}, 'fragment 0: files[0].encoding must be'),
    ([{'files': [{'path': '/x', 'content': '', 'defer': 'yes'}]}], {}, 'fragment 0: files[0].defer must be a bool'),
    ([{'files': [{'path': '/x', 'content': 5}]}], {}, 'fragment 0: files[0].content must be a string, got int'),
    ([{'files': [{'path': '/x', 'content': '', 'mode': '0644'}]}], {}, "fragment 0: files[0]: unknown key 'mode'"),
    ([{'bootcmd': 'iptables -L'}], {}, 'fragment 0: bootcmd must be a list, got string'),
    ([{'runcmd': ['ok', 5]}], {}, 'fragment 0: runcmd[1] must be a string or a list of strings, got int'),
    ([{'runcmd': [['echo', 1]]}], {}, 'fragment 0: runcmd[0][1] must be a string, got int'),
    ([{'systemd_units': [{'content': UNIT}]}], {}, 'fragment 0: systemd_units[0].name is required'),
    ([{'systemd_units': [_unit('watchdog')]}], {}, 'fragment 0: systemd_units[0].name must be a systemd unit'),
    ([{'systemd_units': [_unit('../x.service')]}], {}, 'fragment 0: systemd_units[0].name must be a systemd unit'),
    ([{'systemd_units': [{'name': 'x.service'}]}], {}, 'fragment 0: systemd_units[0].content is required'),
    ([{'systemd_units': [_unit(enabled='yes')]}], {}, 'fragment 0: systemd_units[0].enabled must be a bool'),
    ([{'systemd_units': [_unit('x@.service')]}], {}, 'fragment 0: systemd_units[0].enabled a template unit'),
    ([{'systemd_units': [_unit(wanted_by='x')]}], {}, "fragment 0: systemd_units[0]: unknown key 'wanted_by'"),
    ([{'packages': [5]}], {}, 'fragment 0: packages[0] must be a package name'),
    ([{'name': 'shs', 'files': [{'content': ''}]}], {}, 'fragment 0 [shs]: files[0].path is required'),
    ([{'name': 5, 'runcmd': ['x']}], {}, 'fragment 0: name must be a string, got int'),
    (['not a fragment'], {}, 'fragment 0: must be a mapping, got string'),
    ({'compose': {}}, {}, 'coi_metadata: the input must be a list of payload fragments, got mapping'),
    ([], {'project_name': 'Shs'}, 'coi_metadata: project_name must be lower-case'),
]


@pytest.mark.parametrize('fragments, kwargs, expected', ERRORS, ids=[e[2][:60] for e in ERRORS])
def test_errors_name_the_fragment_and_the_field(fragments, kwargs, expected):
    assert error_of(fragments, **kwargs).startswith(expected)


def test_same_service_in_two_fragments_names_both_and_the_service():
    other = {'compose': {'services': {'shs': {'image': 'other'}}}}
    message = error_of([shs_fragment(), watchdog_fragment(), other])
    assert message.startswith('fragment 2: compose.services.shs is already defined by fragment 0 [shs]')


@pytest.mark.parametrize('key', ['volumes', 'networks', 'configs', 'secrets'])
def test_same_named_object_in_two_fragments_is_an_error(key):
    message = error_of([{'compose': {key: {'data': None}}}, None, {'compose': {key: {'data': {}}}}])
    assert message.startswith('fragment 2: compose.%s.data is already defined by fragment 0' % key)


def test_same_file_path_twice_names_the_path():
    one = {'files': [{'path': '/opt/x', 'content': 'a'}]}
    two = {'name': 'two', 'files': [{'path': '/opt/y', 'content': ''}, {'path': '/opt/x', 'content': 'b'}]}
    message = error_of([one, two])
    assert message == 'fragment 1 [two]: files[1].path /opt/x is already written by fragment 0 (files[0])'
    message = error_of([{'files': [{'path': '/opt/x', 'content': ''}, {'path': '/opt/x', 'content': ''}]}])
    assert '/opt/x is already written by fragment 0 (files[0])' in message


def test_unit_path_clashing_with_a_file_is_an_error():
    one = {'files': [{'path': '/etc/systemd/system/x.service', 'content': UNIT}]}
    message = error_of([one, {'systemd_units': [_unit()]}])
    assert message.startswith('fragment 1: systemd_units[0] writes /etc/systemd/system/x.service, '
                              'already written by fragment 0 (files[0])')


def test_same_unit_twice_is_an_error():
    message = error_of([{'systemd_units': [_unit()]}, {'systemd_units': [_unit()]}])
    assert message.startswith('fragment 1: systemd_units[0].name x.service is already defined by fragment 0')


def test_same_yc_disk_twice_is_an_error():
    disk = {'device_name': 'data', 'host_path': '/mnt/data'}
    message = error_of([{'compose': {'x-yc-disks': [disk]}}, {'compose': {'x-yc-disks': [disk]}}])
    assert message.startswith("fragment 1: compose.x-yc-disks[0].device_name 'data' is already used by fragment 0")


def test_x_scalar_twice_is_an_error():
    message = error_of([{'compose': {'x-owner': 'a'}}, {'compose': {'x-owner': 'b'}}])
    assert message.startswith('fragment 1: compose.x-owner is already defined by fragment 0')


def test_filter_is_registered():
    assert plugin.FilterModule().filters() == {'coi_metadata': coi_metadata}


def test_documentation_parses():
    for name in ('DOCUMENTATION', 'EXAMPLES', 'RETURN'):
        assert yaml.safe_load(getattr(plugin, name)), name
    doc = yaml.safe_load(plugin.DOCUMENTATION)
    assert doc['name'] == 'coi_metadata'
    assert set(doc['options']) == {'_input', 'project_name'}
