"""Each tier's instance group is built by playbooks/tasks/instance_group.yml from what its roles say they need
(<role>_group: health check, ports, disks, deploy policy), and the roles' files go into the payload as data.

deploy.yml's tier files run for real (roles, coi_metadata) against stand-ins of yc_instance_group and
yc_network_load_balancer that return their arguments (and of yc_instance_group_info: nothing deployed yet): the
collection is laid out under tmp_path as symlinks to this checkout, with only those modules replaced, so no cloud is
needed and what is asserted is what the modules would be sent."""

import glob
import json
import os
import subprocess
import sys

import pytest
import yaml

from support import REPO_ROOT, ansible_env

STUB = r'''#!/usr/bin/python
# WANT_JSON
import json, os, sys
args = {k: v for k, v in json.load(open(sys.argv[1])).items() if not k.startswith('_ansible')}
size = int(args['scale_policy']['fixed_scale']['size'])
host = args['instance_template']['hostname']
nat = any(n.get('nat') for n in args['instance_template']['network_interfaces'])
instances = [dict(fqdn=host.replace('{instance.index}', str(i)) + '.ru-central1.internal',
                  **({'nat_address': '203.0.113.%d' % i} if nat else {})) for i in range(1, size + 1)]
if os.environ.get('STUB_INSTANCES_REVERSED'):  # ListInstances' order after a VM was re-created
    instances.reverse()
group = {'target_group_id': 'tg1'} if args.get('load_balancer') else {}
print(json.dumps({'changed': False, 'captured': args, 'instances': instances, 'instance_group': group}))
'''
# The network load balancer and the lookup of the LB group as deployed (none: a fresh folder).
NLB_STUB = r'''#!/usr/bin/python
# WANT_JSON
import json, sys
args = {k: v for k, v in json.load(open(sys.argv[1])).items() if not k.startswith('_ansible')}
listeners = [dict(listener, address='198.51.100.7') for listener in args['listeners']]
print(json.dumps({'changed': False, 'captured': args, 'network_load_balancer': {'listeners': listeners}}))
'''
GROUP_INFO_STUB = r'''#!/usr/bin/python
# WANT_JSON
import json
print(json.dumps({'changed': False, 'instance_groups': []}))
'''
STUBS = {'yc_instance_group.py': STUB, 'yc_network_load_balancer.py': NLB_STUB,
         'yc_instance_group_info.py': GROUP_INFO_STUB}

# What tasks/network.yml, iam.yml and registry.yml register before the tiers run.
EARLIER_STEPS = {
    'shs_network': {'network': {'id': 'net1'}}, 'shs_subnet': {'subnet': {'id': 'sub1'}},
    'shs_lb_sg': {'security_group': {'id': 'sglb'}}, 'shs_app_sg': {'security_group': {'id': 'sgapp'}},
    'shs_db_sg': {'security_group': {'id': 'sgdb'}}, 'shs_ig_sa': {'service_account': {'id': 'saig'}},
    'shs_vm_sa': {'service_account': {'id': 'savm'}}, 'shs_coi': {'image': {'id': 'coi1'}},
    'shs_image_refs': {'postgres': 'cr.yandex/r/postgres:1', 'shs': 'cr.yandex/r/shs:1', 'lb': 'cr.yandex/r/lb:1'},
}


def collection_with_stub(tmp_path):
    """ansible_collections/ under tmp_path: filmopoisk.shs = this checkout with the modules of STUBS stubbed."""
    root = tmp_path / 'collections' / 'ansible_collections'
    coll = root / 'filmopoisk' / 'shs'
    (coll / 'plugins' / 'modules').mkdir(parents=True)
    for entry in os.listdir(REPO_ROOT):
        if entry != 'plugins' and not entry.startswith('.'):
            os.symlink(os.path.join(REPO_ROOT, entry), coll / entry)
    for entry in os.listdir(os.path.join(REPO_ROOT, 'plugins')):
        if entry != 'modules':
            os.symlink(os.path.join(REPO_ROOT, 'plugins', entry), coll / 'plugins' / entry)
    for module in glob.glob(os.path.join(REPO_ROOT, 'plugins', 'modules', '*.py')):
        if os.path.basename(module) not in STUBS:
            os.symlink(module, coll / 'plugins' / 'modules' / os.path.basename(module))
    for name, text in STUBS.items():
        (coll / 'plugins' / 'modules' / name).write_text(text)
    for namespace in glob.glob(os.path.join(REPO_ROOT, '.collections', 'ansible_collections', '*')):
        if os.path.basename(namespace) != 'filmopoisk':
            os.symlink(namespace, root / os.path.basename(namespace))
    return tmp_path / 'collections', str(coll)


def deploy_tiers(tmp_path, environ=None, **extra):
    """Run deploy.yml's play vars and tier task files; return {db, app, lb: module args, nat, peers}."""
    collections, coll = collection_with_stub(tmp_path)
    with open(os.path.join(REPO_ROOT, 'playbooks', 'deploy.yml')) as handle:
        deploy, = yaml.safe_load(handle)
    tiers = [t['ansible.builtin.import_tasks'] for t in deploy['tasks']
             if t.get('ansible.builtin.import_tasks') in ('tasks/db.yml', 'tasks/app.yml', 'tasks/lb.yml')]
    assert tiers == ['tasks/db.yml', 'tasks/app.yml', 'tasks/lb.yml']
    out = tmp_path / 'groups.json'
    playbook = tmp_path / 'tiers.yml'
    playbook.write_text(json.dumps([{
        'hosts': 'localhost', 'gather_facts': False,
        'vars': dict(deploy.get('vars', {}), **EARLIER_STEPS, shs_db_password='Pa55-word',
                     shs_tls_selfsigned_dir=str(tmp_path / 'tls')),
        'tasks': [{'ansible.builtin.import_tasks': os.path.join(coll, 'playbooks', t)} for t in tiers] + [
            {'ansible.builtin.copy': {'dest': str(out), 'mode': '0600', 'content': (
                "{{ {'db': shs_db_group.captured, 'app': shs_app_group.captured, 'lb': shs_lb_group.captured,"
                " 'nlb': shs_nlb.captured, 'entry': shs_nlb_address} | to_json }}")}}]}]))
    env = dict(ansible_env(), ANSIBLE_COLLECTIONS_PATH=str(collections), **(environ or {}))
    args = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i',
            os.path.join(REPO_ROOT, 'inventory', 'local'), str(playbook)]
    for key, value in extra.items():
        args += ['-e', json.dumps({key: value})]
    result = subprocess.run(args, cwd=REPO_ROOT, env=env, text=True, capture_output=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return json.loads(out.read_text())


def compose(group):
    return yaml.safe_load(group['instance_template']['metadata']['docker-compose'])


def user_data(group):
    return yaml.safe_load(group['instance_template']['metadata']['user-data'])


@pytest.fixture(scope='module')
def groups(tmp_path_factory):
    return deploy_tiers(tmp_path_factory.mktemp('tiers'))


def test_each_group_gets_its_roles_health_check_and_the_shared_settings(groups):
    checks = {'interval': 3, 'timeout': 2, 'healthy_threshold': 2, 'unhealthy_threshold': 10}  # shs_health_check
    assert groups['db']['health_checks'] == [dict(checks, tcp_options={'port': 5432})]
    assert groups['app']['health_checks'] == [dict(checks, http_options={'port': 80, 'path': '/ping'})]
    assert groups['lb']['health_checks'] == [dict(checks, http_options={'port': 80, 'path': '/nginx-status'})]
    for tier, size in (('db', 1), ('app', 2), ('lb', 2)):
        group = groups[tier]
        assert group['name'] == 'shs-' + tier
        # the app tier's rollout adds a VM first (shs_app_surge: 1): it never serves with fewer than its size
        assert group['deploy_policy'] == ({'max_unavailable': 0, 'max_expansion': 1} if tier == 'app'
                                          else {'max_unavailable': 1, 'max_expansion': 0})
        assert group['auto_healing_policy'] == {'auto_healing_action': 'restart'}  # in place, surge or not
        assert group['scale_policy'] == {'fixed_scale': {'size': size}}
        template = group['instance_template']
        assert template['name'] == template['hostname'] == 'shs-%s-{instance.index}' % tier
        interface, = template['network_interfaces']
        # no VM has a public address: the network load balancer is the entry point
        assert interface['security_group_ids'] == ['sg' + tier] and interface.get('nat', False) is False
    assert groups['db']['instance_template']['secondary_disks'] == [{'device_name': 'pgdata', 'size': 20}]
    assert 'secondary_disks' not in groups['app']['instance_template']
    assert groups['app']['max_checking_health_duration'] == 900 and 'max_checking_health_duration' not in groups['db']
    # The LB group's target group, attached to the balancer with its HTTP check of the LB's status page.
    assert groups['lb']['load_balancer']['target_group_name'] == 'shs-lb'
    assert 'load_balancer' not in groups['app'] and 'load_balancer' not in groups['db']
    nlb = groups['nlb']
    assert nlb['name'] == 'shs-nlb'
    assert sorted((l['name'], l['port'], l['target_port']) for l in nlb['listeners']) == [
        ('http', 8080, 80), ('https', 8443, 443)]  # inventory/local's listener ports -> the LB VMs' ports
    attached, = nlb['attached_target_groups']
    assert attached['target_group_id'] == 'tg1'
    assert attached['healthchecks'] == [{'name': 'nginx-status', 'interval': 2, 'timeout': 1, 'healthy_threshold': 2,
                                         'unhealthy_threshold': 2,
                                         'http_options': {'port': 80, 'path': '/nginx-status'}}]
    assert groups['entry'] == '198.51.100.7'


def test_the_tiers_find_each_other_by_the_one_hostname_rule(groups):
    config = next(f for f in user_data(groups['app'])['write_files'] if f['path'] == '/opt/bingo/config.yaml')
    assert yaml.safe_load(config['content'])['postgres_cluster']['hosts'] == [
        {'address': 'shs-db-1.ru-central1.internal', 'port': 5432}]
    nginx = next(f for f in user_data(groups['lb'])['write_files'] if f['path'].endswith('/nginx.conf'))['content']
    # the app group's two VMs and the name its rollout's extra VM takes (index 3: the lowest free one)
    for index in (1, 2, 3):
        assert '{ name = "shs-app-%d.ru-central1.internal", host = "shs-app-%d.ru-central1.internal", port = 80 }' % (
            index, index) in nginx
    assert 'shs-app-4' not in nginx


def test_the_lb_payload_does_not_depend_on_the_order_the_app_instances_are_listed_in(tmp_path):
    """After an app VM is re-created the group may list its instances in another order; the LB's metadata (its
    peer list) must not change with it, or an app rollout would restart the LB tier too."""
    tls = str(tmp_path / 'tls')  # one self-signed pair for both runs
    (tmp_path / 'in_order').mkdir()
    (tmp_path / 'reversed').mkdir()
    in_order = deploy_tiers(tmp_path / 'in_order', shs_tls_selfsigned_dir=tls)
    reversed_ = deploy_tiers(tmp_path / 'reversed', environ={'STUB_INSTANCES_REVERSED': '1'}, shs_tls_selfsigned_dir=tls)
    assert reversed_['lb']['instance_template']['metadata'] == in_order['lb']['instance_template']['metadata']


def test_a_role_port_moves_the_health_check_the_peers_and_the_watchdog(tmp_path):
    """shs_port / postgres_port / openresty_http_port set in the inventory: the group checks the port the role
    serves (before, tasks/*.yml hard-coded 80 and 5432)."""
    groups = deploy_tiers(tmp_path, shs_port=8081, postgres_port=6432, openresty_http_port=8000)
    assert groups['db']['health_checks'][0]['tcp_options'] == {'port': 6432}
    assert groups['app']['health_checks'][0]['http_options'] == {'port': 8081, 'path': '/ping'}
    assert groups['lb']['health_checks'][0]['http_options'] == {'port': 8000, 'path': '/nginx-status'}
    assert compose(groups['app'])['services']['shs']['ports'] == ['8081:8080']
    assert compose(groups['db'])['services']['postgres']['ports'] == ['6432:5432']
    config = next(f for f in user_data(groups['app'])['write_files'] if f['path'] == '/opt/bingo/config.yaml')
    assert yaml.safe_load(config['content'])['postgres_cluster']['hosts'][0]['port'] == 6432
    nginx = next(f for f in user_data(groups['lb'])['write_files'] if f['path'].endswith('/nginx.conf'))['content']
    assert 'host = "shs-app-1.ru-central1.internal", port = 8081 }' in nginx
    watchdog = next(f for f in user_data(groups['app'])['write_files'] if f['path'].endswith('shs-watchdog.json'))
    assert json.loads(watchdog['content'])['settings']['port'] == 8081


def test_one_task_file_builds_every_group():
    tasks = os.path.join(REPO_ROOT, 'playbooks', 'tasks')
    for tier in ('db', 'app', 'lb'):
        with open(os.path.join(tasks, tier + '.yml')) as handle:
            text = handle.read()
        assert 'filmopoisk.shs.yc_instance_group' not in text and 'deploy_policy' not in text, tier
        assert 'ansible.builtin.import_tasks: instance_group.yml' in text, tier
    assert not os.path.exists(os.path.join(tasks, 'group_common.yml'))


def test_no_role_template_renders_another_template():
    """Files are rendered once and put into the fragment as data (no payload.yml.j2 embedding nginx.conf.j2)."""
    for template in glob.glob(os.path.join(REPO_ROOT, 'roles', '*', 'templates', '*.j2')):
        with open(template) as handle:
            text = handle.read()
        assert "lookup('ansible.builtin.template'" not in text and 'payload' not in os.path.basename(template), template
