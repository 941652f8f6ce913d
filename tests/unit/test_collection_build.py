"""`ansible-galaxy collection build` gives a tarball that installs as filmopoisk.shs, without dev leftovers."""

import json
import os
import re
import subprocess
import sys
import tarfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GALAXY = os.path.join(os.path.dirname(sys.executable), 'ansible-galaxy')


def galaxy(*args):
    return subprocess.run([GALAXY, *args], cwd=ROOT, check=True, text=True, capture_output=True,
                          env=dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg')))


def galaxy_version():
    """The version the tarball is named after (galaxy.yml's, which tests/unit/test_versions.py checks)."""
    with open(os.path.join(ROOT, 'galaxy.yml')) as handle:
        return re.search(r'^version: (\S+)$', handle.read(), re.M).group(1)


def test_build_and_install(tmp_path):
    galaxy('collection', 'build', '--force', '--output-path', str(tmp_path / 'dist'), '.')
    version = galaxy_version()
    tarball = tmp_path / 'dist' / ('filmopoisk-shs-%s.tar.gz' % version)
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile('MANIFEST.json'))
        python = {n: tar.extractfile(n).read().decode() for n in names if n.endswith('.py')}
    assert manifest['collection_info']['namespace'] == 'filmopoisk'
    assert manifest['collection_info']['name'] == 'shs'
    assert 'community.docker' in manifest['collection_info']['dependencies']
    for wanted in ('meta/runtime.yml', 'plugins/module_utils/content_hash.py', 'playbooks/local_stack.yml',
                   'files/images/shs/Dockerfile', 'README.md'):
        assert wanted in names
    # Dev leftovers (venv, vendored collections, run state, CI) never ship.
    assert not [n for n in names if n.split('/')[0] in ('.venv', '.collections', '.run', '.cache', '.ci', '.git')]
    # Nor the repository's own Python projects (localcloud, coinode), tests, molecule, dev tools and configuration.
    not_shipped = ('localcloud', 'coinode', 'tests', 'molecule', 'tools', 'Makefile', 'ansible.cfg', 'pytest.ini',
                   'requirements-dev.txt', '.ansible-lint', '.gitignore')
    assert [n for n in names if n.split('/')[0] in not_shipped] == []
    assert [n for n in names if '.egg-info' in n or '__pycache__' in n or n.endswith('.pyc')] == []
    # No local-cloud code under another name either: no shipped Python file imports localcloud or coinode.
    assert [n for n, code in python.items() if re.search(r'^\s*(from|import) (localcloud|coinode)\b', code, re.M)] == []

    # --no-deps: dependencies come from Galaxy, which is not reachable here. --force: the checkout
    # itself is installed as filmopoisk.shs in .collections (ansible.cfg), which would count as done.
    galaxy('collection', 'install', '--force', '--no-deps', '-p', str(tmp_path / 'installed'), str(tarball))
    installed = tmp_path / 'installed' / 'ansible_collections' / 'filmopoisk' / 'shs'
    assert (installed / 'meta' / 'runtime.yml').is_file()
    listing = galaxy('collection', 'list', '-p', str(tmp_path / 'installed'), 'filmopoisk.shs').stdout
    assert 'filmopoisk.shs' in listing and version in listing
