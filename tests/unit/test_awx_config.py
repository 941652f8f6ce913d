"""The AWX objects of playbooks/awx.yml, checked without a controller (none can run here):

- the custom credential types against AWX's own rules for them (awx/main/fields.py: CredentialTypeInputField and
  CredentialTypeInjectorField: the inputs schema, reserved and unique field ids, defaults of the field's type,
  string-only keys; injector keys and env names, no ANSIBLE_* or blocked env names, every template variable defined
  by an input, tower.filename only for declared file templates);
- the injected env names against what the collection's plugins read;
- the survey specs against AWX's survey rules (awx/api/views/__init__.py, JobTemplateSurveySpec._validate_spec_data);
- every awx.awx task's arguments, rendered with the playbook's vars as Ansible renders them, against that awx.awx
  module's own argument spec;
- the references between the objects, and --syntax-check of the playbooks.
"""

import importlib
import json
import os
import re
import subprocess
import sys

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, sandbox
from jinja2.sandbox import SecurityError

from support import REPO_ROOT

VARS = os.path.join(REPO_ROOT, 'playbooks', 'awx', 'vars')
PLAYBOOK = os.path.join(REPO_ROOT, 'playbooks', 'awx.yml')

# awx/main/constants.py ENV_BLOCKLIST
ENV_BLOCKLIST = frozenset((
    'VIRTUAL_ENV', 'PATH', 'PYTHONPATH', 'JOB_ID', 'INVENTORY_ID', 'INVENTORY_SOURCE_ID', 'INVENTORY_UPDATE_ID',
    'AD_HOC_COMMAND_ID', 'REST_API_URL', 'REST_API_TOKEN', 'MAX_EVENT_RES', 'CALLBACK_QUEUE', 'CALLBACK_CONNECTION',
    'CACHE', 'JOB_CALLBACK_DEBUG', 'INVENTORY_HOSTVARS', 'AWX_HOST', 'PROJECT_REVISION', 'SUPERVISOR_CONFIG_PATH'))
# awx/main/constants.py SURVEY_TYPE_MAPPING
SURVEY_TYPES = {'text': str, 'textarea': str, 'password': str, 'multiplechoice': str, 'multiselect': str,
                'integer': int, 'float': (float, int)}
FIELD_KEYS = {'type', 'format', 'choices', 'id', 'label', 'help_text', 'multiline', 'secret', 'ask_at_runtime',
              'default'}
ID = re.compile(r'^[a-zA-Z_]+[a-zA-Z0-9_]*$')


class AWXRuleError(ValueError):
    pass


def check_credential_type(credential_type):
    """AWX's validation of a custom credential type's inputs and injectors; raises AWXRuleError."""
    inputs, injectors = credential_type.get('inputs', {}), credential_type.get('injectors', {})
    if set(inputs) - {'fields', 'required'}:
        raise AWXRuleError('inputs: unknown keys %s' % sorted(set(inputs) - {'fields', 'required'}))
    ids = []
    for field in inputs.get('fields', []):
        if set(field) - FIELD_KEYS or not {'id', 'label'} <= set(field):
            raise AWXRuleError('field %r: keys %s (allowed %s, id and label required)' % (field.get('id'), sorted(field),
                                                                                     sorted(FIELD_KEYS)))
        if not ID.match(field['id']):
            raise AWXRuleError('%s is an invalid variable name' % field['id'])
        if field['id'] == 'tower':
            raise AWXRuleError('"tower" is a reserved field name')
        if field['id'] in ids:
            raise AWXRuleError('field IDs must be unique (%s)' % field['id'])
        ids.append(field['id'])
        kind = field.get('type', 'string')
        if kind not in ('string', 'boolean'):
            raise AWXRuleError('field %s: type %r' % (field['id'], kind))
        if 'default' in field and type(field['default']) is not {'string': str, 'boolean': bool}[kind]:
            raise AWXRuleError('{} is not a {}'.format(field['default'], kind))
        for key in ('choices', 'multiline', 'format', 'secret'):
            if key in field and kind != 'string':
                raise AWXRuleError('%s not allowed for %s type (%s)' % (key, kind, field['id']))
        if 'format' in field and field['format'] not in ('ssh_private_key', 'url'):
            raise AWXRuleError('field %s: format %r' % (field['id'], field['format']))
    for required in inputs.get('required', []):
        if required not in ids:  # AWX would then never accept a credential of this type
            raise AWXRuleError('required %r is not a field' % required)
    if set(injectors) - {'file', 'env', 'extra_vars'}:
        raise AWXRuleError('injectors: unknown keys %s' % sorted(set(injectors) - {'file', 'env', 'extra_vars'}))
    files = list(injectors.get('file', {}))
    for name in files:
        if not re.match(r'^template(\.[a-zA-Z_]+[a-zA-Z0-9_]*)?$', name):
            raise AWXRuleError('file injector %r' % name)
    if 'template' in files and len(files) > 1:
        raise AWXRuleError('Must use multi-file syntax when injecting multiple files')
    for name, value in injectors.get('env', {}).items():
        if not isinstance(value, str) or not ID.match(name) or not re.match(r'^[\x00-\x7F]*$', value):
            raise AWXRuleError('env %r' % name)
        if name.startswith('ANSIBLE_'):
            raise AWXRuleError('Environment variable %s may affect Ansible configuration so its use is not allowed '
                               'in credentials.' % name)
        if name in ENV_BLOCKLIST:
            raise AWXRuleError('Environment variable %s is not allowed to be used in credentials.' % name)
    for name in injectors.get('extra_vars', {}):
        if not re.match(r'^[a-zA-Z_\{\}]+[a-zA-Z0-9_\{\}]*$', name):
            raise AWXRuleError('extra_vars %r' % name)

    class Exploding(object):
        def __str__(self):
            raise UndefinedError('Must define unnamed file injector in order to reference `tower.filename`.')

    class Tower(object):
        def __init__(self):
            self.filename = Exploding()

        def __str__(self):
            raise UndefinedError('Cannot directly reference reserved `tower` namespace container.')

    namespace = dict((field_id, 'EXAMPLE') for field_id in ids)
    namespace['tower'] = Tower()
    if 'template' in files:
        namespace['tower'].filename = 'EXAMPLE_FILENAME'
    for name in files:
        if '.' in name:
            setattr(namespace['tower'].filename, name.split('.')[1], 'EXAMPLE_FILENAME')
    environment = sandbox.ImmutableSandboxedEnvironment(undefined=StrictUndefined)
    for kind, injector in injectors.items():
        for key, template in injector.items():
            try:
                environment.from_string(template).render(namespace)
            except UndefinedError as exc:
                raise AWXRuleError('%s uses an undefined field (%s)' % (key, exc))
            except (SecurityError, TemplateSyntaxError) as exc:
                raise AWXRuleError('%s inside of %s: %s' % (key, kind, exc))


def check_survey(spec):
    """AWX's validation of a survey spec; raises AWXRuleError."""
    for field, kind in (('name', str), ('description', str), ('spec', list)):
        if not isinstance(spec.get(field), kind):
            raise AWXRuleError("Field '%s' is missing from survey spec or not a %s." % (field, kind.__name__))
    if not spec['spec']:
        raise AWXRuleError("'spec' doesn't contain any items.")
    variables = set()
    for index, item in enumerate(spec['spec']):
        for field, kind in (('type', str), ('question_name', str), ('variable', str), ('required', bool)):
            if not isinstance(item.get(field), kind):
                raise AWXRuleError("'%s' missing from survey question %d or not a %s" % (field, index, kind.__name__))
        if item['variable'] in variables:
            raise AWXRuleError("'variable' '%s' duplicated in survey question %d." % (item['variable'], index))
        variables.add(item['variable'])
        if item['type'] not in SURVEY_TYPES:
            raise AWXRuleError("'%s' in survey question %d is not an allowed question type" % (item['type'], index))
        if 'default' in item and item['default'] != '' and not isinstance(item['default'], SURVEY_TYPES[item['type']]):
            raise AWXRuleError('Default value %r in survey question %d expected to be %s.'
                               % (item['default'], index, item['type']))
        for key in ('min', 'max'):
            if item.get(key) is not None and not isinstance(item[key], int):
                raise AWXRuleError('The %s limit in survey question %d expected to be integer.' % (key, index))
        if item['type'] in ('multiplechoice', 'multiselect'):
            if 'choices' not in item:
                raise AWXRuleError('Survey question %d of type %s must specify choices.' % (index, item['type']))
            defaults = item.get('default', [])
            defaults = defaults.splitlines() if isinstance(defaults, str) else defaults
            if item['type'] == 'multiplechoice' and len(defaults) > 1:
                raise AWXRuleError('Multiple Choice (Single Select) can only have one default value.')
            if any(default not in item['choices'] for default in defaults):
                raise AWXRuleError('Default choice must be answered from the choices listed.')
        if isinstance(item.get('default'), str) and item['default'].startswith('$encrypted$') \
                and item['type'] != 'password':
            raise AWXRuleError('$encrypted$ is a reserved keyword for password question defaults')


# -- the data as the playbook sees it --------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def rendered():
    """playbooks/awx.yml's vars (vars_files + play vars), rendered by Ansible's own templar."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar
    loader = DataLoader()
    play = loader.load_from_file(PLAYBOOK, trusted_as_template=True)[0]
    variables = {}
    for name in play['vars_files']:
        variables.update(loader.load_from_file(os.path.join(os.path.dirname(PLAYBOOK), name), trusted_as_template=True))
    variables.update(play['vars'])
    templar = Templar(loader=loader, variables=variables)
    # plain JSON data, as the modules send it to the controller (Ansible's templar returns tagged str subclasses)
    return dict(play=play, templar=templar, variables=variables,
                value=lambda name: json.loads(json.dumps(templar.template(variables[name]))))


def awx_argument_spec(module_name):
    """The argument spec an awx.awx module builds in main(), captured where it hands it to ControllerAPIModule."""
    module = importlib.import_module('ansible_collections.awx.awx.plugins.modules.%s' % module_name)

    class Captured(Exception):
        pass

    def capture(argument_spec=None, **_):
        raise Captured(argument_spec)
    original = module.ControllerAPIModule
    module.ControllerAPIModule = capture
    try:
        module.main()
    except Captured as captured:
        return captured.args[0]
    finally:
        module.ControllerAPIModule = original
    raise AssertionError('%s did not build its argument spec' % module_name)


# -- credential types ---------------------------------------------------------------------------------------------

def test_the_credential_types_follow_awxs_rules(rendered):
    types = rendered['value']('shs_awx_credential_types')
    assert [t['name'] for t in types] == ['Yandex Cloud', 'SHS deployment secrets', 'Docker engine (TLS)']
    for credential_type in types:
        check_credential_type(credential_type)


@pytest.mark.parametrize('breakage, message', [
    (lambda t: t['injectors']['env'].update(YC_X='{{ no_such_input }}'), 'undefined field'),
    (lambda t: t['injectors']['env'].update(ANSIBLE_CONFIG='/x'), 'may affect Ansible configuration'),
    (lambda t: t['injectors']['env'].update(PATH='/x'), 'not allowed to be used'),
    (lambda t: t['injectors']['env'].update(YC_X='{{ tower.filename.nofile }}'), 'undefined field'),
    (lambda t: t['inputs']['fields'].append({'id': 'tower', 'label': 'x'}), 'reserved'),
    (lambda t: t['inputs']['fields'].append({'id': 'folder_id', 'label': 'x'}), 'unique'),
    (lambda t: t['inputs']['fields'].append({'id': 'x', 'label': 'x', 'type': 'boolean', 'secret': True}),
     'not allowed for boolean'),
    (lambda t: t['inputs']['fields'].append({'id': 'x-y', 'label': 'x'}), 'invalid variable name'),
    (lambda t: t['inputs']['required'].append('nope'), 'not a field'),
    (lambda t: t['injectors']['env'].update(YC_X=1), 'env'),
])
def test_the_rules_catch_what_awx_refuses(rendered, breakage, message):
    import copy
    credential_type = copy.deepcopy(rendered['value']('shs_awx_credential_types')[0])
    breakage(credential_type)
    with pytest.raises(AWXRuleError, match=message):
        check_credential_type(credential_type)


def test_the_yandex_cloud_credential_injects_what_the_plugins_read(rendered):
    yandex = rendered['value']('shs_awx_credential_types')[0]
    env = yandex['injectors']['env']
    sources = ''
    for dirpath, _, names in os.walk(os.path.join(REPO_ROOT, 'plugins')):
        for name in names:
            if name.endswith('.py'):
                with open(os.path.join(dirpath, name)) as handle:
                    sources += handle.read()
    # YC_CLOUD_ID: the yc CLI's and Terraform's name; no plugin needs the cloud (a folder belongs to one)
    for name in set(env) - {'YC_CLOUD_ID'}:
        assert name in sources, '%s is injected but no plugin reads it' % name
    for name in ('YC_TOKEN', 'YC_SERVICE_ACCOUNT_KEY_FILE', 'YC_FOLDER_ID', 'YC_ENDPOINT', 'YC_ROOT_CERTIFICATES'):
        assert name in env
    # the key and the CA reach the job as files (a path in the env), the token as the value itself
    assert 'tower.filename.service_account_key' in env['YC_SERVICE_ACCOUNT_KEY_FILE']
    assert 'tower.filename.ca_bundle' in env['YC_ROOT_CERTIFICATES']
    secret = set(f['id'] for f in yandex['inputs']['fields'] if f.get('secret'))
    assert secret == {'service_account_key', 'oauth_token'}


def test_an_input_left_out_leaves_its_variable_empty_and_the_plugins_then_ignore_it(rendered, tmp_path):
    """AWX renders a missing input as '': with only a token, the key variable is '' (not a path to an empty file),
    and the collection counts an empty YC_* credential variable as unset (one credential, no conflict)."""
    from shs_ee import awx_job
    from ansible_collections.filmopoisk.shs.plugins.module_utils.yc import resolve_credentials
    yandex = rendered['value']('shs_awx_credential_types')[0]
    (tmp_path / 'env').mkdir()
    env, safe_env, args = awx_job.inject(yandex, {'oauth_token': 'y0_secret', 'folder_id': 'b1gfolder'}, str(tmp_path))
    assert env['YC_SERVICE_ACCOUNT_KEY_FILE'] == '' and env['YC_ROOT_CERTIFICATES'] == '' and args == []
    assert env['YC_TOKEN'] == 'y0_secret' and safe_env['YC_TOKEN'] == '**********'
    assert resolve_credentials({}, env) == ('token', 'y0_secret')


# -- surveys and objects ------------------------------------------------------------------------------------------

def test_every_survey_follows_awxs_rules_and_is_typed_and_bounded(rendered):
    templates = rendered['value']('shs_awx_job_templates') + [rendered['value']('shs_awx_workflow')]
    assert len(templates) == 10  # 9 job templates (4 of them the workflow's tier steps) and the workflow
    for template in templates:
        assert template['survey_enabled'] is True
        check_survey(template['survey_spec'])
        for question in template['survey_spec']['spec']:
            if question['type'] in ('text', 'integer'):
                assert isinstance(question.get('min'), int) and isinstance(question.get('max'), int), question
            if 'default' in question and question['type'] == 'integer':
                assert question['min'] <= question['default'] <= question['max'], question


@pytest.mark.parametrize('question, message', [
    ({'type': 'integer', 'default': 'two'}, 'expected to be integer'),
    ({'type': 'multiplechoice', 'default': 'x'}, 'must specify choices'),
    ({'type': 'multiplechoice', 'choices': ['a'], 'default': 'b'}, 'answered from the choices'),
    ({'type': 'number'}, 'not an allowed question type'),
    ({'type': 'text', 'min': '1'}, 'expected to be integer'),
])
def test_the_survey_rules_catch_what_awx_refuses(question, message):
    base = {'question_name': 'Q', 'variable': 'v', 'required': True}
    with pytest.raises(AWXRuleError, match=message):
        check_survey({'name': 'n', 'description': 'd', 'spec': [dict(base, **question)]})


def test_the_destroy_template_asks_for_a_typed_confirmation(rendered):
    destroy = [t for t in rendered['value']('shs_awx_job_templates') if t['name'] == 'SHS destroy'][0]
    questions = dict((q['variable'], q) for q in destroy['survey_spec']['spec'])
    assert questions['shs_destroy_confirm']['required'] is True and 'default' not in questions['shs_destroy_confirm']
    with open(os.path.join(REPO_ROOT, destroy['playbook'])) as handle:
        assert 'shs_destroy_confirm' in handle.read()


def test_templates_reference_what_exists(rendered):
    templates = rendered['value']('shs_awx_job_templates')
    credentials = [c['name'] for c in rendered['value']('shs_awx_credentials')]
    types = [t['name'] for t in rendered['value']('shs_awx_credential_types')]
    assert sorted(c['credential_type'] for c in rendered['value']('shs_awx_credentials')) == sorted(types)
    for template in templates:
        assert os.path.isfile(os.path.join(REPO_ROOT, template['playbook'])), template['playbook']
        assert set(template['credentials']) <= set(credentials), template
    source = rendered['value']('shs_awx_inventory_source')
    assert os.path.isfile(os.path.join(REPO_ROOT, source['source_path']))
    workflow = rendered['value']('shs_awx_workflow')
    names = [t['name'] for t in templates]
    identifiers = [node['identifier'] for node in workflow['workflow_nodes']]
    assert len(set(identifiers)) == len(identifiers)
    for node in workflow['workflow_nodes']:
        assert node['unified_job_template'] == {'name': node['unified_job_template']['name'], 'type': 'job_template'}
        assert node['unified_job_template']['name'] in names
        for kind, linked in node.get('related', {}).items():
            assert kind in ('success_nodes', 'failure_nodes', 'always_nodes')
            assert all(link['identifier'] in identifiers for link in linked), node
    # every node that can fail has a failure path
    assert all('failure_nodes' in node['related'] for node in workflow['workflow_nodes'] if 'success_nodes' in
               node.get('related', {}))


def test_every_awx_task_passes_its_modules_argument_spec(rendered):
    """Each awx.awx task's arguments as the play renders them (loops included) validate against that module's spec."""
    templar = rendered['templar']
    tasks = rendered['play']['tasks']
    modules = [next(key for key in task if key.startswith('awx.awx.')) for task in tasks]
    assert modules == ['awx.awx.credential_type', 'awx.awx.credential', 'awx.awx.execution_environment',
                       'awx.awx.project', 'awx.awx.inventory', 'awx.awx.inventory_source', 'awx.awx.job_template',
                       'awx.awx.workflow_job_template']
    checked = 0
    for task, module in zip(tasks, modules):
        spec = awx_argument_spec(module.rsplit('.', 1)[1])
        items = templar.template(task['loop']) if 'loop' in task else [None]
        for item in items:
            templar.available_variables = dict(rendered['variables'], item=item)
            params = templar.template(task[module])
            result = ArgumentSpecValidator(spec).validate(params)
            assert not result.error_messages, (module, result.error_messages)
            checked += 1
    templar.available_variables = rendered['variables']
    assert checked == 3 + 3 + 1 + 1 + 1 + 1 + 9 + 1
    credential = [t for t in tasks if 'awx.awx.credential' in t][0]
    assert credential['awx.awx.credential']['update_secrets'] is False and credential['no_log'] is True


@pytest.mark.parametrize('playbook', ['playbooks/awx.yml', 'playbooks/awx_images.yml', 'playbooks/awx_destroy.yml',
                                      'playbooks/awx_app_restart.yml'])
def test_syntax_check(playbook):
    done = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '--syntax-check',
                           '-i', 'inventory/awx', playbook], cwd=REPO_ROOT, text=True, capture_output=True,
                          env=dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO_ROOT, 'ansible.cfg')), timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


# -- the job playbooks find the image contexts as site.yml does (issue 10) ------------------------------------------

def job_playbooks():
    with open(os.path.join(VARS, 'controller.yml')) as handle:
        return sorted(set(t['playbook'] for t in yaml.safe_load(handle)['shs_awx_job_templates']))


# Each play's shs_image_contexts with inventory/awx's group_vars, from the playbook loaded by Ansible's own classes
# in a process of its own (as ansible-playbook: the collection finder installed once), each play's playbook_dir set
# as PlaybookExecutor sets it before the play (the directory of the file that holds it).
PLAY_VARS = """
import json, sys
from ansible import context
from ansible.inventory.manager import InventoryManager
from ansible.module_utils.common.collections import ImmutableDict
from ansible.parsing.dataloader import DataLoader
from ansible.playbook import Playbook
from ansible.plugins.loader import init_plugin_loader
from ansible.template import Templar
from ansible.vars.manager import VariableManager
context.CLIARGS = ImmutableDict(tags=[], skip_tags=[])
init_plugin_loader([])
playbook, hosts = sys.argv[1:]
loader = DataLoader()
inventory = InventoryManager(loader=loader, sources=[hosts])
manager = VariableManager(loader=loader, inventory=inventory)
book = Playbook.load(playbook, variable_manager=manager, loader=loader)
found = {}
for play in book.get_plays():
    loader.set_basedir(play._included_path or book._basedir)
    variables = manager.get_vars(play=play, host=inventory.get_host('localhost'))
    found[play.get_name()] = str(Templar(loader=loader, variables=variables).template(variables['shs_image_contexts']))
print(json.dumps(found))
"""


def plays_image_contexts(playbook, tmp_path):
    # inventory/awx's variables without its yc_compute source (that one asks the cloud for the hosts)
    (tmp_path / 'hosts').write_text('localhost ansible_connection=local\n')
    (tmp_path / 'group_vars').symlink_to(os.path.join(REPO_ROOT, 'inventory', 'awx', 'group_vars'))
    done = subprocess.run([sys.executable, '-c', PLAY_VARS, os.path.join(REPO_ROOT, playbook), str(tmp_path / 'hosts')],
                          cwd=REPO_ROOT, text=True, capture_output=True, timeout=120,
                          env=dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO_ROOT, 'ansible.cfg')))
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize('playbook', job_playbooks())
def test_every_job_playbook_finds_the_image_contexts_through_the_inventorys_one_variable(playbook, tmp_path):
    found = plays_image_contexts(playbook, tmp_path)
    assert found and set(found.values()) == {os.path.join(REPO_ROOT, 'files', 'images')}, found
    for name in ('shs', 'postgres', 'lb'):
        assert os.path.isfile(os.path.join(REPO_ROOT, 'files', 'images', name, 'Dockerfile'))


def test_no_playbook_recomputes_the_image_contexts_or_reaches_into_the_repo_by_path():
    """inventory/local/group_vars/all/deployment.yml is the one place shs_image_contexts is set; no test, molecule
    scenario or playbook puts the repository on sys.path (the EE helpers are the installed shs_ee)."""
    offenders = []
    paths = [os.path.join(REPO_ROOT, 'site.yml')]
    for top in ('playbooks', 'molecule', 'tests', 'ee'):
        paths += [os.path.join(d, n) for d, _, names in os.walk(os.path.join(REPO_ROOT, top)) for n in names]
    for path in paths:
        if not path.endswith(('.yml', '.yaml', '.py')) or path == os.path.abspath(__file__):
            continue
        with open(path) as handle:
            text = handle.read()
        if re.search(r'^\s*shs_image_contexts:', text, re.M) or re.search(r'sys\.path\.(insert|append)', text):
            offenders.append(os.path.relpath(path, REPO_ROOT))
    assert offenders == []


# -- the rollout workflow, one node a step (issue 11) ---------------------------------------------------------------

def listed_tasks(playbook, tags=None):
    """(task name, its tags) of each task `ansible-playbook --list-tasks` lists for a run with these tags."""
    command = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '--list-tasks', '-i', 'localhost,',
               playbook] + (['--tags', tags] if tags else [])
    done = subprocess.run(command, cwd=REPO_ROOT, text=True, capture_output=True, timeout=120,
                          env=dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO_ROOT, 'ansible.cfg')))
    assert done.returncode == 0, done.stdout + done.stderr
    found = re.findall(r'^ {6}(\S.*?)\tTAGS: \[(.*)\]$', done.stdout, re.M)
    assert found, done.stdout
    return [(name, frozenset(t.strip() for t in tags.split(',') if t.strip())) for name, tags in found]


def rollout_steps(workflow):
    """The workflow's nodes from its root along the success links: a list of nodes."""
    nodes = dict((node['identifier'], node) for node in workflow['workflow_nodes'])
    linked = set(link['identifier'] for node in nodes.values() for links in node.get('related', {}).values()
                 for link in links)
    roots = [identifier for identifier in nodes if identifier not in linked]
    assert len(roots) == 1, roots
    steps, current = [], nodes[roots[0]]
    while True:
        steps.append(current)
        following = current.get('related', {}).get('success_nodes', [])
        if not following:
            return steps
        assert len(following) == 1, current
        current = nodes[following[0]['identifier']]


def test_the_rollout_goes_network_iam_images_db_app_lb_with_a_failure_path_from_each_step(rendered):
    workflow = rendered['value']('shs_awx_workflow')
    steps = rollout_steps(workflow)
    assert [step['unified_job_template']['name'] for step in steps] == [
        'SHS network and IAM', 'SHS images', 'SHS database tier', 'SHS app tier', 'SHS load balancer tier',
        'SHS status']
    nodes = dict((node['identifier'], node) for node in workflow['workflow_nodes'])
    for step in steps[:-1]:
        failure = [nodes[link['identifier']] for link in step['related']['failure_nodes']]
        assert [node['unified_job_template']['name'] for node in failure] == ['SHS status'], step
        assert not failure[0].get('related'), 'the failure path ends at the status job'


def test_each_tier_step_runs_its_tier_after_the_steps_before_it_and_the_last_one_all_of_site_yml(rendered):
    templates = dict((t['name'], t) for t in rendered['value']('shs_awx_job_templates'))
    steps = [templates[step['unified_job_template']['name']] for step in
             rollout_steps(rendered['value']('shs_awx_workflow'))[:-1]]
    assert steps[1]['playbook'] == 'playbooks/awx_images.yml' and 'job_tags' not in steps[1]
    tiers = [steps[0]] + steps[2:]
    assert [step['job_tags'] for step in tiers] == ['network,iam', 'network,iam,images,db',
                                                    'network,iam,images,db,app', 'network,iam,images,db,app,lb']
    deploy = listed_tasks('playbooks/deploy.yml')  # site.yml's deployment play, every task of it
    assert all(tags for _, tags in deploy), 'an untagged task would be skipped by every tier step'
    # site.yml's localcloud play first: tagged always (on AWX it has nothing to do; locally a step needs the API)
    site = listed_tasks('site.yml')
    localcloud = site[:len(site) - len(deploy)]
    assert site[len(localcloud):] == deploy and all(tags == {'always'} for _, tags in localcloud), site
    seen = set()
    for step in tiers:
        assert step['playbook'] == 'site.yml'
        tasks = listed_tasks('site.yml', step['job_tags'])
        tags = set(step['job_tags'].split(','))
        # exactly the tasks of the step's tags (and the IAM token, tagged always), none of a later tier
        assert set().union(*(t for _, t in tasks)) == tags | {'always'}, (step['name'], tasks)
        assert tasks == localcloud + [task for task in deploy if task[1] & (tags | {'always'})]
        new = [name for name, t in tasks if name not in seen]
        assert new, '%s adds nothing to the step before it' % step['name']
        seen.update(name for name, _ in tasks)
    # the last step runs every task of the deployment, in the same order as a plain site.yml run
    assert listed_tasks('site.yml', tiers[-1]['job_tags']) == site
