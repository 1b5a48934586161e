"""Unit tests of peerlink_core (framing, identity, proofs, Hello validation,
negotiation). Run: cd interop/python && /usr/bin/python3 -m unittest -v"""

import sys
import unittest

sys.dont_write_bytecode = True

import peerlink_core as core  # noqa: E402
from peerlink.v1 import capability_pb2, handshake_pb2, ping_pb2  # noqa: E402


class FramingTest(unittest.TestCase):
    def test_the_pinned_ping_example_of_section_1_2_encodes_to_its_eight_bytes(self):
        body = core.encode_frame(ping=ping_pb2.Ping(nonce=7, timestamp_us=1000))
        self.assertEqual(core.frame_bytes(body).hex(" "), "07 12 05 08 07 10 e8 07")

    def test_prefixes_are_the_shortest_leb128_encoding(self):
        for n, hexed in ((0, "00"), (127, "7f"), (128, "8001"), (300, "ac02"), (2**32 - 1, "ffffffff0f")):
            self.assertEqual(core.encode_prefix(n).hex(), hexed)
            self.assertEqual(core.decode_prefix(bytes.fromhex(hexed)), (n, len(hexed) // 2))

    def test_overlong_too_long_and_too_large_prefixes_are_malformed(self):
        for hexed in ("8000", "ff00", "8080808000", "ffffffff10", "808080808001"):
            with self.subTest(prefix=hexed), self.assertRaises(core.FramingError):
                core.decode_prefix(bytes.fromhex(hexed))

    def test_an_incomplete_prefix_asks_for_more_bytes(self):
        self.assertIsNone(core.decode_prefix(b"\x80\x80"))

    def test_a_length_above_the_maximum_fails_before_any_body_byte_arrives(self):
        decoder = core.FrameDecoder(max_frame_size=16)
        with self.assertRaisesRegex(core.FramingError, "exceeds the maximum"):
            decoder.feed(core.encode_prefix(17))

    def test_every_chunking_of_a_stream_gives_the_same_bodies(self):
        bodies = [core.encode_frame(ping=ping_pb2.Ping(nonce=i, timestamp_us=i * 1000)) for i in range(5)]
        bodies.append(b"x" * 300)  # two-byte prefix
        stream = b"".join(core.frame_bytes(b) for b in bodies)
        for size in (1, 2, 3, 7, len(stream)):
            decoder = core.FrameDecoder()
            got = []
            for i in range(0, len(stream), size):
                got.extend(decoder.feed(stream[i : i + size]))
            self.assertEqual(got, bodies, f"chunks of {size}")
            self.assertEqual(decoder.buffered, 0)

    def test_a_body_that_is_not_protobuf_is_malformed(self):
        with self.assertRaises(core.FramingError):
            core.parse_frame(b"\x0a\x05\x01")  # field 1, length 5, one byte

    def test_kinds_are_named_and_unknown_or_empty_frames_are_told_apart(self):
        ping = core.encode_frame(ping=ping_pb2.Ping(nonce=1))
        self.assertEqual(core.kind_of(core.parse_frame(ping), ping), "ping")
        unknown = bytes([10 << 3 | 0, 1])  # field 10, varint 1
        self.assertEqual(core.kind_of(core.parse_frame(unknown), unknown), "unknown")
        self.assertEqual(core.kind_of(core.parse_frame(b""), b""), "empty")

    def test_unknown_goodbye_reasons_read_as_normal(self):
        self.assertEqual(core.reason_name(99), "NORMAL")
        self.assertEqual(core.reason_name(core.parse_reason("RATE_LIMITED")), "RATE_LIMITED")

    def test_connection_lost_is_never_sent_and_reads_as_normal(self):
        lost = core.GoodbyeReason.GOODBYE_REASON_CONNECTION_LOST
        self.assertEqual(int(lost), 14)
        self.assertEqual(core.reason_name(lost), "NORMAL")
        with self.assertRaises(ValueError):
            core.parse_reason("CONNECTION_LOST")


class IdentityTest(unittest.TestCase):
    def test_a_peer_id_is_52_lowercase_base32_characters_and_parses_back(self):
        ident = core.Identity.generate()
        text = core.peer_id_text(ident.peer_id)
        self.assertRegex(text, r"^[a-z2-7]{52}$")
        self.assertEqual(core.parse_peer_id(text), ident.peer_id)
        self.assertEqual(ident.peer_id, core.peer_id_of(ident.public_key))

    def test_non_canonical_or_wrong_length_peer_ids_are_refused(self):
        text = core.peer_id_text(core.Identity.generate().peer_id)
        for bad in (text.upper(), text[:-1], text + "a", text[:-1] + "b"):  # last char carries 4 zero bits
            with self.subTest(bad=bad), self.assertRaises(ValueError):
                core.parse_peer_id(bad)

    def test_the_nonce_proof_verifies_only_for_the_signers_role(self):
        ident = core.Identity.generate()
        msg = core.nonce_proof_message(core.ROLE_DIALER, b"dialer hello", b"listener hello")
        self.assertEqual(len(msg), 25 + 1 + 32 + 32)
        sig = ident.sign(msg)
        self.assertTrue(core.verify(ident.public_key, sig, msg))
        other = core.nonce_proof_message(core.ROLE_LISTENER, b"dialer hello", b"listener hello")
        self.assertFalse(core.verify(ident.public_key, sig, other))


def hello(**overrides):
    ident = core.Identity.generate()
    fields = dict(min_version=1, max_version=1, peer_id=ident.peer_id, key_type=core.KEY_TYPE_ED25519,
                  public_key=ident.public_key, nonce=bytes(32), binding=handshake_pb2.CHANNEL_BINDING_NONCES,
                  protocols=[capability_pb2.ProtocolSupport(name="/echo", versions=[1, 2], alias=7)])
    fields.update(overrides)
    return handshake_pb2.Hello(**fields)


class HelloValidationTest(unittest.TestCase):
    def reason_of(self, h, receiver=core.ROLE_LISTENER):
        rejection = core.validate_hello(h, receiver)
        return None if rejection is None else core.reason_name(rejection.reason)

    def test_a_well_formed_hello_passes(self):
        self.assertIsNone(self.reason_of(hello()))

    def test_every_section_3_2_rule_has_its_reason(self):
        p = capability_pb2.ProtocolSupport
        c = capability_pb2.Capability
        cases = {
            "key type": hello(key_type=0),
            "short nonce": hello(nonce=bytes(31)),
            "short key": hello(public_key=bytes(31)),
            "min > max": hello(min_version=2, max_version=1),
            "min 0": hello(min_version=0),
            "duplicate name": hello(protocols=[p(name="/a", alias=1), p(name="/a", alias=2)]),
            "duplicate alias": hello(protocols=[p(name="/a", alias=1), p(name="/b", alias=1)]),
            "empty name": hello(protocols=[p(name="", alias=1)]),
            "long name": hello(protocols=[p(name="x" * 129, alias=1)]),
            "long capability": hello(capabilities=[c(name="x" * 65)]),
            "257 addrs": hello(listen_addrs=["a:1"] * 257),
            "257 versions": hello(protocols=[p(name="/a", versions=range(257), alias=1)]),
        }
        for name, h in cases.items():
            with self.subTest(rule=name):
                self.assertEqual(self.reason_of(h), "PROTOCOL_VIOLATION")
        self.assertEqual(self.reason_of(hello(early_data=True), core.ROLE_DIALER), "PROTOCOL_VIOLATION")
        self.assertIsNone(self.reason_of(hello(early_data=True), core.ROLE_LISTENER))
        self.assertEqual(self.reason_of(hello(peer_id=bytes(32))), "AUTHENTICATION_FAILED")


class SmallOrderKeyTest(unittest.TestCase):
    """§2: a Hello whose key has small order is refused, on the exact rule (bytes 0..30, byte 31 & 0x7f)."""

    LISTED = (  # as printed in docs/PROTOCOL.md §2
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    )

    @staticmethod
    def keyed(key):
        return hello(public_key=key, peer_id=core.peer_id_of(key))

    def test_every_one_of_the_14_encodings_is_refused_with_authentication_failed(self):
        keys = [bytes.fromhex(h) for h in self.LISTED]
        keys += [k[:31] + bytes([k[31] | 0x80]) for k in keys]
        self.assertEqual(len(set(keys)), 14)
        for key in keys:
            with self.subTest(key=key.hex()):
                rejection = core.validate_hello(self.keyed(key), core.ROLE_LISTENER)
                self.assertIsNotNone(rejection)
                self.assertEqual((core.reason_name(rejection.reason), rejection.code), ("AUTHENTICATION_FAILED",) * 2)
                self.assertIn("small order", rejection.detail)

    def test_a_real_key_and_keys_one_compared_bit_away_from_a_listed_one_are_accepted(self):
        self.assertIsNone(core.validate_hello(hello(), core.ROLE_LISTENER))

        def near(listed, index, xor):
            key = bytearray.fromhex(listed)
            key[index] ^= xor
            return bytes(key)

        zero, neutral, order2 = self.LISTED[0], self.LISTED[1], self.LISTED[4]
        for key in (
            near(neutral, 0, 0x02),  # 03 00..00: differs from the neutral point in byte 0 only
            near(zero, 0, 0x80),  # the top bit of byte 0 is compared too
            near(neutral, 30, 0x01),  # byte 30, the last of the first 31
            near(neutral, 31, 0x01),  # byte 31 below its sign bit
            near(neutral, 31, 0x40),  # byte 31's top bit under the sign bit
            near(order2, 0, 0x10),
            near(order2, 31, 0x7F),
        ):
            with self.subTest(key=key.hex()):
                self.assertFalse(core.is_small_order_key(key))
                self.assertIsNone(core.validate_hello(self.keyed(key), core.ROLE_LISTENER))

    def test_the_neutral_key_would_otherwise_prove_any_message(self):
        neutral = bytes.fromhex(self.LISTED[1])
        forged = b"\x01" + bytes(63)  # R = the neutral point, S = 0
        for message in (b"", b"peerlink", core.tls_proof_message(core.ROLE_DIALER, bytes(32))):
            self.assertTrue(core.verify(neutral, forged, message))


class TlsBindingTest(unittest.TestCase):
    """§3.3 over TLS: the certificate binding (peerlink/1+cert) and the tls-exporter proof."""

    def setUp(self):
        self.ident = core.Identity.generate()
        self.message = core.tls_proof_message(core.ROLE_DIALER, bytes(range(32)))

    def check(self, alpn=core.ALPN_CERT, cert_key=None, **overrides):
        fields = dict(public_key=self.ident.public_key, peer_id=self.ident.peer_id,
                      binding=core.BINDING_TLS_CERTIFICATE, proof=b"")
        fields.update(overrides)
        cert_key = self.ident.public_key if cert_key is None else cert_key
        rejection = core.check_tls_binding(hello(**fields), alpn, cert_key, self.message)
        return None if rejection is None else core.reason_name(rejection.reason)

    def test_a_side_uses_the_certificate_binding_only_under_peerlink_1_cert_with_its_own_key(self):
        key = self.ident.public_key
        self.assertEqual(core.own_tls_binding(core.ALPN_CERT, key, key), core.BINDING_TLS_CERTIFICATE)
        self.assertEqual(core.own_tls_binding(core.ALPN, key, key), core.BINDING_TLS_EXPORTER)
        self.assertEqual(core.own_tls_binding(core.ALPN_CERT, bytes(32), key), core.BINDING_TLS_EXPORTER)
        self.assertEqual(core.own_tls_binding(core.ALPN_CERT, None, key), core.BINDING_TLS_EXPORTER)

    def test_the_certificate_binding_holds_with_an_empty_proof_and_the_certificate_key(self):
        self.assertIsNone(self.check())

    def test_its_misuses_have_their_reasons(self):
        self.assertEqual(self.check(alpn=core.ALPN), "AUTHENTICATION_FAILED")
        self.assertEqual(self.check(cert_key=core.Identity.generate().public_key), "AUTHENTICATION_FAILED")
        self.assertEqual(core.reason_name(core.check_tls_binding(
            hello(binding=core.BINDING_TLS_CERTIFICATE), core.ALPN_CERT, None, self.message).reason),
            "AUTHENTICATION_FAILED")  # no certificate key known (e.g. a resumed session without one)
        self.assertEqual(self.check(proof=bytes(64)), "PROTOCOL_VIOLATION")
        self.assertEqual(self.check(binding=core.BINDING_NONCES), "AUTHENTICATION_FAILED")
        self.assertEqual(self.check(binding=0), "AUTHENTICATION_FAILED")

    def test_the_exporter_proof_holds_under_either_alpn(self):
        proof = self.ident.sign(self.message)
        for alpn in core.DEFAULT_ALPNS:
            with self.subTest(alpn=alpn):
                self.assertIsNone(self.check(alpn=alpn, binding=core.BINDING_TLS_EXPORTER, proof=proof))
                self.assertEqual(self.check(alpn=alpn, binding=core.BINDING_TLS_EXPORTER, proof=bytes(64)),
                                 "AUTHENTICATION_FAILED")

    def test_a_close_before_the_peers_hello_is_judged_by_what_came_after_the_dialers_tls(self):
        self.assertEqual(core.early_close_code(True, core.ROLE_DIALER, 0), "CONNECTION_CLOSED")
        self.assertEqual(core.early_close_code(True, core.ROLE_DIALER, 1), "AUTHENTICATION_FAILED")
        self.assertEqual(core.early_close_code(True, core.ROLE_LISTENER, 0), "AUTHENTICATION_FAILED")
        self.assertEqual(core.early_close_code(False, core.ROLE_DIALER, 5), "CONNECTION_CLOSED")

    def test_bindings_are_named_without_their_prefix(self):
        self.assertEqual(core.binding_name(core.BINDING_TLS_CERTIFICATE), "TLS_CERTIFICATE")
        self.assertEqual(core.binding_name(3), "TLS_CERTIFICATE")
        self.assertEqual(core.binding_name(99), "99")
        self.assertEqual(core.parse_binding("tls_certificate"), core.BINDING_TLS_CERTIFICATE)
        for bad in ("UNSPECIFIED", "NONE"):
            with self.subTest(name=bad), self.assertRaises(ValueError):
                core.parse_binding(bad)


class NegotiationTest(unittest.TestCase):
    def test_protocols_agree_at_the_highest_common_version_sorted_with_both_aliases(self):
        p = capability_pb2.ProtocolSupport
        local = hello(protocols=[p(name="/z", versions=[1, 2, 3], alias=7), p(name="/a", versions=[1], alias=8),
                                 p(name="/none", versions=[5], alias=9)])
        remote = hello(protocols=[p(name="/a", versions=[1], alias=1), p(name="/z", versions=[2, 3, 4], alias=2),
                                  p(name="/none", versions=[4], alias=3)])
        agreement = core.negotiate(local, remote)
        self.assertEqual(agreement.protocols, [
            {"name": "/a", "version": 1, "localAlias": 8, "remoteAlias": 1},
            {"name": "/z", "version": 3, "localAlias": 7, "remoteAlias": 2},
        ])

    def test_versions_without_overlap_and_missing_required_capabilities_are_incompatible(self):
        c = capability_pb2.Capability
        self.assertEqual(core.negotiate(hello(min_version=2, max_version=3), hello()).code, "PROTOCOL_MISMATCH")
        required = hello(capabilities=[c(name="x", version=1, required=True)])
        self.assertEqual(core.reason_name(core.negotiate(hello(), required).reason), "INCOMPATIBLE_VERSION")
        self.assertEqual(core.reason_name(core.negotiate(required, hello()).reason), "INCOMPATIBLE_VERSION")

    def test_capabilities_agree_at_the_lower_version(self):
        c = capability_pb2.Capability
        agreement = core.negotiate(hello(capabilities=[c(name="b", version=3), c(name="a", version=1)]),
                                   hello(capabilities=[c(name="b", version=2), c(name="a", version=4)]))
        self.assertEqual(agreement.version, 1)
        self.assertEqual(agreement.capabilities, [{"name": "a", "version": 1}, {"name": "b", "version": 2}])


if __name__ == "__main__":
    unittest.main()
