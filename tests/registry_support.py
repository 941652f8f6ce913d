"""What the container registry tests share: the docker CLI with a private config dir (logins never touch the
user's ~/.docker), tiny build contexts FROM the local base image, IAM tokens from localcloud."""

import json
import os
import subprocess
import uuid

from yandex.cloud.iam.v1 import iam_token_service_pb2
from yandex.cloud.iam.v1.iam_token_service_pb2_grpc import IamTokenServiceStub

import images  # tools/images.py

BASE_IMAGE = images.BASE_IMAGE


def registry_host(localcloud):
    """The `registry` of the running localcloud's endpoint.json (127.0.0.1:PORT)."""
    with open(os.path.join(localcloud.state_dir, 'endpoint.json')) as handle:
        return json.load(handle)['registry']


def iam_token(localcloud):
    """An IAM token of localcloud's user (OAuth token exchanged as the SDK does)."""
    stub = localcloud.sdk().client(IamTokenServiceStub)
    return stub.Create(iam_token_service_pb2.CreateIamTokenRequest(
        yandex_passport_oauth_token=localcloud.token)).iam_token


class DockerCLI:
    """`docker --config <own dir>`: a client with its own logins, talking to the host engine."""

    def __init__(self, config_dir):
        self.config_dir = str(config_dir)
        os.makedirs(self.config_dir, exist_ok=True)

    def __call__(self, *args, check=True, input=None, timeout=120):
        done = subprocess.run(['docker', '--config', self.config_dir] + list(args), input=input, text=True,
                              timeout=timeout, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if check and done.returncode != 0:
            raise AssertionError('docker %s failed (%d): %s' % (' '.join(args[:3]), done.returncode, done.stderr))
        return done

    def login(self, host, username, password, check=True):
        return self('login', host, '-u', username, '--password-stdin', input=password, check=check)


def make_context(path, content):
    """A build context whose image holds /hello with `content` (no network: FROM the local base image)."""
    images.ensure_base()
    os.makedirs(str(path), exist_ok=True)
    with open(os.path.join(str(path), 'Dockerfile'), 'w') as handle:
        handle.write('FROM %s\nCOPY hello /hello\nCMD ["cat", "/hello"]\n' % BASE_IMAGE)
    with open(os.path.join(str(path), 'hello'), 'w') as handle:
        handle.write(content + '\n')
    return str(path)


def local_image_exists(ref):
    return subprocess.run(['docker', 'image', 'inspect', ref], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0


def remove_local_images(host):
    """Remove every local tag of images named <host>/... (what the tests built, pushed or pulled)."""
    refs = subprocess.run(['docker', 'images', '--format', '{{.Repository}}:{{.Tag}}'], text=True,
                          stdout=subprocess.PIPE).stdout.split()
    mine = [ref for ref in refs if ref.startswith(host + '/')]
    if mine:
        subprocess.run(['docker', 'rmi', '-f'] + mine, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def unique_name(prefix):
    return '%s-%s' % (prefix, uuid.uuid4().hex[:8])
