"""What the listener tests send with: TLS certificates made on the spot, an rsyslogd of the
test's own, and a hand-built Forward client (handshake, chunks, acks)."""

from __future__ import annotations

import datetime
import hashlib
import shutil
import socket
import subprocess
import time
from pathlib import Path

import msgpack
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _certificate(subject: str, key: ec.EllipticCurvePrivateKey, issuer: str,
                 issuer_key: ec.EllipticCurvePrivateKey, *, ca: bool) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> None:
    path.with_suffix(".key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption()))
    path.with_suffix(".pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def make_pki(directory: Path) -> dict[str, Path]:
    """A CA, a server certificate for localhost, a client certificate the CA signed, and a
    client certificate from another CA; PEM files, keys beside them."""
    files: dict[str, Path] = {}
    for ca_name in ("ca", "rogue-ca"):
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = _certificate(ca_name, ca_key, ca_name, ca_key, ca=True)
        _write(directory / ca_name, ca_key, ca_cert)
        files[ca_name] = directory / f"{ca_name}.pem"
        for leaf in (("server", "client") if ca_name == "ca" else ("rogue-client",)):
            key = ec.generate_private_key(ec.SECP256R1())
            _write(directory / leaf, key,
                   _certificate("localhost" if leaf == "server" else leaf, key, ca_name,
                                ca_key, ca=False))
            files[leaf] = directory / f"{leaf}.pem"
            files[f"{leaf}-key"] = directory / f"{leaf}.key"
    return files


class Rsyslog:
    """Debian's rsyslogd with a configuration of the test's own: it reads messages from a
    socket of its own (imuxsock) and forwards them with omfwd."""

    def __init__(self, directory: Path, action: str, globals_: str = "") -> None:
        self.directory = directory
        self.socket = directory / "log.sock"
        conf = directory / "rsyslog.conf"
        conf.write_text(
            f'global(workDirectory="{directory}" {globals_})\n'
            'module(load="imuxsock" SysSock.Use="off")\n'
            f'input(type="imuxsock" Socket="{self.socket}" CreatePath="on")\n'
            f"{action}\n")
        self.process = subprocess.Popen(
            ["rsyslogd", "-n", "-f", str(conf), "-i", str(directory / "rsyslog.pid")],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while not self.socket.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                output = self.process.stdout.read().decode() if self.process.stdout else ""
                raise AssertionError(f"rsyslogd did not start: {output}")
            time.sleep(0.05)

    def log(self, message: str) -> None:
        """Send as glibc's syslog() does: priority, timestamp, tag, message."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as client:
            client.sendto(message.encode(), str(self.socket))

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def need_rsyslog(tls: bool = False) -> None:
    """Skip, naming what is missing, where Debian's rsyslog (and its TLS driver) is not here."""
    if shutil.which("rsyslogd") is None:
        pytest.skip("rsyslogd is not installed (Debian package rsyslog)")
    if tls and not any(Path(p).exists() for p in (
            "/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so",
            "/usr/lib/aarch64-linux-gnu/rsyslog/lmnsd_gtls.so")):
        pytest.skip("rsyslog's TLS driver is not installed (Debian package rsyslog-gnutls)")


class ForwardClient:
    """A Forward-protocol client written from the protocol specification."""

    def __init__(self, address: tuple[str, int], shared_key: str | None = None,
                 hostname: str = "agent-1") -> None:
        self.sock = socket.create_connection(address, timeout=5)
        self.unpacker = msgpack.Unpacker(raw=False)
        self.pong: list[object] | None = None
        if shared_key is not None:
            helo = self.read()
            nonce = helo[1]["nonce"]
            salt = b"pepper"
            digest = hashlib.sha512(salt + hostname.encode() + nonce + shared_key.encode())
            self.send(["PING", hostname, salt, digest.hexdigest(), "", ""])
            self.pong = self.read()

    def send(self, message: object) -> None:
        self.sock.sendall(msgpack.packb(message, use_bin_type=True))

    def read(self, timeout: float = 5) -> object:
        self.sock.settimeout(timeout)
        while True:
            for item in self.unpacker:
                return item
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed by the server")
            self.unpacker.feed(data)

    def close(self) -> None:
        self.sock.close()
