package peer

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"google.golang.org/protobuf/proto"

	pb "peerlink/interop/pb"
)

// DefaultMaxFrameSize is the spec's default maximum Frame body size: 1 MiB.
const DefaultMaxFrameSize = 1 << 20

// maxPrefixBytes is the longest allowed LEB128 length prefix (a 32-bit value).
const maxPrefixBytes = 5

// ErrMalformedPrefix reports a length prefix that breaks §1's rules: longer
// than 5 bytes, more than 32 bits, or not the shortest encoding.
var ErrMalformedPrefix = errors.New("malformed frame length prefix")

// ErrFrameTooLarge reports a length prefix above the receiver's maximum frame
// size; none of the body was read.
var ErrFrameTooLarge = errors.New("frame larger than the maximum frame size")

// ErrMalformedFrame reports a frame body that is not a valid protobuf Frame.
var ErrMalformedFrame = errors.New("frame body is not a valid peerlink.v1.Frame")

// AppendPrefix appends the LEB128 encoding of n to dst.
func AppendPrefix(dst []byte, n uint32) []byte {
	for n >= 0x80 {
		dst = append(dst, byte(n)|0x80)
		n >>= 7
	}
	return append(dst, byte(n))
}

// EncodeFrame returns the Frame body bytes of f (what the nonce transcript hashes).
func EncodeFrame(f *pb.Frame) ([]byte, error) {
	return proto.Marshal(f)
}

// WithPrefix returns body preceded by its length prefix: the bytes that go on the wire.
func WithPrefix(body []byte) []byte {
	out := AppendPrefix(make([]byte, 0, len(body)+maxPrefixBytes), uint32(len(body)))
	return append(out, body...)
}

// FrameReader reads length-prefixed frames and enforces the prefix rules and
// the maximum frame size before buffering any body byte.
type FrameReader struct {
	r   *bufio.Reader
	max uint32
}

// NewFrameReader reads frames from r, rejecting bodies larger than max bytes.
func NewFrameReader(r io.Reader, max uint32) *FrameReader {
	return &FrameReader{r: bufio.NewReaderSize(r, 64<<10), max: max}
}

// ReadPrefix reads one length prefix. It returns io.EOF only when the stream
// ends cleanly before the first prefix byte, io.ErrUnexpectedEOF inside a prefix.
func (fr *FrameReader) ReadPrefix() (uint32, error) {
	var value uint32
	for i := 0; i < maxPrefixBytes; i++ {
		b, err := fr.r.ReadByte()
		if err != nil {
			if i > 0 && err == io.EOF {
				return 0, io.ErrUnexpectedEOF
			}
			return 0, err
		}
		if i == maxPrefixBytes-1 && b > 0x0f {
			return 0, fmt.Errorf("%w: value exceeds 32 bits", ErrMalformedPrefix)
		}
		value |= uint32(b&0x7f) << (7 * i)
		if b&0x80 == 0 {
			if i > 0 && b == 0 {
				return 0, fmt.Errorf("%w: overlong encoding", ErrMalformedPrefix)
			}
			return value, nil
		}
	}
	return 0, fmt.Errorf("%w: longer than %d bytes", ErrMalformedPrefix, maxPrefixBytes)
}

// ReadFrame reads one frame and returns it with its exact body bytes.
func (fr *FrameReader) ReadFrame() (*pb.Frame, []byte, error) {
	n, err := fr.ReadPrefix()
	if err != nil {
		return nil, nil, err
	}
	if n > fr.max {
		return nil, nil, fmt.Errorf("%w: %d > %d bytes", ErrFrameTooLarge, n, fr.max)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(fr.r, body); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, nil, err
	}
	frame := &pb.Frame{}
	if err := proto.Unmarshal(body, frame); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrMalformedFrame, err)
	}
	return frame, body, nil
}

// Buffered is the number of bytes read from the stream but not yet consumed.
func (fr *FrameReader) Buffered() int { return fr.r.Buffered() }
