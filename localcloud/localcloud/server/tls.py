"""The state dir's own CA and the server certificate it signs (SAN DNS:localhost, IP:127.0.0.1).

Created once; later starts reuse them, so a client's copy of ca.pem stays valid across restarts.
"""

import datetime
import ipaddress
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_CERT = 'ca.pem'
CA_KEY = 'ca-key.pem'
SERVER_CERT = 'server.pem'
SERVER_KEY = 'server-key.pem'
VALID_DAYS = 3650


def write_private(path, data):
    """Write a file that only the owner may read (created 0600, never briefly wider)."""
    tmp = path + '.tmp'
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'wb') as handle:
        handle.write(data)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, 'localcloud'),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _create(state_dir):
    now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    until = now + datetime.timedelta(days=VALID_DAYS)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name('localcloud CA')
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now).not_valid_after(until)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, encipher_only=False,
                                       decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name('localhost')).issuer_name(ca_name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(until)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName('localhost'),
                                                        x509.IPAddress(ipaddress.ip_address('127.0.0.1'))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    write_private(os.path.join(state_dir, CA_KEY), _key_pem(ca_key))
    write_private(os.path.join(state_dir, SERVER_KEY), _key_pem(key))
    with open(os.path.join(state_dir, SERVER_CERT), 'wb') as handle:
        handle.write(cert.public_bytes(serialization.Encoding.PEM))
    # ca.pem last: its presence means the set is complete.
    with open(os.path.join(state_dir, CA_CERT), 'wb') as handle:
        handle.write(ca.public_bytes(serialization.Encoding.PEM))


def ensure(state_dir):
    """Return (server_key_pem, server_cert_pem), creating the CA and the certificate the first time."""
    if not os.path.exists(os.path.join(state_dir, CA_CERT)):
        _create(state_dir)
    with open(os.path.join(state_dir, SERVER_KEY), 'rb') as handle:
        key = handle.read()
    with open(os.path.join(state_dir, SERVER_CERT), 'rb') as handle:
        cert = handle.read()
    return key, cert
