#!/usr/bin/env python3
"""Run a playbook of this project the way an AWX job runs it, with no AWX server (none can run here).

What AWX does for a job, done the same way:
- the project: a copy of the repository's files (what a project update's git checkout holds) in the job's private
  data dir (project/);
- credentials: each credential type of playbooks/awx/vars/credential_types.yml rendered with the credential's inputs
  as AWX renders injectors (awx/main/models/credential.py, CredentialType.inject_credential): `file` templates
  into 0600 files in env/, their in-container paths as tower.filename.<name>, `env` into the job's environment,
  `extra_vars` into a 0400 file passed as `-e @file`; an input left out renders as '';
- the inventory: the inventory source run first (an inventory update: `ansible-inventory --list --export` on the
  source file, inside the EE, with the source's credential), its output served to the job by a script (AWX writes
  inventory/hosts the same way);
- the job: ansible-runner with container isolation (process_isolation_executable docker) in the EE image,
  `ansible-playbook -i /runner/inventory/hosts ...` with the environment AWX sets (ANSIBLE_COLLECTIONS_PATHS as
  awx/main/tasks/jobs.py builds it, host key checking off, the job's ids).

    python -m shs_ee.awx_job --credentials creds.json [--extra-vars vars.json] [--image filmopoisk/shs-ee:latest]
        PLAYBOOK

creds.json: [{"type": "Yandex Cloud", "inputs": {...}}, ...] (input ids of credential_types.yml). Prints the
private data dir; artifacts/<ident>/ holds stdout, the job events, rc and status, as on an AWX execution node.
"""

import argparse
import json
import os
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
import uuid

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # ee/shs_ee/ -> the repo
CREDENTIAL_TYPES = os.path.join(ROOT, 'playbooks', 'awx', 'vars', 'credential_types.yml')
INVENTORY_SOURCE = 'inventory/awx/shs.yc_compute.yml'
DEFAULT_IMAGE = 'filmopoisk/shs-ee:latest'
# docker, without the job's DOCKER_* variables (ee/launcher/docker says why)
LAUNCHER = os.path.join(ROOT, 'ee', 'launcher', 'docker')
CONTAINER_ROOT = '/runner'
# What awx/main/tasks/jobs.py (RunJob.build_env and BaseTask.build_env) sets for every playbook job.
AWX_JOB_ENV = {
    'ANSIBLE_FORCE_COLOR': 'False',
    'ANSIBLE_HOST_KEY_CHECKING': 'False',
    'ANSIBLE_INVENTORY_UNPARSED_FAILED': 'True',
    'ANSIBLE_PARAMIKO_RECORD_HOST_KEYS': 'False',
    'ANSIBLE_RETRY_FILES_ENABLED': 'False',
    'AWX_PRIVATE_DATA_DIR': CONTAINER_ROOT,
}


class _Loader(yaml.SafeLoader):
    """YAML with Ansible's !unsafe (credential_types.yml marks AWX's injector templates so): a plain string here."""


_Loader.add_constructor('!unsafe', lambda loader, node: loader.construct_scalar(node))


def credential_types():
    with open(CREDENTIAL_TYPES) as handle:
        return dict((item['name'], item) for item in yaml.load(handle, Loader=_Loader)['shs_awx_credential_types'])


class _Namespace(object):
    pass


def inject(credential_type, inputs, private_data_dir):
    """env, safe_env (secrets masked, what AWX stores with the job) and extra ansible-playbook args of one credential,
    rendered as AWX's CredentialType.inject_credential does; its files written into private_data_dir/env."""
    from jinja2 import sandbox
    secret = set(field['id'] for field in credential_type['inputs'].get('fields', []) if field.get('secret'))
    tower = _Namespace()
    namespace, safe_namespace = {'tower': tower}, {'tower': tower}
    for name, value in inputs.items():
        if isinstance(value, bool):
            namespace[name] = safe_namespace[name] = value
            continue
        if name in secret:
            safe_namespace[name] = '**********'
        elif len(value):
            safe_namespace[name] = value
        if len(value):
            namespace[name] = value
    for field in credential_type['inputs'].get('fields', []):
        if field.get('type') == 'boolean' and field['id'] not in inputs:
            namespace[field['id']] = safe_namespace[field['id']] = False
    sandbox_env = sandbox.ImmutableSandboxedEnvironment()
    env_dir = os.path.join(private_data_dir, 'env')
    os.makedirs(env_dir, exist_ok=True)
    injectors = credential_type.get('injectors', {})
    for label, template in injectors.get('file', {}).items():
        data = sandbox_env.from_string(template).render(**namespace)
        handle, path = tempfile.mkstemp(dir=env_dir)
        with os.fdopen(handle, 'w') as out:
            out.write(data)
        os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
        container_path = os.path.join(CONTAINER_ROOT, os.path.relpath(path, private_data_dir))
        if '.' not in label:
            tower.filename = container_path
        else:
            if not hasattr(tower, 'filename'):
                tower.filename = _Namespace()
            setattr(tower.filename, label.split('.', 1)[1], container_path)
    env, safe_env, args = {}, {}, []
    for name, template in injectors.get('env', {}).items():
        env[name] = sandbox_env.from_string(template).render(**namespace)
        safe_env[name] = sandbox_env.from_string(template).render(**safe_namespace)
    extra_vars = dict((key, sandbox_env.from_string(value).render(**namespace))
                      for key, value in injectors.get('extra_vars', {}).items())
    if extra_vars:
        handle, path = tempfile.mkstemp(dir=env_dir)
        with os.fdopen(handle, 'w') as out:
            out.write(yaml.safe_dump(extra_vars))
        os.chmod(path, stat.S_IRUSR)
        args.extend(['-e', '@' + os.path.join(CONTAINER_ROOT, os.path.relpath(path, private_data_dir))])
    return env, safe_env, args


def inject_all(credentials, private_data_dir):
    types = credential_types()
    env, safe_env, args = {}, {}, []
    for credential in credentials:
        if credential['type'] not in types:
            raise SystemExit('credentials: unknown credential type %r (known: %s)'
                             % (credential['type'], ', '.join(sorted(types))))
        one_env, one_safe, one_args = inject(types[credential['type']], credential['inputs'], private_data_dir)
        env.update(one_env)
        safe_env.update(one_safe)
        args.extend(one_args)
    return env, safe_env, args


def copy_project(private_data_dir, source=ROOT, revision='HEAD'):
    """The repository at a commit, as a project update's checkout has it (git archive: tracked files only, links
    kept; nothing git ignores, so no .venv, .collections or .run). revision None: the work tree's tracked and new
    files instead."""
    project = os.path.join(private_data_dir, 'project')
    os.makedirs(project, exist_ok=True)
    if revision:
        archive = subprocess.run(['git', 'archive', '--format=tar', revision], cwd=source, check=True,
                                 capture_output=True).stdout
        subprocess.run(['tar', '-x', '-C', project], input=archive, check=True)
        return project
    listed = subprocess.run(['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'], cwd=source,
                            check=True, capture_output=True).stdout.decode().split('\0')
    for rel in filter(None, listed):
        src, dest = os.path.join(source, rel), os.path.join(project, rel)
        if not os.path.lexists(src):
            continue  # deleted in the work tree
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        if os.path.islink(src):
            os.symlink(os.readlink(src), dest)
        else:
            shutil.copy2(src, dest)
    return project


def collections_paths():
    """ANSIBLE_COLLECTIONS_PATHS as AWX builds it for a job: the project's requirements collections, the project's
    ansible.cfg collections_path, the defaults (awx/main/tasks/jobs.py, RunJob.build_env). ansible-core 2.19 no
    longer reads this plural name: the project's ansible.cfg must list the EE's path itself (it does)."""
    return ':'.join([CONTAINER_ROOT + '/requirements_collections', './.collections', '~/.ansible/collections',
                     '/usr/share/ansible/collections', '/usr/share/automation-controller/collections'])


def runner_kwargs(private_data_dir, image, env, network_host=True):
    import ansible_runner  # noqa: F401  (the venv's; the EE has its own for the events)
    launcher_dir = os.path.dirname(LAUNCHER)
    if os.environ.get('PATH', '').split(os.pathsep)[0] != launcher_dir:
        os.environ['PATH'] = launcher_dir + os.pathsep + os.environ.get('PATH', '')  # this process only
    return dict(private_data_dir=private_data_dir, process_isolation=True, process_isolation_executable='docker',
                container_image=image, container_options=(['--network=host'] if network_host else []),
                envvars=dict(AWX_JOB_ENV, ANSIBLE_COLLECTIONS_PATHS=collections_paths(), **env), quiet=True,
                timeout=3600)


def inventory_update(private_data_dir, image, env, source=INVENTORY_SOURCE):
    """The inventory source run as AWX's inventory update runs it (ansible-inventory --list --export, in the EE);
    returns its JSON."""
    import ansible_runner
    out, err, rc = ansible_runner.run_command(
        executable_cmd='ansible-inventory', cmdline_args=['-i', source, '--list', '--export'],
        input_fd=None, runner_mode='subprocess', host_cwd=None, container_workdir=CONTAINER_ROOT + '/project',
        **dict(runner_kwargs(private_data_dir, image, env), quiet=True))
    if rc != 0:
        raise RuntimeError('inventory update failed (rc %s):\n%s\n%s' % (rc, out[-3000:], err[-3000:]))
    return json.loads(out[out.index('{'):])


def write_inventory(private_data_dir, data):
    """inventory/hosts: a script that prints the imported inventory, as AWX hands a job its inventory."""
    path = os.path.join(private_data_dir, 'inventory', 'hosts')
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as handle:
        handle.write('#!/usr/bin/env python3\nimport json, sys\n'
                     'if "--host" in sys.argv:\n    print("{}")\nelse:\n    print(json.dumps(%r))\n' % (data,))
    os.chmod(path, 0o700)
    return CONTAINER_ROOT + '/inventory/hosts'


def run_job(playbook, credentials, extra_vars=None, image=DEFAULT_IMAGE, private_data_dir=None, verbosity=0,
            inventory_credentials=None, revision='HEAD', keep_env=False, job_tags=None):
    """One job: project copy, inventory update, credentials injected, the playbook in the EE (with the template's
    job_tags as --tags, as AWX passes them). Returns (ansible_runner Runner, private data dir). Afterwards the env/ dirs (injected files, extra vars: the secrets) are
    removed, as AWX removes a job's private data dir; artifacts/ and inventory/ stay. keep_env keeps them."""
    import ansible_runner
    private_data_dir = private_data_dir or tempfile.mkdtemp(prefix='awx-job-')
    copy_project(private_data_dir, revision=revision)
    # The inventory update is a job of its own: its own credential (the Yandex Cloud one), its own env files.
    update_dir = os.path.join(private_data_dir, 'inventory_update')
    os.makedirs(update_dir)
    copy_project(update_dir, revision=revision)
    update_env, _, _ = inject_all(inventory_credentials if inventory_credentials is not None
                                  else [c for c in credentials if c['type'] == 'Yandex Cloud'], update_dir)
    write_inventory(private_data_dir, inventory_update(update_dir, image, update_env))
    env, safe_env, args = inject_all(credentials, private_data_dir)
    with open(os.path.join(private_data_dir, 'job_env.json'), 'w') as handle:
        json.dump(safe_env, handle, indent=1, sort_keys=True)  # what AWX keeps with the job (secrets masked)
    args = args + (['--tags', shlex.quote(job_tags)] if job_tags else [])
    cmdline = ' '.join(args + (['-' + 'v' * verbosity] if verbosity else []))
    # -i /runner/inventory (the private data dir's inventory/, ansible-runner's default): the script above
    runner = ansible_runner.run(playbook=playbook, extravars=extra_vars or {},
                                cmdline=cmdline or None, ident='job-%s' % uuid.uuid4().hex[:8],
                                **runner_kwargs(private_data_dir, image, env))
    if not keep_env:
        for job_dir in (private_data_dir, update_dir):
            shutil.rmtree(os.path.join(job_dir, 'env'), ignore_errors=True)
    return runner, private_data_dir


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('playbook')
    parser.add_argument('--credentials', required=True, help='JSON file: [{"type": ..., "inputs": {...}}]')
    parser.add_argument('--extra-vars', help='JSON file: the job template\'s extra vars and survey answers')
    parser.add_argument('--image', default=DEFAULT_IMAGE)
    parser.add_argument('--tags', help="the job template's job_tags (e.g. network,iam)")
    parser.add_argument('--private-data-dir')
    parser.add_argument('--revision', default='HEAD', help="the project's commit (default HEAD); '' for the work tree")
    args = parser.parse_args(argv)
    with open(args.credentials) as handle:
        credentials = json.load(handle)
    extra_vars = {}
    if args.extra_vars:
        with open(args.extra_vars) as handle:
            extra_vars = json.load(handle)
    runner, private_data_dir = run_job(args.playbook, credentials, extra_vars, args.image, args.private_data_dir,
                                       revision=args.revision or None, job_tags=args.tags)
    print(runner.stdout.read())
    print('status: %s, rc: %s, private data dir: %s' % (runner.status, runner.rc, private_data_dir))
    return 0 if runner.rc == 0 else 1


if __name__ == '__main__':
    sys.exit(main())
