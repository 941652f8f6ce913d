"""`ansible-galaxy collection build` gives a tarball that installs as filmopoisk.shs, without dev leftovers."""

import json
import os
import subprocess
import sys
import tarfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GALAXY = os.path.join(os.path.dirname(sys.executable), 'ansible-galaxy')


def galaxy(*args):
    return subprocess.run([GALAXY, *args], cwd=ROOT, check=True, text=True, capture_output=True,
                          env=dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg')))


def test_build_and_install(tmp_path):
    galaxy('collection', 'build', '--force', '--output-path', str(tmp_path / 'dist'), '.')
    tarball = tmp_path / 'dist' / 'filmopoisk-shs-0.1.0.tar.gz'
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile('MANIFEST.json'))
    assert manifest['collection_info']['namespace'] == 'filmopoisk'
    assert manifest['collection_info']['name'] == 'shs'
    assert 'community.docker' in manifest['collection_info']['dependencies']
    for wanted in ('meta/runtime.yml', 'plugins/module_utils/content_hash.py', 'playbooks/local_stack.yml',
                   'files/images/shs/Dockerfile', 'README.md'):
        assert wanted in names
    # Dev leftovers (venv, vendored collections, run state, CI) never ship.
    assert not [n for n in names if n.split('/')[0] in ('.venv', '.collections', '.run', '.cache', '.ci', '.git')]

    # --no-deps: dependencies come from Galaxy, which is not reachable here. --force: the checkout
    # itself is installed as filmopoisk.shs in .collections (ansible.cfg), which would count as done.
    galaxy('collection', 'install', '--force', '--no-deps', '-p', str(tmp_path / 'installed'), str(tarball))
    installed = tmp_path / 'installed' / 'ansible_collections' / 'filmopoisk' / 'shs'
    assert (installed / 'meta' / 'runtime.yml').is_file()
    listing = galaxy('collection', 'list', '-p', str(tmp_path / 'installed'), 'filmopoisk.shs').stdout
    assert 'filmopoisk.shs' in listing and '0.1.0' in listing
