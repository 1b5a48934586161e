#!/usr/bin/python3
"""peerlink-python: a peerlink peer written in Python from docs/PROTOCOL.md and
the .proto schemas alone (see interop/README.md, "Python peer").

It speaks mutual TLS 1.3 (--tls, on Debian's pyOpenSSL, see peerlink_tls.py)
with the certificate binding under ALPN peerlink/1+cert or the tls-exporter
proof in the Hello under peerlink/1, and plain TCP with the nonce
transcript and its Auth frame (§3.3). It listens or dials, runs the
handshake, answers pings, echoes Data on its echo protocols, pings once
itself, answers bandwidth probes and reports what happens as JSON lines on
stdout. Commands arrive as JSON lines on stdin.

usage:
  peerlink_peer.py listen --addr 127.0.0.1:0 [--tls] [--once] [options]
  peerlink_peer.py dial --addr HOST:PORT [--tls] [--expect PEERID] [--early PROTO=TEXT] [options]
  peerlink_peer.py codec      (stdin {"json": Frame} or {"hex": body} lines -> {"hex", "json"} lines)

stdin commands (JSON lines; "conn" selects a connection, default all open):
  {"cmd":"send","protocol":"/echo","text":"hi"}   ("base64" instead of "text" for bytes)
  {"cmd":"ping"}
  {"cmd":"goodbye","reason":"NORMAL","detail":"bye"}
  {"cmd":"raw","hex":"8000"}                      (unframed bytes, for conformance tests)
  {"cmd":"shutdown"}                              (Goodbye{SHUTDOWN} to all, then exit)
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import collections
import json
import os
import signal
import sys
import threading
import time

sys.dont_write_bytecode = True  # keep pb/ byte-identical to what generate.sh writes
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import peerlink_core as core  # noqa: E402
import peerlink_tls  # noqa: E402
from google.protobuf import json_format  # noqa: E402
from peerlink.v1 import (  # noqa: E402
    bandwidth_pb2,
    capability_pb2,
    data_pb2,
    handshake_pb2,
    ping_pb2,
)

AGENT = "peerlink-python/0.1"
#: Handshake timeout from TCP connect to open (§3.1), in milliseconds.
DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000
#: Most early-data bytes (Frame bodies) a listener holds (§3.5).
MAX_EARLY_DATA = 64 << 10
#: How long a closing side waits for the peer to close (§8), in seconds.
GRACEFUL_TIMEOUT = 5.0
#: How long a side that failed a handshake waits for the peer's close, in seconds.
FAILURE_LINGER = 1.0
#: retry_after_ms of a capacity refusal (--max-conns, §8.2).
REFUSAL_RETRY_AFTER_MS = 30_000
#: Largest BandwidthProbe.count (§6), and how long after the latest probe frame an
#: incomplete burst is reported (§6, §10).
MAX_PROBE_COUNT = 64
PROBE_REPORT_DELAY = 5.0

Reason = core.GoodbyeReason
_clock_start = time.monotonic_ns()


def now_us() -> int:
    """The low 32 bits of a monotonic microsecond clock (§5)."""
    return ((time.monotonic_ns() - _clock_start) // 1000) & 0xFFFFFFFF


def emit(event: dict) -> None:
    """Prints one event as a JSON line."""
    sys.stdout.write(json.dumps(event, separators=(",", ":")) + "\n")
    sys.stdout.flush()


# ---------------------------------------------------------------------------
# Frames over an asyncio stream
# ---------------------------------------------------------------------------


class PeerClosed(Exception):
    """The peer closed the TCP connection (cleanly between frames, or inside one)."""


class Wire:
    """Length-prefixed frames over one TCP connection. After finish() nothing
    more is written: the last frame (a Goodbye) is followed by a half-close."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, max_frame_size: int) -> None:
        self.reader, self.writer = reader, writer
        self.decoder = core.FrameDecoder(max_frame_size)
        self.pending: collections.deque[bytes] = collections.deque()
        self.finished = False

    async def read(self) -> tuple[core.Frame, bytes]:
        """The next frame and its exact body bytes; raises PeerClosed or FramingError."""
        while not self.pending:
            try:
                chunk = await self.reader.read(64 << 10)
            except ConnectionError as e:
                raise PeerClosed(str(e)) from e
            if not chunk:
                raise PeerClosed("peer closed inside a frame" if self.decoder.buffered else "peer closed")
            self.pending.extend(self.decoder.feed(chunk))
        body = self.pending.popleft()
        return core.parse_frame(body), body

    def write(self, body: bytes) -> bool:
        """Writes one frame; False when the connection is finishing or gone."""
        if self.finished or self.writer.is_closing():
            return False
        self.writer.write(core.frame_bytes(body))
        return True

    def write_raw(self, data: bytes) -> bool:
        """Writes bytes unframed (conformance tests of the peer's framing rules)."""
        if self.finished or self.writer.is_closing():
            return False
        self.writer.write(data)
        return True

    def finish(self, last: bytes | None = None) -> bool:
        """Writes `last` (if any) as the final frame, then half-closes; False if already finished."""
        if self.finished:
            return False
        sent = last is None or self.write(last)
        self.finished = True
        if not self.writer.is_closing() and self.writer.can_write_eof():
            try:
                self.writer.write_eof()
            except (OSError, RuntimeError):
                pass
        return sent

    async def linger(self, timeout: float) -> None:
        """Discards input until the peer closes or `timeout` seconds pass, then closes."""
        try:
            async with asyncio.timeout(timeout):
                while await self.reader.read(64 << 10):
                    pass
        except (TimeoutError, ConnectionError):
            pass
        self.close()

    def close(self) -> None:
        """Closes the socket (idempotent)."""
        self.writer.close()


# ---------------------------------------------------------------------------
# Handshake (§3, plain TCP with the nonce transcript)
# ---------------------------------------------------------------------------


class HandshakeFailed(Exception):
    """A failed handshake: `code` is a peerlink ErrorCode name; `reason` the
    Goodbye sent (remote=False) or received (remote=True), None for a transport
    failure; `retry_after_ms` the received Goodbye's retry-after (0: none)."""

    def __init__(self, code: str, detail: str, reason: int | None = None, remote: bool = False,
                 retry_after_ms: int = 0) -> None:
        super().__init__(f"[{code}] {detail}")
        self.code, self.detail, self.reason, self.remote = code, detail, reason, remote
        self.retry_after_ms = retry_after_ms


class _Reject(Exception):
    def __init__(self, rejection: core.Rejection) -> None:
        self.rejection = rejection


class _RemoteGoodbye(Exception):
    def __init__(self, goodbye) -> None:
        self.goodbye = goodbye


# The peerlink ErrorCode a dialer reports for the peer's Goodbye that ended the
# handshake; a capacity refusal (RESOURCE_CONSTRAINT, §8.1) is CONNECTION_LIMIT,
# not a generic CONNECTION_CLOSED.
_CODE_FOR_REMOTE_REASON = {
    Reason.GOODBYE_REASON_AUTHENTICATION_FAILED: "AUTHENTICATION_FAILED",
    Reason.GOODBYE_REASON_UNEXPECTED_IDENTITY: "IDENTITY_MISMATCH",
    Reason.GOODBYE_REASON_SELF_CONNECTION: "SELF_CONNECTION",
    Reason.GOODBYE_REASON_INCOMPATIBLE_VERSION: "PROTOCOL_MISMATCH",
    Reason.GOODBYE_REASON_PROTOCOL_VIOLATION: "PROTOCOL_VIOLATION",
    Reason.GOODBYE_REASON_TIMEOUT: "HANDSHAKE_TIMEOUT",
    Reason.GOODBYE_REASON_PEER_BANNED: "PEER_BANNED",
    Reason.GOODBYE_REASON_RATE_LIMITED: "RATE_LIMITED",
    Reason.GOODBYE_REASON_ALREADY_CONNECTED: "ALREADY_CONNECTED",
    Reason.GOODBYE_REASON_RESOURCE_CONSTRAINT: "CONNECTION_LIMIT",
}


class Session:
    """The outcome of a successful handshake."""

    def __init__(self, wire: Wire, role: int, local: handshake_pb2.Hello,
                 tls: peerlink_tls.TlsStream | None = None) -> None:
        self.wire, self.role, self.local, self.tls = wire, role, local, tls
        self.remote: handshake_pb2.Hello | None = None
        self.agreement: core.Agreement | None = None
        self.early: list[data_pb2.Data] = []  # the dialer's 0-RTT Data, delivered first


def build_hello(opts, role: int, tls: peerlink_tls.TlsStream | None) -> handshake_pb2.Hello:
    """The own Hello: identity, fresh nonce, protocols with the own aliases; over
    TLS the certificate binding (peerlink/1+cert, own certificate key = identity
    key) or TLS_EXPORTER with its proof, else NONCES (proof in the Auth).
    --wrong-binding claims the other transport's binding, --bad-proof a
    TLS_EXPORTER proof that does not verify, --claim-peer-id another node's peer id."""
    ident: core.Identity = opts.identity
    if opts.binding is not None:
        binding = opts.binding
    elif tls is None:
        binding = core.BINDING_TLS_EXPORTER if opts.wrong_binding else core.BINDING_NONCES
    elif opts.wrong_binding:
        binding = core.BINDING_NONCES
    elif opts.bad_proof:  # a proof that does not verify needs a signed binding
        binding = core.BINDING_TLS_EXPORTER
    else:
        binding = core.own_tls_binding(tls.alpn, opts.cert_key, ident.public_key)
    proof = b""
    if binding == core.BINDING_TLS_EXPORTER or (binding == core.BINDING_TLS_CERTIFICATE and opts.cert_proof):
        proof = sign(opts, core.tls_proof_message(role, tls.exporter() if tls is not None else bytes(32)))
    return handshake_pb2.Hello(
        min_version=opts.min_version,
        max_version=opts.max_version,
        peer_id=opts.claim_id or ident.peer_id,
        key_type=core.KEY_TYPE_ED25519,
        public_key=ident.public_key,
        nonce=os.urandom(32),
        protocols=[
            capability_pb2.ProtocolSupport(name=name, versions=versions, alias=alias)
            for name, versions, alias in opts.protocol_specs
        ],
        capabilities=opts.capability_specs,
        listen_addrs=opts.listen_addrs,
        binding=binding,
        proof=proof,
        early_data=role == core.ROLE_DIALER and bool(opts.early_specs) and not opts.early_unannounced,
        agent=AGENT,
    )


def sign(opts, message: bytes) -> bytes:
    """The own signature of message; spoiled with --bad-proof."""
    signature = bytearray(opts.identity.sign(message))
    if opts.bad_proof:
        signature[0] ^= 0xFF
    return bytes(signature)


def alias_of(opts, protocol: str) -> int:
    """The own alias of a protocol offered on the command line (0 if none)."""
    return next((alias for name, _, alias in opts.protocol_specs if name == protocol), 0)


async def _run_handshake(session: Session, opts, expect: bytes | None) -> None:
    wire, role, local = session.wire, session.role, session.local
    local_body = core.encode_frame(hello=local)
    wire.write(local_body)
    if role == core.ROLE_DIALER:  # --early-unannounced sends them without early_data in the Hello
        for protocol, payload in opts.early_specs:
            wire.write(core.encode_frame(data=data_pb2.Data(protocol=alias_of(opts, protocol), payload=payload)))

    frame, remote_body = await wire.read()
    kind = core.kind_of(frame, remote_body)
    if kind == "goodbye":
        raise _RemoteGoodbye(frame.goodbye)
    if kind != "hello":
        raise _Reject(core.Rejection(Reason.GOODBYE_REASON_PROTOCOL_VIOLATION, "PROTOCOL_VIOLATION",
                                     f"the peer's first frame must be Hello, got {kind}"))
    remote = frame.hello
    rejection = core.validate_hello(remote, role)
    if rejection:
        raise _Reject(rejection)
    session.remote = remote
    if session.tls is not None:
        _verify_tls_proof(session, remote)
    else:
        await _nonce_transcript(session, opts, local_body, remote, remote_body)
    _check_and_negotiate(session, opts, remote, expect)


def _verify_tls_proof(session: Session, remote: handshake_pb2.Hello) -> None:
    """§3.3 with TLS: the proof in the peer's Hello signs its role and the exporter,
    or (peerlink/1+cert) the peer's certificate key is its Hello key. Nothing else
    is awaited: the connection opens on the verified Hello, so what follows it is
    ordinary traffic (§3.5)."""
    tls = session.tls
    expected = core.tls_proof_message(core.other_role(session.role), tls.exporter())
    rejection = core.check_tls_binding(remote, tls.alpn, tls.peer_cert_key, expected)
    if rejection:
        raise _Reject(rejection)


async def _nonce_transcript(session: Session, opts, local_body: bytes, remote: handshake_pb2.Hello,
                            remote_body: bytes) -> None:
    """§3.3 without TLS: Auth frames over both Hello bodies; the listener holds
    the dialer's early Data until the dialer's Auth verified (§3.5)."""
    wire, role = session.wire, session.role
    if remote.binding != handshake_pb2.CHANNEL_BINDING_NONCES:
        raise _Reject(core.Rejection(Reason.GOODBYE_REASON_AUTHENTICATION_FAILED, "AUTHENTICATION_FAILED",
                                     f"binding {remote.binding} on a plain TCP connection"))

    # §3.3: Auth over both Hello bodies, each with its signer's role byte.
    dialer_body, listener_body = (local_body, remote_body) if role == core.ROLE_DIALER else (remote_body, local_body)
    proof = sign(opts, core.nonce_proof_message(role, dialer_body, listener_body))
    wire.write(core.encode_frame(auth=handshake_pb2.Auth(proof=proof)))
    expected = core.nonce_proof_message(core.other_role(role), dialer_body, listener_body)
    held = 0
    while True:
        frame, body = await wire.read()
        kind = core.kind_of(frame, body)
        if kind == "auth":
            if not core.verify(remote.public_key, frame.auth.proof, expected):
                raise _Reject(core.Rejection(Reason.GOODBYE_REASON_AUTHENTICATION_FAILED, "AUTHENTICATION_FAILED",
                                             "nonce-transcript proof does not verify"))
            break
        if kind == "goodbye":
            raise _RemoteGoodbye(frame.goodbye)
        if kind == "data" and role == core.ROLE_LISTENER and remote.early_data:
            held += len(body)
            if held > MAX_EARLY_DATA:
                raise _Reject(core.Rejection(Reason.GOODBYE_REASON_PROTOCOL_VIOLATION, "PROTOCOL_VIOLATION",
                                             f"more than {MAX_EARLY_DATA} bytes of early data"))
            session.early.append(frame.data)
            continue
        raise _Reject(core.Rejection(Reason.GOODBYE_REASON_PROTOCOL_VIOLATION, "PROTOCOL_VIOLATION",
                                     f"expected Auth, got {kind}"))


def _check_and_negotiate(session: Session, opts, remote: handshake_pb2.Hello, expect: bytes | None) -> None:
    """§3.4 checks, in order, then the agreed version, capabilities and protocols."""
    role, local = session.role, session.local
    if remote.peer_id == opts.identity.peer_id:
        raise _Reject(core.Rejection(Reason.GOODBYE_REASON_SELF_CONNECTION, "SELF_CONNECTION", "connected to myself"))
    if role == core.ROLE_DIALER and expect is not None and expect != remote.peer_id:
        raise _Reject(core.Rejection(
            Reason.GOODBYE_REASON_UNEXPECTED_IDENTITY, "IDENTITY_MISMATCH",
            f"expected {core.peer_id_text(expect)}, reached {core.peer_id_text(remote.peer_id)}"))
    outcome = core.negotiate(local, remote)
    if isinstance(outcome, core.Rejection):
        raise _Reject(outcome)
    session.agreement = outcome


async def handshake(wire: Wire, opts, role: int, deadline: float, expect: bytes | None,
                    tls: peerlink_tls.TlsStream | None = None) -> Session:
    """Runs §3 on a connected stream (TLS already established when `tls`),
    bounded by `deadline` (loop time). On failure the connection is closed,
    after a Goodbye when one is due, and HandshakeFailed is raised."""
    session = Session(wire, role, build_hello(opts, role, tls), tls)
    try:
        async with asyncio.timeout_at(deadline):
            await _run_handshake(session, opts, expect)
        return session
    except _Reject as e:
        r = e.rejection
    except TimeoutError:
        r = core.Rejection(Reason.GOODBYE_REASON_TIMEOUT, "HANDSHAKE_TIMEOUT", "handshake timed out")
    except core.FramingError as e:
        r = core.Rejection(Reason.GOODBYE_REASON_PROTOCOL_VIOLATION, e.code, str(e))
    except _RemoteGoodbye as e:
        wire.finish()
        await wire.linger(FAILURE_LINGER)
        g = e.goodbye
        raise HandshakeFailed(_CODE_FOR_REMOTE_REASON.get(g.reason, "CONNECTION_CLOSED"), g.detail, g.reason, True,
                              g.retry_after_ms)
    except PeerClosed as e:
        wire.close()
        # Inside TLS 1.3 a client whose certificate the server rejected sees TLS
        # complete, then a close: a close before the peer's Hello (§8.1), unless
        # nothing came since the dialer's own TLS Finished (a pending connection dropped).
        code = "CONNECTION_CLOSED"
        if session.remote is None:
            code = core.early_close_code(tls is not None, role, tls.received_since_secure if tls is not None else 0)
        raise HandshakeFailed(code, f"{e} during the handshake") from None
    wire.finish(core.goodbye_frame(r.reason, r.detail))
    await wire.linger(FAILURE_LINGER)
    raise HandshakeFailed(r.code, r.detail, r.reason)


# ---------------------------------------------------------------------------
# Open connection (§4–§8)
# ---------------------------------------------------------------------------


class Connection:
    """An open connection: answers Ping, echoes Data on the echo protocols,
    measures its own pings, answers bandwidth probes and handles Goodbye."""

    def __init__(self, conn_id: int, session: Session, echo: set[str]) -> None:
        self.id, self.session, self.wire, self.echo = conn_id, session, session.wire, echo
        self.local = {p["name"]: p["localAlias"] for p in session.agreement.protocols}
        self.remote = {p["remoteAlias"]: p["name"] for p in session.agreement.protocols}
        self.pings: set[int] = set()
        self.nonce = 0
        self.dropped = 0
        self.probes: dict[int, dict] = {}
        self.goodbye_sent = False
        self.close_timer: asyncio.TimerHandle | None = None
        self.done = asyncio.Event()

    def emit(self, event: dict) -> None:
        emit({**event, "conn": self.id})

    async def run(self) -> None:
        """Delivers held early data, then reads frames until the connection ends."""
        try:
            for d in self.session.early:
                self.on_data(d, early=True)
            self.session.early = []
            while True:
                try:
                    frame, body = await self.wire.read()
                except core.FramingError as e:
                    if self.goodbye_sent:
                        return self.closed(str(e))
                    return await self.violation(str(e))
                except PeerClosed as e:
                    if self.goodbye_sent:
                        return self.closed()
                    return self.closed(f"{e} without Goodbye", core.CONNECTION_LOST)
                if not await self.on_frame(frame, body):
                    return
                await self.flush()
        finally:
            for burst in self.probes.values():
                burst["timer"].cancel()
            if self.close_timer:
                self.close_timer.cancel()
            self.done.set()

    def closed(self, cause: str | None = None, reason: str | None = None) -> None:
        """Reports the end of the connection; `reason` is CONNECTION_LOST when it
        ended without a Goodbye either way (a crash, a reset, an EOF)."""
        self.wire.finish()
        self.wire.close()
        self.emit({"event": "closed", **({"cause": cause} if cause else {}), **({"reason": reason} if reason else {})})

    async def flush(self) -> None:
        try:
            await self.wire.writer.drain()
        except ConnectionError:
            pass

    async def on_frame(self, frame: core.Frame, body: bytes) -> bool:
        """Handles one frame; False when the connection is finished."""
        kind = core.kind_of(frame, body)
        if kind == "goodbye":
            g = frame.goodbye
            self.emit({"event": "goodbye", "from": "remote", "reason": core.reason_name(g.reason),
                       "reasonCode": g.reason, "detail": g.detail, "retryAfterMs": g.retry_after_ms})
            self.wire.finish()  # stop sending, close our direction
            await self.wire.linger(GRACEFUL_TIMEOUT)
            self.emit({"event": "closed"})
            return False
        if self.goodbye_sent:
            return True  # §8: frames after our Goodbye are ignored
        if kind == "data":
            self.on_data(frame.data, early=False)
        elif kind == "ping":
            p = frame.ping
            answered = self.wire.write(core.encode_frame(pong=ping_pb2.Pong(nonce=p.nonce, timestamp_us=p.timestamp_us)))
            self.emit({"event": "ping", "nonce": p.nonce, "answered": answered})
        elif kind == "pong":
            if frame.pong.nonce in self.pings:
                self.pings.discard(frame.pong.nonce)
                self.emit({"event": "pong", "nonce": frame.pong.nonce,
                           "rttUs": (now_us() - frame.pong.timestamp_us) & 0xFFFFFFFF})
        elif kind in ("hello", "auth", "empty"):
            await self.violation(f"{kind} frame after the handshake")
            return False
        elif kind == "capability_update":
            self.on_capability_update(frame.capability_update)
        elif kind == "bandwidth_probe":
            return await self.on_probe(frame.bandwidth_probe, len(body))
        elif kind == "bandwidth_report":
            r = frame.bandwidth_report
            self.emit({"event": "bandwidth-report", "probeId": r.probe_id, "framesReceived": r.frames_received,
                       "bytesReceived": r.bytes_received, "elapsedUs": r.elapsed_us})
        else:
            self.emit({"event": "ignored", "kind": "unknown"})  # §1.1: forward compatibility
        return True

    def on_data(self, d: data_pb2.Data, early: bool) -> None:
        name = self.remote.get(d.protocol)
        if name is None:
            self.dropped += 1
            self.emit({"event": "data-dropped", "alias": d.protocol, "dropped": self.dropped})
            return
        event = {"event": "data", "protocol": name, "alias": d.protocol, "early": early,
                 "base64": base64.b64encode(d.payload).decode("ascii")}
        try:
            event["text"] = d.payload.decode("utf-8")
        except UnicodeDecodeError:
            pass
        self.emit(event)
        if name in self.echo:
            self.send(name, d.payload)

    def on_capability_update(self, u) -> None:
        for name in u.protocols_removed:
            for alias in [a for a, n in self.remote.items() if n == name]:
                del self.remote[alias]
        for p in u.protocols_added:
            for own in self.session.local.protocols:
                if own.name == p.name and core.highest_common_version(own.versions, p.versions) is not None:
                    self.remote[p.alias] = p.name
                    self.local[p.name] = own.alias
        self.emit({"event": "capability-update", "protocolsAdded": len(u.protocols_added),
                   "protocolsRemoved": list(u.protocols_removed), "added": len(u.added), "removed": list(u.removed)})

    async def on_probe(self, p, body_len: int) -> bool:
        if p.count == 0 or p.count > MAX_PROBE_COUNT or p.index >= p.count:
            await self.violation(f"bandwidth probe index {p.index} of count {p.count}")
            return False
        now = time.monotonic()
        burst = self.probes.get(p.probe_id)
        if burst is None:
            timer = asyncio.get_running_loop().call_later(PROBE_REPORT_DELAY, self.report_probe, p.probe_id)
            burst = self.probes[p.probe_id] = {"first": now, "frames": 0, "bytes": 0, "reported": False, "timer": timer}
        elif not burst["reported"]:
            # §6: an incomplete burst is reported once no frame of it came for PROBE_REPORT_DELAY.
            burst["timer"].cancel()
            burst["timer"] = asyncio.get_running_loop().call_later(PROBE_REPORT_DELAY, self.report_probe, p.probe_id)
        burst["last"] = now
        burst["frames"] += 1
        burst["bytes"] += body_len + len(core.encode_prefix(body_len))
        if p.index == p.count - 1:
            self.report_probe(p.probe_id)
        return True

    def report_probe(self, probe_id: int) -> None:
        burst = self.probes.get(probe_id)
        if burst is None or burst["reported"]:
            return
        burst["reported"] = True
        burst["timer"].cancel()
        report = bandwidth_pb2.BandwidthReport(
            probe_id=probe_id, frames_received=burst["frames"], bytes_received=burst["bytes"] & 0xFFFFFFFF,
            elapsed_us=int((burst["last"] - burst["first"]) * 1e6) & 0xFFFFFFFF)
        self.wire.write(core.encode_frame(bandwidth_report=report))
        self.emit({"event": "bandwidth-probe", "probeId": probe_id, "framesReceived": report.frames_received,
                   "bytesReceived": report.bytes_received})

    async def violation(self, detail: str) -> None:
        """Ends the connection with Goodbye{PROTOCOL_VIOLATION} (§1)."""
        self.emit({"event": "error", "code": "PROTOCOL_VIOLATION", "message": detail})
        self.send_goodbye(Reason.GOODBYE_REASON_PROTOCOL_VIOLATION, detail)
        await self.wire.linger(GRACEFUL_TIMEOUT)
        self.emit({"event": "closed"})

    def send(self, protocol: str, payload: bytes) -> None:
        """Writes Data on an agreed protocol with the own alias (§4); KeyError if not agreed."""
        alias = self.local.get(protocol)
        if alias is None:
            raise KeyError(f"protocol {protocol!r} was not agreed")
        if not self.wire.write(core.encode_frame(data=data_pb2.Data(protocol=alias, payload=payload))):
            raise ConnectionError("the connection is closing")

    def ping(self) -> None:
        """Sends a Ping; its Pong is reported as a "pong" event with the RTT."""
        self.nonce += 1
        self.pings.add(self.nonce)
        if not self.wire.write(core.encode_frame(ping=ping_pb2.Ping(nonce=self.nonce, timestamp_us=now_us()))):
            raise ConnectionError("the connection is closing")

    def goodbye(self, reason: int, detail: str) -> None:
        """Sends Goodbye and half-closes; closes the socket if the peer has not
        closed within the graceful timeout."""
        if self.send_goodbye(reason, detail):
            self.close_timer = asyncio.get_running_loop().call_later(GRACEFUL_TIMEOUT, self.wire.close)

    def send_goodbye(self, reason: int, detail: str) -> bool:
        self.goodbye_sent = True
        if not self.wire.finish(core.goodbye_frame(reason, detail)):
            return False
        self.emit({"event": "goodbye", "from": "local", "reason": core.reason_name(reason),
                   "reasonCode": reason, "detail": detail})
        return True


# ---------------------------------------------------------------------------
# The node: listen or dial, commands, shutdown
# ---------------------------------------------------------------------------


class Node:
    """The connections of this process."""

    def __init__(self, opts) -> None:
        self.opts = opts
        self.next_id = 0
        self.conns: dict[int, Connection] = {}
        self.tasks: set[asyncio.Task] = set()
        self.stopping = False
        self.stopped = asyncio.Event()
        self.server: asyncio.base_events.Server | None = None
        self.held_commands: list[str] | None = [] if opts.mode == "dial" else None
        # A dialer's TLS session, resumed by --redial, with the server certificate's key: a
        # resumed session carries no certificate, and §3.3 checks the certificate binding
        # against the full handshake's; a ticket whose key is unknown is not offered.
        self.session_ticket = None
        self.session_cert_key: bytes | None = None

    async def serve(self, conn_id: int, reader, writer, role: int, deadline: float) -> bool:
        """Handshake then run the open connection; whether the handshake succeeded."""
        def emit_conn(event: dict) -> None:
            emit({**event, "conn": conn_id})

        tls = None
        if self.opts.tls:
            tls = peerlink_tls.TlsStream(self.opts.tls_context, reader, writer, role == core.ROLE_LISTENER,
                                         self.session_ticket if role == core.ROLE_DIALER else None,
                                         require_alpn=not self.opts.no_alpn)
            try:
                async with asyncio.timeout_at(deadline):
                    await tls.handshake()
            except (peerlink_tls.TlsFailed, TimeoutError) as e:
                writer.close()
                emit_conn({"event": "handshake-failed", "code": "TLS_FAILED", "message": str(e) or "TLS timed out"})
                return False
            if role == core.ROLE_DIALER and tls.session_reused:
                tls.peer_cert_key = self.session_cert_key
            else:  # a listener finds the client's certificate in the ticket (OpenSSL restores it)
                tls.peer_cert_key = tls.peer_certificate_key()
            reader = writer = tls
        wire = Wire(reader, writer, self.opts.max_frame)
        if role == core.ROLE_LISTENER and 0 < self.opts.max_conns <= len(self.conns):
            # §8.2 capacity refusal: Goodbye{RESOURCE_CONSTRAINT, retry_after_ms} in place of the Hello.
            wire.finish(core.goodbye_frame(Reason.GOODBYE_REASON_RESOURCE_CONSTRAINT, "max-conns", REFUSAL_RETRY_AFTER_MS))
            emit_conn({"event": "refused", "reason": "RESOURCE_CONSTRAINT", "retryAfterMs": REFUSAL_RETRY_AFTER_MS})
            await wire.linger(FAILURE_LINGER)
            return False
        expect = self.opts.expect_id if role == core.ROLE_DIALER else None
        try:
            session = await handshake(wire, self.opts, role, deadline, expect, tls)
        except HandshakeFailed as e:
            if e.reason is not None:
                emit_conn({"event": "goodbye", "from": "remote" if e.remote else "local",
                           "reason": core.reason_name(e.reason), "reasonCode": e.reason, "detail": e.detail,
                           **({"retryAfterMs": e.retry_after_ms} if e.remote else {}), "stage": "handshake"})
            emit_conn({"event": "handshake-failed", "code": e.code, "message": str(e)})
            return False
        conn = Connection(conn_id, session, self.opts.echo_set)
        self.conns[conn_id] = conn
        peer = writer.get_extra_info("peername")
        emit_conn({"event": "open", "peer": core.peer_id_text(session.remote.peer_id),
                   "direction": "outbound" if role == core.ROLE_DIALER else "inbound", "tls": tls is not None,
                   "resumed": tls is not None and tls.session_reused,
                   "version": session.agreement.version, "protocols": session.agreement.protocols,
                   "capabilities": session.agreement.capabilities,
                   "remoteAddr": f"{peer[0]}:{peer[1]}" if peer else "", "agent": session.remote.agent,
                   "earlyData": len(session.early), "alpn": tls.alpn.decode() if tls is not None else None,
                   "binding": core.binding_name(session.remote.binding),
                   "localBinding": core.binding_name(session.local.binding)})
        runner = asyncio.create_task(conn.run())
        if self.stopping:
            conn.goodbye(Reason.GOODBYE_REASON_SHUTDOWN, "peerlink-python stopping")
        else:
            if not self.opts.no_ping:
                conn.ping()
            for protocol, payload in self.opts.send_specs:
                try:
                    conn.send(protocol, payload)
                except (KeyError, ConnectionError) as e:
                    emit_conn({"event": "error", "code": "UNKNOWN_PROTOCOL", "message": str(e)})
        if self.held_commands is not None:
            held, self.held_commands = self.held_commands, None
            for line in held:
                self.command(line)
        await runner
        del self.conns[conn_id]
        if tls is not None and role == core.ROLE_DIALER:
            # The tickets arrived after the handshake; keep one only with the key it vouches for.
            self.session_ticket = tls.ssl.get_session() if tls.peer_cert_key is not None else None
            self.session_cert_key = tls.peer_cert_key
        return True

    async def listen(self) -> int:
        host, port = split_addr(self.opts.addr)

        async def on_client(reader, writer) -> None:
            if self.stopping:
                writer.close()
                return
            self.next_id += 1
            deadline = asyncio.get_running_loop().time() + self.opts.handshake_timeout_ms / 1000
            task = asyncio.current_task()
            self.tasks.add(task)
            try:
                await self.serve(self.next_id, reader, writer, core.ROLE_LISTENER, deadline)
            finally:
                self.tasks.discard(task)
            if self.opts.once:
                self.shutdown()

        self.server = await asyncio.start_server(on_client, host, port)
        bound = self.server.sockets[0].getsockname()
        addr = join_addr(bound[0], bound[1])
        self.opts.listen_addrs = [addr]
        emit({"event": "listening", "addr": addr, "peerId": core.peer_id_text(self.opts.identity.peer_id),
              "tls": self.opts.tls})
        await self.stopped.wait()
        self.server.close()
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)
        return 0

    async def dial(self) -> int:
        for attempt in range(1 + self.opts.redial):
            if attempt > 0:
                self.held_commands = []  # commands wait for the new connection
            code = await self.dial_once()
            if code != 0 or self.stopping:
                return code
        return 0

    async def dial_once(self) -> int:
        emit({"event": "dialing", "addr": self.opts.addr, "peerId": core.peer_id_text(self.opts.identity.peer_id),
              "tls": self.opts.tls})
        host, port = split_addr(self.opts.addr)
        deadline = asyncio.get_running_loop().time() + self.opts.handshake_timeout_ms / 1000
        try:
            async with asyncio.timeout_at(deadline):
                reader, writer = await asyncio.open_connection(host, port)
        except (OSError, TimeoutError) as e:
            emit({"event": "error", "code": "CONNECT_FAILED", "message": str(e) or "connect timed out"})
            return 1
        self.next_id += 1
        return 0 if await self.serve(self.next_id, reader, writer, core.ROLE_DIALER, deadline) else 1

    def shutdown(self) -> None:
        """Goodbye{SHUTDOWN} on every open connection; stops accepting."""
        if self.stopping:
            return
        self.stopping = True
        self.stopped.set()
        if self.server:
            self.server.close()
        for conn in list(self.conns.values()):
            conn.goodbye(Reason.GOODBYE_REASON_SHUTDOWN, "peerlink-python stopping")

    def command(self, line: str) -> None:
        """Runs one stdin command line."""
        line = line.strip()
        if not line:
            return
        if self.held_commands is not None:
            self.held_commands.append(line)  # a dialer takes commands once it is open
            return
        try:
            cmd = json.loads(line)
        except json.JSONDecodeError as e:
            emit({"event": "error", "code": "INVALID_ARGUMENT", "message": f"command: {e}"})
            return
        name = cmd.get("cmd", "")

        def fail(code: str, message: str) -> None:
            emit({"event": "error", "code": code, "message": f"{name}: {message}"})

        if name == "shutdown":
            self.shutdown()
            return
        targets = [c for i, c in self.conns.items() if cmd.get("conn", 0) in (0, i) and not c.goodbye_sent]
        if not targets:
            return fail("CONNECTION_CLOSED", "no open connection")
        for conn in targets:
            try:
                if name == "send":
                    payload = base64.b64decode(cmd["base64"]) if "base64" in cmd else cmd.get("text", "").encode()
                    conn.send(cmd.get("protocol", ""), payload)
                elif name == "ping":
                    conn.ping()
                elif name == "goodbye":
                    conn.goodbye(core.parse_reason(cmd.get("reason") or "NORMAL"), cmd.get("detail", ""))
                elif name == "raw":
                    if not conn.wire.write_raw(bytes.fromhex(cmd.get("hex", ""))):
                        raise ConnectionError("the connection is closing")
                else:
                    return fail("INVALID_ARGUMENT", "unknown command")
            except (ValueError, binascii.Error) as e:
                return fail("INVALID_ARGUMENT", str(e))
            except KeyError as e:
                fail("UNKNOWN_PROTOCOL", str(e))
            except ConnectionError as e:
                fail("CONNECTION_CLOSED", str(e))


def split_addr(addr: str) -> tuple[str, int]:
    """("::1", 80) for "[::1]:80", ("127.0.0.1", 0) for "127.0.0.1:0"."""
    host, _, port = addr.rpartition(":")
    return host.strip("[]"), int(port)


def join_addr(host: str, port: int) -> str:
    """host:port, IPv6 in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def read_stdin_lines(loop: asyncio.AbstractEventLoop, node: Node) -> None:
    """Thread body: hands every stdin line to the node, on the loop's thread."""
    pending = b""
    while True:
        try:
            chunk = os.read(0, 65536)
        except OSError:
            return
        if not chunk:
            return
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            try:
                loop.call_soon_threadsafe(node.command, line.decode("utf-8", "replace"))
            except RuntimeError:  # the loop has closed
                return


async def main_async(opts) -> int:
    loop = asyncio.get_running_loop()
    node = Node(opts)
    terminations = 0

    def on_signal() -> None:
        nonlocal terminations
        terminations += 1
        if terminations > 1:
            os._exit(130)
        node.shutdown()
        # A dialer exits when its connection ends; bound the wait like §8 does.
        loop.call_later(GRACEFUL_TIMEOUT + 1, os._exit, 0)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    threading.Thread(target=read_stdin_lines, args=(loop, node), daemon=True).start()
    return await (node.listen() if opts.mode == "listen" else node.dial())


# ---------------------------------------------------------------------------
# codec: the generated Python codec, for byte-level cross-checks
# ---------------------------------------------------------------------------


def run_codec() -> int:
    """Each stdin line {"json": <proto3 JSON Frame>} or {"hex": <Frame body>}
    gives one line {"hex": <encoding>, "json": <proto3 JSON of the decoded Frame>}
    (or {"error": ...})."""
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            frame = core.Frame()
            if "json" in request:
                json_format.ParseDict(request["json"], frame)
            else:
                frame.ParseFromString(bytes.fromhex(request["hex"]))
            body = frame.SerializeToString()
            print(json.dumps({"hex": body.hex(), "json": json_format.MessageToDict(frame)}), flush=True)
        except Exception as e:  # noqa: BLE001 - reported to the caller, line by line
            print(json.dumps({"error": f"{type(e).__name__}: {e}"}), flush=True)
    return 0


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------


def parse_args(argv: list[str]):
    parser = argparse.ArgumentParser(prog="peerlink_peer.py", description="peerlink peer in Python (TLS 1.3 or plain TCP)")
    parser.add_argument("mode", choices=["listen", "dial", "codec"])
    parser.add_argument("--addr", default="127.0.0.1:0", help="listen on / dial HOST:PORT")
    parser.add_argument("--key", help="PKCS#8 PEM Ed25519 identity (default: a fresh key)")
    parser.add_argument("--expect", help="dialer: the peer id the listener must prove")
    parser.add_argument("--once", action="store_true", help="listener: exit after the first connection ends")
    parser.add_argument("--protocol", action="append", default=[], help="NAME[@V,V] to offer (default /echo@1)")
    parser.add_argument("--echo", action="append", default=[], help="echo Data received on NAME (default /echo)")
    parser.add_argument("--no-echo", action="store_true", help="echo nothing")
    parser.add_argument("--alias-base", type=int, default=7, help="own aliases are N, N+1, ... (default 7)")
    parser.add_argument("--capability", action="append", default=[], help="NAME[@V][!] to offer; ! = required")
    parser.add_argument("--min-version", type=int, default=1)
    parser.add_argument("--max-version", type=int, default=1)
    parser.add_argument("--max-frame", type=int, default=core.DEFAULT_MAX_FRAME_SIZE, help="bytes (default 1 MiB)")
    parser.add_argument("--handshake-timeout", type=int, default=DEFAULT_HANDSHAKE_TIMEOUT_MS, help="ms")
    parser.add_argument("--send", action="append", default=[], help="PROTO=TEXT to send once open")
    parser.add_argument("--early", action="append", default=[], help="dialer: PROTO=TEXT as 0-RTT early data")
    parser.add_argument("--no-ping", action="store_true", help="do not ping once after open")
    parser.add_argument("--tls", action="store_true", help="mutual TLS 1.3 with the tls-exporter proof (pyOpenSSL)")
    parser.add_argument("--no-alpn", action="store_true", help="dialer with --tls: offer no ALPN")
    parser.add_argument("--alpn", default=",".join(a.decode() for a in core.DEFAULT_ALPNS),
                        help="ID[,ID]: TLS ALPN ids to offer (dialer, in order) or accept (listener, in order of "
                        "preference); peerlink/1 alone is a peer that knows only the signed proof")
    parser.add_argument("--redial", type=int, default=0, help="dialer: dial again N times after the connection "
                        "closed (resuming the TLS session)")
    parser.add_argument("--max-conns", type=int, default=0, help="listener: refuse for capacity (§8.2) while N "
                        "connections are open")
    parser.add_argument("--bad-proof", action="store_true", help="send an identity proof that does not verify")
    parser.add_argument("--wrong-binding", action="store_true", help="claim the other transport's channel binding")
    parser.add_argument("--early-unannounced", action="store_true", help="send --early data without early_data "
                        "in the Hello")
    parser.add_argument("--claim-peer-id", help="put this peer id in the Hello instead of the own")
    parser.add_argument("--cert-of-other-identity", action="store_true", help="present a TLS certificate of another, "
                        "fresh key (the Hello then uses the tls-exporter proof, unless --binding says otherwise)")
    parser.add_argument("--binding", help="announce this binding whatever the transport: TLS_CERTIFICATE, "
                        "TLS_EXPORTER or NONCES")
    parser.add_argument("--cert-proof", action="store_true", help="put a proof in a Hello with the certificate "
                        "binding (must be empty)")
    opts = parser.parse_args(argv)
    if opts.mode == "codec":
        return opts
    opts.identity = core.Identity.load(opts.key) if opts.key else core.Identity.generate()
    opts.claim_id = core.parse_peer_id(opts.claim_peer_id) if opts.claim_peer_id else None
    opts.alpns = tuple(a.encode() for a in opts.alpn.split(","))
    for a in opts.alpns:
        if a not in core.DEFAULT_ALPNS:
            parser.error(f"--alpn: {a.decode()!r} is neither peerlink/1+cert nor peerlink/1")
    opts.binding = core.parse_binding(opts.binding) if opts.binding else None
    cert_identity = core.Identity.generate() if opts.cert_of_other_identity else opts.identity
    opts.cert_key = cert_identity.public_key
    opts.tls_context = (peerlink_tls.make_context(opts.identity, opts.mode == "listen", alpn=not opts.no_alpn,
                                                  alpns=opts.alpns, cert_identity=cert_identity)
                        if opts.tls else None)
    opts.protocol_specs = []
    for i, spec in enumerate(opts.protocol or ["/echo@1"]):
        name, at, versions = spec.rpartition("@") if "@" in spec[1:] else (spec, "", "1")
        opts.protocol_specs.append((name, [int(v) for v in versions.split(",")], opts.alias_base + i))
    opts.echo_set = set() if opts.no_echo else set(opts.echo or ["/echo"])
    opts.capability_specs = []
    for spec in opts.capability:
        required = spec.endswith("!")
        name, _, version = spec.rstrip("!").partition("@")
        opts.capability_specs.append(capability_pb2.Capability(name=name, version=int(version or 1), required=required))
    for key in ("send", "early"):
        specs = []
        for spec in getattr(opts, key):
            protocol, eq, text = spec.partition("=")
            if not eq:
                parser.error(f"--{key} wants PROTO=TEXT, got {spec!r}")
            specs.append((protocol, text.encode()))
        setattr(opts, f"{key}_specs", specs)
    opts.expect_id = core.parse_peer_id(opts.expect) if opts.expect else None
    opts.handshake_timeout_ms = opts.handshake_timeout
    opts.listen_addrs = []
    return opts


def main() -> int:
    try:
        opts = parse_args(sys.argv[1:])
    except (ValueError, OSError) as e:
        emit({"event": "error", "code": "INVALID_ARGUMENT", "message": str(e)})
        return 2
    if opts.mode == "codec":
        return run_codec()
    return asyncio.run(main_async(opts))


if __name__ == "__main__":
    sys.exit(main())
