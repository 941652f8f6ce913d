"""localcloud and coinode are installed into the venv (tools/setup.sh, pip install -e): they run from anywhere with
the venv's Python and no PYTHONPATH, and the coi-node image is built from the coinode project."""

import os
import re
import subprocess
import sys

import images
from support import REPO_ROOT


def python(*args, cwd):
    env = dict((k, v) for k, v in os.environ.items() if k != 'PYTHONPATH')
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def test_both_run_from_any_directory(tmp_path):
    for package, commands in (('localcloud', '{serve,stop}'), ('coinode', '{apply,remove,status}')):
        done = python('-m', package, '--help', cwd=tmp_path)
        assert done.returncode == 0 and commands in done.stdout, done.stderr


def test_the_repository_root_does_not_shadow_them():
    # From the root, ./localcloud and ./coinode are directories without __init__.py: Python would import them as
    # empty namespace packages if the install were not a plain path entry.
    done = python('-c', 'import coinode, localcloud.server.cli; print(coinode.Node.__module__, coinode.__file__, '
                  'localcloud.__file__)', cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ['coinode.node', os.path.join(REPO_ROOT, 'coinode', 'coinode', '__init__.py'),
                                   os.path.join(REPO_ROOT, 'localcloud', 'localcloud', '__init__.py')]


def test_coi_node_is_built_from_the_coinode_project():
    assert images.context_dir('coi-node') == os.path.join(REPO_ROOT, 'coinode', 'image')
    assert 'coi-node' in images.image_names() and images.context_dir('shs').endswith('/files/images/shs')
    done = subprocess.run([sys.executable, os.path.join(REPO_ROOT, 'tools', 'images.py'), 'tag', 'coi-node'],
                          capture_output=True, text=True, timeout=60)
    assert re.fullmatch(r'filmopoisk/coi-node:[0-9a-f]{12}\n', done.stdout), done.stderr
