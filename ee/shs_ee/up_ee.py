#!/usr/bin/env python3
"""make up-ee: the deployment brought up by AWX-style jobs in the EE (shs_ee.awx_job), against a localcloud of its own
(not make up's: state .run/ee/localcloud, API 127.0.0.1:19151, the LB on 127.0.0.1:18443 and :18080, prefix shsee).

    python -m shs_ee.up_ee          EE image, localcloud, the images job (Docker engine credential: a TLS front of
                                    the local engine, shs_ee.docker_tls), the deploy job (no engine), then a second
                                    deploy job (changed=0)
    python -m shs_ee.up_ee --down   the destroy job (with its confirmation), then localcloud stopped

Secrets (database password, the LB's self-signed pair) are made once into .run/ee/secrets (0600), as an operator
would put them into the "SHS deployment secrets" credential once.
"""

import argparse
import json
import os
import re
import secrets
import subprocess
import sys
import time

from shs_ee import awx_job, build

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # ee/shs_ee/ -> the repo
RUN = os.path.join(ROOT, '.run', 'ee')
STATE = os.path.join(RUN, 'localcloud')
SECRETS = os.path.join(RUN, 'secrets')
PREFIX = 'shsee'
EXTRA_VARS = dict(shs_prefix=PREFIX, shs_nlb_https_port=18443, shs_nlb_http_port=18080,
                  shs_public_url='https://127.0.0.1:18443', shs_subnet_cidr='10.133.0.0/24', shs_db_scale='small')


def localcloud():
    done = subprocess.run([sys.executable, '-m', 'localcloud', 'serve', '--daemon', '--state-dir', STATE, '--listen',
                           '127.0.0.1:19151'], text=True, capture_output=True, timeout=60)
    if done.returncode != 0:
        raise SystemExit('localcloud did not start: ' + done.stdout + done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def deployment_secrets():
    os.makedirs(SECRETS, mode=0o700, exist_ok=True)
    password = os.path.join(SECRETS, 'db_password')
    if not os.path.exists(password):
        with open(os.open(password, os.O_WRONLY | os.O_CREAT, 0o600), 'w') as handle:
            handle.write(secrets.token_urlsafe(18))
    key, crt = os.path.join(SECRETS, 'tls.key'), os.path.join(SECRETS, 'tls.crt')
    if not os.path.exists(crt):
        subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
                        '-days', '365', '-subj', '/CN=127.0.0.1', '-keyout', key, '-out', crt],
                       check=True, capture_output=True)
        os.chmod(key, 0o600)
    return {'type': 'SHS deployment secrets', 'inputs': {
        'db_password': open(password).read(), 'tls_certificate': open(crt).read(), 'tls_private_key': open(key).read()}}


def yandex(info):
    with open(info['sa_key_file']) as key, open(info['ca']) as ca:
        return {'type': 'Yandex Cloud', 'inputs': {
            'service_account_key': key.read(), 'folder_id': info['folder_id'], 'cloud_id': info['cloud_id'],
            'endpoint': info['endpoint'], 'registry_host': info['registry'], 'ca_bundle': ca.read()}}


def job(name, playbook, credentials, image, **more):
    started = time.monotonic()
    runner, private_data_dir = awx_job.run_job(playbook, credentials, dict(EXTRA_VARS, **more), image=image,
                                               private_data_dir=os.path.join(RUN, 'jobs', '%s-%d' % (name, time.time())))
    stdout = re.sub(r'\x1b\[[0-9;]*m', '', runner.stdout.read())
    recap = re.findall(r'localhost\s+: (ok=.*)', stdout)
    print('==> %s job (%s): %s in %.0f s, %s; artifacts %s' % (name, playbook, runner.status, time.monotonic() - started,
                                                                recap[-1] if recap else '-', private_data_dir), flush=True)
    if runner.rc != 0:
        raise SystemExit(stdout[-6000:])
    return stdout


def up():
    image = build.build()
    info = localcloud()
    pki = os.path.join(RUN, 'docker-pki')
    if not os.path.exists(os.path.join(pki, 'cert.pem')):
        subprocess.run([sys.executable, '-m', 'shs_ee.docker_tls', 'pki', pki], check=True,
                       capture_output=True)
    front = subprocess.Popen([sys.executable, '-m', 'shs_ee.docker_tls', 'serve', pki],
                             stdout=subprocess.PIPE, text=True)
    try:
        docker_host = json.loads(front.stdout.readline())['docker_host']
        engine = {'type': 'Docker engine (TLS)', 'inputs': {
            'host': docker_host, 'ca_certificate': open(os.path.join(pki, 'ca.pem')).read(),
            'client_certificate': open(os.path.join(pki, 'cert.pem')).read(),
            'client_key': open(os.path.join(pki, 'key.pem')).read()}}
        job('images', 'playbooks/awx_images.yml', [yandex(info), engine], image)
    finally:
        front.terminate()
        front.wait(10)
    job('deploy', 'site.yml', [yandex(info), deployment_secrets()], image)
    job('deploy-again', 'site.yml', [yandex(info), deployment_secrets()], image)
    print('SHS is served at https://127.0.0.1:18443 (curl -k https://127.0.0.1:18443/ping)')


def down():
    if not os.path.exists(os.path.join(STATE, 'state.sqlite')):
        print('nothing to remove (no localcloud state in %s)' % STATE)
        return
    image = build.build()
    info = localcloud()
    job('destroy', 'playbooks/awx_destroy.yml', [yandex(info)], image, shs_destroy_confirm=PREFIX)
    subprocess.run([sys.executable, '-m', 'localcloud', 'stop', '--state-dir', STATE], check=True, capture_output=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--down', action='store_true', help='remove the deployment and stop localcloud')
    args = parser.parse_args(argv)
    down() if args.down else up()
    return 0


if __name__ == '__main__':
    sys.exit(main())
