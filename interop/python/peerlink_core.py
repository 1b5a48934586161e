"""The sans-IO half of the Python peerlink peer: framing, identity, proofs,
Hello validation and negotiation, written from docs/PROTOCOL.md and the
.proto schemas alone. Nothing here touches a socket or a clock; the asyncio
adapter is peerlink_peer.py.

Needs Debian's python3-protobuf (4.21) and python3-cryptography (38+).
"""

from __future__ import annotations

import base64
import hashlib
import os
import sys
from dataclasses import dataclass, field

sys.dont_write_bytecode = True  # keep pb/ byte-identical to what generate.sh writes
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "pb"))

from cryptography.exceptions import InvalidSignature  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import (  # noqa: E402
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from google.protobuf.message import DecodeError  # noqa: E402

from peerlink.v1 import frame_pb2, goodbye_pb2, handshake_pb2  # noqa: E402

Frame = frame_pb2.Frame
GoodbyeReason = goodbye_pb2.GoodbyeReason

# ---------------------------------------------------------------------------
# §1 Framing
# ---------------------------------------------------------------------------

#: Default maximum Frame body size: 1 MiB.
DEFAULT_MAX_FRAME_SIZE = 1 << 20
#: Longest allowed LEB128 length prefix (a 32-bit value).
MAX_PREFIX_BYTES = 5


class FramingError(Exception):
    """A malformed prefix, an oversized length or a body that is not a Frame (§1)."""

    code = "MALFORMED_FRAME"  # the peerlink ErrorCode name


class FrameTooLarge(FramingError):
    """A length prefix above the maximum frame size; none of the body was kept."""

    code = "FRAME_TOO_LARGE"


def encode_prefix(n: int) -> bytes:
    """The shortest unsigned LEB128 encoding of n (0 <= n < 2**32)."""
    if not 0 <= n < 1 << 32:
        raise ValueError(f"frame length {n} does not fit in 32 bits")
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def decode_prefix(buf: bytes | bytearray, start: int = 0) -> tuple[int, int] | None:
    """Reads a length prefix at buf[start:]: (value, prefix length), or None
    when more bytes are needed. Raises FramingError for a prefix longer than
    5 bytes, above 32 bits or overlong (not the shortest encoding)."""
    value = 0
    for i in range(MAX_PREFIX_BYTES):
        if start + i >= len(buf):
            return None
        b = buf[start + i]
        if i == MAX_PREFIX_BYTES - 1 and b > 0x0F:
            raise FramingError("malformed length prefix: value exceeds 32 bits")
        value |= (b & 0x7F) << (7 * i)
        if b & 0x80 == 0:
            if i > 0 and b == 0:
                raise FramingError("malformed length prefix: overlong encoding")
            return value, i + 1
    raise FramingError(f"malformed length prefix: longer than {MAX_PREFIX_BYTES} bytes")


def frame_bytes(body: bytes) -> bytes:
    """body preceded by its length prefix: what goes on the wire."""
    return encode_prefix(len(body)) + body


class FrameDecoder:
    """Splits a byte stream into Frame bodies. The length is checked against
    the maximum frame size as soon as the prefix is complete, before any of
    the body is kept. Feed it chunks of any size."""

    def __init__(self, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        self.max_frame_size = max_frame_size
        self._buf = bytearray()
        self._failed = False

    def feed(self, chunk: bytes) -> list[bytes]:
        """Adds chunk and returns every complete body, in order; raises FramingError."""
        if self._failed:
            raise FramingError("decoder already failed")
        self._buf += chunk
        bodies: list[bytes] = []
        pos = 0
        try:
            while True:
                prefix = decode_prefix(self._buf, pos)
                if prefix is None:
                    break
                length, used = prefix
                if length > self.max_frame_size:
                    raise FrameTooLarge(f"frame of {length} bytes exceeds the maximum of {self.max_frame_size}")
                if len(self._buf) - pos - used < length:
                    break
                bodies.append(bytes(self._buf[pos + used : pos + used + length]))
                pos += used + length
        except FramingError:
            self._failed = True
            self._buf.clear()
            raise
        del self._buf[:pos]
        return bodies

    @property
    def buffered(self) -> int:
        """Bytes of an incomplete frame held (non-zero at EOF means a truncated frame)."""
        return len(self._buf)


def parse_frame(body: bytes) -> Frame:
    """Decodes a Frame body; raises FramingError when it is not valid protobuf."""
    frame = Frame()
    try:
        frame.MergeFromString(body)
    except (DecodeError, RuntimeError, ValueError) as e:
        raise FramingError(f"frame body is not a valid peerlink.v1.Frame: {e}") from e
    return frame


def kind_of(frame: Frame, body: bytes) -> str:
    """The frame's kind as named in frame.proto; "unknown" for a kind this
    peer does not know (only unknown fields) and "empty" for no kind at all."""
    kind = frame.WhichOneof("kind")
    if kind is not None:
        return kind
    return "unknown" if len(body) > 0 else "empty"


def encode_frame(**kind) -> bytes:
    """Encodes a Frame with one kind set, e.g. encode_frame(ping=Ping(nonce=1))."""
    return Frame(**kind).SerializeToString()


def goodbye_frame(reason: int, detail: str = "", retry_after_ms: int = 0) -> bytes:
    """The body of a Goodbye frame."""
    return encode_frame(goodbye=goodbye_pb2.Goodbye(reason=reason, detail=detail, retry_after_ms=retry_after_ms))


# The reason reported when a connection ends without the peer's Goodbye (a crash,
# a reset, an EOF). It names the reason in the shared table and is never sent (§8).
CONNECTION_LOST = "CONNECTION_LOST"


def reason_name(reason: int) -> str:
    """NORMAL for GOODBYE_REASON_NORMAL. Unknown values read as NORMAL (§8), and
    so does CONNECTION_LOST, which a Goodbye never carries: the peer did say goodbye."""
    try:
        name = GoodbyeReason.Name(reason)
    except ValueError:
        return "NORMAL"
    if reason in (GoodbyeReason.GOODBYE_REASON_CONNECTION_LOST, GoodbyeReason.GOODBYE_REASON_UNSPECIFIED):
        return "NORMAL"  # §8: UNSPECIFIED is treated as NORMAL; CONNECTION_LOST is never sent (§8.1)
    return name.removeprefix("GOODBYE_REASON_")


def parse_reason(name: str) -> int:
    """GoodbyeReason value for "RATE_LIMITED" (or the full enum name) to send; raises
    ValueError for an unknown name and for CONNECTION_LOST, which is never sent (§8)."""
    full = name if name.startswith("GOODBYE_REASON_") else "GOODBYE_REASON_" + name.upper()
    if full == "GOODBYE_REASON_" + CONNECTION_LOST:
        raise ValueError("CONNECTION_LOST is never sent in a Goodbye")
    return GoodbyeReason.Value(full)


# ---------------------------------------------------------------------------
# §2 Identity
# ---------------------------------------------------------------------------

KEY_TYPE_ED25519 = handshake_pb2.KEY_TYPE_ED25519
PEER_ID_LENGTH = 32
PEER_ID_TEXT_LENGTH = 52
_B32_ALPHABET = set("abcdefghijklmnopqrstuvwxyz234567")


def peer_id_of(public_key: bytes) -> bytes:
    """SHA-256(0x01 ‖ raw 32-byte Ed25519 public key)."""
    return hashlib.sha256(bytes([KEY_TYPE_ED25519]) + public_key).digest()


def peer_id_text(peer_id: bytes) -> str:
    """Lowercase unpadded RFC 4648 base32 (52 characters for 32 bytes)."""
    return base64.b32encode(peer_id).decode("ascii").lower().rstrip("=")


def parse_peer_id(text: str) -> bytes:
    """The 32 bytes of a printed peer id; raises ValueError on anything else."""
    if len(text) != PEER_ID_TEXT_LENGTH or not set(text) <= _B32_ALPHABET:
        raise ValueError(f"not a peer id (52 lowercase base32 characters): {text!r}")
    raw = base64.b32decode(text.upper() + "====")
    if len(raw) != PEER_ID_LENGTH or peer_id_text(raw) != text:
        raise ValueError(f"not a canonical peer id: {text!r}")
    return raw


# Ed25519 encodings of points of small order (libsodium's list). A key matches one when bytes 0..30 are equal and
# byte 31 is equal without its sign bit, so the seven stand for 14 encodings.
SMALL_ORDER_KEYS = tuple(
    bytes.fromhex(h)
    for h in (
        "0000000000000000000000000000000000000000000000000000000000000000",  # order 4
        "0100000000000000000000000000000000000000000000000000000000000000",  # order 1 (the neutral point)
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",  # order 8
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",  # order 8
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # order 2 (y = p - 1)
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # order 4, non-canonical (y = p)
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # order 1, non-canonical (y = p + 1)
    )
)


def is_small_order_key(public_key: bytes) -> bool:
    """True for the 14 small-order encodings (§2): a fixed signature verifies for such a key, so it proves nothing."""
    if len(public_key) != 32:
        return False
    return any(public_key[:31] == bad[:31] and public_key[31] & 0x7F == bad[31] for bad in SMALL_ORDER_KEYS)


class Identity:
    """An Ed25519 key pair and its peer id."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private = private_key
        self.public_key = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.peer_id = peer_id_of(self.public_key)

    @classmethod
    def generate(cls) -> Identity:
        """A fresh random identity."""
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def load(cls, path: str) -> Identity:
        """Loads a PKCS#8 PEM Ed25519 key (what peerlink's Identity.save writes)."""
        with open(path, "rb") as f:
            key = serialization.load_pem_private_key(f.read(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path}: not an Ed25519 private key")
        return cls(key)

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of message."""
        return self._private.sign(message)


def verify(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """Whether signature is a valid Ed25519 signature of message by public_key."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


# ---------------------------------------------------------------------------
# §3.3 Identity proofs (nonce transcript without TLS, tls-exporter with TLS)
# ---------------------------------------------------------------------------

ROLE_DIALER = 0x01
ROLE_LISTENER = 0x02
NONCE_BINDING_LABEL = b"peerlink-v1-nonce-binding"  # 25 bytes


def other_role(role: int) -> int:
    """The peer's role byte."""
    return ROLE_LISTENER if role == ROLE_DIALER else ROLE_DIALER


def nonce_proof_message(signer: int, dialer_hello_body: bytes, listener_hello_body: bytes) -> bytes:
    """What Auth.proof signs: label ‖ role ‖ SHA-256(dialer Hello body) ‖ SHA-256(listener Hello body)."""
    return (
        NONCE_BINDING_LABEL
        + bytes([signer])
        + hashlib.sha256(dialer_hello_body).digest()
        + hashlib.sha256(listener_hello_body).digest()
    )


TLS_BINDING_LABEL = b"peerlink-v1-tls-binding"  # 23 bytes
#: RFC 9266 tls-exporter: label, empty context, 32 bytes (§3.3).
TLS_EXPORTER_LABEL = b"EXPORTER-Channel-Binding"
TLS_EXPORTER_LENGTH = 32


def tls_proof_message(signer: int, exporter: bytes) -> bytes:
    """What Hello.proof signs over TLS: label ‖ role ‖ the 32-byte tls-exporter value."""
    return TLS_BINDING_LABEL + bytes([signer]) + exporter


#: TLS ALPN ids (§2): under ALPN_CERT a Hello may rely on the sender's certificate
#: (CHANNEL_BINDING_TLS_CERTIFICATE); under ALPN every Hello carries a signed proof.
ALPN = b"peerlink/1"
ALPN_CERT = b"peerlink/1+cert"
#: What a client offers, in order, and a server accepts, in order of preference.
DEFAULT_ALPNS = (ALPN_CERT, ALPN)

BINDING_TLS_EXPORTER = handshake_pb2.CHANNEL_BINDING_TLS_EXPORTER
BINDING_TLS_CERTIFICATE = handshake_pb2.CHANNEL_BINDING_TLS_CERTIFICATE
BINDING_NONCES = handshake_pb2.CHANNEL_BINDING_NONCES


def binding_name(binding: int) -> str:
    """TLS_CERTIFICATE for CHANNEL_BINDING_TLS_CERTIFICATE; the number for an unknown value."""
    try:
        return handshake_pb2.ChannelBinding.Name(binding).removeprefix("CHANNEL_BINDING_")
    except ValueError:
        return str(binding)


def parse_binding(name: str) -> int:
    """The ChannelBinding value of "TLS_CERTIFICATE" (or the full enum name); ValueError if unknown."""
    full = name if name.startswith("CHANNEL_BINDING_") else "CHANNEL_BINDING_" + name.upper()
    if full == "CHANNEL_BINDING_UNSPECIFIED":
        raise ValueError("--binding: UNSPECIFIED is no binding")
    return handshake_pb2.ChannelBinding.Value(full)


def own_tls_binding(alpn: bytes | None, cert_key: bytes | None, identity_key: bytes) -> int:
    """The binding of the own Hello over TLS (§3.3): the certificate binding under
    peerlink/1+cert when the own certificate's Ed25519 key is the identity key,
    else the tls-exporter proof."""
    if alpn == ALPN_CERT and cert_key is not None and cert_key == identity_key:
        return BINDING_TLS_CERTIFICATE
    return BINDING_TLS_EXPORTER


def check_tls_binding(remote: handshake_pb2.Hello, alpn: bytes | None, peer_cert_key: bytes | None,
                      expected_proof_message: bytes) -> Rejection | None:
    """§3.3 on a TLS connection: a tls-exporter proof over `expected_proof_message`
    (under either ALPN), or the certificate binding, only under peerlink/1+cert, with
    an empty proof and the peer's certificate key (`peer_cert_key`: of this
    connection, or on a resumed session of the handshake that issued the ticket)
    equal to Hello.public_key. None when it holds."""
    def auth_failed(detail: str) -> Rejection:
        return Rejection(GoodbyeReason.GOODBYE_REASON_AUTHENTICATION_FAILED, "AUTHENTICATION_FAILED", detail)

    if remote.binding == BINDING_TLS_EXPORTER:
        if not verify(remote.public_key, remote.proof, expected_proof_message):
            return auth_failed("tls-exporter proof does not verify")
        return None
    if remote.binding == BINDING_TLS_CERTIFICATE:
        if alpn != ALPN_CERT:
            return auth_failed(f"certificate binding under ALPN {alpn!r}")
        if remote.proof:
            return _violation(f"certificate binding with a {len(remote.proof)}-byte proof (must be empty)")
        if peer_cert_key is None or peer_cert_key != remote.public_key:
            return auth_failed("certificate binding: the peer's TLS certificate key is not its Hello key")
        return None
    return auth_failed(f"binding {binding_name(remote.binding)} on a TLS connection")


def early_close_code(tls: bool, role: int, received_since_secure: int) -> str:
    """The ErrorCode of a transport that ended before the peer's Hello (§8.1): inside
    TLS that is how a rejected certificate looks (AUTHENTICATION_FAILED), except for a
    dialer that received nothing after its own TLS Finished: the listener dropped a
    pending connection before finishing its side of TLS, without judging it (one that
    judged it has sent its session tickets, an alert or a close_notify since)."""
    if not tls or (role == ROLE_DIALER and received_since_secure == 0):
        return "CONNECTION_CLOSED"
    return "AUTHENTICATION_FAILED"


# ---------------------------------------------------------------------------
# §3.2 Hello validation
# ---------------------------------------------------------------------------

MAX_LIST_ENTRIES = 256


@dataclass
class Rejection:
    """A failed handshake check: the Goodbye reason to send, the peerlink
    ErrorCode name to report, and a detail for logs."""

    reason: int
    code: str
    detail: str


def _violation(detail: str) -> Rejection:
    return Rejection(GoodbyeReason.GOODBYE_REASON_PROTOCOL_VIOLATION, "PROTOCOL_VIOLATION", detail)


def validate_hello(hello: handshake_pb2.Hello, receiver_role: int) -> Rejection | None:
    """Applies every §3.2 rule to the peer's Hello; None when it passes."""
    if hello.key_type != KEY_TYPE_ED25519:
        return _violation(f"unsupported key type {hello.key_type}")
    for name, size in (("public_key", len(hello.public_key)), ("peer_id", len(hello.peer_id)), ("nonce", len(hello.nonce))):
        if size != 32:
            return _violation(f"Hello.{name} is {size} bytes, want 32")
    if not 1 <= hello.min_version <= hello.max_version:
        return _violation(f"bad version range {hello.min_version}..{hello.max_version}")
    for name in ("protocols", "capabilities", "listen_addrs"):
        if len(getattr(hello, name)) > MAX_LIST_ENTRIES:
            return _violation(f"more than {MAX_LIST_ENTRIES} entries in Hello.{name}")
    names: set[str] = set()
    aliases: set[int] = set()
    for p in hello.protocols:
        size = len(p.name.encode("utf-8"))
        if not 1 <= size <= 128 or p.name in names or p.alias in aliases:
            return _violation(f"protocol {p.name!r} (alias {p.alias}): bad size or duplicate name or alias")
        if len(p.versions) > MAX_LIST_ENTRIES:
            return _violation(f"protocol {p.name!r} lists more than {MAX_LIST_ENTRIES} versions")
        names.add(p.name)
        aliases.add(p.alias)
    cap_names: set[str] = set()
    for c in hello.capabilities:
        if not 1 <= len(c.name.encode("utf-8")) <= 64 or c.name in cap_names:
            return _violation(f"capability {c.name!r}: bad size or duplicate name")
        cap_names.add(c.name)
    if receiver_role == ROLE_DIALER and hello.early_data:
        return _violation("a listener's Hello set early_data")
    if peer_id_of(hello.public_key) != hello.peer_id:
        return Rejection(
            GoodbyeReason.GOODBYE_REASON_AUTHENTICATION_FAILED,
            "AUTHENTICATION_FAILED",
            "Hello.peer_id is not SHA-256(key_type || public_key)",
        )
    if is_small_order_key(hello.public_key):
        return Rejection(
            GoodbyeReason.GOODBYE_REASON_AUTHENTICATION_FAILED,
            "AUTHENTICATION_FAILED",
            "Hello.public_key has small order: a fixed signature verifies for it",
        )
    return None


# ---------------------------------------------------------------------------
# §3.4 Negotiation
# ---------------------------------------------------------------------------


@dataclass
class Agreement:
    """What both sides agreed: wire version, capabilities at the lower
    version and protocols at the highest common version (sorted by name),
    each protocol with the alias of each side."""

    version: int
    capabilities: list[dict] = field(default_factory=list)
    protocols: list[dict] = field(default_factory=list)


def highest_common_version(a, b) -> int | None:
    """The largest version in both lists, or None."""
    common = set(a) & set(b)
    return max(common) if common else None


def negotiate(local: handshake_pb2.Hello, remote: handshake_pb2.Hello) -> Agreement | Rejection:
    """§3.4 checks 3–5 (version, required capabilities, protocols)."""
    incompatible = GoodbyeReason.GOODBYE_REASON_INCOMPATIBLE_VERSION
    agreed = min(local.max_version, remote.max_version)
    if agreed < max(local.min_version, remote.min_version):
        return Rejection(
            incompatible,
            "PROTOCOL_MISMATCH",
            f"no common wire version: local {local.min_version}..{local.max_version}, "
            f"remote {remote.min_version}..{remote.max_version}",
        )
    local_caps = {c.name: c for c in local.capabilities}
    remote_caps = {c.name: c for c in remote.capabilities}
    for mine, theirs, who in ((local_caps, remote_caps, "peer lacks"), (remote_caps, local_caps, "peer requires")):
        for name, c in mine.items():
            if c.required and name not in theirs:
                return Rejection(incompatible, "PROTOCOL_MISMATCH", f"{who} required capability {name!r}")
    agreement = Agreement(version=agreed)
    for name in sorted(local_caps.keys() & remote_caps.keys()):
        agreement.capabilities.append(
            {"name": name, "version": min(local_caps[name].version, remote_caps[name].version)}
        )
    remote_protocols = {p.name: p for p in remote.protocols}
    for p in sorted(local.protocols, key=lambda p: p.name):
        theirs = remote_protocols.get(p.name)
        version = highest_common_version(p.versions, theirs.versions) if theirs else None
        if version is not None:
            agreement.protocols.append(
                {"name": p.name, "version": version, "localAlias": p.alias, "remoteAlias": theirs.alias}
            )
    return agreement
