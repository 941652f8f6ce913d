#!/usr/bin/env python3
"""The execution environment (EE) image: execution-environment.yml built with ansible-builder on the project's Debian
base, tagged filmopoisk/shs-ee:<inputs hash> (and :latest), rebuilt only when an input changed.

    python -m shs_ee.build create   stage the collection tarballs and write the build context (.run/ee/context)
    python -m shs_ee.build build    create, then build the image unless its tag exists; prints tag, size, build time
    python -m shs_ee.build tag      the tag the image has (or would have)

Staged into .run/ee/collections, listed in .run/ee/requirements.yml (execution-environment.yml installs them from
there with ansible-galaxy --offline):
this collection at the last commit (what an AWX project checks out; --worktree: the work tree), built like `make
build` (its build_ignore decides what ships), and the collections its MANIFEST.json depends on, packed from the copies tools/setup.sh installed into .collections (PyPI's ansible wheel: no Galaxy needed).
The tag hashes the inputs (the EE definition, ee/pkgmgr, this script, the staged CA, the collections' contents, the
base image id, ansible-builder's version), not the generated context: a tarball's bytes change with its build time, its contents do not.
"""

import argparse
import hashlib
import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # ee/shs_ee/ -> the repo
DEFINITION = os.path.join(ROOT, 'execution-environment.yml')
STAGE = os.path.join(ROOT, '.run', 'ee', 'collections')
CONTEXT = os.path.join(ROOT, '.run', 'ee', 'context')
CA_STAGE = os.path.join(ROOT, '.run', 'ee', 'ca')
REQUIREMENTS = os.path.join(ROOT, '.run', 'ee', 'requirements.yml')
DIST = os.path.join(ROOT, '.run', 'dist')
INSTALLED = os.path.join(ROOT, '.collections', 'ansible_collections')
IMAGE = 'filmopoisk/shs-ee'
BIN = os.path.dirname(os.path.abspath(sys.executable))


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def images_tool():
    """tools/images.py: the Debian base (ensure_base) and its image id, the same as every other image here."""
    return _load('filmopoisk_images', os.path.join(ROOT, 'tools', 'images.py'))


def dependencies(tarball):
    """The collections a collection tarball depends on (its MANIFEST.json), and theirs, as installed in .collections
    (community.docker needs community.library_inventory_filtering_v1)."""
    with tarfile.open(tarball) as tar:
        wanted = list(json.load(tar.extractfile('MANIFEST.json'))['collection_info'].get('dependencies') or {})
    found = []
    while wanted:
        name = wanted.pop(0)
        if name in found:
            continue
        manifest = os.path.join(INSTALLED, *name.split('.'), 'MANIFEST.json')
        if not os.path.isfile(manifest):
            raise SystemExit('%s is not installed in .collections (run tools/setup.sh)' % name)
        found.append(name)
        with open(manifest) as handle:
            wanted.extend(json.load(handle)['collection_info'].get('dependencies') or {})
    return found


def pack_installed(name, dest):
    """An installed collection packed back into the artifact layout ansible-galaxy installs from: MANIFEST.json,
    FILES.json and the files. PyPI's ansible wheel leaves out some files FILES.json lists (CI configs such as
    .azure-pipelines), so FILES.json keeps the entries that are there, and MANIFEST.json its new checksum."""
    src = os.path.join(INSTALLED, *name.split('.'))
    with open(os.path.join(src, 'FILES.json')) as handle:
        files = json.load(handle)
    files['files'] = [entry for entry in files['files']
                      if entry['name'] == '.' or os.path.lexists(os.path.join(src, entry['name']))]
    files_json = json.dumps(files, indent=4).encode()
    with open(os.path.join(src, 'MANIFEST.json')) as handle:
        manifest = json.load(handle)
    manifest['file_manifest_file']['chksum_sha256'] = hashlib.sha256(files_json).hexdigest()
    manifest_json = json.dumps(manifest, indent=4).encode()

    def add_bytes(tar, arcname, data):
        info = tarfile.TarInfo(arcname)
        info.size, info.mode = len(data), 0o644
        tar.addfile(info, io.BytesIO(data))

    with tarfile.open(dest, 'w:gz') as tar:
        add_bytes(tar, 'MANIFEST.json', manifest_json)
        add_bytes(tar, 'FILES.json', files_json)
        for entry in files['files']:
            if entry['name'] != '.':
                tar.add(os.path.join(src, entry['name']), arcname=entry['name'], recursive=False)


def build_collection(revision):
    """This collection's tarball, as `make build` makes it, from a commit (git archive: what AWX's project checkout
    has too) or, with revision None, from the work tree."""
    os.makedirs(DIST, exist_ok=True)
    source = ROOT
    if revision:
        source = os.path.join(ROOT, '.run', 'ee', 'source')
        shutil.rmtree(source, ignore_errors=True)
        os.makedirs(source)
        archive = subprocess.run(['git', 'archive', '--format=tar', revision], cwd=ROOT, check=True,
                                 capture_output=True).stdout
        subprocess.run(['tar', '-x', '-C', source], input=archive, check=True)
    done = subprocess.run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'build', '--force', '--output-path',
                           DIST, source], cwd=ROOT, text=True, capture_output=True)
    if done.returncode != 0:
        raise SystemExit('ansible-galaxy collection build failed:\n' + done.stdout + done.stderr)
    path = done.stdout.strip().rsplit(' ', 1)[-1]
    if not os.path.isfile(path):
        raise SystemExit('no collection tarball in the output of ansible-galaxy: %r' % done.stdout)
    return path


def stage(revision='HEAD'):
    """.run/ee/collections/<namespace>-<name>.tar.gz for this collection and its dependencies, and the galaxy
    requirements file execution-environment.yml installs from (.run/ee/requirements.yml); return the tarballs."""
    shutil.rmtree(STAGE, ignore_errors=True)
    os.makedirs(STAGE)
    staged = {'filmopoisk.shs': os.path.join(STAGE, 'filmopoisk-shs.tar.gz')}
    shutil.copy(build_collection(revision), staged['filmopoisk.shs'])
    for name in dependencies(staged['filmopoisk.shs']):
        staged[name] = os.path.join(STAGE, name.replace('.', '-') + '.tar.gz')
        pack_installed(name, staged[name])
    # paths as the galaxy stage sees them: additional_build_files puts the tarballs into _build/collections
    requirements = {'collections': [{'name': 'collections/' + os.path.basename(path), 'type': 'file'}
                                    for path in staged.values()]}
    with open(REQUIREMENTS, 'w') as handle:
        json.dump(requirements, handle, indent=2)  # JSON is YAML
    return staged


def stage_ca():
    """The build machine's own CA bundle, when pip here is told to use one (PIP_CERT, SSL_CERT_FILE; or
    FILMOPOISK_EE_CA_BUNDLE): pip inside the build then trusts what pip outside does. Never in the final image."""
    shutil.rmtree(CA_STAGE, ignore_errors=True)
    os.makedirs(CA_STAGE)
    bundle = next((os.environ[name] for name in ('FILMOPOISK_EE_CA_BUNDLE', 'PIP_CERT', 'SSL_CERT_FILE')
                   if os.path.isfile(os.environ.get(name, ''))), None)
    if bundle:
        shutil.copy(bundle, os.path.join(CA_STAGE, 'build-machine.crt'))
    else:
        with open(os.path.join(CA_STAGE, 'none.txt'), 'w') as handle:
            handle.write('no CA bundle of the build machine (shs_ee.build)\n')  # COPY needs the directory


def tar_digest(path):
    """Hash of a tarball's members (name, exec bit, content): the same for the same files whenever it was built."""
    digest = hashlib.sha256()
    with tarfile.open(path) as tar:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            digest.update(('%s\0%o\0' % (member.name, member.mode & 0o111)).encode())
            if member.isfile():
                digest.update(tar.extractfile(member).read())
    return digest.hexdigest()


def inputs_tag(staged, base_id):
    content_hash = _load('filmopoisk_content_hash', os.path.join(ROOT, 'plugins', 'module_utils', 'content_hash.py'))
    import ansible_builder
    extra = dict(('collection:' + name, tar_digest(path)) for name, path in staged.items())
    extra.update(BASE_IMAGE=base_id, ANSIBLE_BUILDER=getattr(ansible_builder, '__version__', '') or _builder_version())
    # what goes into the image: the staged CA files (the hashed directory), the definition, the package manager
    # wrapper, and this script (it stages the rest); not the job tools next to it
    extra_files = {'execution-environment.yml': DEFINITION, 'ee/pkgmgr': os.path.join(ROOT, 'ee', 'pkgmgr'),
                   'ee/shs_ee/build.py': os.path.abspath(__file__)}
    digest = content_hash.context_hash(CA_STAGE, extra=extra, extra_files=extra_files)
    return '%s:%s' % (IMAGE, digest)


def _builder_version():
    return subprocess.run([os.path.join(BIN, 'ansible-builder'), '--version'], text=True,
                          capture_output=True, check=True).stdout.strip()


def create(revision='HEAD'):
    """The build context in .run/ee/context (Dockerfile + _build/), as `ansible-builder create` writes it."""
    staged = stage(revision)
    stage_ca()
    shutil.rmtree(CONTEXT, ignore_errors=True)
    done = subprocess.run([os.path.join(BIN, 'ansible-builder'), 'create', '--file', DEFINITION, '--context', CONTEXT,
                           '--output-filename', 'Dockerfile'],
                          cwd=ROOT, text=True, capture_output=True)
    if done.returncode != 0:
        raise SystemExit('ansible-builder create failed:\n' + done.stdout + done.stderr)
    return staged


def image_size(ref):
    done = subprocess.run(['docker', 'image', 'inspect', '--format', '{{.Size}}', ref], text=True, capture_output=True)
    return int(done.stdout) if done.returncode == 0 else None


def build(revision='HEAD'):
    images = images_tool()
    base_id = images.ensure_base()
    staged = create(revision)
    ref = inputs_tag(staged, base_id)
    if image_size(ref) is not None:
        subprocess.run(['docker', 'tag', ref, IMAGE + ':latest'], check=True)
        print('==> %s: up to date (%.0f MB)' % (ref, image_size(ref) / 1e6), flush=True)
        return ref
    print('==> %s: building (several minutes: pip and apt inside)' % ref, flush=True)
    log_path = os.path.join(ROOT, '.run', 'logs', 'build-shs-ee.log')
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    started = time.monotonic()
    # The classic builder (no buildx here); the stages and their order are ansible-builder's.
    cmd = ['docker', 'build', '--label', 'org.filmopoisk.content-hash=' + ref.rsplit(':', 1)[1],
           '-t', ref, '-t', IMAGE + ':latest', '-f', os.path.join(CONTEXT, 'Dockerfile'), CONTEXT]
    with open(log_path, 'w') as log:
        code = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, DOCKER_BUILDKIT='0'),
                              cwd=CONTEXT).returncode
    if code != 0:
        with open(log_path) as log:
            raise SystemExit('the EE image failed to build (log: %s):\n%s' % (log_path, ''.join(log.readlines()[-30:])))
    print('    built in %.0f s, %.0f MB' % (time.monotonic() - started, image_size(ref) / 1e6), flush=True)
    return ref


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('command', choices=['create', 'build', 'tag'])
    parser.add_argument('--worktree', action='store_true',
                        help='the collection from the work tree instead of the last commit (HEAD)')
    args = parser.parse_args(argv)
    revision = None if args.worktree else 'HEAD'
    if args.command == 'create':
        create(revision)
        print(CONTEXT)
    elif args.command == 'tag':
        staged = stage(revision)
        stage_ca()
        images = images_tool()
        print(inputs_tag(staged, images.image_id(images.BASE_IMAGE) or 'none'))
    else:
        print(build(revision))
    return 0


if __name__ == '__main__':
    sys.exit(main())
