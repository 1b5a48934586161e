package peer

import (
	"fmt"
	"sort"

	pb "peerlink/interop/pb"
)

// AgreedCapability is a capability both sides listed, at the lower version.
type AgreedCapability struct {
	Name    string `json:"name"`
	Version uint32 `json:"version"`
}

// AgreedProtocol is an application protocol both sides speak, at the highest
// common version, with the alias each side puts in its own Data frames.
type AgreedProtocol struct {
	Name        string `json:"name"`
	Version     uint32 `json:"version"`
	LocalAlias  uint32 `json:"localAlias"`
	RemoteAlias uint32 `json:"remoteAlias"`
}

// Agreement is the outcome of §3.4 negotiation; both sides compute the same
// version, capabilities and protocol versions from the same two Hellos.
type Agreement struct {
	Version      uint32
	Capabilities []AgreedCapability
	Protocols    []AgreedProtocol
}

// NegotiationError says which §3.4 check failed and the Goodbye reason it maps to.
type NegotiationError struct {
	Reason pb.GoodbyeReason
	Detail string
}

func (e *NegotiationError) Error() string { return e.Detail }

// Negotiate applies §3.4 checks 3–5 (version, capabilities, protocols) to the
// local and remote Hello.
func Negotiate(local, remote *pb.Hello) (Agreement, error) {
	var a Agreement
	agreed := min32(local.MaxVersion, remote.MaxVersion)
	floor := max32(local.MinVersion, remote.MinVersion)
	if agreed < floor {
		return a, &NegotiationError{pb.GoodbyeReason_GOODBYE_REASON_INCOMPATIBLE_VERSION,
			fmt.Sprintf("no common wire version: local %d..%d, remote %d..%d",
				local.MinVersion, local.MaxVersion, remote.MinVersion, remote.MaxVersion)}
	}
	a.Version = agreed

	localCaps := capabilityIndex(local.Capabilities)
	remoteCaps := capabilityIndex(remote.Capabilities)
	for _, c := range local.Capabilities {
		if c.Required && remoteCaps[c.Name] == nil {
			return a, &NegotiationError{pb.GoodbyeReason_GOODBYE_REASON_INCOMPATIBLE_VERSION,
				fmt.Sprintf("peer lacks required capability %q", c.Name)}
		}
	}
	for _, c := range remote.Capabilities {
		if c.Required && localCaps[c.Name] == nil {
			return a, &NegotiationError{pb.GoodbyeReason_GOODBYE_REASON_INCOMPATIBLE_VERSION,
				fmt.Sprintf("peer requires capability %q", c.Name)}
		}
	}
	for name, lc := range localCaps {
		if rc := remoteCaps[name]; rc != nil {
			a.Capabilities = append(a.Capabilities, AgreedCapability{name, min32(lc.Version, rc.Version)})
		}
	}
	sort.Slice(a.Capabilities, func(i, j int) bool { return a.Capabilities[i].Name < a.Capabilities[j].Name })

	remoteProtos := map[string]*pb.ProtocolSupport{}
	for _, p := range remote.Protocols {
		if remoteProtos[p.Name] == nil {
			remoteProtos[p.Name] = p
		}
	}
	seen := map[string]bool{}
	for _, lp := range local.Protocols {
		rp := remoteProtos[lp.Name]
		if rp == nil || seen[lp.Name] {
			continue
		}
		seen[lp.Name] = true
		if v, ok := HighestCommonVersion(lp.Versions, rp.Versions); ok {
			a.Protocols = append(a.Protocols, AgreedProtocol{lp.Name, v, lp.Alias, rp.Alias})
		}
	}
	sort.Slice(a.Protocols, func(i, j int) bool { return a.Protocols[i].Name < a.Protocols[j].Name })
	return a, nil
}

// HighestCommonVersion is the largest version in both lists.
func HighestCommonVersion(a, b []uint32) (uint32, bool) {
	var best uint32
	found := false
	for _, x := range a {
		for _, y := range b {
			if x == y && (!found || x > best) {
				best, found = x, true
			}
		}
	}
	return best, found
}

func capabilityIndex(caps []*pb.Capability) map[string]*pb.Capability {
	out := map[string]*pb.Capability{}
	for _, c := range caps {
		if out[c.Name] == nil {
			out[c.Name] = c
		}
	}
	return out
}

func min32(a, b uint32) uint32 {
	if a < b {
		return a
	}
	return b
}

func max32(a, b uint32) uint32 {
	if a > b {
		return a
	}
	return b
}
