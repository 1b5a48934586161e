package peer

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
	"unicode/utf8"

	pb "peerlink/interop/pb"
)

// Event is one thing that happened on a connection, printed as a JSON line by
// the CLI. Every event has an "event" key.
type Event map[string]any

// maxProbeCount is the largest BandwidthProbe.count §6 allows.
const maxProbeCount = 64

// probeReportDelay is how long after the latest probe frame a receiver
// reports a burst whose last probe never came (§6).
const probeReportDelay = 5 * time.Second

var clockStart = time.Now()

// nowUs is the low 32 bits of a monotonic microsecond clock (§5).
func nowUs() uint32 { return uint32(time.Since(clockStart).Microseconds()) }

// Conn runs an open connection: answers Ping, echoes Data on the echo
// protocols, measures its own pings, answers bandwidth probes and handles
// Goodbye in both directions.
type Conn struct {
	s      *Session
	emit   func(Event)
	echo   map[string]bool
	mu     sync.Mutex
	local  map[string]uint32 // agreed protocol name → own alias
	remote map[uint32]string // peer's alias → agreed protocol name
	pings  map[uint32]bool   // outstanding ping nonces
	nonce  uint32
	probes map[uint32]*probeBurst
	// goodbyeSent is set once the own Goodbye is on its way; frames received
	// afterwards are ignored except the peer's Goodbye.
	goodbyeSent bool
	dropped     int
	done        chan struct{}
}

type probeBurst struct {
	first, last   time.Time
	frames, bytes uint32
	reported      bool
	timer         *time.Timer
}

// NewConn wraps an open session. emit receives every event (it must be safe
// for concurrent use); Data on a protocol named in echo is sent back.
func NewConn(s *Session, echo []string, emit func(Event)) *Conn {
	c := &Conn{s: s, emit: emit, echo: map[string]bool{}, local: map[string]uint32{}, remote: map[uint32]string{},
		pings: map[uint32]bool{}, probes: map[uint32]*probeBurst{}, done: make(chan struct{})}
	for _, name := range echo {
		c.echo[name] = true
	}
	for _, p := range s.Agreement.Protocols {
		c.local[p.Name] = p.LocalAlias
		c.remote[p.RemoteAlias] = p.Name
	}
	return c
}

// Session is the handshake outcome this connection runs on.
func (c *Conn) Session() *Session { return c.s }

// Done is closed when the connection is closed.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Run delivers held early data, then reads frames until the connection ends.
func (c *Conn) Run() {
	defer close(c.done)
	defer c.stopProbeTimers()
	for _, d := range c.s.Early {
		c.onData(d, true)
	}
	c.s.Early = nil
	for {
		frame, body, err := c.s.Reader.ReadFrame()
		if err != nil {
			c.onReadError(err)
			return
		}
		if !c.onFrame(frame, len(body)) {
			return
		}
	}
}

// onFrame handles one frame; false means the connection is finished.
func (c *Conn) onFrame(frame *pb.Frame, bodyLen int) bool {
	if g := frame.GetGoodbye(); g != nil {
		c.emit(Event{"event": "goodbye", "from": "remote", "reason": ReasonName(g.Reason), "reasonCode": int32(g.Reason),
			"detail": g.Detail, "retryAfterMs": g.RetryAfterMs})
		c.s.Writer.Final(nil) // stop sending, close our direction
		drainAndClose(c.s.Conn, GracefulTimeout)
		c.emit(Event{"event": "closed"})
		return false
	}
	c.mu.Lock()
	closing := c.goodbyeSent
	c.mu.Unlock()
	if closing {
		return true // §8: frames after a Goodbye are ignored
	}
	switch kind := frame.Kind.(type) {
	case *pb.Frame_Data:
		c.onData(kind.Data, false)
	case *pb.Frame_Ping:
		pong := &pb.Pong{Nonce: kind.Ping.Nonce, TimestampUs: kind.Ping.TimestampUs}
		_, err := c.s.Writer.WriteFrame(&pb.Frame{Kind: &pb.Frame_Pong{Pong: pong}})
		c.emit(Event{"event": "ping", "nonce": kind.Ping.Nonce, "answered": err == nil})
	case *pb.Frame_Pong:
		c.mu.Lock()
		outstanding := c.pings[kind.Pong.Nonce]
		delete(c.pings, kind.Pong.Nonce)
		c.mu.Unlock()
		if outstanding {
			c.emit(Event{"event": "pong", "nonce": kind.Pong.Nonce, "rttUs": nowUs() - kind.Pong.TimestampUs})
		}
	case *pb.Frame_Hello, *pb.Frame_Auth:
		c.violation(fmt.Sprintf("%s after the handshake", KindName(frame)))
		return false
	case *pb.Frame_CapabilityUpdate:
		c.onCapabilityUpdate(kind.CapabilityUpdate)
	case *pb.Frame_BandwidthProbe:
		if !c.onProbe(kind.BandwidthProbe, bodyLen) {
			return false
		}
	case *pb.Frame_BandwidthReport:
		r := kind.BandwidthReport
		c.emit(Event{"event": "bandwidth-report", "probeId": r.ProbeId, "framesReceived": r.FramesReceived,
			"bytesReceived": r.BytesReceived, "elapsedUs": r.ElapsedUs})
	default:
		if KindName(frame) == "empty" {
			c.violation("frame without a kind")
			return false
		}
		c.emit(Event{"event": "ignored", "kind": "unknown"}) // §1.1: forward compatibility
	}
	return true
}

func (c *Conn) onData(d *pb.Data, early bool) {
	c.mu.Lock()
	name, ok := c.remote[d.Protocol]
	if !ok {
		c.dropped++
	}
	dropped := c.dropped
	c.mu.Unlock()
	if !ok {
		c.emit(Event{"event": "data-dropped", "alias": d.Protocol, "dropped": dropped})
		return
	}
	ev := Event{"event": "data", "protocol": name, "alias": d.Protocol, "early": early,
		"base64": base64.StdEncoding.EncodeToString(d.Payload)}
	if utf8.Valid(d.Payload) {
		ev["text"] = string(d.Payload)
	}
	c.emit(ev)
	if c.echo[name] {
		if err := c.Send(name, d.Payload); err != nil {
			c.emit(Event{"event": "error", "code": "CONNECTION_CLOSED", "message": "echo: " + err.Error()})
		}
	}
}

func (c *Conn) onCapabilityUpdate(u *pb.CapabilityUpdate) {
	c.mu.Lock()
	for _, name := range u.ProtocolsRemoved {
		for alias, n := range c.remote {
			if n == name {
				delete(c.remote, alias)
			}
		}
	}
	for _, p := range u.ProtocolsAdded {
		for _, own := range c.s.Local.Protocols {
			if own.Name == p.Name {
				if _, ok := HighestCommonVersion(own.Versions, p.Versions); ok {
					c.remote[p.Alias] = p.Name
					c.local[p.Name] = own.Alias
				}
			}
		}
	}
	c.mu.Unlock()
	c.emit(Event{"event": "capability-update", "protocolsAdded": len(u.ProtocolsAdded),
		"protocolsRemoved": u.ProtocolsRemoved, "added": len(u.Added), "removed": u.Removed})
}

// onProbe records one BandwidthProbe; false means a protocol violation closed the connection.
func (c *Conn) onProbe(p *pb.BandwidthProbe, bodyLen int) bool {
	if p.Count == 0 || p.Count > maxProbeCount || p.Index >= p.Count {
		c.violation(fmt.Sprintf("bandwidth probe index %d of count %d", p.Index, p.Count))
		return false
	}
	now := time.Now()
	c.mu.Lock()
	b := c.probes[p.ProbeId]
	if b == nil {
		b = &probeBurst{first: now}
		c.probes[p.ProbeId] = b
		id := p.ProbeId
		b.timer = time.AfterFunc(probeReportDelay, func() { c.reportProbe(id) })
	} else {
		b.timer.Reset(probeReportDelay)
	}
	b.last = now
	b.frames++
	b.bytes += uint32(bodyLen + len(AppendPrefix(nil, uint32(bodyLen))))
	c.mu.Unlock()
	if p.Index == p.Count-1 {
		c.reportProbe(p.ProbeId)
	}
	return true
}

func (c *Conn) reportProbe(id uint32) {
	c.mu.Lock()
	b := c.probes[id]
	if b == nil || b.reported {
		c.mu.Unlock()
		return
	}
	b.reported = true
	b.timer.Stop()
	report := &pb.BandwidthReport{ProbeId: id, FramesReceived: b.frames, BytesReceived: b.bytes,
		ElapsedUs: uint32(b.last.Sub(b.first).Microseconds())}
	c.mu.Unlock()
	_, _ = c.s.Writer.WriteFrame(&pb.Frame{Kind: &pb.Frame_BandwidthReport{BandwidthReport: report}})
	c.emit(Event{"event": "bandwidth-probe", "probeId": id, "framesReceived": report.FramesReceived,
		"bytesReceived": report.BytesReceived})
}

func (c *Conn) onReadError(err error) {
	var netErr net.Error
	c.mu.Lock()
	closing := c.goodbyeSent
	c.mu.Unlock()
	switch {
	case closing && (errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed)):
		c.emit(Event{"event": "closed"})
	case closing && errors.As(err, &netErr) && netErr.Timeout():
		c.emit(Event{"event": "closed", "cause": "graceful timeout: the peer did not close"})
	case closing:
		c.emit(Event{"event": "closed", "cause": err.Error()})
	case errors.Is(err, ErrMalformedPrefix), errors.Is(err, ErrFrameTooLarge), errors.Is(err, ErrMalformedFrame):
		c.violation(err.Error())
		return
	case errors.Is(err, io.EOF):
		c.emit(Event{"event": "closed", "cause": "peer closed without Goodbye", "reason": ConnectionLost})
	default: // a reset or another transport failure, with no Goodbye either way
		c.emit(Event{"event": "closed", "cause": err.Error(), "reason": ConnectionLost})
	}
	c.s.Writer.Final(nil)
	_ = c.s.Conn.Close()
}

// violation ends the connection with Goodbye{PROTOCOL_VIOLATION} (§1).
func (c *Conn) violation(detail string) {
	c.emit(Event{"event": "error", "code": "PROTOCOL_VIOLATION", "message": detail})
	c.sendGoodbye(pb.GoodbyeReason_GOODBYE_REASON_PROTOCOL_VIOLATION, detail)
	drainAndClose(c.s.Conn, GracefulTimeout)
	c.emit(Event{"event": "closed"})
}

// Send writes Data on an agreed protocol, with this side's own alias (§4).
func (c *Conn) Send(protocol string, payload []byte) error {
	c.mu.Lock()
	alias, ok := c.local[protocol]
	c.mu.Unlock()
	if !ok {
		return fmt.Errorf("protocol %q was not agreed", protocol)
	}
	_, err := c.s.Writer.WriteFrame(&pb.Frame{Kind: &pb.Frame_Data{Data: &pb.Data{Protocol: alias, Payload: payload}}})
	return err
}

// Ping sends a Ping; the matching Pong is reported as a "pong" event with the RTT.
func (c *Conn) Ping() error {
	c.mu.Lock()
	c.nonce++
	nonce := c.nonce
	c.pings[nonce] = true
	c.mu.Unlock()
	_, err := c.s.Writer.WriteFrame(&pb.Frame{Kind: &pb.Frame_Ping{Ping: &pb.Ping{Nonce: nonce, TimestampUs: nowUs()}}})
	return err
}

// WriteRaw writes bytes unframed (conformance tests of the peer's framing rules).
func (c *Conn) WriteRaw(b []byte) error { return c.s.Writer.WriteRaw(b) }

// Goodbye sends Goodbye{reason} and half-closes; Run then waits up to
// GracefulTimeout for the peer to close.
func (c *Conn) Goodbye(reason pb.GoodbyeReason, detail string) {
	if c.sendGoodbye(reason, detail) {
		go func() {
			select {
			case <-c.done:
			case <-time.After(GracefulTimeout):
				_ = c.s.Conn.Close()
			}
		}()
	}
}

func (c *Conn) sendGoodbye(reason pb.GoodbyeReason, detail string) bool {
	c.mu.Lock()
	c.goodbyeSent = true
	c.mu.Unlock()
	if !c.s.Writer.Final(GoodbyeFrame(reason, detail)) {
		return false
	}
	c.emit(Event{"event": "goodbye", "from": "local", "reason": ReasonName(reason), "reasonCode": int32(reason), "detail": detail})
	return true
}

func (c *Conn) stopProbeTimers() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, b := range c.probes {
		b.timer.Stop()
	}
}
