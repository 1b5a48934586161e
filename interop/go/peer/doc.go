// Package peer is a peerlink wire-protocol peer written from docs/PROTOCOL.md
// and proto/peerlink/v1/*.proto alone, without reading peerlink's TypeScript.
// It exists so that peerlink's test suite talks to a real implementation in
// another language; it is small on purpose and not a library for production.
//
// The parts follow the spec's sections: framing.go (§1), identity.go (§2),
// tlsconfig.go (§2, TLS), handshake.go and proof.go (§3.2, §3.3),
// negotiate.go (§3.4), conn.go (§4–§8).
package peer
