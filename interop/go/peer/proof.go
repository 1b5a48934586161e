package peer

import (
	"crypto/sha256"
	"fmt"
	"strings"

	pb "peerlink/interop/pb"
)

// Role is the signer's role byte in the identity proofs (§3.3).
type Role byte

const (
	// RoleDialer is the side that opened the TCP connection.
	RoleDialer Role = 0x01
	// RoleListener is the side that accepted it.
	RoleListener Role = 0x02
)

// Other is the peer's role.
func (r Role) Other() Role {
	if r == RoleDialer {
		return RoleListener
	}
	return RoleDialer
}

func (r Role) String() string {
	if r == RoleDialer {
		return "dialer"
	}
	return "listener"
}

const (
	tlsBindingLabel   = "peerlink-v1-tls-binding"   // 23 bytes
	nonceBindingLabel = "peerlink-v1-nonce-binding" // 25 bytes
	// ExporterLabel is the RFC 9266 tls-exporter label.
	ExporterLabel = "EXPORTER-Channel-Binding"
	// ExporterLength is the length of the tls-exporter value in bytes.
	ExporterLength = 32
)

// TLSProofMessage is what Hello.proof signs with binding TLS_EXPORTER:
// "peerlink-v1-tls-binding" ‖ role ‖ exporter.
func TLSProofMessage(signer Role, exporter []byte) []byte {
	msg := make([]byte, 0, len(tlsBindingLabel)+1+len(exporter))
	msg = append(msg, tlsBindingLabel...)
	msg = append(msg, byte(signer))
	return append(msg, exporter...)
}

// NonceProofMessage is what Auth.proof signs with binding NONCES:
// "peerlink-v1-nonce-binding" ‖ role ‖ SHA-256(dialer Hello body) ‖ SHA-256(listener Hello body).
func NonceProofMessage(signer Role, dialerHelloBody, listenerHelloBody []byte) []byte {
	d := sha256.Sum256(dialerHelloBody)
	l := sha256.Sum256(listenerHelloBody)
	msg := make([]byte, 0, len(nonceBindingLabel)+1+64)
	msg = append(msg, nonceBindingLabel...)
	msg = append(msg, byte(signer))
	msg = append(msg, d[:]...)
	return append(msg, l[:]...)
}

// BindingName is a channel binding without its enum prefix, e.g. "TLS_CERTIFICATE".
func BindingName(b pb.ChannelBinding) string {
	if name, ok := pb.ChannelBinding_name[int32(b)]; ok {
		return strings.TrimPrefix(name, "CHANNEL_BINDING_")
	}
	return fmt.Sprintf("%d", int32(b))
}

// ParseBinding is the inverse of BindingName.
func ParseBinding(name string) (pb.ChannelBinding, bool) {
	v, ok := pb.ChannelBinding_value["CHANNEL_BINDING_"+strings.ToUpper(name)]
	return pb.ChannelBinding(v), ok
}
