"""The _info twins of the resource modules against localcloud: each lists what its managing module made (in the same
shape), by name and by id, and [] when nothing matches; a folder with nothing in it gives []; check mode reads the
same and writes nothing; bad input fails naming the option before any API call; ansible-doc renders each."""

import json
import os
import subprocess
import sys
import uuid

import pytest

from localcloud_fixture import LocalCloudServer
from support import REPO_ROOT
from yc_modules_support import ok, run_module

ANSIBLE_DOC = os.path.join(os.path.dirname(sys.executable), 'ansible-doc')
RULES = [dict(direction='ingress', protocol='tcp', port=443, v4_cidr_blocks=['0.0.0.0/0']),
         dict(direction='egress', protocol='any', v4_cidr_blocks=['0.0.0.0/0'])]


@pytest.fixture(scope='module')
def made(localcloud):
    """One of each resource, made by its managing module; each value is the managing module's result entry."""
    suffix = uuid.uuid4().hex[:6]
    name = lambda kind: 'info-%s-%s' % (kind, suffix)  # noqa: E731
    network = ok(run_module('yc_network', localcloud, name=name('net'), labels={'env': 'info'}))['network']
    subnet = ok(run_module('yc_subnet', localcloud, name=name('sub'), network_id=network['id'],
                           zone_id='ru-central1-a', v4_cidr_blocks=['10.91.0.0/24']))['subnet']
    group = ok(run_module('yc_security_group', localcloud, name=name('sg'), network_id=network['id'],
                          rules=RULES))['security_group']
    account = ok(run_module('yc_service_account', localcloud, name=name('sa'), description='info'))['service_account']
    other = ok(run_module('yc_service_account', localcloud, name=name('other')))['service_account']
    registry = ok(run_module('yc_container_registry', localcloud, name=name('reg')))['registry']
    repository = ok(run_module('yc_container_repository', localcloud, registry_id=registry['id'],
                               name='team/app'))['repository']
    bindings = dict(
        folder=ok(run_module('yc_folder_iam_binding', localcloud, role='viewer', subject_id=account['id']))['binding'],
        account=ok(run_module('yc_service_account_iam_binding', localcloud, service_account_id=account['id'],
                              role='iam.serviceAccounts.user', subject_id=other['id']))['binding'],
        registry=ok(run_module('yc_container_registry_iam_binding', localcloud, registry_id=registry['id'],
                               role='container-registry.images.puller', subject_id=account['id']))['binding'])
    yield dict(network=network, subnet=subnet, security_group=group, service_account=account, other=other,
               registry=registry, repository=repository, bindings=bindings)
    run_module('yc_folder_iam_binding', localcloud, role='viewer', subject_id=account['id'], state='absent')
    run_module('yc_container_registry', localcloud, name=registry['name'], state='absent', force_absent=True)
    for key in ('sa', 'other'):
        run_module('yc_service_account', localcloud, name=name(key), state='absent')
    run_module('yc_security_group', localcloud, name=name('sg'), state='absent')
    run_module('yc_subnet', localcloud, name=name('sub'), state='absent')
    run_module('yc_network', localcloud, name=name('net'), state='absent')


# info module, its result key, the resource it lists (a key of made), that resource's id option
RESOURCES = [
    ('yc_network_info', 'networks', 'network', 'network_id'),
    ('yc_subnet_info', 'subnets', 'subnet', 'subnet_id'),
    ('yc_security_group_info', 'security_groups', 'security_group', 'security_group_id'),
    ('yc_service_account_info', 'service_accounts', 'service_account', 'service_account_id'),
    ('yc_container_registry_info', 'registries', 'registry', 'registry_id'),
]


@pytest.mark.parametrize('module, key, resource, id_option', RESOURCES)
def test_lists_what_the_managing_module_made(localcloud, made, module, key, resource, id_option):
    expected = made[resource]
    everything = ok(run_module(module, localcloud))
    assert everything['changed'] is False and expected in everything[key]
    names = [item['name'] for item in everything[key]]
    assert names == sorted(names)
    assert ok(run_module(module, localcloud, name=expected['name']))[key] == [expected]
    assert ok(run_module(module, localcloud, **{id_option: expected['id']}))[key] == [expected]
    # by id and name together: both must match
    assert ok(run_module(module, localcloud, name='info-no-such', **{id_option: expected['id']}))[key] == []
    assert ok(run_module(module, localcloud, name='info-no-such-thing'))[key] == []
    assert ok(run_module(module, localcloud, **{id_option: 'xyz00000000000000000'}))[key] == []


def test_security_group_rules_read_back_as_the_option_shape(localcloud, made):
    (group,) = ok(run_module('yc_security_group_info', localcloud, name=made['security_group']['name']))[
        'security_groups']
    assert {(r['direction'], r['protocol'], r['from_port'], r['to_port']) for r in group['rules']} == {
        ('ingress', 'TCP', 443, 443), ('egress', 'ANY', None, None)}
    # the listed rules given back to the managing module change nothing
    rules = [dict((k, v) for k, v in rule.items() if v not in (None, '', [])) for rule in group['rules']]
    again = ok(run_module('yc_security_group', localcloud, name=group['name'], network_id=group['network_id'],
                          rules=rules))
    assert again['changed'] is False


def test_network_filter(localcloud, made):
    network_id = made['network']['id']
    assert ok(run_module('yc_subnet_info', localcloud, network_id=network_id))['subnets'] == [made['subnet']]
    groups = ok(run_module('yc_security_group_info', localcloud, network_id=network_id))['security_groups']
    assert made['security_group'] in groups and all(g['network_id'] == network_id for g in groups)
    assert ok(run_module('yc_subnet_info', localcloud, network_id='enpnosuchnetwork0000'))['subnets'] == []


def test_repositories(localcloud, made):
    registry, repository = made['registry'], made['repository']
    assert repository['name'] == registry['id'] + '/team/app'
    in_registry = ok(run_module('yc_container_repository_info', localcloud, registry_id=registry['id']))
    assert in_registry['changed'] is False and in_registry['repositories'] == [repository]
    assert repository in ok(run_module('yc_container_repository_info', localcloud))['repositories']
    by_name = ok(run_module('yc_container_repository_info', localcloud, registry_id=registry['id'], name='team/app'))
    assert by_name['repositories'] == [repository]
    assert ok(run_module('yc_container_repository_info', localcloud, repository_id=repository['id']))[
        'repositories'] == [repository]
    assert ok(run_module('yc_container_repository_info', localcloud, registry_id=registry['id'],
                         name='team/none'))['repositories'] == []


# binding info module, its twin's key in made['bindings'], the resource option, the made resource it is on
BINDINGS = [
    ('yc_folder_iam_binding_info', 'folder', None),
    ('yc_service_account_iam_binding_info', 'account', ('service_account_id', 'service_account')),
    ('yc_container_registry_iam_binding_info', 'registry', ('registry_id', 'registry')),
]


def on(made, target):
    return {} if target is None else {target[0]: made[target[1]]['id']}


@pytest.mark.parametrize('module, twin, target', BINDINGS)
def test_bindings_list_what_the_binding_module_granted(localcloud, made, module, twin, target):
    binding = made['bindings'][twin]
    subject = binding['subject']
    listed = ok(run_module(module, localcloud, **on(made, target)))
    assert listed['changed'] is False and binding in listed['bindings']
    assert ok(run_module(module, localcloud, check=True, **on(made, target))) == listed
    filters = [dict(role=binding['role_id']), dict(member='%s:%s' % (subject['type'], subject['id'])),
               dict(subject_id=subject['id'], subject_type=subject['type']),
               dict(role=binding['role_id'], subject_id=subject['id'])]
    for args in filters:
        found = ok(run_module(module, localcloud, **dict(on(made, target), **args)))['bindings']
        assert binding in found and all(b['role_id'] == binding['role_id'] for b in found if 'role' in args), args
    assert ok(run_module(module, localcloud, role='no.such.role', **on(made, target)))['bindings'] == []
    assert ok(run_module(module, localcloud, subject_id='ajenosuchsubject0000', **on(made, target)))['bindings'] == []


def test_folder_bindings_of_one_subject(localcloud, made):
    member = 'serviceAccount:' + made['service_account']['id']
    assert ok(run_module('yc_folder_iam_binding_info', localcloud, member=member))['bindings'] == [
        made['bindings']['folder']]


@pytest.fixture(scope='module')
def empty_cloud(tmp_path_factory):
    """A localcloud of its own: its folder holds only what localcloud bootstraps (its admin service account)."""
    server = LocalCloudServer(tmp_path_factory.mktemp('empty-cloud'))
    server.start()
    yield server
    server.stop()


@pytest.mark.parametrize('module, key', [(m, k) for m, k, _, _ in RESOURCES if m != 'yc_service_account_info'] +
                         [('yc_container_repository_info', 'repositories')])
def test_an_empty_folder_gives_an_empty_list(empty_cloud, module, key):
    assert ok(run_module(module, empty_cloud))[key] == []


def test_a_fresh_account_and_registry_have_no_bindings(empty_cloud):
    accounts = ok(run_module('yc_service_account_info', empty_cloud))['service_accounts']
    assert [a['name'] for a in accounts] == ['localcloud-admin']  # localcloud's bootstrap account, nothing else
    fresh = ok(run_module('yc_service_account', empty_cloud, name='fresh'))['service_account']
    assert ok(run_module('yc_service_account_iam_binding_info', empty_cloud,
                         service_account_id=fresh['id']))['bindings'] == []
    registry = ok(run_module('yc_container_registry', empty_cloud, name='fresh-registry'))['registry']
    assert ok(run_module('yc_container_registry_iam_binding_info', empty_cloud,
                         registry_id=registry['id']))['bindings'] == []
    assert ok(run_module('yc_container_repository_info', empty_cloud,
                         registry_id=registry['id']))['repositories'] == []


INFO_CALLS = [('yc_network_info', {}), ('yc_subnet_info', {}), ('yc_security_group_info', {}),
              ('yc_service_account_info', {}), ('yc_container_registry_info', {}),
              ('yc_container_repository_info', {}), ('yc_folder_iam_binding_info', {})]


@pytest.mark.parametrize('module, args', INFO_CALLS)
def test_check_mode_reads_the_same_and_writes_nothing(localcloud, made, module, args):
    normal = ok(run_module(module, localcloud, **args))
    localcloud.reset_calls()
    checked = ok(run_module(module, localcloud, check=True, **args))
    assert checked == normal
    methods = [c['method'] for c in localcloud.calls() if '.IamTokenService/' not in c['method']]
    assert methods and all(m.rpartition('/')[2] in ('List', 'ListAccessBindings') for m in methods
                           if '/ApiEndpointService/' not in m), methods


@pytest.mark.parametrize('module, args, words', [
    ('yc_network_info', dict(name='Bad_Name'), "name: invalid name 'Bad_Name'"),
    ('yc_network_info', dict(network_id=''), "network_id: invalid ID ''"),
    ('yc_subnet_info', dict(network_id='x' * 51), 'network_id: invalid ID'),
    ('yc_subnet_info', dict(subnet_id='a b'), "subnet_id: invalid ID 'a b'"),
    ('yc_security_group_info', dict(security_group_id='"x"'), 'security_group_id: invalid ID'),
    ('yc_service_account_info', dict(name='-sa'), "name: invalid name '-sa'"),
    ('yc_container_registry_info', dict(name='ab'), "name: invalid registry name 'ab'"),
    ('yc_container_repository_info', dict(name='app'), 'name: a repository name needs registry_id'),
    ('yc_container_repository_info', dict(registry_id='crp1', name='Bad/Name'), "name: invalid repository name"),
    ('yc_container_repository_info', dict(registry_id='crp', repository_id='crp1', name='app'),
     'mutually exclusive: name|repository_id'),
    ('yc_folder_iam_binding_info', dict(member='bogus'), "member: 'bogus' is not '<type>:<id>'"),
    ('yc_folder_iam_binding_info', dict(role='r' * 65), 'role: must be 1 to 64 characters'),
    ('yc_folder_iam_binding_info', dict(member='serviceAccount:x', subject_id='y'),
     'mutually exclusive: member|subject_id'),
    ('yc_service_account_iam_binding_info', dict(service_account_id=''), 'service_account_id: must be 1 to 64'),
    ('yc_container_registry_iam_binding_info', dict(), 'missing required arguments: registry_id'),
])
def test_bad_input_names_the_option_before_any_call(localcloud, module, args, words):
    localcloud.reset_calls()
    result = run_module(module, localcloud, **args)
    assert result.get('failed') and words in result['msg'], result.get('msg')
    assert localcloud.calls() == []


@pytest.mark.parametrize('module', sorted(set(m for m, _ in INFO_CALLS) | set(m for m, _, _ in BINDINGS)))
def test_ansible_doc_renders(module):
    done = subprocess.run([ANSIBLE_DOC, '--json', 'filmopoisk.shs.' + module], cwd=REPO_ROOT, text=True,
                          capture_output=True, timeout=120,
                          env=dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO_ROOT, 'ansible.cfg')))
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)['filmopoisk.shs.' + module]
    assert doc['doc']['version_added'] == '0.3.0' and 'folder_id' in doc['doc']['options']
    assert doc['doc']['attributes']['check_mode']['support'] == 'full'
    assert 'filmopoisk.shs.%s:' % module in doc['examples']
    (key,) = doc['return']
    assert doc['return'][key]['type'] == 'list' and doc['return'][key]['contains']
