package peer

import (
	"strings"

	pb "peerlink/interop/pb"
)

// ReasonName is the Goodbye reason without its enum prefix, e.g. "SHUTDOWN".
// Unknown values are reported as NORMAL, as §8 requires.
func ReasonName(r pb.GoodbyeReason) string {
	name, ok := pb.GoodbyeReason_name[int32(r)]
	if !ok {
		return "NORMAL"
	}
	return strings.TrimPrefix(name, "GOODBYE_REASON_")
}

// ParseReason is the inverse of ReasonName; ok is false for an unknown name.
func ParseReason(name string) (pb.GoodbyeReason, bool) {
	v, ok := pb.GoodbyeReason_value["GOODBYE_REASON_"+strings.ToUpper(name)]
	return pb.GoodbyeReason(v), ok
}
