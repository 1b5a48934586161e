package peer

import "crypto/ed25519"

// smallOrderKeys are the Ed25519 encodings of points of small order (§2,
// libsodium's list). They are compared on bytes 0..30 and on byte 31 without
// its sign bit, so each stands for two encodings.
var smallOrderKeys = [7][32]byte{
	{0x00}, // order 4
	{0x01}, // order 1: the neutral point
	{0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0, // order 8
		0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05},
	{0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f, // order 8
		0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a},
	allOnesBut(0xec), // order 2 (y = p - 1)
	allOnesBut(0xed), // order 4, non-canonical (y = p)
	allOnesBut(0xee), // order 1, non-canonical (y = p + 1)
}

// allOnesBut is ff..ff7f (2^255 - 1) with its first byte set to first.
func allOnesBut(first byte) [32]byte {
	var k [32]byte
	for i := range k {
		k[i] = 0xff
	}
	k[0], k[31] = first, 0x7f
	return k
}

// IsSmallOrderKey reports whether pub is one of the 14 small-order encodings
// (§2): for such a key a fixed signature verifies for every message, so it
// proves no identity.
func IsSmallOrderKey(pub []byte) bool {
	if len(pub) != ed25519.PublicKeySize {
		return false
	}
	for _, bad := range smallOrderKeys {
		if string(pub[:31]) == string(bad[:31]) && pub[31]&0x7f == bad[31] {
			return true
		}
	}
	return false
}

// NeutralKey is the encoding of the neutral point, 01 00..00: the key of
// SmallOrderIdentity.
var NeutralKey = ed25519.PublicKey(append([]byte{0x01}, make([]byte, 31)...))

// NeutralSignature is R = the neutral point (01 00..00), S = 0: under the
// neutral key, [S]B == R + [k]A holds for every k, so RFC 8032 verifiers
// accept it for any message.
func NeutralSignature() []byte { return append([]byte{0x01}, make([]byte, 63)...) }

// SmallOrderIdentity is a forged identity with the neutral key (a test of the
// peer's §2 check): it has no private key and "signs" every message with
// NeutralSignature. Its TLS certificate must come from another key.
func SmallOrderIdentity() *Identity {
	pub := append(ed25519.PublicKey(nil), NeutralKey...)
	return &Identity{Public: pub, ID: PeerIDFromPublicKey(pub)}
}
