package peer

import (
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	pb "peerlink/interop/pb"
)

type outcome struct {
	s   *Session
	err error
}

func newIdentity(t *testing.T) *Identity {
	t.Helper()
	id, err := GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// pair runs a dialer and a listener handshake against each other over
// loopback TCP, inside TLS 1.3 when useTLS is set.
func pair(t *testing.T, useTLS bool, dialer, listener Options) (outcome, outcome) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dialer.Role, listener.Role = RoleDialer, RoleListener
	var d, l outcome
	var wg sync.WaitGroup
	wg.Add(2)
	secure := func(conn net.Conn, id *Identity, server bool) net.Conn {
		if !useTLS {
			return conn
		}
		if id.Private == nil { // the forged SmallOrderIdentity: its certificate needs a real key
			id = newIdentity(t)
		}
		cert, err := SelfSignedCertificate(id)
		if err != nil {
			t.Error(err)
			return conn
		}
		var tc *tls.Conn
		if server {
			tc = tls.Server(conn, ServerTLSConfig(cert))
		} else {
			tc = tls.Client(conn, ClientTLSConfig(cert))
		}
		_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
		if err := tc.Handshake(); err != nil {
			t.Error(err)
		}
		return tc
	}
	go func() {
		defer wg.Done()
		conn, err := ln.Accept()
		if err != nil {
			l.err = err
			return
		}
		l.s, l.err = Handshake(secure(conn, listener.Identity, true), listener)
	}()
	go func() {
		defer wg.Done()
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			d.err = err
			return
		}
		d.s, d.err = Handshake(secure(conn, dialer.Identity, false), dialer)
	}()
	wg.Wait()
	for _, o := range []outcome{d, l} {
		if s := o.s; s != nil {
			t.Cleanup(func() { _ = s.Conn.Close() })
		}
	}
	return d, l
}

func handshakeError(t *testing.T, err error) *HandshakeError {
	t.Helper()
	var he *HandshakeError
	if !errors.As(err, &he) {
		t.Fatalf("got %v, want a *HandshakeError", err)
	}
	return he
}

func bindings(t *testing.T, f func(t *testing.T, useTLS bool)) {
	t.Run("tls", func(t *testing.T) { f(t, true) })
	t.Run("plain", func(t *testing.T) { f(t, false) })
}

func TestHandshakeOpensWithTheSameAgreementOnBothSides(t *testing.T) {
	bindings(t, func(t *testing.T, useTLS bool) {
		a, b := newIdentity(t), newIdentity(t)
		d, l := pair(t, useTLS,
			Options{Identity: a, Protocols: []Protocol{{"/echo", []uint32{1, 2}, 7}, {"/chat", []uint32{1}, 8}}},
			Options{Identity: b, Protocols: []Protocol{{"/echo", []uint32{2, 3}, 1}}})
		if d.err != nil || l.err != nil {
			t.Fatalf("dialer: %v, listener: %v", d.err, l.err)
		}
		if d.s.RemoteID != b.ID || l.s.RemoteID != a.ID {
			t.Fatal("peer ids differ from the identities")
		}
		if d.s.TLS != useTLS || l.s.TLS != useTLS {
			t.Fatal("TLS flag wrong")
		}
		want := []AgreedProtocol{{"/echo", 2, 7, 1}}
		if len(d.s.Agreement.Protocols) != 1 || d.s.Agreement.Protocols[0] != want[0] {
			t.Fatalf("dialer agreed %v, want %v", d.s.Agreement.Protocols, want)
		}
		if p := l.s.Agreement.Protocols; len(p) != 1 || p[0] != (AgreedProtocol{"/echo", 2, 1, 7}) {
			t.Fatalf("listener agreed %v", p)
		}
	})
}

func TestUnexpectedIdentityIsRejectedByTheDialer(t *testing.T) {
	bindings(t, func(t *testing.T, useTLS bool) {
		a, b, other := newIdentity(t), newIdentity(t), newIdentity(t)
		d, l := pair(t, useTLS, Options{Identity: a, Expect: &other.ID}, Options{Identity: b})
		if he := handshakeError(t, d.err); he.Code != "IDENTITY_MISMATCH" || he.Remote {
			t.Fatalf("dialer: %v", he)
		}
		// The listener was open already; its peer's Goodbye arrives on the open connection.
		if l.err != nil {
			t.Fatalf("listener: %v", l.err)
		}
		frame, _, err := l.s.Reader.ReadFrame()
		if err != nil || frame.GetGoodbye().GetReason() != pb.GoodbyeReason_GOODBYE_REASON_UNEXPECTED_IDENTITY {
			t.Fatalf("listener read %v, %v; want Goodbye{UNEXPECTED_IDENTITY}", frame, err)
		}
	})
}

func TestABadProofIsRejectedWithAuthenticationFailed(t *testing.T) {
	bindings(t, func(t *testing.T, useTLS bool) {
		d, l := pair(t, useTLS, Options{Identity: newIdentity(t), BadProof: true}, Options{Identity: newIdentity(t)})
		if he := handshakeError(t, l.err); he.Code != "AUTHENTICATION_FAILED" || he.Reason != pb.GoodbyeReason_GOODBYE_REASON_AUTHENTICATION_FAILED {
			t.Fatalf("listener: %v", he)
		}
		// The listener's Hello (and Auth) precede its Goodbye, so the dialer
		// opened; the Goodbye then arrives on the open connection.
		if d.err != nil {
			t.Fatalf("dialer: %v", d.err)
		}
		frame, _, err := d.s.Reader.ReadFrame()
		if err != nil || frame.GetGoodbye().GetReason() != pb.GoodbyeReason_GOODBYE_REASON_AUTHENTICATION_FAILED {
			t.Fatalf("dialer read %v, %v; want Goodbye{AUTHENTICATION_FAILED}", frame, err)
		}
	})
}

func TestTheOtherTransportsBindingIsRejected(t *testing.T) {
	bindings(t, func(t *testing.T, useTLS bool) {
		_, l := pair(t, useTLS, Options{Identity: newIdentity(t), WrongBinding: true}, Options{Identity: newIdentity(t)})
		if he := handshakeError(t, l.err); he.Reason != pb.GoodbyeReason_GOODBYE_REASON_AUTHENTICATION_FAILED {
			t.Fatalf("listener: %v", he)
		}
	})
}

func TestConnectingToYourselfIsSelfConnection(t *testing.T) {
	bindings(t, func(t *testing.T, useTLS bool) {
		me := newIdentity(t)
		d, l := pair(t, useTLS, Options{Identity: me}, Options{Identity: me})
		for name, err := range map[string]error{"dialer": d.err, "listener": l.err} {
			if he := handshakeError(t, err); he.Reason != pb.GoodbyeReason_GOODBYE_REASON_SELF_CONNECTION {
				t.Fatalf("%s: %v", name, he)
			}
		}
	})
}

func TestIncompatibleVersionsEndTheHandshake(t *testing.T) {
	bindings(t, func(t *testing.T, useTLS bool) {
		d, l := pair(t, useTLS, Options{Identity: newIdentity(t), MinVersion: 2, MaxVersion: 2}, Options{Identity: newIdentity(t)})
		for name, err := range map[string]error{"dialer": d.err, "listener": l.err} {
			if he := handshakeError(t, err); he.Reason != pb.GoodbyeReason_GOODBYE_REASON_INCOMPATIBLE_VERSION {
				t.Fatalf("%s: %v", name, he)
			}
		}
	})
}

func TestEarlyDataIsHeldUntilTheDialerIsVerified(t *testing.T) {
	// Without TLS the early Data arrives before the dialer's Auth and is held.
	protocols := []Protocol{{"/echo", []uint32{1}, 3}}
	d, l := pair(t, false,
		Options{Identity: newIdentity(t), Protocols: protocols, EarlyData: []EarlyMessage{{"/echo", []byte("zero")}, {"/echo", []byte("one")}}},
		Options{Identity: newIdentity(t), Protocols: protocols})
	if d.err != nil || l.err != nil {
		t.Fatalf("dialer: %v, listener: %v", d.err, l.err)
	}
	if len(l.s.Early) != 2 || string(l.s.Early[0].Payload) != "zero" || string(l.s.Early[1].Payload) != "one" {
		t.Fatalf("listener held %v", l.s.Early)
	}
}

func TestAnOpenConnectionAnswersPingsEchoesDataAndSaysGoodbye(t *testing.T) {
	bindings(t, func(t *testing.T, useTLS bool) {
		protocols := []Protocol{{"/echo", []uint32{1}, 5}}
		d, l := pair(t, useTLS, Options{Identity: newIdentity(t), Protocols: protocols},
			Options{Identity: newIdentity(t), Protocols: []Protocol{{"/echo", []uint32{1}, 9}}})
		if d.err != nil || l.err != nil {
			t.Fatalf("dialer: %v, listener: %v", d.err, l.err)
		}
		events := make(chan Event, 64)
		var dialerEvents []Event
		var mu sync.Mutex
		server := NewConn(l.s, []string{"/echo"}, func(Event) {})
		client := NewConn(d.s, nil, func(e Event) {
			mu.Lock()
			dialerEvents = append(dialerEvents, e)
			mu.Unlock()
			events <- e
		})
		go server.Run()
		go client.Run()
		if err := client.Send("/echo", []byte("hello")); err != nil {
			t.Fatal(err)
		}
		if err := client.Ping(); err != nil {
			t.Fatal(err)
		}
		seen := map[string]Event{}
		timeout := time.After(5 * time.Second)
		for seen["data"] == nil || seen["pong"] == nil {
			select {
			case e := <-events:
				seen[e["event"].(string)] = e
			case <-timeout:
				t.Fatalf("events so far: %v", dialerEvents)
			}
		}
		if seen["data"]["text"] != "hello" || seen["data"]["alias"] != uint32(9) {
			t.Fatalf("echo arrived as %v, want text hello on the listener's alias 9", seen["data"])
		}
		server.Goodbye(pb.GoodbyeReason_GOODBYE_REASON_SHUTDOWN, "bye")
		for {
			select {
			case e := <-events:
				if e["event"] == "goodbye" {
					if e["reason"] != "SHUTDOWN" || e["from"] != "remote" {
						t.Fatalf("goodbye event %v", e)
					}
					<-client.Done()
					<-server.Done()
					return
				}
			case <-timeout:
				t.Fatalf("no goodbye; events: %v", dialerEvents)
			}
		}
	})
}

func TestAClaimedPeerIDThatIsNotTheKeysHashIsRejected(t *testing.T) {
	bindings(t, func(t *testing.T, useTLS bool) {
		victim := newIdentity(t)
		_, l := pair(t, useTLS, Options{Identity: newIdentity(t), ClaimPeerID: &victim.ID}, Options{Identity: newIdentity(t)})
		if he := handshakeError(t, l.err); he.Reason != pb.GoodbyeReason_GOODBYE_REASON_AUTHENTICATION_FAILED {
			t.Fatalf("listener: %v", he)
		}
	})
}
