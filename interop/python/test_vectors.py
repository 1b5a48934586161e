"""unittest: the language-neutral vectors of test/vectors/ (docs/PROTOCOL.md),
checked against this peer's core and generated codecs."""

from __future__ import annotations

import json
import os
import sys
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import peerlink_core as core  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from google.protobuf import json_format  # noqa: E402

VECTORS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "test", "vectors")


def load(name: str) -> dict:
    with open(os.path.join(VECTORS, name)) as f:
        return json.load(f)


def identity(seed_hex: str) -> core.Identity:
    return core.Identity(Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed_hex)))


class Vectors(unittest.TestCase):
    def test_peer_ids(self) -> None:
        for c in load("peer-id.json")["cases"]:
            ident = identity(c["seed"])
            self.assertEqual(ident.public_key.hex(), c["publicKey"])
            self.assertEqual(core.peer_id_of(bytes.fromhex(c["publicKey"])).hex(), c["peerId"])
            self.assertEqual(core.peer_id_text(ident.peer_id), c["peerIdText"])
            self.assertEqual(core.parse_peer_id(c["peerIdText"]).hex(), c["peerId"])

    def test_tls_identity_proof(self) -> None:
        for c in load("identity-proof.json")["cases"]:
            role = core.ROLE_DIALER if c["role"] == "dialer" else core.ROLE_LISTENER
            message = core.tls_proof_message(role, bytes.fromhex(c["exporter"]))
            self.assertEqual(message.hex(), c["message"])
            self.assertEqual(identity(c["seed"]).sign(message).hex(), c["signature"])
            public, signature = bytes.fromhex(c["publicKey"]), bytes.fromhex(c["signature"])
            self.assertTrue(core.verify(public, signature, message))
            other = core.tls_proof_message(core.other_role(role), bytes.fromhex(c["exporter"]))
            self.assertFalse(core.verify(public, signature, other))

    def test_nonce_transcript(self) -> None:
        t = load("nonce-transcript.json")
        d, l_ = bytes.fromhex(t["dialer"]["helloBody"]), bytes.fromhex(t["listener"]["helloBody"])
        for name, role in (("dialer", core.ROLE_DIALER), ("listener", core.ROLE_LISTENER)):
            side = t[name]
            message = core.nonce_proof_message(role, d, l_)
            self.assertEqual(message.hex(), side["authMessage"])
            auth = core.parse_frame(bytes.fromhex(side["authBody"]))
            self.assertEqual(identity(side["seed"]).sign(message), auth.auth.proof)
            self.assertTrue(core.verify(bytes.fromhex(side["publicKey"]), auth.auth.proof, message))
        wire = lambda body: core.frame_bytes(bytes.fromhex(body)).hex()  # noqa: E731
        self.assertEqual(wire(t["dialer"]["helloBody"]) + wire(t["earlyDataBody"]) + wire(t["dialer"]["authBody"]),
                         t["dialerToListener"])
        self.assertEqual(wire(t["listener"]["helloBody"]) + wire(t["listener"]["authBody"]), t["listenerToDialer"])
        hello = core.parse_frame(d).hello
        self.assertIsNone(core.validate_hello(hello, core.ROLE_LISTENER))
        self.assertEqual(hello.peer_id.hex(), t["dialer"]["peerId"])

    def test_frames(self) -> None:
        cases = load("frames.json")["cases"]
        kinds = {c["kind"] for c in cases}
        self.assertEqual(len(kinds), len(core.Frame.DESCRIPTOR.oneofs_by_name["kind"].fields))
        for c in cases:
            with self.subTest(kind=c["kind"]):
                frame = core.Frame()
                json_format.ParseDict(c["json"], frame)
                body = frame.SerializeToString()
                self.assertEqual(body.hex(), c["body"])
                self.assertEqual(core.frame_bytes(body).hex(), c["wire"])
                self.assertEqual(core.parse_frame(bytes.fromhex(c["body"])), frame)

    def test_goodbye_reasons(self) -> None:
        for c in load("goodbye-reasons.json")["cases"]:
            with self.subTest(value=c["value"]):
                frame = core.parse_frame(bytes.fromhex(c["body"]))
                self.assertEqual(frame.goodbye.reason, c["value"])
                self.assertEqual("GOODBYE_REASON_" + core.reason_name(frame.goodbye.reason), c["readAs"])
                if c["sendable"]:
                    self.assertEqual(core.goodbye_frame(c["value"]).hex(), c["body"])

    def test_length_prefixes(self) -> None:
        doc = load("length-prefixes.json")
        for c in doc["cases"]:
            with self.subTest(hex=c["hex"]):
                decoder = core.FrameDecoder(doc["maxFrameSize"])
                try:
                    decoder.feed(bytes.fromhex(c["hex"]))
                    verdict = "incomplete" if decoder.buffered or not c["hex"] else "ok"
                    parsed = core.decode_prefix(bytes.fromhex(c["hex"]))
                    if parsed is not None:
                        verdict = "ok"
                        length, used = parsed
                        self.assertEqual(length, c["length"])
                        self.assertEqual(used, c["prefixBytes"])
                except core.FrameTooLarge:
                    verdict = "tooLarge"
                except core.FramingError:
                    verdict = "malformed"
                self.assertEqual(verdict, c["verdict"])


if __name__ == "__main__":
    unittest.main()
