#!/usr/bin/env python3
"""A Docker engine reached over TCP with TLS client certificates, as an AWX job reaches a remote build engine: here a
TLS front on 127.0.0.1 of the local engine's socket (no second engine can run here), requiring a client certificate
signed by its own CA, like `dockerd --tlsverify`.

    python -m shs_ee.docker_tls pki DIR             ca.pem, server.pem/server-key.pem, cert.pem/key.pem (the client)
    python -m shs_ee.docker_tls serve DIR --port N [--socket /var/run/docker.sock]
                                                 prints {"docker_host": "tcp://127.0.0.1:N"} once it listens

Bytes are passed through unchanged both ways (the Docker API over one TLS connection: builds, pushes, streams).
"""

import argparse
import asyncio
import datetime
import ipaddress
import json
import os
import ssl
import sys


def _name(common_name):
    from cryptography import x509
    from cryptography.x509.oid import NameOID
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write(path, data, mode=0o600):
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), 'wb') as handle:
        handle.write(data)


def pki(directory):
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate (EC P-256, 2 days)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID
    os.makedirs(directory, mode=0o700, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)

    def key_pem(key):
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())

    def issue(subject, key, issuer, issuer_key, ca=False, usage=None, sans=None):
        builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=2))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if usage:
            builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return builder.sign(issuer_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    _write(os.path.join(directory, 'ca.pem'), issue('docker-tls CA', ca_key, 'docker-tls CA', ca_key, ca=True), 0o644)
    server_key = ec.generate_private_key(ec.SECP256R1())
    _write(os.path.join(directory, 'server-key.pem'), key_pem(server_key))
    _write(os.path.join(directory, 'server.pem'),
           issue('127.0.0.1', server_key, 'docker-tls CA', ca_key, usage=ExtendedKeyUsageOID.SERVER_AUTH,
                 sans=[x509.IPAddress(ipaddress.ip_address('127.0.0.1')), x509.DNSName('localhost')]), 0o644)
    client_key = ec.generate_private_key(ec.SECP256R1())
    _write(os.path.join(directory, 'key.pem'), key_pem(client_key))
    _write(os.path.join(directory, 'cert.pem'),
           issue('awx-job', client_key, 'docker-tls CA', ca_key, usage=ExtendedKeyUsageOID.CLIENT_AUTH), 0o644)
    return directory


async def _pipe(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
        pass
    finally:
        try:
            writer.close()
        except (ConnectionError, ssl.SSLError):
            pass


async def _serve(directory, port, socket_path):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=os.path.join(directory, 'ca.pem'))
    context.verify_mode = ssl.CERT_REQUIRED  # no client certificate signed by the CA: no connection
    context.load_cert_chain(os.path.join(directory, 'server.pem'), os.path.join(directory, 'server-key.pem'))

    async def handle(client_reader, client_writer):
        try:
            engine_reader, engine_writer = await asyncio.open_unix_connection(socket_path)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(_pipe(client_reader, engine_writer), _pipe(engine_reader, client_writer))

    server = await asyncio.start_server(handle, '127.0.0.1', port, ssl=context)
    bound = server.sockets[0].getsockname()[1]
    print(json.dumps({'docker_host': 'tcp://127.0.0.1:%d' % bound}), flush=True)
    async with server:
        await server.serve_forever()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest='command', required=True)
    p_pki = sub.add_parser('pki')
    p_pki.add_argument('dir')
    p_serve = sub.add_parser('serve')
    p_serve.add_argument('dir')
    p_serve.add_argument('--port', type=int, default=0)
    p_serve.add_argument('--socket', default='/var/run/docker.sock')
    args = parser.parse_args(argv)
    if args.command == 'pki':
        print(pki(args.dir))
    else:
        try:
            asyncio.run(_serve(args.dir, args.port, args.socket))
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == '__main__':
    sys.exit(main())
