package peer

import (
	"crypto/ed25519"
	"encoding/hex"
	"net"
	"testing"

	pb "peerlink/interop/pb"
)

// smallOrderHex is the §2 list as printed in docs/PROTOCOL.md.
var smallOrderHex = []string{
	"0000000000000000000000000000000000000000000000000000000000000000",
	"0100000000000000000000000000000000000000000000000000000000000000",
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
	"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
}

// smallOrderEncodings is every listed encoding with either sign bit: 14 keys.
func smallOrderEncodings(t *testing.T) [][]byte {
	t.Helper()
	var keys [][]byte
	for _, h := range smallOrderHex {
		key, err := hex.DecodeString(h)
		if err != nil || len(key) != 32 {
			t.Fatalf("bad vector %s", h)
		}
		signed := append([]byte(nil), key...)
		signed[31] |= 0x80
		keys = append(keys, key, signed)
	}
	return keys
}

// checkHello runs validateHello on h as a listener over an in-memory pipe
// whose far end reads everything (the Goodbye) and then closes.
func checkHello(t *testing.T, h *pb.Hello) *HandshakeError {
	t.Helper()
	near, far := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _, _ = NewFrameReader(far, DefaultMaxFrameSize).ReadFrame() // the Goodbye, or EOF
		_ = far.Close()
	}()
	s := &Session{Conn: near, Writer: newWriter(near), Role: RoleListener}
	herr := s.validateHello(h)
	if herr == nil {
		_ = near.Close()
	}
	<-done
	WaitLingering()
	return herr
}

func helloWithKey(key []byte) *pb.Hello {
	id := PeerIDFromPublicKey(key)
	return &pb.Hello{MinVersion: 1, MaxVersion: 1, PeerId: id[:], KeyType: pb.KeyType_KEY_TYPE_ED25519,
		PublicKey: key, Nonce: make([]byte, 32)}
}

func TestEverySmallOrderKeyIsRefusedWithAuthenticationFailed(t *testing.T) {
	keys := smallOrderEncodings(t)
	if len(keys) != 14 {
		t.Fatalf("%d encodings, want 14", len(keys))
	}
	for _, key := range keys {
		if !IsSmallOrderKey(key) {
			t.Errorf("%x is not recognised as small order", key)
		}
		he := checkHello(t, helloWithKey(key))
		if he == nil || he.Code != "AUTHENTICATION_FAILED" || he.Reason != pb.GoodbyeReason_GOODBYE_REASON_AUTHENTICATION_FAILED {
			t.Errorf("Hello with key %x: got %v, want AUTHENTICATION_FAILED", key, he)
		}
	}
}

func TestTheSmallOrderCheckIsTheExactRule(t *testing.T) {
	real := newIdentity(t)
	if he := checkHello(t, helloWithKey(real.Public)); he != nil {
		t.Fatalf("a real key is refused: %v", he)
	}
	// Each key differs from a listed one in a bit the rule compares: not refused.
	near := func(from string, index int, xor byte) []byte {
		key, _ := hex.DecodeString(from)
		key[index] ^= xor
		return key
	}
	zero, neutral, order2 := smallOrderHex[0], smallOrderHex[1], smallOrderHex[4]
	for _, key := range [][]byte{
		near(neutral, 0, 0x02),  // 03 00..00: byte 0 only
		near(zero, 0, 0x80),     // 80 00..00: the top bit of byte 0 is compared too
		near(neutral, 30, 0x01), // byte 30, the last of the first 31
		near(neutral, 31, 0x01), // byte 31 below its sign bit
		near(neutral, 31, 0x40), // byte 31's top bit under the sign bit
		near(order2, 0, 0x10),   // fc ff..7f
		near(order2, 31, 0x7f),  // ec ff..ff 00
	} {
		if IsSmallOrderKey(key) {
			t.Errorf("%x is refused though it is not a listed encoding", key)
		}
		if he := checkHello(t, helloWithKey(key)); he != nil {
			t.Errorf("Hello with key %x: %v, want accepted", key, he)
		}
	}
	if IsSmallOrderKey(NeutralKey[:31]) {
		t.Error("a 31-byte key is not a small-order encoding")
	}
}

// The forged identity's signature verifies, for any message, with Go's own
// RFC 8032 verifier: only the §2 check stands between it and a proven peer id.
func TestTheNeutralSignatureVerifiesForAnyMessage(t *testing.T) {
	forged := SmallOrderIdentity()
	if hex.EncodeToString(forged.Public) != smallOrderHex[1] || forged.ID != PeerIDFromPublicKey(forged.Public) {
		t.Fatalf("forged identity %x / %s", forged.Public, forged.ID)
	}
	sig := forged.Sign([]byte("x"))
	if hex.EncodeToString(sig) != "01"+hex.EncodeToString(make([]byte, 63)) {
		t.Fatalf("signature %x", sig)
	}
	for _, msg := range [][]byte{nil, []byte("peerlink"), TLSProofMessage(RoleDialer, make([]byte, 32))} {
		if !ed25519.Verify(forged.Public, msg, sig) {
			t.Fatalf("the neutral signature does not verify for %q", msg)
		}
	}
}

func TestAPeerWithTheNeutralKeyIsRefusedOverEachTransport(t *testing.T) {
	bindings(t, func(t *testing.T, useTLS bool) {
		_, l := pair(t, useTLS, Options{Identity: SmallOrderIdentity()}, Options{Identity: newIdentity(t)})
		he := handshakeError(t, l.err)
		if he.Code != "AUTHENTICATION_FAILED" || he.Reason != pb.GoodbyeReason_GOODBYE_REASON_AUTHENTICATION_FAILED || he.Remote {
			t.Fatalf("listener: %v", he)
		}
		if he.Detail != "Hello.public_key has small order: a fixed signature verifies for it" {
			t.Fatalf("listener refused for another reason: %v", he)
		}
	})
}
