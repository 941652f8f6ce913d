"""The entry point each inventory gives: the README's https://127.0.0.1:8443 locally (the network load balancer's
listeners, shs_nlb_https_port/_http_port, set by cloud.yml: deployment.yml is shared by every inventory and is
read after cloud.yml, so it must not set them), 443/80 on Yandex Cloud. And what the deployment's settings must keep
true of each other (the app VMs' drain and the LB VMs' check of them)."""

import json
import os
import subprocess
import sys

import pytest
import yaml

from support import REPO_ROOT

ANSIBLE = os.path.join(os.path.dirname(sys.executable), 'ansible')


def inventory_vars(inventory, *names):
    expression = '{{ %s | to_json }}' % ('[' + ', '.join(names) + ']')
    done = subprocess.run([ANSIBLE, '-i', inventory, 'localhost', '-m', 'ansible.builtin.debug', '-a',
                           'msg=' + expression], cwd=REPO_ROOT, text=True, capture_output=True, timeout=120,
                          env=dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO_ROOT, 'ansible.cfg'),
                                   YC_FOLDER_ID='b1gexample', ANSIBLE_STDOUT_CALLBACK='json',
                                   ANSIBLE_LOAD_CALLBACK_PLUGINS='1'))
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)['plays'][0]['tasks'][0]['hosts']['localhost']['msg']


@pytest.mark.parametrize('inventory, https, http', [('inventory/local', 8443, 8080), ('inventory/yc', 443, 80),
                                                    ('inventory/awx', 443, 80)])
def test_the_network_load_balancer_listens_where_the_inventory_says(inventory, https, http):
    assert json.loads(inventory_vars(inventory, 'shs_nlb_https_port', 'shs_nlb_http_port')) == [https, http]


def test_the_local_entry_point_is_the_readme_s():
    assert inventory_vars('inventory/local', 'shs_public_url') == '["https://127.0.0.1:8443"]'


def test_an_app_vm_drains_until_every_lb_vm_counted_it_out():
    """playbooks/tasks/app.yml's drain (watchdog_drain_seconds) from the deployment's LB check (shs_lb_app_check):
    long enough for the check to mark the VM down (fall rounds, an interval apart, the last one taking its timeout:
    a VM refusing connections fails at once, this is the upper bound) and for a request in flight (~1 s) to end."""
    with open(os.path.join(REPO_ROOT, 'playbooks', 'tasks', 'app.yml')) as handle:
        drain = yaml.safe_load(handle)[0]['vars']['watchdog_drain_seconds'].strip()
    assert drain.startswith('{{') and drain.endswith('}}')
    drain_s, check = json.loads(inventory_vars('inventory/local', drain[2:-2].strip(), 'shs_lb_app_check'))
    mark_down_s = (check['fall'] * check['interval_ms'] + check['timeout_ms']) / 1000.0
    assert check['timeout_ms'] < check['interval_ms']
    assert drain_s >= mark_down_s + 1.0 and drain_s <= mark_down_s + 3.0, (drain_s, mark_down_s)
