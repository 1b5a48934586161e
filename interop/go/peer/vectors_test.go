package peer

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	pb "peerlink/interop/pb"
)

// The language-neutral vectors of test/vectors/ (docs/PROTOCOL.md), checked
// against this peer's code and generated codecs.

func loadVectors(t *testing.T, name string, into any) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "test", "vectors", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, into); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func identityOfSeed(t *testing.T, seed string) *Identity {
	return NewIdentity(ed25519.NewKeyFromSeed(unhex(t, seed)))
}

func TestVectorsPeerIDs(t *testing.T) {
	var doc struct {
		Cases []struct{ Seed, PublicKey, PeerID, PeerIDText string }
	}
	loadVectors(t, "peer-id.json", &doc)
	for _, c := range doc.Cases {
		id := identityOfSeed(t, c.Seed)
		if hex.EncodeToString(id.Public) != c.PublicKey {
			t.Errorf("public key of seed %s", c.Seed)
		}
		pid := PeerIDFromPublicKey(unhex(t, c.PublicKey))
		if hex.EncodeToString(pid[:]) != c.PeerID || pid.String() != c.PeerIDText {
			t.Errorf("peer id %s, want %s", pid, c.PeerIDText)
		}
		if parsed, err := ParsePeerID(c.PeerIDText); err != nil || parsed != pid {
			t.Errorf("ParsePeerID(%s) = %v, %v", c.PeerIDText, parsed, err)
		}
	}
}

func roleOf(name string) Role {
	if name == "dialer" {
		return RoleDialer
	}
	return RoleListener
}

func TestVectorsTLSProof(t *testing.T) {
	var doc struct {
		Cases []struct{ Seed, PublicKey, Role, Exporter, Message, Signature string }
	}
	loadVectors(t, "identity-proof.json", &doc)
	for _, c := range doc.Cases {
		role := roleOf(c.Role)
		msg := TLSProofMessage(role, unhex(t, c.Exporter))
		if hex.EncodeToString(msg) != c.Message {
			t.Errorf("%s message differs", c.Role)
		}
		if hex.EncodeToString(identityOfSeed(t, c.Seed).Sign(msg)) != c.Signature {
			t.Errorf("%s signature differs", c.Role)
		}
		pub, sig := ed25519.PublicKey(unhex(t, c.PublicKey)), unhex(t, c.Signature)
		if !ed25519.Verify(pub, msg, sig) || ed25519.Verify(pub, TLSProofMessage(role.Other(), unhex(t, c.Exporter)), sig) {
			t.Errorf("%s signature verifies wrongly", c.Role)
		}
	}
}

func TestVectorsNonceTranscript(t *testing.T) {
	type side struct{ Seed, PublicKey, PeerID, AuthMessage, AuthBody, HelloBody string }
	var doc struct {
		Dialer, Listener                   side
		EarlyDataBody                      string
		DialerToListener, ListenerToDialer string
	}
	loadVectors(t, "nonce-transcript.json", &doc)
	d, l := unhex(t, doc.Dialer.HelloBody), unhex(t, doc.Listener.HelloBody)
	for _, s := range []struct {
		side
		role Role
	}{{doc.Dialer, RoleDialer}, {doc.Listener, RoleListener}} {
		msg := NonceProofMessage(s.role, d, l)
		if hex.EncodeToString(msg) != s.AuthMessage {
			t.Errorf("%v Auth message differs", s.role)
		}
		var f pb.Frame
		if err := proto.Unmarshal(unhex(t, s.AuthBody), &f); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(identityOfSeed(t, s.Seed).Sign(msg), f.GetAuth().GetProof()) {
			t.Errorf("%v Auth proof differs", s.role)
		}
	}
	w := func(body string) string { return hex.EncodeToString(WithPrefix(unhex(t, body))) }
	if w(doc.Dialer.HelloBody)+w(doc.EarlyDataBody)+w(doc.Dialer.AuthBody) != doc.DialerToListener ||
		w(doc.Listener.HelloBody)+w(doc.Listener.AuthBody) != doc.ListenerToDialer {
		t.Error("transcript bytes differ")
	}
}

func TestVectorsFrames(t *testing.T) {
	var doc struct {
		Cases []struct {
			Kind       string
			JSON       json.RawMessage
			Body, Wire string
		}
	}
	loadVectors(t, "frames.json", &doc)
	if len(doc.Cases) != (&pb.Frame{}).ProtoReflect().Descriptor().Oneofs().ByName("kind").Fields().Len() {
		t.Errorf("%d frame vectors, want one per kind", len(doc.Cases))
	}
	for _, c := range doc.Cases {
		var f pb.Frame
		if err := protojson.Unmarshal(c.JSON, &f); err != nil {
			t.Fatalf("%s: %v", c.Kind, err)
		}
		body, err := proto.MarshalOptions{Deterministic: true}.Marshal(&f)
		if err != nil || hex.EncodeToString(body) != c.Body || hex.EncodeToString(WithPrefix(body)) != c.Wire {
			t.Errorf("%s encodes to %x, want %s", c.Kind, body, c.Body)
		}
		var back pb.Frame
		if err := proto.Unmarshal(unhex(t, c.Body), &back); err != nil || !proto.Equal(&back, &f) {
			t.Errorf("%s decodes differently", c.Kind)
		}
	}
}

func TestVectorsGoodbyeReasons(t *testing.T) {
	var doc struct {
		Cases []struct {
			Value        int32
			Sendable     bool
			Body, ReadAs string
		}
	}
	loadVectors(t, "goodbye-reasons.json", &doc)
	for _, c := range doc.Cases {
		var f pb.Frame
		if err := proto.Unmarshal(unhex(t, c.Body), &f); err != nil {
			t.Fatal(err)
		}
		if r := f.GetGoodbye().GetReason(); int32(r) != c.Value || "GOODBYE_REASON_"+ReasonName(r) != c.ReadAs {
			t.Errorf("reason %d reads as %s, want %s", c.Value, ReasonName(r), c.ReadAs)
		}
		if c.Sendable {
			body, _ := EncodeFrame(GoodbyeFrame(pb.GoodbyeReason(c.Value), ""))
			if hex.EncodeToString(body) != c.Body {
				t.Errorf("reason %d encodes to %x, want %s", c.Value, body, c.Body)
			}
		}
	}
}

func TestVectorsLengthPrefixes(t *testing.T) {
	var doc struct {
		MaxFrameSize uint32
		Cases        []struct {
			Hex, Verdict string
			Length       *uint32
		}
	}
	loadVectors(t, "length-prefixes.json", &doc)
	for _, c := range doc.Cases {
		b := unhex(t, c.Hex)
		verdict := "ok"
		n, err := NewFrameReader(bytes.NewReader(b), doc.MaxFrameSize).ReadPrefix()
		switch {
		case errors.Is(err, ErrMalformedPrefix):
			verdict = "malformed"
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			verdict = "incomplete"
		case err != nil:
			t.Fatalf("%s: %v", c.Hex, err)
		default:
			_, _, ferr := NewFrameReader(bytes.NewReader(b), doc.MaxFrameSize).ReadFrame()
			if errors.Is(ferr, ErrFrameTooLarge) {
				verdict = "tooLarge"
			}
			if c.Length != nil && n != *c.Length {
				t.Errorf("%s: length %d, want %d", c.Hex, n, *c.Length)
			}
		}
		if verdict != c.Verdict {
			t.Errorf("%s: %s, want %s", c.Hex, verdict, c.Verdict)
		}
	}
}
