"""One version everywhere: galaxy.yml's version, every plugin's version_added and the releases of
changelogs/changelog.yaml agree; CHANGELOG.md is what antsibull-changelog generates from that data; galaxy.yml's and
requirements.yml's collections are the ones the shipped plugins, roles and playbooks call."""

import ast
import glob
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml
from packaging.version import Version

from support import REPO_ROOT

ANTSIBULL_CHANGELOG = os.path.join(os.path.dirname(sys.executable), 'antsibull-changelog')
# Collections a shipped file may call without them being a dependency: ansible-core's own and this one; awx.awx only
# from playbooks/awx.yml (run against an AWX controller: requirements.yml has it, galaxy.yml does not).
OWN = ('ansible.builtin', 'ansible.legacy', 'filmopoisk.shs')
CONTROLLER_ONLY = {'awx.awx': ('playbooks/awx.yml',)}


def load(path):
    with open(os.path.join(REPO_ROOT, path)) as handle:
        return yaml.safe_load(handle)


def galaxy_version():
    return Version(load('galaxy.yml')['version'])


def releases():
    return load('changelogs/changelog.yaml')['releases']


def plugin_docs():
    """(path, DOCUMENTATION as data) of every plugin file with docs (action plugins have none of their own)."""
    found = []
    for path in sorted(glob.glob(os.path.join(REPO_ROOT, 'plugins', '*', '*.py'))):
        with open(path) as handle:
            tree = ast.parse(handle.read())
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(getattr(t, 'id', None) == 'DOCUMENTATION' for t in node.targets):
                found.append((os.path.relpath(path, REPO_ROOT), yaml.safe_load(node.value.value)))
    return found


def test_plugins_are_found():
    paths = [path for path, _ in plugin_docs()]
    assert 'plugins/modules/yc_network_info.py' in paths and 'plugins/inventory/yc_compute.py' in paths
    assert 'plugins/test/cidr.py' in paths and 'plugins/filter/coi_metadata.py' in paths


@pytest.mark.parametrize('path, doc', plugin_docs(), ids=lambda value: value if isinstance(value, str) else '')
def test_version_added_is_a_release_not_after_galaxy_version(path, doc):
    added = str(doc.get('version_added', ''))
    assert added, '%s: no version_added' % path
    assert Version(added) <= galaxy_version(), '%s: version_added %s is after galaxy.yml %s' % (
        path, added, galaxy_version())
    assert added in releases(), '%s: version_added %s is no release of changelogs/changelog.yaml' % (path, added)


def test_galaxy_version_is_the_latest_release():
    assert str(galaxy_version()) == max(releases(), key=Version)
    assert all(releases()[version].get('release_date') for version in releases())


def test_each_plugin_is_announced_in_the_release_it_was_added_in():
    """The changelog's "New Modules/Plugins" come from version_added (antsibull-changelog release), so a plugin
    whose version_added changed after its release would sit in the wrong release: the data must say the same."""
    announced = {}
    for version, release in releases().items():
        for module in release.get('modules', []):
            announced[('module', module['name'])] = version
        for plugin_type, plugins in release.get('plugins', {}).items():
            for plugin in plugins:
                announced[(plugin_type, plugin['name'])] = version
    for path, doc in plugin_docs():
        plugin_type = {'modules': 'module'}.get(path.split('/')[1], path.split('/')[1])
        name = doc.get('module') or doc.get('name')
        assert announced.get((plugin_type, name)) == str(doc['version_added']), (path, announced.get((plugin_type,
                                                                                                     name)))


def test_changelog_md_is_generated_from_the_changelog_data(tmp_path):
    """The CHANGELOG.md in the repository is antsibull-changelog's output for changelogs/changelog.yaml (a copy in
    tmp_path: generate writes nothing into the checkout)."""
    os.makedirs(str(tmp_path / 'changelogs'))
    shutil.copy(os.path.join(REPO_ROOT, 'galaxy.yml'), str(tmp_path))
    for name in ('config.yaml', 'changelog.yaml'):
        shutil.copy(os.path.join(REPO_ROOT, 'changelogs', name), str(tmp_path / 'changelogs'))
    done = subprocess.run([ANTSIBULL_CHANGELOG, 'generate', '--output', str(tmp_path / 'out.md'), '--output-format',
                           'md'], cwd=str(tmp_path), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    with open(os.path.join(REPO_ROOT, 'CHANGELOG.md')) as mine, open(str(tmp_path / 'out.md')) as generated:
        assert mine.read() == generated.read(), 'CHANGELOG.md is stale: run antsibull-changelog generate'


def test_changelog_lint_is_clean():
    for args in (['lint'], ['lint-changelog-yaml', 'changelogs/changelog.yaml']):
        done = subprocess.run([ANTSIBULL_CHANGELOG] + args, cwd=REPO_ROOT, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0 and not done.stdout.strip(), (args, done.stdout, done.stderr)


def called_collections():
    """Collection -> the shipped files that call one of its modules, filters or tests by FQCN."""
    fqcn = re.compile(r'\b([a-z][a-z0-9_]*\.[a-z][a-z0-9_]*)\.[a-z][a-z0-9_]*\b')
    used = {}
    for pattern in ('site.yml', 'playbooks/**/*.yml', 'roles/*/tasks/*.yml', 'roles/*/handlers/*.yml',
                    'roles/*/templates/*', 'roles/*/meta/*.yml', 'plugins/**/*.py', 'inventory/**/*.yml'):
        for path in glob.glob(os.path.join(REPO_ROOT, pattern), recursive=True):
            with open(path) as handle:
                # comments name collections too (awx.awx.credential_type in a note), and Python imports name
                # ansible-core's packages (ansible.module_utils.basic): neither is a call
                text = '\n'.join(line.split(' #')[0] for line in handle
                                 if not line.lstrip().startswith(('#', 'import ', 'from ')))
            for match in fqcn.finditer(text):
                name = match.group(1)
                if name.split('.')[0] in ('community', 'ansible', 'awx', 'containers', 'kubernetes') \
                        and name not in OWN:
                    used.setdefault(name, set()).add(os.path.relpath(path, REPO_ROOT))
    return used


def test_dependencies_are_what_is_called():
    used = called_collections()
    assert 'community.crypto' in used and 'community.docker' in used  # the grep finds what is there
    for name, allowed in CONTROLLER_ONLY.items():
        assert used.pop(name, set()) <= set(allowed), name
    assert set(load('galaxy.yml')['dependencies']) == set(used)
    required = [entry['name'] for entry in load('requirements.yml')['collections']]
    assert sorted(required) == sorted(set(used) | set(CONTROLLER_ONLY))
