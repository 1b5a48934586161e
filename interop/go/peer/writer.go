package peer

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	pb "peerlink/interop/pb"
)

// ErrClosing is returned for frames sent after the own Goodbye.
var ErrClosing = errors.New("connection is closing: no frame may follow the Goodbye")

// Writer serialises frame writes on one connection and enforces that nothing
// follows the Goodbye (§8).
type Writer struct {
	mu      sync.Mutex
	conn    net.Conn
	closed  bool
	timeout time.Duration // per write when > 0; 0 leaves the connection's deadline alone
}

func newWriter(conn net.Conn) *Writer { return &Writer{conn: conn} }

// WriteFrame encodes f, writes it with its length prefix and returns the body bytes.
func (w *Writer) WriteFrame(f *pb.Frame) ([]byte, error) {
	body, err := EncodeFrame(f)
	if err != nil {
		return nil, err
	}
	return body, w.WriteRaw(WithPrefix(body))
}

// WriteRaw writes bytes as they are: used by tests to send malformed frames.
func (w *Writer) WriteRaw(b []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosing
	}
	return w.write(b)
}

func (w *Writer) write(b []byte) error {
	if w.timeout > 0 {
		_ = w.conn.SetWriteDeadline(time.Now().Add(w.timeout))
	}
	_, err := w.conn.Write(b)
	return err
}

// Final writes f (when not nil) as the last frame, then half-closes the
// sending direction: TLS close_notify (if TLS) followed by TCP FIN. It reports
// false when the writer was already closed.
func (w *Writer) Final(f *pb.Frame) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return false
	}
	w.closed = true
	_ = w.conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
	if f != nil {
		if body, err := EncodeFrame(f); err == nil {
			_, _ = w.conn.Write(WithPrefix(body))
		}
	}
	halfClose(w.conn)
	return true
}

// Closed reports whether the own Goodbye (or half-close) was sent.
func (w *Writer) Closed() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.closed
}

func halfClose(conn net.Conn) {
	if t, ok := conn.(*tls.Conn); ok {
		_ = t.CloseWrite() // close_notify
		conn = t.NetConn()
	}
	if c, ok := conn.(interface{ CloseWrite() error }); ok {
		_ = c.CloseWrite() // FIN
	}
}

// drainAndClose waits up to wait for the peer to close its direction,
// discarding what it still sends, then closes the socket.
func drainAndClose(conn net.Conn, wait time.Duration) {
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	_, _ = io.Copy(io.Discard, conn)
	_ = conn.Close()
}

var lingering sync.WaitGroup

// lingerAndClose is drainAndClose in the background, so a failed handshake
// returns at once; WaitLingering waits for all of them.
func lingerAndClose(conn net.Conn, wait time.Duration) {
	lingering.Add(1)
	go func() {
		defer lingering.Done()
		drainAndClose(conn, wait)
	}()
}

// CloseGracefully half-closes conn (close_notify and FIN), then waits up to
// wait for the peer's close in the background (see WaitLingering).
func CloseGracefully(conn net.Conn, wait time.Duration) {
	halfClose(conn)
	lingerAndClose(conn, wait)
}

// WaitLingering blocks until every connection closed by a failed handshake
// has seen the peer's close or its linger time passed. Call it before exit.
func WaitLingering() { lingering.Wait() }

// GoodbyeFrame builds Frame{goodbye}.
func GoodbyeFrame(reason pb.GoodbyeReason, detail string) *pb.Frame {
	return &pb.Frame{Kind: &pb.Frame_Goodbye{Goodbye: &pb.Goodbye{Reason: reason, Detail: detail}}}
}
