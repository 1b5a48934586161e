package peer

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	pb "peerlink/interop/pb"
)

// tlsSide is one side of tlsPair: its handshake options, the identity its
// certificate is for (default: Options.Identity) and its ALPN ids.
type tlsSide struct {
	opts   Options
	certOf *Identity
	alpns  []string
	// config, when set, is used as is (shared ticket keys or session cache).
	config *tls.Config
}

func (side *tlsSide) tlsConfig(t *testing.T, server bool) *tls.Config {
	t.Helper()
	if side.config != nil {
		return side.config
	}
	certOf := side.certOf
	if certOf == nil {
		certOf = side.opts.Identity
	}
	cert, err := SelfSignedCertificate(certOf)
	if err != nil {
		t.Fatal(err)
	}
	side.opts.CertKey = certOf.Public
	if server {
		side.config = ServerTLSConfig(cert, side.alpns...)
	} else {
		side.config = ClientTLSConfig(cert, side.alpns...)
	}
	return side.config
}

// tlsPair runs a dialer and a listener handshake against each other over
// loopback TLS 1.3, the dialer counting what it receives after its TLS
// handshake as peerlink-go does.
func tlsPair(t *testing.T, dialer, listener *tlsSide) (outcome, outcome) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dialer.opts.Role, listener.opts.Role = RoleDialer, RoleListener
	serverConfig, clientConfig := listener.tlsConfig(t, true), dialer.tlsConfig(t, false)
	var d, l outcome
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		conn, err := ln.Accept()
		if err != nil {
			l.err = err
			return
		}
		tc := tls.Server(conn, serverConfig)
		_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
		if l.err = tc.Handshake(); l.err == nil {
			l.s, l.err = Handshake(tc, listener.opts)
		}
	}()
	go func() {
		defer wg.Done()
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			d.err = err
			return
		}
		counted := NewCountingConn(conn)
		tc := tls.Client(counted, clientConfig)
		_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
		if d.err = tc.Handshake(); d.err == nil {
			at := counted.Received()
			opts := dialer.opts
			opts.ReceivedSinceSecure = func() int64 { return counted.Received() - at }
			d.s, d.err = Handshake(tc, opts)
		}
	}()
	wg.Wait()
	for _, o := range []outcome{d, l} {
		if s := o.s; s != nil {
			t.Cleanup(func() { _ = s.Conn.Close() })
		}
	}
	return d, l
}

func TestBothSidesUseTheCertificateBindingUnderPeerlink1Cert(t *testing.T) {
	a, b := newIdentity(t), newIdentity(t)
	d, l := tlsPair(t, &tlsSide{opts: Options{Identity: a}}, &tlsSide{opts: Options{Identity: b}})
	if d.err != nil || l.err != nil {
		t.Fatalf("dialer: %v, listener: %v", d.err, l.err)
	}
	for _, s := range []*Session{d.s, l.s} {
		if s.ALPN != ALPNCert || s.Local.Binding != pb.ChannelBinding_CHANNEL_BINDING_TLS_CERTIFICATE ||
			s.Remote.Binding != pb.ChannelBinding_CHANNEL_BINDING_TLS_CERTIFICATE || len(s.Local.Proof) != 0 {
			t.Fatalf("%v: ALPN %q, own binding %v (proof %d bytes), peer's %v", s.Role, s.ALPN, s.Local.Binding,
				len(s.Local.Proof), s.Remote.Binding)
		}
	}
	if d.s.RemoteID != b.ID || l.s.RemoteID != a.ID {
		t.Fatal("peer ids differ from the identities")
	}
}

func TestALegacyOnlySideFallsBackToTheExporterProofEitherWay(t *testing.T) {
	for _, legacy := range []string{"dialer", "listener"} {
		t.Run(legacy, func(t *testing.T) {
			dialer, listener := &tlsSide{opts: Options{Identity: newIdentity(t)}}, &tlsSide{opts: Options{Identity: newIdentity(t)}}
			if legacy == "dialer" {
				dialer.alpns = []string{ALPN}
			} else {
				listener.alpns = []string{ALPN}
			}
			d, l := tlsPair(t, dialer, listener)
			if d.err != nil || l.err != nil {
				t.Fatalf("dialer: %v, listener: %v", d.err, l.err)
			}
			for _, s := range []*Session{d.s, l.s} {
				if s.ALPN != ALPN || s.Remote.Binding != pb.ChannelBinding_CHANNEL_BINDING_TLS_EXPORTER {
					t.Fatalf("%v: ALPN %q, peer's binding %v", s.Role, s.ALPN, s.Remote.Binding)
				}
			}
		})
	}
}

func TestASideWhoseCertificateIsNotItsIdentityUsesTheExporterProof(t *testing.T) {
	d, l := tlsPair(t, &tlsSide{opts: Options{Identity: newIdentity(t)}, certOf: newIdentity(t)},
		&tlsSide{opts: Options{Identity: newIdentity(t)}})
	if d.err != nil || l.err != nil {
		t.Fatalf("dialer: %v, listener: %v", d.err, l.err)
	}
	// The choice is per side (§3.3).
	if l.s.ALPN != ALPNCert || l.s.Remote.Binding != pb.ChannelBinding_CHANNEL_BINDING_TLS_EXPORTER ||
		d.s.Remote.Binding != pb.ChannelBinding_CHANNEL_BINDING_TLS_CERTIFICATE {
		t.Fatalf("ALPN %q, dialer's binding %v, listener's %v", l.s.ALPN, l.s.Remote.Binding, d.s.Remote.Binding)
	}
}

func TestCertificateBindingMisuseIsRejected(t *testing.T) {
	cases := []struct {
		name   string
		side   tlsSide
		reason pb.GoodbyeReason
	}{
		{"a certificate of another key", tlsSide{certOf: newIdentity(t),
			opts: Options{Binding: pb.ChannelBinding_CHANNEL_BINDING_TLS_CERTIFICATE}},
			pb.GoodbyeReason_GOODBYE_REASON_AUTHENTICATION_FAILED},
		{"under ALPN peerlink/1", tlsSide{alpns: []string{ALPN},
			opts: Options{Binding: pb.ChannelBinding_CHANNEL_BINDING_TLS_CERTIFICATE}},
			pb.GoodbyeReason_GOODBYE_REASON_AUTHENTICATION_FAILED},
		{"with a proof", tlsSide{opts: Options{CertProof: true}}, pb.GoodbyeReason_GOODBYE_REASON_PROTOCOL_VIOLATION},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dialer := c.side
			dialer.opts.Identity = newIdentity(t)
			d, l := tlsPair(t, &dialer, &tlsSide{opts: Options{Identity: newIdentity(t)}})
			if he := handshakeError(t, l.err); he.Reason != c.reason || he.Remote {
				t.Fatalf("listener: %v, want Goodbye{%v}", he, c.reason)
			}
			if d.err != nil {
				t.Fatalf("dialer: %v", d.err)
			}
			if frame, _, err := d.s.Reader.ReadFrame(); err != nil || frame.GetGoodbye().GetReason() != c.reason {
				t.Fatalf("dialer read %v, %v; want Goodbye{%v}", frame, err, c.reason)
			}
		})
	}
}

// On a resumed session no certificate is sent; Go's client keeps the server's
// certificate in its session cache and the server restores the client's from
// the ticket, so the binding is checked against the full handshake's keys.
func TestTheCertificateBindingHoldsOnAResumedSession(t *testing.T) {
	dialer, listener := &tlsSide{opts: Options{Identity: newIdentity(t)}}, &tlsSide{opts: Options{Identity: newIdentity(t)}}
	client := dialer.tlsConfig(t, false)
	client.ClientSessionCache = tls.NewLRUClientSessionCache(1)
	client.ServerName = "listener" // the cache key; the default is the address, a new port each time here
	for i, wantResumed := range []bool{false, true} {
		d, l := tlsPair(t, dialer, listener)
		if d.err != nil || l.err != nil {
			t.Fatalf("handshake %d: dialer: %v, listener: %v", i, d.err, l.err)
		}
		if got := d.s.Conn.(*tls.Conn).ConnectionState().DidResume; got != wantResumed {
			t.Fatalf("handshake %d resumed: %v", i, got)
		}
		if d.s.Remote.Binding != pb.ChannelBinding_CHANNEL_BINDING_TLS_CERTIFICATE ||
			l.s.Remote.Binding != pb.ChannelBinding_CHANNEL_BINDING_TLS_CERTIFICATE {
			t.Fatalf("handshake %d: bindings %v, %v", i, d.s.Remote.Binding, l.s.Remote.Binding)
		}
		// The dialer holds the ticket: the listener sent it before its Hello.
		_ = d.s.Conn.Close()
		_ = l.s.Conn.Close()
	}
}

// dialAgainst runs a TLS dialer's handshake against serve, which gets the
// accepted TCP connection.
func dialAgainst(t *testing.T, serve func(conn net.Conn)) *HandshakeError {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if conn, err := ln.Accept(); err == nil {
			serve(conn)
		}
	}()
	defer func() { <-done }()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	dialer := &tlsSide{opts: Options{Identity: newIdentity(t), Role: RoleDialer}}
	counted := NewCountingConn(conn)
	client := dialer.tlsConfig(t, false)
	// As peerlink-go's dialer: with a session cache Go offers psk_key_exchange_modes, without which a
	// TLS 1.3 server sends no ticket (RFC 8446 §4.2.9), and then nothing at all after its Finished.
	client.ClientSessionCache = tls.NewLRUClientSessionCache(1)
	tc := tls.Client(counted, client)
	_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS: %v", err)
	}
	at := counted.Received()
	dialer.opts.ReceivedSinceSecure = func() int64 { return counted.Received() - at }
	_, err = Handshake(tc, dialer.opts)
	return handshakeError(t, err)
}

func serverConfig(t *testing.T) *tls.Config {
	t.Helper()
	return (&tlsSide{opts: Options{Identity: newIdentity(t)}}).tlsConfig(t, true)
}

// §8.1: inside TLS a close before the peer's Hello is AUTHENTICATION_FAILED
// (a rejected certificate), except for a dialer that received nothing after
// its own TLS Finished: the listener dropped a pending connection unjudged.
func TestAListenersCloseBeforeItsHelloIsJudgedByWhatCameAfterTheDialersFinished(t *testing.T) {
	t.Run("dropped before it read the dialer's Finished: CONNECTION_CLOSED", func(t *testing.T) {
		he := dialAgainst(t, func(conn net.Conn) {
			config := serverConfig(t).Clone()
			config.VerifyPeerCertificate = func([][]byte, [][]*x509.Certificate) error {
				_ = conn.Close() // the pending connection is dropped: no alert, no ticket
				return errors.New("dropped")
			}
			_ = tls.Server(conn, config).Handshake()
		})
		if he.Code != "CONNECTION_CLOSED" {
			t.Fatalf("got %v, want CONNECTION_CLOSED", he)
		}
	})
	t.Run("closed after its session ticket: AUTHENTICATION_FAILED", func(t *testing.T) {
		he := dialAgainst(t, func(conn net.Conn) {
			tc := tls.Server(conn, serverConfig(t))
			_ = tc.Handshake() // sends the session ticket once it read the dialer's Finished
			_ = conn.Close()
		})
		if he.Code != "AUTHENTICATION_FAILED" || he.Reason != pb.GoodbyeReason_GOODBYE_REASON_UNSPECIFIED {
			t.Fatalf("got %v, want AUTHENTICATION_FAILED without a Goodbye", he)
		}
	})
	t.Run("an alert rejecting the certificate: AUTHENTICATION_FAILED", func(t *testing.T) {
		he := dialAgainst(t, func(conn net.Conn) {
			config := serverConfig(t).Clone()
			config.VerifyPeerCertificate = func([][]byte, [][]*x509.Certificate) error { return errors.New("not ours") }
			_ = tls.Server(conn, config).Handshake()
			_ = conn.Close()
		})
		if he.Code != "AUTHENTICATION_FAILED" {
			t.Fatalf("got %v, want AUTHENTICATION_FAILED", he)
		}
	})
}
