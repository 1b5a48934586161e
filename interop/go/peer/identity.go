package peer

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base32"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
)

// KeyTypeEd25519 is the wire value of KeyType.ED25519, the first byte hashed into a peer id.
const KeyTypeEd25519 = 1

// PeerIDLength is the length of a peer id in bytes.
const PeerIDLength = 32

// peerIDEncoding is RFC 4648 base32 without padding; peer ids print it lowercase.
var peerIDEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// PeerID is SHA-256(key_type ‖ public_key) (§2).
type PeerID [PeerIDLength]byte

// PeerIDFromPublicKey derives the peer id of a raw 32-byte Ed25519 public key.
func PeerIDFromPublicKey(pub []byte) PeerID {
	h := sha256.New()
	h.Write([]byte{KeyTypeEd25519})
	h.Write(pub)
	var id PeerID
	copy(id[:], h.Sum(nil))
	return id
}

// ParsePeerID parses the printable form: 52 lowercase unpadded base32 characters.
func ParsePeerID(text string) (PeerID, error) {
	var id PeerID
	if len(text) != 52 || text != strings.ToLower(text) {
		return id, fmt.Errorf("a peer id is 52 lowercase base32 characters, got %q", text)
	}
	raw, err := peerIDEncoding.DecodeString(strings.ToUpper(text))
	if err != nil || len(raw) != PeerIDLength {
		return id, fmt.Errorf("invalid peer id %q", text)
	}
	copy(id[:], raw)
	if id.String() != text { // trailing bits set: not the canonical encoding
		return PeerID{}, fmt.Errorf("non-canonical peer id %q", text)
	}
	return id, nil
}

// String is the printable form: lowercase unpadded base32, 52 characters.
func (id PeerID) String() string {
	return strings.ToLower(peerIDEncoding.EncodeToString(id[:]))
}

// Less reports whether id sorts before other as unsigned bytes (§3.6).
func (id PeerID) Less(other PeerID) bool { return bytes.Compare(id[:], other[:]) < 0 }

// Identity is a node's long-term Ed25519 key pair and its peer id.
type Identity struct {
	Private ed25519.PrivateKey
	Public  ed25519.PublicKey
	ID      PeerID
}

// NewIdentity wraps an Ed25519 private key.
func NewIdentity(priv ed25519.PrivateKey) *Identity {
	pub := priv.Public().(ed25519.PublicKey)
	return &Identity{Private: priv, Public: pub, ID: PeerIDFromPublicKey(pub)}
}

// GenerateIdentity creates a fresh random identity.
func GenerateIdentity() (*Identity, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return NewIdentity(priv), nil
}

// LoadIdentity reads a PKCS#8 PEM Ed25519 private key ("PRIVATE KEY"), the
// format peerlink's Identity.save writes.
func LoadIdentity(path string) (*Identity, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New("expected a PEM \"PRIVATE KEY\" block (PKCS#8)")
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	priv, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, errors.New("identity key must be Ed25519")
	}
	return NewIdentity(priv), nil
}

// Sign signs msg with the identity key (Ed25519, 64 bytes). The forged
// SmallOrderIdentity has no private key: its signature is NeutralSignature.
func (id *Identity) Sign(msg []byte) []byte {
	if id.Private == nil {
		return NeutralSignature()
	}
	return ed25519.Sign(id.Private, msg)
}
