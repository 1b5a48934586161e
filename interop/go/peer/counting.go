package peer

import (
	"net"
	"sync/atomic"
)

// CountingConn is a net.Conn that counts the bytes read from it, so that a TLS
// dialer can tell whether the listener sent anything after the dialer's own
// TLS handshake finished (§8.1).
type CountingConn struct {
	net.Conn
	received atomic.Int64
}

// NewCountingConn wraps conn.
func NewCountingConn(conn net.Conn) *CountingConn { return &CountingConn{Conn: conn} }

func (c *CountingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.received.Add(int64(n))
	return n, err
}

// Received is the number of bytes read so far.
func (c *CountingConn) Received() int64 { return c.received.Load() }

// CloseWrite half-closes the TCP connection underneath (§8 asks for both
// close_notify and the TCP FIN).
func (c *CountingConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
