package peer

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"time"
)

// ALPN is the TLS application protocol every peerlink connection negotiates.
const ALPN = "peerlink/1"

// SelfSignedCertificate makes a self-signed X.509 certificate for the identity
// key. It only has to satisfy TLS: the Hello proof, not the certificate, proves
// the identity (§2).
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

// requireCertificate is the local certificate policy: the peer must present a
// certificate (mutual TLS), any chain is accepted because the Hello proof
// authenticates the peer.
func requireCertificate(rawCerts [][]byte, _ [][]*x509.Certificate) error {
	if len(rawCerts) == 0 {
		return errors.New("peer presented no certificate")
	}
	_, err := x509.ParseCertificate(rawCerts[0])
	return err
}

// ServerTLSConfig is the listener's TLS 1.3 configuration: mutual, ALPN peerlink/1.
func ServerTLSConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion:            tls.VersionTLS13,
		MaxVersion:            tls.VersionTLS13,
		Certificates:          []tls.Certificate{cert},
		NextProtos:            []string{ALPN},
		ClientAuth:            tls.RequireAnyClientCert,
		VerifyPeerCertificate: requireCertificate,
	}
}

// ClientTLSConfig is the dialer's TLS 1.3 configuration: mutual, ALPN peerlink/1.
func ClientTLSConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion:            tls.VersionTLS13,
		MaxVersion:            tls.VersionTLS13,
		Certificates:          []tls.Certificate{cert},
		NextProtos:            []string{ALPN},
		InsecureSkipVerify:    true, // replaced by requireCertificate + the Hello proof
		VerifyPeerCertificate: requireCertificate,
	}
}
