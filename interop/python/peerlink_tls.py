"""Mutual TLS 1.3 for the Python peerlink peer (docs/PROTOCOL.md §2, §3.3), on
Debian's pyOpenSSL (python3-openssl): Python's own ssl module has no
keying-material exporter, pyOpenSSL has Connection.export_keying_material.

pyOpenSSL is driven through memory BIOs, so TLS runs inside asyncio: a
TlsStream wraps an asyncio (reader, writer) pair and offers the small part of
both interfaces the peer's Wire uses (read, write, write_eof, close, drain,
is_closing, can_write_eof, get_extra_info).
"""

from __future__ import annotations

import asyncio
import datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.x509.oid import NameOID
from OpenSSL import SSL, crypto
from OpenSSL._util import lib as _lib

import peerlink_core as core

#: ALPN protocol ids of peerlink (PROTOCOL.md §2).
ALPN, ALPN_CERT, DEFAULT_ALPNS = core.ALPN, core.ALPN_CERT, core.DEFAULT_ALPNS
_CHUNK = 64 << 10


class TlsFailed(Exception):
    """The TLS handshake failed: an alert, a wrong ALPN, or the peer closed during it."""


def self_signed_certificate(private_key: Ed25519PrivateKey) -> x509.Certificate:
    """A self-signed certificate for the identity key. Its key is the identity key,
    so under ALPN peerlink/1+cert the certificate itself proves the identity (§3.3);
    nothing else about it is checked."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "peerlink-python")])
    now = datetime.datetime.now(datetime.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .sign(private_key, None)
    )


def certificate_key(cert: x509.Certificate | None) -> bytes | None:
    """The raw 32-byte Ed25519 subject public key of a certificate; None if it is not Ed25519."""
    if cert is None:
        return None
    key = cert.public_key()
    if not isinstance(key, Ed25519PublicKey):
        return None
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def make_context(identity: core.Identity, server: bool, alpn: bool = True,
                 alpns: tuple[bytes, ...] = DEFAULT_ALPNS, cert_identity: core.Identity | None = None) -> SSL.Context:
    """A TLS 1.3-only context presenting the identity's certificate, requiring
    the peer's (mutual TLS). A client offers `alpns` in order; a server selects
    the first of `alpns` the client offered (its preference: peerlink/1+cert
    first, §2). One context serves every connection of a process: a listener's
    session tickets are keyed by it, so resumption needs the same context each
    time. `alpn=False` offers none (a misbehaving client, for conformance tests);
    `cert_identity` presents a certificate for another key."""
    ctx = SSL.Context(SSL.TLS_METHOD)
    ctx.set_min_proto_version(SSL.TLS1_3_VERSION)
    ctx.set_max_proto_version(SSL.TLS1_3_VERSION)
    key = (cert_identity or identity)._private  # noqa: SLF001 - the same key signs the Hello
    ctx.use_certificate(crypto.X509.from_cryptography(self_signed_certificate(key)))
    ctx.use_privatekey(crypto.PKey.from_cryptography_key(key))
    # Any certificate is accepted; its presence is required (VERIFY_FAIL_IF_NO_PEER_CERT).
    ctx.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, lambda *_: True)
    if server:
        # Tickets are bound to this id; OpenSSL refuses to resume without one when it verifies peers.
        ctx.set_session_id(b"peerlink-python")
        ctx.set_alpn_select_callback(
            lambda _conn, offered: next((p for p in alpns if p in offered), SSL.NO_OVERLAPPING_PROTOCOLS))
    elif alpn:
        ctx.set_alpn_protos(list(alpns))
    return ctx


class TlsStream:
    """One TLS connection over an asyncio stream pair (memory BIOs)."""

    def __init__(self, ctx: SSL.Context, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 server: bool, session: SSL.Session | None = None, require_alpn: bool = True) -> None:
        self.reader, self.writer = reader, writer
        self.ssl = SSL.Connection(ctx, None)
        if server:
            self.ssl.set_accept_state()
        else:
            self.ssl.set_connect_state()
            if session is not None:
                self.ssl.set_session(session)
        self._eof = False
        self._require_alpn = require_alpn
        self.received = 0  # bytes read from the socket
        self._received_at_secure = 0
        #: The peer certificate's Ed25519 key for the binding check (§3.3); the node sets it.
        self.peer_cert_key: bytes | None = None

    # -- plumbing -------------------------------------------------------------

    def _flush(self) -> None:
        """Moves what OpenSSL wrote into the memory BIO to the socket."""
        while True:
            try:
                chunk = self.ssl.bio_read(_CHUNK)
            except SSL.WantReadError:
                return
            if not chunk:
                return
            if not self.writer.is_closing():
                self.writer.write(chunk)

    async def _fill(self) -> bool:
        """Feeds the next bytes from the socket to OpenSSL; False at EOF."""
        if self._eof:
            return False
        try:
            data = await self.reader.read(_CHUNK)
        except ConnectionError:
            data = b""
        if not data:
            self._eof = True
            self.ssl.bio_shutdown()
            return False
        self.received += len(data)
        self.ssl.bio_write(data)
        return True

    async def handshake(self) -> None:
        """Runs the TLS handshake; raises TlsFailed."""
        while True:
            try:
                self.ssl.do_handshake()
                break
            except SSL.WantReadError:
                self._flush()
                if not await self._fill():
                    raise TlsFailed("the peer closed during the TLS handshake") from None
            except SSL.Error as e:
                self._flush()  # the alert, if any
                raise TlsFailed(f"TLS handshake failed: {e}") from None
        self._flush()
        self._received_at_secure = self.received
        if self._require_alpn and self.alpn not in (ALPN_CERT, ALPN):
            # TLS is finished: a close_notify before the close tells a dialer it was judged, not dropped (§8.1).
            self.write_eof()
            raise TlsFailed("the peer negotiated neither ALPN peerlink/1+cert nor peerlink/1")

    @property
    def alpn(self) -> bytes | None:
        """The negotiated ALPN id (None if none)."""
        return self.ssl.get_alpn_proto_negotiated() or None

    @property
    def received_since_secure(self) -> int:
        """Bytes received since this side's TLS handshake finished (§8.1)."""
        return self.received - self._received_at_secure

    def peer_certificate_key(self) -> bytes | None:
        """The Ed25519 key of the certificate OpenSSL reports for the peer (None if none)."""
        cert = self.ssl.get_peer_certificate()
        return certificate_key(cert.to_cryptography() if cert is not None else None)

    def exporter(self) -> bytes:
        """The RFC 9266 tls-exporter value of this connection (§3.3)."""
        return self.ssl.export_keying_material(core.TLS_EXPORTER_LABEL, core.TLS_EXPORTER_LENGTH)

    @property
    def session_reused(self) -> bool:
        """Whether this handshake resumed an earlier session."""
        return bool(_lib.SSL_session_reused(self.ssl._ssl))  # noqa: SLF001 - not wrapped by pyOpenSSL 23

    # -- the StreamReader side ------------------------------------------------

    async def read(self, n: int = -1) -> bytes:
        """Up to n bytes of plaintext; b"" once the peer closed (close_notify or EOF).
        Raises ConnectionError on a TLS alert or a broken record."""
        size = _CHUNK if n is None or n < 0 else n
        while True:
            try:
                data = self.ssl.recv(size)
                self._flush()
                return data
            except SSL.WantReadError:
                self._flush()
                if not await self._fill():
                    continue  # OpenSSL now reports the EOF itself (ZeroReturn or SysCallError)
            except SSL.ZeroReturnError:
                return b""
            except SSL.SysCallError:
                return b""  # EOF without close_notify: the transport ended
            except SSL.Error as e:
                self._flush()
                raise ConnectionResetError(f"TLS: {e}") from None

    # -- the StreamWriter side ------------------------------------------------

    def write(self, data: bytes) -> None:
        if self.writer.is_closing():
            return
        self.ssl.sendall(data)
        self._flush()

    def write_eof(self) -> None:
        """close_notify, then the TCP half-close (§8: both)."""
        try:
            self.ssl.shutdown()
        except SSL.Error:
            pass
        self._flush()
        if self.writer.can_write_eof():
            self.writer.write_eof()

    def can_write_eof(self) -> bool:
        return self.writer.can_write_eof()

    def is_closing(self) -> bool:
        return self.writer.is_closing()

    def close(self) -> None:
        self.writer.close()

    async def drain(self) -> None:
        await self.writer.drain()

    def get_extra_info(self, name: str, default=None):
        return self.writer.get_extra_info(name, default)
