package peer

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

func TestPeerIDIsSHA256OfKeyTypeAndKeyInLowercaseBase32(t *testing.T) {
	// RFC 8032 test 1 public key.
	pub, _ := hex.DecodeString("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
	id := PeerIDFromPublicKey(pub)
	want := sha256.Sum256(append([]byte{0x01}, pub...))
	if id != PeerID(want) {
		t.Fatalf("peer id bytes differ")
	}
	text := id.String()
	if len(text) != 52 {
		t.Fatalf("printable form %q has %d chars, want 52", text, len(text))
	}
	parsed, err := ParsePeerID(text)
	if err != nil || parsed != id {
		t.Fatalf("ParsePeerID(%q) = %v, %v", text, parsed, err)
	}
}

func TestParsePeerIDRejectsOtherForms(t *testing.T) {
	id := PeerIDFromPublicKey(make([]byte, 32)).String()
	last := id[51]
	var trailing byte = 'b' // 52 chars carry 260 bits: the last char's low 4 bits must be zero
	if last == 'b' {
		trailing = 'c'
	}
	for _, bad := range []string{"", id[:51], id + "a", "A" + id[1:], id[:51] + "1", id[:51] + string(trailing)} {
		if _, err := ParsePeerID(bad); err == nil {
			t.Errorf("ParsePeerID(%q) succeeded", bad)
		}
	}
}

func TestSelfSignedCertificateCarriesTheIdentityKey(t *testing.T) {
	id, err := GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := SelfSignedCertificate(id)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Leaf != nil {
		t.Fatal("unexpected leaf")
	}
	if err := requireCertificate(cert.Certificate, nil); err != nil {
		t.Fatal(err)
	}
	if !ed25519.Verify(id.Public, []byte("m"), id.Sign([]byte("m"))) {
		t.Fatal("signature does not verify")
	}
}
