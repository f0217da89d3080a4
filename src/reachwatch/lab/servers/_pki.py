"""A throwaway certificate authority: a trusted lab CA, an untrusted one, and leaf certificates."""

from __future__ import annotations

import datetime
import ipaddress
import re
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALIDITY = datetime.timedelta(days=30)

# hosts, untrusted, valid_from, valid_until: what makes two issued leaves the same.
_IssueKey = tuple[tuple[str, ...], bool, datetime.datetime | None, datetime.datetime | None]


@dataclass(frozen=True)
class CertPair:
    """A leaf certificate chain and its private key, as PEM files."""

    cert_file: Path
    key_file: Path
    hosts: tuple[str, ...]


@dataclass(frozen=True)
class _Authority:
    name: str
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate


def _new_authority(common_name: str) -> _Authority:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return _Authority(common_name, key, cert)


def _san(hosts: Sequence[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


class LabPki:
    """Two CAs in `directory`: `ca_file` (trusted by probes) and `untrusted_ca_file` (a censor's).

    `issue(hosts)` writes a leaf for those names (DNS names or IP addresses in the SAN);
    `server_context(hosts)` and `client_context()` build ready `ssl.SSLContext`s.
    """

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._trusted = _new_authority("reachwatch lab CA")
        self._untrusted = _new_authority("reachwatch censor CA (untrusted)")
        self.ca_file = self.directory / "ca.pem"
        self.untrusted_ca_file = self.directory / "untrusted-ca.pem"
        self.ca_file.write_bytes(_pem(self._trusted.cert))
        self.untrusted_ca_file.write_bytes(_pem(self._untrusted.cert))
        self._issued: dict[_IssueKey, CertPair] = {}

    def issue(
        self,
        hosts: Sequence[str],
        *,
        untrusted: bool = False,
        valid_from: datetime.datetime | None = None,
        valid_until: datetime.datetime | None = None,
    ) -> CertPair:
        """A leaf for `hosts` signed by the lab CA (or by the untrusted CA).

        `valid_from` / `valid_until` (aware datetimes) override the validity window, default an
        hour ago to 30 days ahead: a window in the past or the future is what a device with a
        wrong clock sees for every certificate.
        """
        if not hosts:
            raise ValueError("a certificate needs at least one host")
        key_id = (tuple(hosts), untrusted, valid_from, valid_until)
        if key_id in self._issued:
            return self._issued[key_id]
        authority = self._untrusted if untrusted else self._trusted
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        not_before = valid_from or now - datetime.timedelta(hours=1)
        not_after = valid_until or not_before + _VALIDITY
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
            .issuer_name(authority.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(_san(hosts), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(authority.key.public_key()),
                critical=False,
            )
            .sign(authority.key, hashes.SHA256())
        )
        stem = re.sub(r"[^A-Za-z0-9.-]", "_", hosts[0]) + f"-{len(self._issued)}"
        stem += "-untrusted" if untrusted else ""
        pair = CertPair(
            self.directory / f"{stem}.pem", self.directory / f"{stem}.key", tuple(hosts)
        )
        # Leaf only: servers do not send the root, so an unknown CA reads as "unable to get
        # local issuer certificate", as with a real censor's MITM certificate.
        pair.cert_file.write_bytes(_pem(cert))
        pair.key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        self._issued[key_id] = pair
        return pair

    def server_context(
        self,
        hosts: Sequence[str],
        *,
        untrusted: bool = False,
        alpn: Sequence[str] = (),
        valid_from: datetime.datetime | None = None,
        valid_until: datetime.datetime | None = None,
    ) -> ssl.SSLContext:
        """A server-side context presenting a leaf for `hosts` (validity as for `issue`)."""
        pair = self.issue(
            hosts, untrusted=untrusted, valid_from=valid_from, valid_until=valid_until
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(pair.cert_file, pair.key_file)
        if alpn:
            context.set_alpn_protocols(list(alpn))
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts only the lab CA."""
        return ssl.create_default_context(cafile=str(self.ca_file))
