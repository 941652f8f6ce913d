"""localcloud enforces YC security groups between the instances of its instance groups (localcloud.firewall).

Three groups through the real SDK, as the deployment's tiers: "db" admits 5432 only from the "app" group's
security group, "other" is a third group. Semantics: yandex-cloud/docs en/vpc/concepts/security-groups.md
(deny by default, stateful, security_group_id = the members' addresses, egress rules); health checks come from the
subnet's gateway, which localcloud's `loadbalancer_healthchecks` stands for (localcloud/README.md).
Connections are made from inside the nodes (their own network namespaces) and from the host (the gateway).
"""

import subprocess
import time
import urllib.request

import pytest
from google.protobuf import json_format
from yandex.cloud.compute.v1 import image_service_pb2 as image_svc
from yandex.cloud.compute.v1.image_service_pb2_grpc import ImageServiceStub
from yandex.cloud.compute.v1.instancegroup import instance_group_pb2 as ig
from yandex.cloud.compute.v1.instancegroup import instance_group_service_pb2 as svc
from yandex.cloud.compute.v1.instancegroup.instance_group_service_pb2_grpc import InstanceGroupServiceStub
from yandex.cloud.vpc.v1 import security_group_pb2, security_group_service_pb2 as sg_svc
from yandex.cloud.vpc.v1.security_group_service_pb2_grpc import SecurityGroupServiceStub
from google.protobuf.field_mask_pb2 import FieldMask

from helpers import run, unique
from instance_group_support import random_cidr, remove_nodes
from support import docker, wait_for
from test_vpc import make_network, make_subnet

pytestmark = pytest.mark.slow
S = ig.ManagedInstance
Rule = security_group_pb2.SecurityGroupRule

# python's http.server answers /ping on the node's 80 and 5432 (both REDIRECTed to 8080 by coinode: the rules
# speak of the VM ports).
COMPOSE = '''services:
  web:
    image: filmopoisk/shs:latest
    entrypoint: ["python3", "-m", "http.server", "8080", "--directory", "/opt/www"]
    volumes: ["/opt/www:/opt/www:ro"]
    ports: ["80:8080", "5432:8080"]
'''
USER_DATA = '''#cloud-config
write_files:
  - path: /opt/www/ping
    content: "pong"
'''


def rule(direction='INGRESS', protocol='TCP', port=None, **target):
    fields = dict(direction=Rule.Direction.Value(direction), protocol_name=protocol, **target)
    if port is not None:
        fields['ports'] = {'from_port': port, 'to_port': port}
    return sg_svc.SecurityGroupRuleSpec(**fields)


def anywhere():
    return {'cidr_blocks': {'v4_cidr_blocks': ['0.0.0.0/0']}}


def health_checks():
    return rule(port=80, predefined_target='loadbalancer_healthchecks')


def curl(node, address, port, timeout=2):
    """GET /ping from inside a node: the answer, or None when the connection does not get through."""
    done = docker('exec', node, 'curl', '-sS', '-m', str(timeout), 'http://%s:%d/ping' % (address, port), check=False)
    return done.stdout if done.returncode == 0 else None


def from_host(address, port, timeout=2):
    try:
        with urllib.request.urlopen('http://%s:%d/ping' % (address, port), timeout=timeout) as response:
            return response.read().decode()
    except OSError:
        return None


class Cloud:
    def __init__(self, localcloud):
        self.localcloud = localcloud
        self.sdk = localcloud.sdk()
        self.sg = self.sdk.client(SecurityGroupServiceStub)
        self.ig = self.sdk.client(InstanceGroupServiceStub)
        self.network = make_network(localcloud, self.sdk)
        self.subnet = make_subnet(localcloud, self.sdk, self.network.id, [random_cidr()])
        self.image = self.sdk.client(ImageServiceStub).GetLatestByFamily(image_svc.GetImageLatestByFamilyRequest(
            folder_id='standard-images', family='container-optimized-image'))

    def security_group(self, name, *rules):
        return run(self.sdk, self.sg.Create(sg_svc.CreateSecurityGroupRequest(
            folder_id=self.localcloud.folder_id, name=unique(name), network_id=self.network.id, rule_specs=rules)),
            security_group_pb2.SecurityGroup).response

    def get_sg(self, sg_id):
        return self.sg.Get(sg_svc.GetSecurityGroupRequest(security_group_id=sg_id))

    def update_rules(self, sg_id, add=(), delete=()):
        return run(self.sdk, self.sg.UpdateRules(sg_svc.UpdateSecurityGroupRulesRequest(
            security_group_id=sg_id, addition_rule_specs=add, deletion_rule_ids=delete)),
            security_group_pb2.SecurityGroup).response

    def group(self, name, sg, auto_healing='RESTART'):
        request = {
            'folder_id': self.localcloud.folder_id, 'name': unique(name),
            # the bootstrap account: admin on the folder, so every role the group's VMs need
            'service_account_id': self.localcloud.sa_key['service_account_id'],
            'instance_template': {
                'platform_id': 'standard-v3', 'resources_spec': {'cores': 2, 'memory': str(1 << 30)},
                'boot_disk_spec': {'disk_spec': {'image_id': self.image.id, 'size': str(30 << 30)}},
                'name': name + '-{instance.index}', 'hostname': name + '-{instance.index}',
                'metadata': {'docker-compose': COMPOSE, 'user-data': USER_DATA},
                'network_interface_specs': [{'network_id': self.network.id, 'subnet_ids': [self.subnet.id],
                                             'security_group_ids': [sg.id]}]},
            'scale_policy': {'fixed_scale': {'size': 1}},
            'allocation_policy': {'zones': [{'zone_id': 'ru-central1-a'}]},
            'deploy_policy': {'max_unavailable': 1, 'startup_duration': '0s'},
            'auto_healing_policy': {'auto_healing_action': auto_healing},
            'health_checks_spec': {'health_check_specs': [{'interval': '1s', 'timeout': '1s', 'healthy_threshold': 2,
                                                           'unhealthy_threshold': 2,
                                                           'http_options': {'port': 80, 'path': '/ping'}}]}}
        return run(self.sdk, self.ig.Create(json_format.ParseDict(request, svc.CreateInstanceGroupRequest())),
                   ig.InstanceGroup).response

    def scale(self, group_id, size):
        # YC's Update takes the group's required fields along with the mask (as the SDK's users send them)
        full = self.ig.Get(svc.GetInstanceGroupRequest(instance_group_id=group_id, view=svc.FULL))
        run(self.sdk, self.ig.Update(svc.UpdateInstanceGroupRequest(
            instance_group_id=group_id, update_mask=FieldMask(paths=['scale_policy']),
            instance_template=full.instance_template, scale_policy={'fixed_scale': {'size': size}},
            deploy_policy=full.deploy_policy, allocation_policy=full.allocation_policy,
            service_account_id=full.service_account_id)), ig.InstanceGroup)

    def instances(self, group_id):
        return list(self.ig.ListInstances(svc.ListInstanceGroupInstancesRequest(instance_group_id=group_id)).instances)

    def wait(self, group_id, predicate, timeout=120, what='instances'):
        return wait_for(lambda: (lambda found: predicate(found) and found)(self.instances(group_id)), timeout,
                        interval=0.3, what=what)

    def running(self, group_id, size=1, timeout=120):
        return self.wait(group_id, lambda found: len(found) == size and all(
            i.status == S.RUNNING_ACTUAL for i in found), timeout, 'RUNNING_ACTUAL')


def address(instance):
    return instance.network_interfaces[0].primary_v4_address.address


@pytest.fixture(scope='module')
def tiers(localcloud):
    cloud = Cloud(localcloud)
    groups = []
    try:
        app_sg = cloud.security_group('app', health_checks(), rule('EGRESS', 'ANY', **anywhere()))
        db_sg = cloud.security_group('db', rule(port=5432, security_group_id=app_sg.id), health_checks(),
                                     rule('EGRESS', 'ANY', **anywhere()))
        # the third tier: 80 only from the app (not from the health checks), and no egress rule at all
        other_sg = cloud.security_group('other', rule(port=80, security_group_id=app_sg.id))
        db = cloud.group('db', db_sg)
        app = cloud.group('app', app_sg)
        other = cloud.group('other', other_sg, auto_healing='NONE')
        groups = [db, app, other]
        (db_vm,) = cloud.running(db.id)
        (app_vm,) = cloud.running(app.id)
        (other_vm,) = cloud.wait(other.id, lambda found: len(found) == 1 and found[0].status == S.CHECKING_HEALTH,
                                 120, 'other booted')
        yield dict(cloud=cloud, app_sg=app_sg, db_sg=db_sg, other_sg=other_sg, db=db, app=app, other=other,
                   db_vm=db_vm, app_vm=app_vm, other_vm=other_vm)
    finally:
        for group in groups:
            run(cloud.sdk, cloud.ig.Delete(svc.DeleteInstanceGroupRequest(instance_group_id=group.id)))
        remove_nodes(localcloud.state_dir)


def test_db_is_reachable_only_from_the_app(tiers):
    db, app, other = address(tiers['db_vm']), tiers['app_vm'].instance_id, tiers['other_vm'].instance_id
    assert curl(app, db, 5432) == 'pong'
    # a third group's instance: not in the app group -> dropped (a timeout, as on YC), though it may send
    started = time.monotonic()
    assert curl(other, db, 5432) is None
    assert time.monotonic() - started >= 1.5, 'refused at once: not a security group drop'
    # the db's health check port is open to the checker (the host), not to the app
    assert from_host(db, 80) == 'pong' and curl(app, db, 80) is None
    # ... and 5432 is closed to the host (only loadbalancer_healthchecks on 80)
    assert from_host(db, 5432) is None
    # the container port behind the REDIRECT is not a way around the group
    assert curl(app, db, 8080) is None
    # stateful: the db answers the app although its group has no rule for the replies; the chains are ours
    chains = docker('exec', tiers['db_vm'].instance_id, 'iptables', '-S').stdout
    assert '-A INPUT -j YC-SG-IN' in chains and '-A OUTPUT -j YC-SG-OUT' in chains
    assert '-A YC-SG-IN -s %s/32 -p tcp -m conntrack --ctorigdstport 5432 ' % address(tiers['app_vm']) in chains


def test_health_checks_pass_only_when_the_group_admits_them(tiers):
    cloud, other = tiers['cloud'], tiers['other']
    (vm,) = cloud.instances(other.id)
    # its service answers (the app may reach port 80), but the checker's packets are dropped: the instance
    # never passes its checks (1 s interval, 2 in a row would take 2 s)
    assert curl(tiers['app_vm'].instance_id, address(vm), 80) == 'pong'
    assert from_host(address(vm), 80) is None
    for _ in range(8):
        (vm,) = cloud.instances(other.id)
        assert vm.status == S.CHECKING_HEALTH, S.Status.Name(vm.status)
        time.sleep(0.5)
    # admit loadbalancer_healthchecks on 80: the same VM turns healthy, nothing restarted
    cloud.update_rules(tiers['other_sg'].id, add=[health_checks()])
    (healthy,) = cloud.running(other.id, timeout=30)
    assert healthy.instance_id == vm.instance_id and from_host(address(vm), 80) == 'pong'


def test_rule_changes_apply_to_running_instances(tiers):
    cloud, db = tiers['cloud'], address(tiers['db_vm'])
    other = tiers['other_vm'].instance_id
    assert curl(other, db, 5432) is None
    # the db admits the other group now; the other group still has no egress rule: it can answer, not connect
    db_sg = cloud.update_rules(tiers['db_sg'].id, add=[rule(port=5432, security_group_id=tiers['other_sg'].id)])
    added = [r.id for r in db_sg.rules if r.security_group_id == tiers['other_sg'].id]
    admitted = '-A YC-SG-IN -s %s/32 -p tcp -m conntrack --ctorigdstport 5432 ' % address(tiers['other_vm'])
    wait_for(lambda: admitted in docker('exec', tiers['db_vm'].instance_id, 'iptables', '-S').stdout, 15,
             interval=0.5, what='the db node admitting the other group')
    assert curl(other, db, 5432) is None
    # Update with rule_specs (replaces the rules): egress to the subnet
    current = cloud.get_sg(tiers['other_sg'].id)
    specs = []
    for kept in current.rules:  # the same fields, less the id (and the number: protocol is a oneof in a spec)
        fields = json_format.MessageToDict(kept, preserving_proto_field_name=True)
        fields.pop('id'), fields.pop('protocol_number', None)
        specs.append(json_format.ParseDict(fields, sg_svc.SecurityGroupRuleSpec()))
    specs.append(rule('EGRESS', 'TCP', 5432, cidr_blocks={'v4_cidr_blocks': [cloud.subnet.v4_cidr_blocks[0]]}))
    run(cloud.sdk, cloud.sg.Update(sg_svc.UpdateSecurityGroupRequest(
        security_group_id=tiers['other_sg'].id, update_mask=FieldMask(paths=['rule_specs']), rule_specs=specs)))
    assert wait_for(lambda: curl(other, db, 5432) == 'pong', 15, interval=0.5, what='other -> db open')
    # and closed again by deleting the db's rule
    cloud.update_rules(tiers['db_sg'].id, delete=added)
    wait_for(lambda: curl(other, db, 5432, timeout=1) is None, 15, interval=0.5, what='other -> db closed')
    # nobody was restarted for any of it
    for group in ('db', 'app', 'other'):
        assert [i.instance_id for i in cloud.instances(tiers[group].id)] == [tiers[group + '_vm'].instance_id]


def test_new_members_of_the_referenced_group_are_let_in(tiers):
    cloud, db = tiers['cloud'], address(tiers['db_vm'])
    cloud.scale(tiers['app'].id, 2)
    found = cloud.running(tiers['app'].id, size=2)
    new = [i for i in found if i.instance_id != tiers['app_vm'].instance_id][0]
    assert wait_for(lambda: curl(new.instance_id, db, 5432) == 'pong', 15, interval=0.5, what='new app -> db')
    # ... and the db forgets a member that goes: its address is no longer let in
    cloud.scale(tiers['app'].id, 1)
    cloud.running(tiers['app'].id, size=1)
    wait_for(lambda: '%s/32' % address(new) not in docker('exec', tiers['db_vm'].instance_id, 'iptables', '-S',
                                                          'YC-SG-IN').stdout, 15, what='db rules without it')


def test_rules_survive_a_node_restart(tiers):
    db_vm, app, other = tiers['db_vm'], tiers['app_vm'].instance_id, tiers['other_vm'].instance_id
    db = address(db_vm)
    # a restart the engine does not make (a new network namespace: every rule in it is gone)
    subprocess.run(['docker', 'restart', '-t', '5', db_vm.instance_id], check=True, capture_output=True)
    wait_for(lambda: curl(app, db, 5432) == 'pong', 90, interval=0.5, what='db serving again')
    wait_for(lambda: '-A INPUT -j YC-SG-IN' in docker('exec', db_vm.instance_id, 'iptables', '-S').stdout, 15,
             interval=0.5, what='rules back')
    assert curl(other, db, 5432) is None and from_host(db, 5432) is None
