package peer

import (
	"strings"

	pb "peerlink/interop/pb"
)

// ConnectionLost is the reason reported when a connection ends without a
// Goodbye either way (a crash, a reset, an EOF). It names the reason in the
// shared table and is never sent in a Goodbye (§8).
const ConnectionLost = "CONNECTION_LOST"

// ReasonName is the Goodbye reason without its enum prefix, e.g. "SHUTDOWN".
// Unknown values are reported as NORMAL, as §8 requires, and so is
// CONNECTION_LOST, which a Goodbye never carries: the peer did say goodbye.
func ReasonName(r pb.GoodbyeReason) string {
	name, ok := pb.GoodbyeReason_name[int32(r)]
	// §8: UNSPECIFIED and unknown values read as NORMAL; CONNECTION_LOST is never sent (§8.1).
	if !ok || r == pb.GoodbyeReason_GOODBYE_REASON_CONNECTION_LOST || r == pb.GoodbyeReason_GOODBYE_REASON_UNSPECIFIED {
		return "NORMAL"
	}
	return strings.TrimPrefix(name, "GOODBYE_REASON_")
}

// ParseReason is the inverse of ReasonName for a reason to send; ok is false
// for an unknown name and for CONNECTION_LOST, which is never sent (§8).
func ParseReason(name string) (pb.GoodbyeReason, bool) {
	if strings.ToUpper(name) == ConnectionLost {
		return 0, false
	}
	v, ok := pb.GoodbyeReason_value["GOODBYE_REASON_"+strings.ToUpper(name)]
	return pb.GoodbyeReason(v), ok
}
