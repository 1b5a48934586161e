package peer

import (
	"reflect"
	"testing"

	pb "peerlink/interop/pb"
)

func hello(min, max uint32, caps []*pb.Capability, protos ...*pb.ProtocolSupport) *pb.Hello {
	return &pb.Hello{MinVersion: min, MaxVersion: max, Capabilities: caps, Protocols: protos}
}

func TestNegotiationIsSymmetric(t *testing.T) {
	a := hello(1, 3, []*pb.Capability{{Name: "z", Version: 4}, {Name: "a", Version: 2}, {Name: "only-a", Version: 1}},
		&pb.ProtocolSupport{Name: "/chat", Versions: []uint32{1, 2, 3}, Alias: 1},
		&pb.ProtocolSupport{Name: "/old", Versions: []uint32{1}, Alias: 2},
		&pb.ProtocolSupport{Name: "/echo", Versions: []uint32{1}, Alias: 3})
	b := hello(2, 5, []*pb.Capability{{Name: "a", Version: 5}, {Name: "z", Version: 1}},
		&pb.ProtocolSupport{Name: "/echo", Versions: []uint32{1}, Alias: 9},
		&pb.ProtocolSupport{Name: "/old", Versions: []uint32{2}, Alias: 8},
		&pb.ProtocolSupport{Name: "/chat", Versions: []uint32{2, 4}, Alias: 7})
	ab, err := Negotiate(a, b)
	if err != nil {
		t.Fatal(err)
	}
	ba, err := Negotiate(b, a)
	if err != nil {
		t.Fatal(err)
	}
	if ab.Version != 3 || ba.Version != 3 {
		t.Fatalf("versions %d and %d, want 3", ab.Version, ba.Version)
	}
	wantCaps := []AgreedCapability{{"a", 2}, {"z", 1}}
	if !reflect.DeepEqual(ab.Capabilities, wantCaps) || !reflect.DeepEqual(ba.Capabilities, wantCaps) {
		t.Fatalf("capabilities %v / %v, want %v", ab.Capabilities, ba.Capabilities, wantCaps)
	}
	if want := []AgreedProtocol{{"/chat", 2, 1, 7}, {"/echo", 1, 3, 9}}; !reflect.DeepEqual(ab.Protocols, want) {
		t.Fatalf("protocols %v, want %v (no /old: no common version)", ab.Protocols, want)
	}
	if want := []AgreedProtocol{{"/chat", 2, 7, 1}, {"/echo", 1, 9, 3}}; !reflect.DeepEqual(ba.Protocols, want) {
		t.Fatalf("protocols %v, want %v", ba.Protocols, want)
	}
}

func TestNegotiationFailures(t *testing.T) {
	cases := map[string][2]*pb.Hello{
		"disjoint versions":                   {hello(1, 1, nil), hello(2, 3, nil)},
		"local requires a capability":         {hello(1, 1, []*pb.Capability{{Name: "x", Version: 1, Required: true}}), hello(1, 1, nil)},
		"remote requires a capability":        {hello(1, 1, nil), hello(1, 1, []*pb.Capability{{Name: "x", Version: 1, Required: true}})},
		"required capability of another name": {hello(1, 1, []*pb.Capability{{Name: "x", Required: true}}), hello(1, 1, []*pb.Capability{{Name: "y"}})},
	}
	for name, pair := range cases {
		_, err := Negotiate(pair[0], pair[1])
		ne, ok := err.(*NegotiationError)
		if !ok || ne.Reason != pb.GoodbyeReason_GOODBYE_REASON_INCOMPATIBLE_VERSION {
			t.Errorf("%s: got %v, want INCOMPATIBLE_VERSION", name, err)
		}
	}
}
