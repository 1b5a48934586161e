#!/usr/bin/python3
"""Writes the language-neutral test vectors of docs/PROTOCOL.md into this
folder (JSON, hex for bytes). Deterministic: fixed keys (Ed25519 signatures are
deterministic), fixed nonces. Generated once with the Python peer's codecs and
checked by the TypeScript, Go and Python suites; rerun only when the protocol
gains something to pin, and review the diff.

usage: /usr/bin/python3 test/vectors/generate.py
"""

from __future__ import annotations

import hashlib
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(HERE, "..", "..", "interop", "python"))

import peerlink_core as core  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from google.protobuf import json_format  # noqa: E402
from peerlink.v1 import goodbye_pb2  # noqa: E402


def identity(seed_byte: int) -> core.Identity:
    return core.Identity(Ed25519PrivateKey.from_private_bytes(bytes([seed_byte]) * 32))


def write(name: str, doc: dict) -> None:
    with open(os.path.join(HERE, name), "w") as f:
        json.dump(doc, f, indent=2, ensure_ascii=False)
        f.write("\n")


def wire(body: bytes) -> str:
    return core.frame_bytes(body).hex()


def frame_body(js: dict) -> bytes:
    frame = core.Frame()
    json_format.ParseDict(js, frame)
    return frame.SerializeToString()


KEYS = {f"key{i}": identity(i) for i in (1, 2, 3)}
key_doc = {n: {"seed": (bytes([i]) * 32).hex(), "publicKey": k.public_key.hex()}
           for (n, k), i in zip(KEYS.items(), (1, 2, 3))}

write("peer-id.json", {
    "description": "§2: peer id = SHA-256(0x01 ‖ 32-byte Ed25519 public key); text = lowercase unpadded RFC 4648 base32. "
                   "seed is the 32-byte Ed25519 private key (RFC 8032).",
    "cases": [{"seed": key_doc[n]["seed"], "publicKey": k.public_key.hex(), "peerId": k.peer_id.hex(),
               "peerIdText": core.peer_id_text(k.peer_id)} for n, k in KEYS.items()],
})

exporter = bytes(range(32))
k1 = KEYS["key1"]
proofs = []
for role, name in ((core.ROLE_DIALER, "dialer"), (core.ROLE_LISTENER, "listener")):
    message = core.tls_proof_message(role, exporter)
    proofs.append({"seed": key_doc["key1"]["seed"], "publicKey": k1.public_key.hex(), "role": name,
                   "exporter": exporter.hex(), "message": message.hex(), "signature": k1.sign(message).hex()})
write("identity-proof.json", {
    "description": "§3.3 with TLS: Hello.proof = Ed25519(\"peerlink-v1-tls-binding\" ‖ role ‖ exporter), role 0x01 "
                   "dialer, 0x02 listener. The signature is deterministic (RFC 8032): it must match byte for byte, "
                   "verify with publicKey, and NOT verify against the message of the other role.",
    "cases": proofs,
})


def hello(ident: core.Identity, nonce_byte: int, alias: int, early: bool) -> dict:
    return {"hello": {
        "minVersion": 1, "maxVersion": 1, "peerId": core.base64.b64encode(ident.peer_id).decode(),
        "keyType": "KEY_TYPE_ED25519", "publicKey": core.base64.b64encode(ident.public_key).decode(),
        "nonce": core.base64.b64encode(bytes([nonce_byte]) * 32).decode(),
        "protocols": [{"name": "/echo", "versions": [1], "alias": alias}],
        "binding": "CHANNEL_BINDING_NONCES", "earlyData": early, "agent": "vectors"}}


dialer, listener = KEYS["key1"], KEYS["key2"]
dialer_hello = frame_body(hello(dialer, 0x11, 1, True))
listener_hello = frame_body(hello(listener, 0x22, 7, False))
early = frame_body({"data": {"protocol": 1, "payload": core.base64.b64encode(b"zero-rtt").decode()}})
transcript = {}
for role, ident, name in ((core.ROLE_DIALER, dialer, "dialer"), (core.ROLE_LISTENER, listener, "listener")):
    message = core.nonce_proof_message(role, dialer_hello, listener_hello)
    auth = frame_body({"auth": {"proof": core.base64.b64encode(ident.sign(message)).decode()}})
    transcript[name] = {"seed": key_doc["key1" if ident is dialer else "key2"]["seed"],
                        "publicKey": ident.public_key.hex(), "peerId": ident.peer_id.hex(),
                        "authMessage": message.hex(), "authBody": auth.hex()}
transcript["dialer"]["helloBody"] = dialer_hello.hex()
transcript["listener"]["helloBody"] = listener_hello.hex()
write("nonce-transcript.json", {
    "description": "§3.3 without TLS: each side sends its Hello (binding NONCES, empty proof) at once; after the "
                   "peer's Hello, Auth{proof = Ed25519(\"peerlink-v1-nonce-binding\" ‖ role ‖ SHA-256(dialer Hello "
                   "body) ‖ SHA-256(listener Hello body))}. The dialer set early_data and sends one 0-RTT Data "
                   "frame right after its Hello. dialerToListener / listenerToDialer are the exact bytes on the "
                   "wire in order.",
    **transcript,
    "earlyDataBody": early.hex(),
    "dialerToListener": wire(dialer_hello) + wire(early) + wire(bytes.fromhex(transcript["dialer"]["authBody"])),
    "listenerToDialer": wire(listener_hello) + wire(bytes.fromhex(transcript["listener"]["authBody"])),
    "sha256DialerHello": hashlib.sha256(dialer_hello).hexdigest(),
    "sha256ListenerHello": hashlib.sha256(listener_hello).hexdigest(),
})

FRAMES = [
    ("data", {"data": {"protocol": 7, "payload": core.base64.b64encode(b"hello").decode()}}),
    ("ping", {"ping": {"nonce": 7, "timestampUs": 1000}}),
    ("pong", {"pong": {"nonce": 4000000000, "timestampUs": 4294967295}}),
    ("hello", hello(KEYS["key3"], 0x33, 9, False)),
    ("auth", {"auth": {"proof": core.base64.b64encode(bytes(range(64))).decode()}}),
    ("goodbye", {"goodbye": {"reason": "GOODBYE_REASON_RESOURCE_CONSTRAINT", "detail": "inbound_full",
                             "retryAfterMs": 30000}}),
    ("capabilityUpdate", {"capabilityUpdate": {
        "added": [{"name": "peerlink.compression", "version": 2}], "removed": ["old"],
        "protocolsAdded": [{"name": "/chat", "versions": [1, 2], "alias": 9}], "protocolsRemoved": ["/legacy"]}}),
    ("bandwidthProbe", {"bandwidthProbe": {"probeId": 5, "index": 3, "count": 8,
                                           "padding": core.base64.b64encode(bytes(16)).decode()}}),
    ("bandwidthReport", {"bandwidthReport": {"probeId": 5, "framesReceived": 8, "bytesReceived": 262400,
                                             "elapsedUs": 12345}}),
    ("peerAddresses", {"peerAddresses": {"peers": [
        {"peerId": core.base64.b64encode(bytes(range(32))).decode(), "addrs": ["127.0.0.1:4001", "[::1]:4001"]}],
        "request": True}}),
]
write("frames.json", {
    "description": "§1.1: one Frame of every kind: proto3 JSON (decoded form), body (protobuf bytes, "
                   "deterministic field order) and wire (length prefix + body). Encoders must produce body exactly; "
                   "decoders must read body back to json.",
    "cases": [{"kind": kind, "json": js, "body": frame_body(js).hex(), "wire": wire(frame_body(js))}
              for kind, js in FRAMES],
})

reasons = []
for value in list(range(0, 15)) + [99]:
    name = goodbye_pb2.GoodbyeReason.Name(value) if value in goodbye_pb2.GoodbyeReason.values() else None
    body = core.goodbye_frame(value)
    read_as = name if name not in (None, "GOODBYE_REASON_UNSPECIFIED", "GOODBYE_REASON_CONNECTION_LOST") \
        else "GOODBYE_REASON_NORMAL"
    reasons.append({"value": value, "name": name, "sendable": name not in (None, "GOODBYE_REASON_CONNECTION_LOST"),
                    "body": body.hex(), "readAs": read_as})
write("goodbye-reasons.json", {
    "description": "§8: Goodbye{reason} frames for every value. readAs is how a receiver reports it: unknown "
                   "values, UNSPECIFIED and CONNECTION_LOST (never sent, §8.1) read as NORMAL.",
    "cases": reasons,
})

write("length-prefixes.json", {
    "description": "§1: unsigned LEB128 length prefixes, with a maximum frame size of 1,048,576. verdict: ok "
                   "(length, prefixBytes), incomplete (more bytes needed), malformed (send "
                   "Goodbye{PROTOCOL_VIOLATION}), tooLarge (same, decided before any body byte).",
    "maxFrameSize": 1048576,
    "cases": [
        {"hex": "00", "verdict": "ok", "length": 0, "prefixBytes": 1},
        {"hex": "07", "verdict": "ok", "length": 7, "prefixBytes": 1},
        {"hex": "7f", "verdict": "ok", "length": 127, "prefixBytes": 1},
        {"hex": "8001", "verdict": "ok", "length": 128, "prefixBytes": 2},
        {"hex": "e807", "verdict": "ok", "length": 1000, "prefixBytes": 2},
        {"hex": "808040", "verdict": "ok", "length": 1048576, "prefixBytes": 3},
        {"hex": "", "verdict": "incomplete"},
        {"hex": "80", "verdict": "incomplete"},
        {"hex": "ffffffff", "verdict": "incomplete"},
        {"hex": "8000", "verdict": "malformed", "why": "overlong: last byte 0x00 after the first"},
        {"hex": "ff8000", "verdict": "malformed", "why": "overlong"},
        {"hex": "ffffffff10", "verdict": "malformed", "why": "above 32 bits (5th byte > 0x0f)"},
        {"hex": "8080808080", "verdict": "malformed", "why": "a 5th byte with the continuation bit (more than 5 bytes, above 32 bits)"},
        {"hex": "818040", "verdict": "tooLarge", "length": 1048577},
        {"hex": "ffffffff0f", "verdict": "tooLarge", "length": 4294967295},
    ],
})
