package peer

import (
	"io"
	"net"
	"testing"
	"time"

	pb "peerlink/interop/pb"
)

func TestConnectionLostIsNeverSentAndReadsAsNormal(t *testing.T) {
	if got := ReasonName(pb.GoodbyeReason_GOODBYE_REASON_CONNECTION_LOST); got != "NORMAL" {
		t.Fatalf("a received CONNECTION_LOST reads as %q, want NORMAL (§8)", got)
	}
	if _, ok := ParseReason("CONNECTION_LOST"); ok {
		t.Fatal("ParseReason accepted CONNECTION_LOST, which a Goodbye never carries")
	}
	if r, ok := ParseReason("resource_constraint"); !ok || r != pb.GoodbyeReason_GOODBYE_REASON_RESOURCE_CONSTRAINT {
		t.Fatalf("ParseReason(resource_constraint) = %v, %v", r, ok)
	}
}

// A listener refusing for capacity: its Goodbye{RESOURCE_CONSTRAINT} ends the
// dialer's handshake with CONNECTION_LIMIT and the retry-after it asked for.
func TestACapacityRefusalEndsTheHandshakeWithItsRetryAfter(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		bye := &pb.Goodbye{Reason: pb.GoodbyeReason_GOODBYE_REASON_RESOURCE_CONSTRAINT, Detail: "full", RetryAfterMs: 30000}
		w := newWriter(conn)
		w.Final(&pb.Frame{Kind: &pb.Frame_Goodbye{Goodbye: bye}})
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _ = io.Copy(io.Discard, conn)
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_, err = Handshake(conn, Options{Identity: newIdentity(t), Role: RoleDialer})
	he := handshakeError(t, err)
	if !he.Remote || he.Code != "CONNECTION_LIMIT" || he.Reason != pb.GoodbyeReason_GOODBYE_REASON_RESOURCE_CONSTRAINT ||
		he.RetryAfterMs != 30000 || he.Detail != "full" {
		t.Fatalf("got %+v, want a remote CONNECTION_LIMIT refusal with retry-after 30000", he)
	}
}
