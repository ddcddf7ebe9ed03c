"""The rig's own test certificate authority, for OCPP security profiles 2 and 3 on a bench.

Security profile 3 is TLS with a client certificate on both sides (OCPP 2.0.1 Part 2, A "Security",
security profiles; OCPP 1.6 Security Whitepaper edition 3, §2.1 security profiles): the central
system shows a server certificate the charging station trusts, the station shows one the central
system trusts, whose subject commonName is the station's identity.  A lab with no PKI of its own
still has to test that: this module makes a CA and the certificates it signs.  The only module of
the rig that imports `cryptography`.

The certificates are for tests: ECDSA P-256 keys (a key type 2.0.1's security profile allows),
unencrypted, valid for a year.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from core.errors import InvalidValue

VALID_DAYS = 365
ORGANISATION = "wallbox-rig test CA"


@dataclass(frozen=True)
class Issued:
    """A certificate and its key, as PEM files."""

    certfile: Path
    keyfile: Path


@dataclass(frozen=True)
class TestCa:
    """What `make_test_ca` wrote: the CA certificate (the trust anchor both sides load), the central
    system's server certificate and one client certificate per charge point identity."""

    __test__ = False   # not a pytest class, whatever its name
    cafile: Path
    server: Issued
    stations: dict[str, Issued]


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANISATION),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write(folder: Path, stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> Issued:
    certfile, keyfile = folder / f"{stem}.pem", folder / f"{stem}.key"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    keyfile.chmod(0o600)
    return Issued(certfile, keyfile)


def make_test_ca(folder: Path, identities: list[str], hosts: list[str]) -> TestCa:
    """Write a CA (`ca.pem`, `ca.key`), a server certificate for `hosts` (`csms.pem`: IP addresses and
    DNS names as subjectAltName) and a client certificate per charge point identity
    (`station-<id>.pem`, commonName = the identity) into `folder`."""
    if not hosts:
        raise InvalidValue("a server certificate needs at least one host (an IP address or a DNS name)")
    for identity in identities:
        if not identity or "/" in identity or len(identity) > 48:
            raise InvalidValue(f"charge point identity {identity!r}: 1…48 characters, no '/'")
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    until = now + datetime.timedelta(days=VALID_DAYS)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("wallbox-rig test root")
    ca_cert = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(until)
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                            content_commitment=False, key_encipherment=False, data_encipherment=False,
                                            key_agreement=False, encipher_only=False, decipher_only=False),
                              critical=True)
               .sign(ca_key, hashes.SHA256()))
    ca = _write(folder, "ca", ca_cert, ca_key)

    def issue(common_name: str, usage: x509.ObjectIdentifier, names: list[x509.GeneralName]
              ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (x509.CertificateBuilder().subject_name(_name(common_name)).issuer_name(ca_name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now).not_valid_after(until)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return builder.sign(ca_key, hashes.SHA256()), key

    def alt_name(host: str) -> x509.GeneralName:
        try:
            return x509.IPAddress(ipaddress.ip_address(host))
        except ValueError:
            return x509.DNSName(host)
    cert, key = issue(hosts[0], ExtendedKeyUsageOID.SERVER_AUTH, [alt_name(h) for h in hosts])
    server = _write(folder, "csms", cert, key)
    stations = {}
    for identity in identities:
        cert, key = issue(identity, ExtendedKeyUsageOID.CLIENT_AUTH, [])
        stations[identity] = _write(folder, f"station-{identity}", cert, key)
    return TestCa(ca.certfile, server, stations)


def peer_common_name(peercert: dict[str, object] | None) -> str | None:
    """The subject commonName of a certificate as `ssl.SSLSocket.getpeercert()` gives it."""
    if not peercert:
        return None
    for rdn in peercert.get("subject", ()):  # type: ignore[attr-defined]
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None
