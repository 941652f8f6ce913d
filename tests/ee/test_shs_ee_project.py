"""The EE helpers are the installed project ee/ (package shs_ee, tools/setup.sh: pip install -e ee): each runs as
`python -m shs_ee.<name>` from any directory with no PYTHONPATH, and finds the repository's files it works on."""

import os
import subprocess
import sys

import pytest

from support import REPO_ROOT


def python(*args, cwd):
    env = dict((k, v) for k, v in os.environ.items() if k != 'PYTHONPATH')
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize('module, usage', [('shs_ee.build', '{create,build,tag}'), ('shs_ee.awx_job', 'PLAYBOOK'),
                                           ('shs_ee.docker_tls', '{pki,serve}'), ('shs_ee.up_ee', '--down')])
def test_each_helper_runs_from_any_directory(module, usage, tmp_path):
    done = python('-m', module, '--help', cwd=tmp_path)
    assert done.returncode == 0 and usage in done.stdout, done.stdout + done.stderr


def test_the_installed_package_is_the_repositorys_and_finds_its_data_files(tmp_path):
    done = python('-c', 'import shs_ee, shs_ee.awx_job as job, shs_ee.build as build; '
                  'print(shs_ee.__file__, job.ROOT, build.ROOT, job.LAUNCHER, job.CREDENTIAL_TYPES)', cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    package, job_root, build_root, launcher, types = done.stdout.split()
    assert package == os.path.join(REPO_ROOT, 'ee', 'shs_ee', '__init__.py')
    assert job_root == build_root == REPO_ROOT
    assert os.access(launcher, os.X_OK) and launcher == os.path.join(REPO_ROOT, 'ee', 'launcher', 'docker')
    assert os.path.isfile(types) and os.path.isfile(os.path.join(build_root, 'ee', 'pkgmgr'))
