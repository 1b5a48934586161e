package peer

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"time"
)

const (
	// ALPN is the protocol id under which every Hello carries a signed proof (§2).
	ALPN = "peerlink/1"
	// ALPNCert is the protocol id under which a Hello may rely on the sender's
	// TLS certificate instead (CHANNEL_BINDING_TLS_CERTIFICATE, §3.3).
	ALPNCert = "peerlink/1+cert"
)

// DefaultALPNs is what a client offers, in order, and what a server accepts, in
// order of preference: a server that accepts both must select ALPNCert when offered (§2).
var DefaultALPNs = []string{ALPNCert, ALPN}

// KnownALPN reports whether id is one of the two peerlink protocol ids.
func KnownALPN(id string) bool { return id == ALPN || id == ALPNCert }

// SelfSignedCertificate makes a self-signed X.509 certificate for the identity
// key. Its key is the identity key, so under ALPN peerlink/1+cert the
// certificate itself proves the identity (§3.3); under peerlink/1 only the
// Hello proof does.
func SelfSignedCertificate(id *Identity) (tls.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 63))
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	template := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: id.ID.String()},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, id.Public, id.Private)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: id.Private}, nil
}

// CertificateKey is the Ed25519 subject public key of a DER certificate, nil
// when it is not an Ed25519 key or does not parse.
func CertificateKey(der []byte) ed25519.PublicKey {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil
	}
	key, _ := c.PublicKey.(ed25519.PublicKey)
	return key
}

// PeerCertificateKey is the Ed25519 key of the peer's certificate on this TLS
// connection (on a resumed session, the one of the full handshake that issued
// the ticket: Go keeps it in the client session cache and in the server's
// ticket); nil when there is none or it is not Ed25519.
func PeerCertificateKey(state tls.ConnectionState) ed25519.PublicKey {
	if len(state.PeerCertificates) == 0 {
		return nil
	}
	key, _ := state.PeerCertificates[0].PublicKey.(ed25519.PublicKey)
	return key
}

// SameKey reports whether two Ed25519 keys are equal (false for a nil one).
func SameKey(a, b ed25519.PublicKey) bool {
	return len(a) == ed25519.PublicKeySize && bytes.Equal(a, b)
}

// requireCertificate is the local certificate policy: the peer must present a
// certificate (mutual TLS), any chain is accepted because the Hello (its proof,
// or the certificate binding's key check) authenticates the peer.
func requireCertificate(rawCerts [][]byte, _ [][]*x509.Certificate) error {
	if len(rawCerts) == 0 {
		return errors.New("peer presented no certificate")
	}
	_, err := x509.ParseCertificate(rawCerts[0])
	return err
}

// ServerTLSConfig is the listener's TLS 1.3 configuration: mutual, accepting the
// ALPN ids alpns (default DefaultALPNs). Go's server selects the first of its own
// list that the client offered, so the order is the server's preference.
func ServerTLSConfig(cert tls.Certificate, alpns ...string) *tls.Config {
	if len(alpns) == 0 {
		alpns = DefaultALPNs
	}
	return &tls.Config{
		MinVersion:            tls.VersionTLS13,
		MaxVersion:            tls.VersionTLS13,
		Certificates:          []tls.Certificate{cert},
		NextProtos:            append([]string(nil), alpns...),
		ClientAuth:            tls.RequireAnyClientCert,
		VerifyPeerCertificate: requireCertificate,
	}
}

// ClientTLSConfig is the dialer's TLS 1.3 configuration: mutual, offering the
// ALPN ids alpns in this order (default DefaultALPNs).
func ClientTLSConfig(cert tls.Certificate, alpns ...string) *tls.Config {
	if len(alpns) == 0 {
		alpns = DefaultALPNs
	}
	return &tls.Config{
		MinVersion:            tls.VersionTLS13,
		MaxVersion:            tls.VersionTLS13,
		Certificates:          []tls.Certificate{cert},
		NextProtos:            append([]string(nil), alpns...),
		InsecureSkipVerify:    true, // replaced by requireCertificate + the Hello proof
		VerifyPeerCertificate: requireCertificate,
	}
}
