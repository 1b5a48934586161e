// Command peerlink-go is a peerlink peer written in Go from docs/PROTOCOL.md
// and the .proto schemas alone. It listens or dials, runs the handshake (TLS
// 1.3 with the certificate binding under ALPN peerlink/1+cert or the
// tls-exporter binding, or plain TCP with the nonce transcript),
// answers pings, echoes Data on its echo protocols, pings once itself and
// reports what happens as JSON lines on stdout. Commands arrive as JSON lines
// on stdin. See interop/README.md.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	pb "peerlink/interop/pb"
	"peerlink/interop/peer"
)

const usage = `usage:
  peerlink-go listen --addr 127.0.0.1:0 [--tls] [--once] [options]
  peerlink-go dial --addr HOST:PORT [--tls] [--expect PEERID] [--early PROTO=TEXT] [options]

options:
  --key FILE               PKCS#8 PEM Ed25519 identity (default: a fresh one)
  --protocol NAME[@V,V]    protocol to offer, repeatable (default /echo@1)
  --echo NAME              echo Data received on this protocol, repeatable (default /echo)
  --no-echo                echo nothing
  --alias-base N           own Data aliases are N, N+1, ... in --protocol order (default 7)
  --capability NAME[@V][!] capability to offer; "!" marks it required; repeatable
  --min-version N, --max-version N   wire versions (default 1, 1)
  --max-frame BYTES        maximum frame body size (default 1048576)
  --handshake-timeout MS   (default 10000)
  --send PROTO=TEXT        send after the connection opens, repeatable
  --no-ping                do not ping once after the connection opens
  --bad-proof              send an identity proof that does not verify
  --wrong-binding          announce the other transport's channel binding
  --early-unannounced      send the --early data without setting Hello.early_data
  --claim-peer-id PEERID   put another peer id in the Hello (impersonation attempt)
  --alpn ID[,ID]           TLS ALPN ids to offer (dialer, in order) or accept (listener, in order
                           of preference); default peerlink/1+cert,peerlink/1; peerlink/1 alone is
                           a peer that knows only the signed proof
  --cert-of-other-identity present a TLS certificate of another, fresh key (the Hello then
                           uses the tls-exporter proof, unless --binding says otherwise)
  --binding NAME           announce this binding whatever the transport: TLS_CERTIFICATE,
                           TLS_EXPORTER or NONCES
  --cert-proof             put a proof in a Hello with the certificate binding (must be empty)
  --small-order-key        claim the small-order identity key 0100..00 (the neutral point) with the
                           signature R = 0100..00, S = 0 that verifies for any message; the TLS
                           certificate is of a fresh key, so the Hello uses the tls-exporter proof

stdin commands (JSON lines; "conn" selects a connection, default all open):
  {"cmd":"send","protocol":"/echo","text":"hi"}   ("base64" instead of "text" for bytes)
  {"cmd":"ping"}
  {"cmd":"goodbye","reason":"NORMAL","detail":"bye"}
  {"cmd":"raw","hex":"8000"}                      (unframed bytes, for conformance tests)
  {"cmd":"shutdown"}                              (Goodbye{SHUTDOWN} to all, then exit)
`

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

type config struct {
	mode, addr, key, expect   string
	claim                     string
	useTLS, once, noPing, bad bool
	noEcho, wrongBinding      bool
	earlyUnannounced          bool
	alpn, binding             string
	otherCert, certProof      bool
	smallOrder                bool
	alpns                     []string
	protocols, echo, caps     listFlag
	sends, early              listFlag
	aliasBase                 uint
	minVersion, maxVersion    uint
	maxFrame                  uint
	handshakeMs               uint
	redial, maxConns          uint
	identity                  *peer.Identity
	cert                      tls.Certificate
	serverTLS, clientTLS      *tls.Config // one per process: session tickets need the same ticket keys
	options                   peer.Options
	expectID                  *peer.PeerID
}

// out prints events as JSON lines, one write per line.
type out struct{ mu sync.Mutex }

func (o *out) emit(ev peer.Event) {
	line, err := json.Marshal(ev)
	if err != nil {
		line = []byte(fmt.Sprintf(`{"event":"error","code":"INTERNAL","message":%q}`, err.Error()))
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	os.Stdout.Write(append(line, '\n'))
}

func main() {
	if len(os.Args) < 2 || (os.Args[1] != "listen" && os.Args[1] != "dial") {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	cfg := &config{mode: os.Args[1]}
	fs := flag.NewFlagSet(cfg.mode, flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, usage) }
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:0", "")
	fs.StringVar(&cfg.key, "key", "", "")
	fs.StringVar(&cfg.expect, "expect", "", "")
	fs.StringVar(&cfg.claim, "claim-peer-id", "", "")
	fs.BoolVar(&cfg.useTLS, "tls", false, "")
	fs.BoolVar(&cfg.once, "once", false, "")
	fs.BoolVar(&cfg.noPing, "no-ping", false, "")
	fs.BoolVar(&cfg.bad, "bad-proof", false, "")
	fs.BoolVar(&cfg.noEcho, "no-echo", false, "")
	fs.BoolVar(&cfg.wrongBinding, "wrong-binding", false, "")
	fs.BoolVar(&cfg.earlyUnannounced, "early-unannounced", false, "")
	fs.StringVar(&cfg.alpn, "alpn", strings.Join(peer.DefaultALPNs, ","), "")
	fs.BoolVar(&cfg.otherCert, "cert-of-other-identity", false, "")
	fs.StringVar(&cfg.binding, "binding", "", "")
	fs.BoolVar(&cfg.certProof, "cert-proof", false, "")
	fs.BoolVar(&cfg.smallOrder, "small-order-key", false, "")
	fs.Var(&cfg.protocols, "protocol", "")
	fs.Var(&cfg.echo, "echo", "")
	fs.Var(&cfg.caps, "capability", "")
	fs.Var(&cfg.sends, "send", "")
	fs.Var(&cfg.early, "early", "")
	fs.UintVar(&cfg.aliasBase, "alias-base", 7, "")
	fs.UintVar(&cfg.minVersion, "min-version", 1, "")
	fs.UintVar(&cfg.maxVersion, "max-version", 1, "")
	fs.UintVar(&cfg.maxFrame, "max-frame", peer.DefaultMaxFrameSize, "")
	fs.UintVar(&cfg.handshakeMs, "handshake-timeout", uint(peer.DefaultHandshakeTimeout/time.Millisecond), "")
	fs.UintVar(&cfg.redial, "redial", 0, "")
	fs.UintVar(&cfg.maxConns, "max-conns", 0, "")
	if err := fs.Parse(os.Args[2:]); err != nil {
		os.Exit(2)
	}
	o := &out{}
	if err := cfg.prepare(); err != nil {
		o.emit(peer.Event{"event": "error", "code": "INVALID_ARGUMENT", "message": err.Error()})
		os.Exit(2)
	}
	n := newNode(cfg, o)
	go n.onSignals()
	var code int
	if cfg.mode == "listen" {
		go n.readCommands()
		code = n.listen()
	} else {
		code = n.dial()
	}
	peer.WaitLingering() // let failed handshakes finish their Goodbye
	os.Exit(code)
}

func (cfg *config) prepare() error {
	var err error
	switch {
	case cfg.smallOrder && cfg.key != "":
		return errors.New("--small-order-key and --key exclude each other")
	case cfg.smallOrder:
		cfg.identity = peer.SmallOrderIdentity()
	case cfg.key != "":
		cfg.identity, err = peer.LoadIdentity(cfg.key)
	default:
		cfg.identity, err = peer.GenerateIdentity()
	}
	if err != nil {
		return err
	}
	certIdentity := cfg.identity
	if cfg.otherCert || cfg.smallOrder { // the forged identity has no private key to sign a certificate
		if certIdentity, err = peer.GenerateIdentity(); err != nil {
			return err
		}
	}
	if cfg.cert, err = peer.SelfSignedCertificate(certIdentity); err != nil {
		return err
	}
	for _, id := range strings.Split(cfg.alpn, ",") {
		if !peer.KnownALPN(id) {
			return fmt.Errorf("--alpn: %q is neither %q nor %q", id, peer.ALPNCert, peer.ALPN)
		}
		cfg.alpns = append(cfg.alpns, id)
	}
	cfg.serverTLS, cfg.clientTLS = peer.ServerTLSConfig(cfg.cert, cfg.alpns...), peer.ClientTLSConfig(cfg.cert, cfg.alpns...)
	cfg.clientTLS.ClientSessionCache = tls.NewLRUClientSessionCache(4) // --redial resumes
	if len(cfg.protocols) == 0 {
		cfg.protocols = listFlag{"/echo@1"}
	}
	if cfg.noEcho {
		cfg.echo = nil
	} else if len(cfg.echo) == 0 {
		cfg.echo = listFlag{"/echo"}
	}
	opts := peer.Options{Identity: cfg.identity, MinVersion: uint32(cfg.minVersion), MaxVersion: uint32(cfg.maxVersion),
		MaxFrameSize: uint32(cfg.maxFrame), Agent: "peerlink-go/0.1", BadProof: cfg.bad, WrongBinding: cfg.wrongBinding,
		EarlyUnannounced: cfg.earlyUnannounced, CertKey: peer.CertificateKey(cfg.cert.Certificate[0]), CertProof: cfg.certProof}
	if cfg.binding != "" {
		b, ok := peer.ParseBinding(cfg.binding)
		if !ok || b == pb.ChannelBinding_CHANNEL_BINDING_UNSPECIFIED {
			return fmt.Errorf("--binding: unknown binding %q", cfg.binding)
		}
		opts.Binding = b
	}
	for i, spec := range cfg.protocols {
		name, versions := spec, []uint32{1}
		if at := strings.LastIndex(spec, "@"); at > 0 {
			name, versions = spec[:at], nil
			for _, v := range strings.Split(spec[at+1:], ",") {
				n, err := strconv.ParseUint(v, 10, 32)
				if err != nil {
					return fmt.Errorf("--protocol %q: bad version %q", spec, v)
				}
				versions = append(versions, uint32(n))
			}
		}
		opts.Protocols = append(opts.Protocols, peer.Protocol{Name: name, Versions: versions, Alias: uint32(cfg.aliasBase) + uint32(i)})
	}
	for _, spec := range cfg.caps {
		c := &pb.Capability{Version: 1}
		if strings.HasSuffix(spec, "!") {
			c.Required, spec = true, strings.TrimSuffix(spec, "!")
		}
		c.Name = spec
		if at := strings.LastIndex(spec, "@"); at > 0 {
			n, err := strconv.ParseUint(spec[at+1:], 10, 32)
			if err != nil {
				return fmt.Errorf("--capability %q: bad version", spec)
			}
			c.Name, c.Version = spec[:at], uint32(n)
		}
		opts.Capabilities = append(opts.Capabilities, c)
	}
	for _, spec := range cfg.early {
		proto, text, ok := strings.Cut(spec, "=")
		if !ok {
			return fmt.Errorf("--early wants PROTO=TEXT, got %q", spec)
		}
		opts.EarlyData = append(opts.EarlyData, peer.EarlyMessage{Protocol: proto, Payload: []byte(text)})
	}
	for _, spec := range cfg.sends {
		if !strings.Contains(spec, "=") {
			return fmt.Errorf("--send wants PROTO=TEXT, got %q", spec)
		}
	}
	if cfg.expect != "" {
		id, err := peer.ParsePeerID(cfg.expect)
		if err != nil {
			return err
		}
		cfg.expectID = &id
	}
	if cfg.claim != "" {
		id, err := peer.ParsePeerID(cfg.claim)
		if err != nil {
			return err
		}
		opts.ClaimPeerID = &id
	}
	cfg.options = opts
	return nil
}

// node holds the open connections of this process.
type node struct {
	cfg      *config
	out      *out
	mu       sync.Mutex
	nextID   int
	conns    map[int]*peer.Conn
	stopping bool
	stop     chan struct{}
	stopOnce sync.Once
	// commandsOnce starts the dialer's stdin reader once, whatever --redial does.
	commandsOnce sync.Once
	all          sync.WaitGroup
}

func newNode(cfg *config, o *out) *node {
	return &node{cfg: cfg, out: o, conns: map[int]*peer.Conn{}, stop: make(chan struct{})}
}

func (n *node) listen() int {
	ln, err := net.Listen("tcp", n.cfg.addr)
	if err != nil {
		n.out.emit(peer.Event{"event": "error", "code": "INVALID_ARGUMENT", "message": err.Error()})
		return 1
	}
	n.cfg.options.ListenAddrs = []string{ln.Addr().String()}
	n.out.emit(peer.Event{"event": "listening", "addr": ln.Addr().String(), "peerId": n.cfg.identity.ID.String(), "tls": n.cfg.useTLS})
	go func() {
		<-n.stop
		_ = ln.Close()
	}()
	for {
		raw, err := ln.Accept()
		if err != nil {
			break
		}
		id := n.register()
		if id < 0 {
			_ = raw.Close()
			continue
		}
		go func() {
			defer n.all.Done()
			n.serve(id, raw, peer.RoleListener, time.Now().Add(n.handshakeTimeout()))
			if n.cfg.once {
				n.shutdown()
			}
		}()
	}
	n.all.Wait()
	return 0
}

func (n *node) dial() int {
	for i := uint(0); ; i++ {
		code := n.dialOnce()
		n.mu.Lock()
		stopping := n.stopping
		n.mu.Unlock()
		if code != 0 || stopping || i >= n.cfg.redial {
			return code
		}
	}
}

func (n *node) dialOnce() int {
	n.out.emit(peer.Event{"event": "dialing", "addr": n.cfg.addr, "peerId": n.cfg.identity.ID.String(), "tls": n.cfg.useTLS})
	deadline := time.Now().Add(n.handshakeTimeout())
	raw, err := net.DialTimeout("tcp", n.cfg.addr, time.Until(deadline))
	if err != nil {
		n.out.emit(peer.Event{"event": "error", "code": "CONNECT_FAILED", "message": err.Error()})
		return 1
	}
	id := n.register()
	if id < 0 {
		_ = raw.Close()
		return 1
	}
	ok := n.serve(id, raw, peer.RoleDialer, deadline)
	n.all.Done()
	if !ok {
		return 1
	}
	return 0
}

func (n *node) handshakeTimeout() time.Duration {
	return time.Duration(n.cfg.handshakeMs) * time.Millisecond
}

// register reserves a connection id; -1 once the node is stopping.
func (n *node) register() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.stopping {
		return -1
	}
	n.nextID++
	n.all.Add(1)
	return n.nextID
}

// serve runs TLS (if configured), the handshake and the open connection; it
// reports whether the handshake succeeded.
func (n *node) serve(id int, raw net.Conn, role peer.Role, deadline time.Time) bool {
	emit := func(ev peer.Event) {
		ev["conn"] = id
		n.out.emit(ev)
	}
	var conn net.Conn = raw
	var receivedSinceSecure func() int64
	if n.cfg.useTLS {
		var tc *tls.Conn
		counted := peer.NewCountingConn(raw)
		if role == peer.RoleDialer {
			tc = tls.Client(counted, n.cfg.clientTLS)
		} else {
			tc = tls.Server(counted, n.cfg.serverTLS)
		}
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			_ = raw.Close()
			emit(peer.Event{"event": "handshake-failed", "code": "TLS_FAILED", "message": err.Error()})
			return false
		}
		conn = tc
		secureAt := counted.Received()
		receivedSinceSecure = func() int64 { return counted.Received() - secureAt }
	}
	if role == peer.RoleListener && n.atCapacity() {
		n.refuse(conn, emit)
		return false
	}
	opts := n.cfg.options
	opts.Role = role
	opts.Deadline = deadline
	opts.ReceivedSinceSecure = receivedSinceSecure
	if role == peer.RoleDialer {
		opts.Expect = n.cfg.expectID
	} else {
		opts.EarlyData = nil
	}
	s, err := peer.Handshake(conn, opts)
	if err != nil {
		var he *peer.HandshakeError
		if errors.As(err, &he) && he.Reason != pb.GoodbyeReason_GOODBYE_REASON_UNSPECIFIED {
			from := "local"
			if he.Remote {
				from = "remote"
			}
			ev := peer.Event{"event": "goodbye", "from": from, "reason": peer.ReasonName(he.Reason), "reasonCode": int32(he.Reason),
				"detail": he.Detail, "stage": "handshake"}
			if he.Remote {
				ev["retryAfterMs"] = he.RetryAfterMs
			}
			emit(ev)
		}
		ev := peer.Event{"event": "handshake-failed", "message": err.Error()}
		if he != nil {
			ev["code"] = he.Code
		}
		emit(ev)
		return false
	}
	c := peer.NewConn(s, n.cfg.echo, emit)
	n.mu.Lock()
	n.conns[id] = c
	stopping := n.stopping
	n.mu.Unlock()
	protocols := s.Agreement.Protocols
	if protocols == nil {
		protocols = []peer.AgreedProtocol{}
	}
	capabilities := s.Agreement.Capabilities
	if capabilities == nil {
		capabilities = []peer.AgreedCapability{}
	}
	emit(peer.Event{"event": "open", "peer": s.RemoteID.String(), "direction": map[peer.Role]string{peer.RoleDialer: "outbound",
		peer.RoleListener: "inbound"}[role], "tls": s.TLS, "version": s.Agreement.Version, "protocols": protocols,
		"capabilities": capabilities, "remoteAddr": raw.RemoteAddr().String(), "agent": s.Remote.Agent,
		"earlyData": len(s.Early), "resumed": resumed(conn), "alpn": alpnOf(s), "binding": peer.BindingName(s.Remote.Binding),
		"localBinding": peer.BindingName(s.Local.Binding)})
	go c.Run()
	if stopping {
		c.Goodbye(pb.GoodbyeReason_GOODBYE_REASON_SHUTDOWN, "peerlink-go stopping")
	} else {
		if !n.cfg.noPing {
			_ = c.Ping()
		}
		for _, spec := range n.cfg.sends {
			proto, text, _ := strings.Cut(spec, "=")
			if err := c.Send(proto, []byte(text)); err != nil {
				emit(peer.Event{"event": "error", "code": "UNKNOWN_PROTOCOL", "message": err.Error()})
			}
		}
	}
	// A dialer takes commands once its connection is open and its --send messages are written: a command
	// read earlier could write its frame ahead of them.
	if role == peer.RoleDialer {
		n.commandsOnce.Do(func() { go n.readCommands() })
	}
	<-c.Done()
	n.mu.Lock()
	delete(n.conns, id)
	n.mu.Unlock()
	return true
}

// alpnOf is the negotiated ALPN id, nil (JSON null) on plain TCP.
func alpnOf(s *peer.Session) any {
	if !s.TLS {
		return nil
	}
	return s.ALPN
}

// resumed reports whether conn is a TLS connection that resumed a session.
func resumed(conn net.Conn) bool {
	tc, ok := conn.(*tls.Conn)
	return ok && tc.ConnectionState().DidResume
}

// atCapacity reports whether --max-conns connections are open.
func (n *node) atCapacity() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cfg.maxConns > 0 && uint(len(n.conns)) >= n.cfg.maxConns
}

// refuse is a capacity refusal (§8.2): Goodbye{RESOURCE_CONSTRAINT, retry_after_ms}
// in place of the Hello, then the close.
func (n *node) refuse(conn net.Conn, emit func(peer.Event)) {
	const retryAfterMs = 30_000
	frame := peer.GoodbyeFrame(pb.GoodbyeReason_GOODBYE_REASON_RESOURCE_CONSTRAINT, "max-conns")
	frame.GetGoodbye().RetryAfterMs = retryAfterMs
	body, err := peer.EncodeFrame(frame)
	if err == nil {
		_, _ = conn.Write(peer.WithPrefix(body))
	}
	emit(peer.Event{"event": "refused", "reason": "RESOURCE_CONSTRAINT", "retryAfterMs": retryAfterMs})
	peer.CloseGracefully(conn, time.Second)
}

// shutdown sends Goodbye{SHUTDOWN} on every open connection and stops accepting.
func (n *node) shutdown() {
	n.stopOnce.Do(func() {
		n.mu.Lock()
		n.stopping = true
		conns := make([]*peer.Conn, 0, len(n.conns))
		for _, c := range n.conns {
			conns = append(conns, c)
		}
		n.mu.Unlock()
		close(n.stop)
		for _, c := range conns {
			c.Goodbye(pb.GoodbyeReason_GOODBYE_REASON_SHUTDOWN, "peerlink-go stopping")
		}
	})
}

func (n *node) onSignals() {
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
	<-ch
	n.shutdown()
	// A dialer exits when its connection ends; bound the wait like §8 does.
	time.AfterFunc(peer.GracefulTimeout+time.Second, func() { os.Exit(0) })
	<-ch
	os.Exit(130)
}

type command struct {
	Cmd      string `json:"cmd"`
	Conn     int    `json:"conn"`
	Protocol string `json:"protocol"`
	Text     string `json:"text"`
	Base64   string `json:"base64"`
	Hex      string `json:"hex"`
	Reason   string `json:"reason"`
	Detail   string `json:"detail"`
}

func (n *node) readCommands() {
	scanner := bufio.NewScanner(os.Stdin)
	scanner.Buffer(make([]byte, 64<<10), 4<<20)
	for scanner.Scan() {
		line := strings.TrimSpace(scanner.Text())
		if line == "" {
			continue
		}
		var cmd command
		if err := json.Unmarshal([]byte(line), &cmd); err != nil {
			n.out.emit(peer.Event{"event": "error", "code": "INVALID_ARGUMENT", "message": "command: " + err.Error()})
			continue
		}
		n.run(cmd)
	}
}

func (n *node) run(cmd command) {
	fail := func(code, msg string) {
		n.out.emit(peer.Event{"event": "error", "code": code, "message": cmd.Cmd + ": " + msg})
	}
	if cmd.Cmd == "shutdown" {
		n.shutdown()
		return
	}
	n.mu.Lock()
	var targets []*peer.Conn
	for id, c := range n.conns {
		if cmd.Conn == 0 || cmd.Conn == id {
			targets = append(targets, c)
		}
	}
	n.mu.Unlock()
	if len(targets) == 0 {
		fail("CONNECTION_CLOSED", "no open connection")
		return
	}
	for _, c := range targets {
		var err error
		switch cmd.Cmd {
		case "send":
			payload := []byte(cmd.Text)
			if cmd.Base64 != "" {
				if payload, err = base64.StdEncoding.DecodeString(cmd.Base64); err != nil {
					fail("INVALID_ARGUMENT", err.Error())
					return
				}
			}
			err = c.Send(cmd.Protocol, payload)
		case "ping":
			err = c.Ping()
		case "goodbye":
			reason := pb.GoodbyeReason_GOODBYE_REASON_NORMAL
			if cmd.Reason != "" {
				var ok bool
				if reason, ok = peer.ParseReason(cmd.Reason); !ok {
					fail("INVALID_ARGUMENT", "unknown reason "+cmd.Reason)
					return
				}
			}
			c.Goodbye(reason, cmd.Detail)
		case "raw":
			var b []byte
			if b, err = hex.DecodeString(cmd.Hex); err == nil {
				err = c.WriteRaw(b)
			}
		default:
			fail("INVALID_ARGUMENT", "unknown command")
			return
		}
		if err != nil {
			fail("CONNECTION_CLOSED", err.Error())
		}
	}
}
