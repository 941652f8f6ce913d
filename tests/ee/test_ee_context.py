"""The execution environment's build context, as `ansible-builder create` writes it (shs_ee.build create), and what
ansible-builder's own introspection makes of the installed collections: no image is built here (test_ee_job does).
"""

import json
import os
import re
import subprocess
import sys
import tarfile

import pytest
import yaml

from support import REPO_ROOT

CONTEXT = os.path.join(REPO_ROOT, '.run', 'ee', 'context')
BIN = os.path.dirname(sys.executable)


@pytest.fixture(scope='module')
def context():
    done = subprocess.run([sys.executable, '-m', 'shs_ee.build', 'create'], cwd=REPO_ROOT,
                          text=True, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    with open(os.path.join(CONTEXT, 'Dockerfile')) as handle:
        return handle.read()


def steps(dockerfile):
    return [line for line in dockerfile.splitlines() if line and not line.startswith('#')]


def test_the_base_is_the_projects_debian_image_and_apt_stands_in_for_dnf(context):
    lines = steps(context)
    assert 'ARG EE_BASE_IMAGE="filmopoisk/debian-base:bookworm"' in lines
    assert 'ARG PKGMGR="/usr/local/sbin/ee-pkgmgr"' in lines
    assert 'ARG PYPKG="python3 python3-pip python3-venv"' in lines
    # the wrapper is in place before ansible-builder's first package manager call
    wrapper = lines.index('COPY _build/ee/pkgmgr /usr/local/sbin/ee-pkgmgr')
    first_install = next(i for i, line in enumerate(lines) if line.startswith('RUN $PKGMGR install $PYPKG'))
    assert wrapper < first_install
    # Debian's python3 has no ensurepip: skip_pip_install, pip comes from python3-pip
    assert not any('pip_install' in line for line in lines if line.startswith('RUN'))
    with open(os.path.join(CONTEXT, '_build', 'ee', 'pkgmgr')) as handle:
        wrapper_text = handle.read()
    assert 'apt-get install -y' in wrapper_text and 'rm -rf /var/lib/apt/lists/*' in wrapper_text
    assert os.access(os.path.join(CONTEXT, '_build', 'ee', 'pkgmgr'), os.X_OK)
    # ansible-core and ansible-runner pinned as in requirements*.txt, installed by ansible-builder itself
    assert 'ARG ANSIBLE_INSTALL_REFS="ansible-core==2.19.14 ansible-runner==2.4.3"' in lines
    assert lines[-2:] == ['ENTRYPOINT ["/opt/builder/bin/entrypoint", "dumb-init"]', 'CMD ["bash"]']


def test_collections_come_from_staged_tarballs_offline(context):
    assert 'ARG ANSIBLE_GALAXY_CLI_COLLECTION_OPTS="--offline"' in steps(context)
    with open(os.path.join(CONTEXT, '_build', 'requirements.yml')) as handle:
        wanted = yaml.safe_load(handle)['collections']
    assert all(entry['type'] == 'file' for entry in wanted)
    names = [entry['name'] for entry in wanted]
    assert names[0] == 'collections/filmopoisk-shs.tar.gz'
    for name in names:
        assert os.path.isfile(os.path.join(CONTEXT, '_build', name)), name
    with tarfile.open(os.path.join(CONTEXT, '_build', 'collections', 'filmopoisk-shs.tar.gz')) as tar:
        members = set(tar.getnames())
        manifest = json.load(tar.extractfile('MANIFEST.json'))
    assert {'meta/execution-environment.yml', 'meta/ee-requirements.txt', 'bindep.txt', 'site.yml',
            'plugins/inventory/yc_compute.py'} <= members
    # the collection as it ships: no dev parts, not the EE build helpers
    assert not [m for m in members if m.split('/')[0] in ('tests', 'localcloud', 'coinode', 'ee', 'tools', '.run')]
    assert 'execution-environment.yml' not in members
    # every collection the tarball depends on is staged (installed here from PyPI's ansible wheel)
    for dependency in manifest['collection_info']['dependencies']:
        assert 'collections/%s.tar.gz' % dependency.replace('.', '-') in names


def test_ansible_builder_introspection_finds_the_collections_needs(context, tmp_path):
    """What the builder stage computes inside the image (introspect.py over the installed collections), here."""
    build = os.path.join(CONTEXT, '_build')
    # As in the image's builder stage: no project ansible.cfg (make exports ANSIBLE_CONFIG, whose collections_path
    # holds this checkout, so ansible-galaxy would find filmopoisk.shs "already installed" and install nothing).
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith('ANSIBLE_'))
    env['ANSIBLE_COLLECTIONS_PATH'] = str(tmp_path)
    installed = subprocess.run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'install', '--offline', '-r',
                                'requirements.yml', '-p', str(tmp_path)], cwd=build, text=True, capture_output=True,
                               timeout=300, env=env)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    done = subprocess.run([sys.executable, os.path.join(build, 'scripts', 'introspect.py'), 'introspect', str(tmp_path),
                           '--exclude-pip-reqs=' + os.path.join(build, 'exclude-requirements.txt'),
                           '--exclude-bindep-reqs=' + os.path.join(build, 'exclude-bindep.txt')],
                          text=True, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    found = yaml.safe_load(done.stdout[done.stdout.index('---'):])
    python = [re.sub(r'\s+#.*', '', line) for line in found['python']]
    system = [re.sub(r'\s+#.*', '', line) for line in found['system']]
    # ours, from meta/execution-environment.yml: ranges, not the controller's pins
    assert 'yandexcloud>=0.413.0' in python and 'docker>=7.0' in python
    assert not [line for line in python if line.startswith('paramiko')]
    assert 'ca-certificates [platform:dpkg platform:rpm]' in system
    for excluded in ('cryptsetup', 'openssh-client', 'python3-cryptography', 'python3-openssl'):
        assert not [line for line in system if line.split()[0] == excluded], excluded


def test_the_tag_follows_the_inputs_not_the_tarball_build_time(context):
    first = subprocess.run([sys.executable, '-m', 'shs_ee.build', 'tag'], cwd=REPO_ROOT,
                           text=True, capture_output=True, timeout=300)
    second = subprocess.run([sys.executable, '-m', 'shs_ee.build', 'tag'], cwd=REPO_ROOT,
                            text=True, capture_output=True, timeout=300)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert re.match(r'^filmopoisk/shs-ee:[0-9a-f]{12}$', first.stdout.strip())
    assert first.stdout == second.stdout
