package peer

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	pb "peerlink/interop/pb"
)

func TestPinnedPingFrameBytes(t *testing.T) {
	// docs/PROTOCOL.md §1.2: Frame{ping: {nonce: 7, timestamp_us: 1000}}.
	body, err := EncodeFrame(&pb.Frame{Kind: &pb.Frame_Ping{Ping: &pb.Ping{Nonce: 7, TimestampUs: 1000}}})
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{0x07, 0x12, 0x05, 0x08, 0x07, 0x10, 0xe8, 0x07}
	if got := WithPrefix(body); !bytes.Equal(got, want) {
		t.Fatalf("got % x, want % x", got, want)
	}
}

func TestPrefixEncodingIsShortest(t *testing.T) {
	cases := map[uint32][]byte{
		0: {0x00}, 127: {0x7f}, 128: {0x80, 0x01}, 300: {0xac, 0x02},
		1 << 20: {0x80, 0x80, 0x40}, 0xffffffff: {0xff, 0xff, 0xff, 0xff, 0x0f},
	}
	for n, want := range cases {
		if got := AppendPrefix(nil, n); !bytes.Equal(got, want) {
			t.Errorf("AppendPrefix(%d) = % x, want % x", n, got, want)
		}
		got, err := NewFrameReader(bytes.NewReader(want), 0xffffffff).ReadPrefix()
		if err != nil || got != n {
			t.Errorf("ReadPrefix(% x) = %d, %v; want %d", want, got, err, n)
		}
	}
}

func TestMalformedPrefixesAreRejected(t *testing.T) {
	cases := map[string][]byte{
		"overlong zero":          {0x80, 0x00},
		"overlong 1":             {0x81, 0x00},
		"overlong five bytes":    {0xff, 0xff, 0xff, 0x80, 0x00},
		"more than 32 bits":      {0xff, 0xff, 0xff, 0xff, 0x10},
		"longer than five bytes": {0x80, 0x80, 0x80, 0x80, 0x80, 0x01},
	}
	for name, prefix := range cases {
		_, err := NewFrameReader(bytes.NewReader(prefix), DefaultMaxFrameSize).ReadPrefix()
		if !errors.Is(err, ErrMalformedPrefix) {
			t.Errorf("%s (% x): got %v, want ErrMalformedPrefix", name, prefix, err)
		}
	}
}

// countingReader counts the bytes taken from it, to prove the body of an
// oversized frame is never read.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestOversizedFrameIsRejectedBeforeItsBody(t *testing.T) {
	prefix := AppendPrefix(nil, DefaultMaxFrameSize+1)
	src := &countingReader{r: iotest.OneByteReader(io.MultiReader(bytes.NewReader(prefix), bytes.NewReader(make([]byte, 4096))))}
	fr := NewFrameReader(src, DefaultMaxFrameSize)
	fr.r.Reset(src) // read byte by byte so buffering cannot hide a body read
	_, _, err := fr.ReadFrame()
	if !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("got %v, want ErrFrameTooLarge", err)
	}
	if src.n > len(prefix)+fr.Buffered() || fr.Buffered() > 0 {
		t.Fatalf("read %d bytes (%d buffered), want only the %d prefix bytes", src.n, fr.Buffered(), len(prefix))
	}
}

func TestFramesDecodeTheSameInAnyChunking(t *testing.T) {
	var stream []byte
	frames := []*pb.Frame{
		{Kind: &pb.Frame_Ping{Ping: &pb.Ping{Nonce: 1, TimestampUs: 2}}},
		{Kind: &pb.Frame_Data{Data: &pb.Data{Protocol: 7, Payload: bytes.Repeat([]byte("x"), 300)}}},
		{},
		{Kind: &pb.Frame_Goodbye{Goodbye: &pb.Goodbye{Reason: pb.GoodbyeReason_GOODBYE_REASON_SHUTDOWN}}},
	}
	for _, f := range frames {
		body, _ := EncodeFrame(f)
		stream = append(stream, WithPrefix(body)...)
	}
	for _, wrap := range []func(io.Reader) io.Reader{
		func(r io.Reader) io.Reader { return r }, iotest.OneByteReader, iotest.HalfReader, iotest.DataErrReader,
	} {
		fr := NewFrameReader(wrap(bytes.NewReader(stream)), DefaultMaxFrameSize)
		for i, want := range frames {
			got, _, err := fr.ReadFrame()
			if err != nil {
				t.Fatalf("frame %d: %v", i, err)
			}
			if KindName(got) != KindName(want) {
				t.Fatalf("frame %d: kind %s, want %s", i, KindName(got), KindName(want))
			}
		}
		if _, _, err := fr.ReadFrame(); err != io.EOF {
			t.Fatalf("after the last frame: %v, want io.EOF", err)
		}
	}
}

func TestTruncatedStreamsAreUnexpectedEOF(t *testing.T) {
	for _, stream := range [][]byte{{0x80}, {0x05, 0x12}} {
		_, _, err := NewFrameReader(bytes.NewReader(stream), DefaultMaxFrameSize).ReadFrame()
		if err != io.ErrUnexpectedEOF {
			t.Errorf("% x: got %v, want io.ErrUnexpectedEOF", stream, err)
		}
	}
}

func TestInvalidBodyIsMalformed(t *testing.T) {
	stream := WithPrefix([]byte{0x0a, 0x05, 0x01}) // field 1, length 5, only 1 byte
	_, _, err := NewFrameReader(bytes.NewReader(stream), DefaultMaxFrameSize).ReadFrame()
	if !errors.Is(err, ErrMalformedFrame) {
		t.Fatalf("got %v, want ErrMalformedFrame", err)
	}
}

func TestUnknownKindIsKeptAsUnknownFields(t *testing.T) {
	// Field 10 (a future hot message), wire type 2, empty.
	stream := WithPrefix([]byte{0x52, 0x00})
	f, _, err := NewFrameReader(bytes.NewReader(stream), DefaultMaxFrameSize).ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	if KindName(f) != "unknown" {
		t.Fatalf("kind %s, want unknown", KindName(f))
	}
}
