package peer

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	pb "peerlink/interop/pb"
)

// DefaultHandshakeTimeout bounds TCP connect + TLS + Hello exchange (§3.1).
const DefaultHandshakeTimeout = 10 * time.Second

// DefaultMaxEarlyData is how much 0-RTT data (frame body bytes) a listener holds.
const DefaultMaxEarlyData = 64 << 10

// GracefulTimeout is how long a closing side waits for the peer to close (§8).
const GracefulTimeout = 5 * time.Second

// FailureLinger is how long a side that failed a handshake waits for the
// peer's close after its Goodbye: a well-behaved peer closes within a round trip.
const FailureLinger = time.Second

// Protocol is an application protocol this side speaks, with the alias it
// puts in its own Data frames.
type Protocol struct {
	Name     string
	Versions []uint32
	Alias    uint32
}

// EarlyMessage is application data a dialer sends right after its Hello (§3.5).
type EarlyMessage struct {
	Protocol string
	Payload  []byte
}

// Options configure one side of a handshake.
type Options struct {
	Identity     *Identity
	Role         Role
	MinVersion   uint32 // default 1
	MaxVersion   uint32 // default 1
	Protocols    []Protocol
	Capabilities []*pb.Capability
	ListenAddrs  []string
	Agent        string
	MaxFrameSize uint32    // default DefaultMaxFrameSize
	Deadline     time.Time // default now + DefaultHandshakeTimeout
	// Expect, for a dialer, is the peer id it must reach (§3.4 check 2).
	Expect *PeerID
	// EarlyData is sent by a dialer right after its Hello, with early_data set.
	EarlyData []EarlyMessage
	// BadProof makes this side send an identity proof that does not verify
	// (a conformance test of the peer's §3.3 checks).
	BadProof bool
	// WrongBinding makes this side announce the binding of the other transport
	// (NONCES inside TLS, TLS_EXPORTER on plain TCP), which §3.3 says the peer
	// must reject with AUTHENTICATION_FAILED.
	WrongBinding bool
	// EarlyUnannounced sends EarlyData without setting Hello.early_data, which
	// §3.5 makes a protocol violation.
	EarlyUnannounced bool
	// ClaimPeerID puts this id in Hello.peer_id instead of the own one (an
	// impersonation attempt the peer must refuse: it is not the key's hash).
	ClaimPeerID *PeerID
	// CertKey is the Ed25519 key of this side's own TLS certificate. When it is
	// the identity key and ALPN peerlink/1+cert was negotiated, the Hello uses
	// CHANNEL_BINDING_TLS_CERTIFICATE (§3.3); otherwise TLS_EXPORTER.
	CertKey ed25519.PublicKey
	// Binding, when set, is announced whatever the transport, ALPN or
	// certificate (a conformance test of the peer's §3.3 checks), with the proof
	// that binding asks for.
	Binding pb.ChannelBinding
	// CertProof puts a (non-empty) proof in a Hello with the certificate
	// binding, whose proof must be empty (§3.3: PROTOCOL_VIOLATION).
	CertProof bool
	// ReceivedSinceSecure, for a TLS dialer, counts the bytes received from the
	// peer since this side's TLS handshake finished: a listener that closes
	// before its Hello without having sent anything since never judged our
	// certificate (§8.1: CONNECTION_CLOSED, not AUTHENTICATION_FAILED).
	ReceivedSinceSecure func() int64
}

// HandshakeError is a failed handshake: the Goodbye this side sent, the one
// the peer sent (Remote), or a transport failure (Reason unset).
type HandshakeError struct {
	// Code is a peerlink ErrorCode name, e.g. AUTHENTICATION_FAILED.
	Code   string
	Reason pb.GoodbyeReason
	Remote bool
	Detail string
	// RetryAfterMs is the peer's Goodbye.retry_after_ms (Remote only; 0: none).
	RetryAfterMs uint32
}

func (e *HandshakeError) Error() string {
	side := "local"
	if e.Remote {
		side = "remote"
	}
	return fmt.Sprintf("[%s] %s (%s, goodbye %s)", e.Code, e.Detail, side, ReasonName(e.Reason))
}

// Session is an open connection: the outcome of a successful handshake.
type Session struct {
	Conn   net.Conn
	Reader *FrameReader
	Writer *Writer
	Role   Role
	TLS    bool
	// ALPN is the negotiated TLS application protocol ("" on plain TCP).
	ALPN string
	// PeerCertKey is the Ed25519 key of the peer's TLS certificate (nil if none).
	PeerCertKey ed25519.PublicKey
	Local       *pb.Hello
	Remote      *pb.Hello
	RemoteID    PeerID
	Agreement   Agreement
	// Early holds the dialer's 0-RTT Data, to deliver before any later frame.
	Early []*pb.Data

	received func() int64
}

// Handshake runs §3 on an established transport: conn is a *tls.Conn whose
// TLS handshake completed, or a plain TCP connection. On failure the
// connection is closed (after a Goodbye when one is due) and the error is a
// *HandshakeError.
func Handshake(conn net.Conn, opts Options) (*Session, error) {
	if opts.Deadline.IsZero() {
		opts.Deadline = time.Now().Add(DefaultHandshakeTimeout)
	}
	if opts.MaxFrameSize == 0 {
		opts.MaxFrameSize = DefaultMaxFrameSize
	}
	if opts.MinVersion == 0 && opts.MaxVersion == 0 {
		opts.MinVersion, opts.MaxVersion = 1, 1
	}
	_ = conn.SetDeadline(opts.Deadline)
	s := &Session{Conn: conn, Reader: NewFrameReader(conn, opts.MaxFrameSize), Writer: newWriter(conn), Role: opts.Role,
		received: opts.ReceivedSinceSecure}

	var exporter []byte
	if tlsConn, ok := conn.(*tls.Conn); ok {
		s.TLS = true
		state := tlsConn.ConnectionState()
		if !state.HandshakeComplete || !KnownALPN(state.NegotiatedProtocol) {
			_ = conn.Close()
			return nil, &HandshakeError{Code: "TLS_FAILED", Detail: fmt.Sprintf("ALPN %q negotiated, want %q or %q",
				state.NegotiatedProtocol, ALPNCert, ALPN)}
		}
		s.ALPN, s.PeerCertKey = state.NegotiatedProtocol, PeerCertificateKey(state)
		var err error
		if exporter, err = state.ExportKeyingMaterial(ExporterLabel, nil, ExporterLength); err != nil {
			_ = conn.Close()
			return nil, &HandshakeError{Code: "TLS_FAILED", Detail: err.Error()}
		}
	}

	// §3.2: send the own Hello at once, without waiting for the peer's.
	local, err := buildHello(opts, s.TLS)
	if err != nil {
		_ = conn.Close()
		return nil, &HandshakeError{Code: "INTERNAL", Detail: err.Error()}
	}
	local.Binding = s.ownBinding(opts)
	signed := exporter
	if signed == nil { // a signed binding announced on plain TCP: a proof over no exporter at all
		signed = make([]byte, ExporterLength)
	}
	switch local.Binding {
	case pb.ChannelBinding_CHANNEL_BINDING_TLS_EXPORTER:
		local.Proof = sign(opts, TLSProofMessage(opts.Role, signed))
	case pb.ChannelBinding_CHANNEL_BINDING_TLS_CERTIFICATE:
		if opts.CertProof {
			local.Proof = sign(opts, TLSProofMessage(opts.Role, signed))
		}
	}
	s.Local = local
	localBody, err := s.Writer.WriteFrame(&pb.Frame{Kind: &pb.Frame_Hello{Hello: local}})
	if err != nil {
		_ = conn.Close()
		return nil, &HandshakeError{Code: s.earlyCloseCode(), Detail: "writing Hello: " + err.Error()}
	}
	if local.EarlyData || (opts.EarlyUnannounced && opts.Role == RoleDialer) {
		for _, m := range opts.EarlyData {
			data := &pb.Data{Protocol: aliasOf(opts.Protocols, m.Protocol), Payload: m.Payload}
			if _, err := s.Writer.WriteFrame(&pb.Frame{Kind: &pb.Frame_Data{Data: data}}); err != nil {
				_ = conn.Close()
				return nil, &HandshakeError{Code: s.earlyCloseCode(), Detail: "writing early data: " + err.Error()}
			}
		}
	}

	// The peer's Hello must be its first frame.
	frame, remoteBody, err := s.Reader.ReadFrame()
	if err != nil {
		return nil, s.readFailure(err, "waiting for the peer's Hello")
	}
	remote := frame.GetHello()
	if remote == nil {
		return nil, s.unexpected(frame, "the peer's first frame must be Hello")
	}
	if herr := s.validateHello(remote); herr != nil {
		return nil, herr
	}
	s.Remote = remote
	copy(s.RemoteID[:], remote.PeerId)

	// §3.3: identity proof bound to this transport.
	if s.TLS {
		if herr := s.verifyTLSBinding(remote, opts, exporter); herr != nil {
			return nil, herr
		}
	} else {
		if remote.Binding != pb.ChannelBinding_CHANNEL_BINDING_NONCES {
			return nil, s.fail(pb.GoodbyeReason_GOODBYE_REASON_AUTHENTICATION_FAILED, "AUTHENTICATION_FAILED",
				fmt.Sprintf("binding %v on a plain TCP connection", remote.Binding))
		}
		dialerBody, listenerBody := localBody, remoteBody
		if opts.Role == RoleListener {
			dialerBody, listenerBody = remoteBody, localBody
		}
		auth := &pb.Auth{Proof: sign(opts, NonceProofMessage(opts.Role, dialerBody, listenerBody))}
		if _, err := s.Writer.WriteFrame(&pb.Frame{Kind: &pb.Frame_Auth{Auth: auth}}); err != nil {
			_ = conn.Close()
			return nil, &HandshakeError{Code: "CONNECTION_CLOSED", Detail: "writing Auth: " + err.Error()}
		}
		if herr := s.awaitAuth(opts, NonceProofMessage(opts.Role.Other(), dialerBody, listenerBody)); herr != nil {
			return nil, herr
		}
	}

	// §3.4 checks, in order.
	if s.RemoteID == opts.Identity.ID {
		return nil, s.fail(pb.GoodbyeReason_GOODBYE_REASON_SELF_CONNECTION, "SELF_CONNECTION", "connected to myself")
	}
	if opts.Role == RoleDialer && opts.Expect != nil && *opts.Expect != s.RemoteID {
		return nil, s.fail(pb.GoodbyeReason_GOODBYE_REASON_UNEXPECTED_IDENTITY, "IDENTITY_MISMATCH",
			fmt.Sprintf("expected %s, reached %s", opts.Expect, s.RemoteID))
	}
	agreement, err := Negotiate(local, remote)
	if err != nil {
		var ne *NegotiationError
		errors.As(err, &ne)
		return nil, s.fail(ne.Reason, "PROTOCOL_MISMATCH", ne.Detail)
	}
	s.Agreement = agreement
	_ = conn.SetDeadline(time.Time{})
	s.Writer.timeout = 10 * time.Second
	return s, nil
}

// ownBinding is the binding of the own Hello (§3.3): over TLS the certificate
// binding when peerlink/1+cert was negotiated and the own certificate's key is
// the identity key, else TLS_EXPORTER; NONCES on plain TCP. The misbehaviour
// options override it.
func (s *Session) ownBinding(opts Options) pb.ChannelBinding {
	switch {
	case opts.Binding != pb.ChannelBinding_CHANNEL_BINDING_UNSPECIFIED:
		return opts.Binding
	case opts.WrongBinding && s.TLS:
		return pb.ChannelBinding_CHANNEL_BINDING_NONCES
	case opts.WrongBinding, s.TLS && opts.BadProof: // a proof that does not verify needs a signed binding
		return pb.ChannelBinding_CHANNEL_BINDING_TLS_EXPORTER
	case !s.TLS:
		return pb.ChannelBinding_CHANNEL_BINDING_NONCES
	case s.ALPN == ALPNCert && SameKey(opts.CertKey, opts.Identity.Public):
		return pb.ChannelBinding_CHANNEL_BINDING_TLS_CERTIFICATE
	default:
		return pb.ChannelBinding_CHANNEL_BINDING_TLS_EXPORTER
	}
}

// verifyTLSBinding checks the peer's Hello on a TLS connection (§3.3): a
// tls-exporter proof under either ALPN, or the certificate binding under
// peerlink/1+cert only, with an empty proof and the peer's certificate key
// equal to its Hello key.
func (s *Session) verifyTLSBinding(remote *pb.Hello, opts Options, exporter []byte) *HandshakeError {
	authFailed := func(detail string) *HandshakeError {
		return s.fail(pb.GoodbyeReason_GOODBYE_REASON_AUTHENTICATION_FAILED, "AUTHENTICATION_FAILED", detail)
	}
	switch remote.Binding {
	case pb.ChannelBinding_CHANNEL_BINDING_TLS_EXPORTER:
		if !ed25519.Verify(remote.PublicKey, TLSProofMessage(opts.Role.Other(), exporter), remote.Proof) {
			return authFailed("tls-exporter proof does not verify")
		}
		return nil
	case pb.ChannelBinding_CHANNEL_BINDING_TLS_CERTIFICATE:
		if s.ALPN != ALPNCert {
			return authFailed(fmt.Sprintf("certificate binding under ALPN %q", s.ALPN))
		}
		if len(remote.Proof) != 0 {
			return s.fail(pb.GoodbyeReason_GOODBYE_REASON_PROTOCOL_VIOLATION, "PROTOCOL_VIOLATION",
				fmt.Sprintf("certificate binding with a %d-byte proof (must be empty)", len(remote.Proof)))
		}
		if !SameKey(s.PeerCertKey, remote.PublicKey) {
			return authFailed("certificate binding: the peer's TLS certificate key is not its Hello key")
		}
		return nil
	default:
		return authFailed(fmt.Sprintf("binding %v on a TLS connection", remote.Binding))
	}
}

// awaitAuth reads frames until the peer's Auth, holding a dialer's early Data.
func (s *Session) awaitAuth(opts Options, expected []byte) *HandshakeError {
	held := 0
	for {
		frame, body, err := s.Reader.ReadFrame()
		if err != nil {
			return s.readFailure(err, "waiting for the peer's Auth")
		}
		switch kind := frame.Kind.(type) {
		case *pb.Frame_Auth:
			if !ed25519.Verify(s.Remote.PublicKey, expected, kind.Auth.Proof) {
				return s.fail(pb.GoodbyeReason_GOODBYE_REASON_AUTHENTICATION_FAILED, "AUTHENTICATION_FAILED",
					"nonce-transcript proof does not verify")
			}
			return nil
		case *pb.Frame_Data:
			if opts.Role != RoleListener || !s.Remote.EarlyData {
				return s.fail(pb.GoodbyeReason_GOODBYE_REASON_PROTOCOL_VIOLATION, "PROTOCOL_VIOLATION",
					"Data before the connection is open without early_data")
			}
			held += len(body)
			if held > DefaultMaxEarlyData {
				return s.fail(pb.GoodbyeReason_GOODBYE_REASON_PROTOCOL_VIOLATION, "PROTOCOL_VIOLATION",
					fmt.Sprintf("more than %d bytes of early data", DefaultMaxEarlyData))
			}
			s.Early = append(s.Early, kind.Data)
		default:
			return s.unexpected(frame, "expected Auth")
		}
	}
}

// validateHello applies the §3.2 field checks.
func (s *Session) validateHello(h *pb.Hello) *HandshakeError {
	violation := func(detail string) *HandshakeError {
		return s.fail(pb.GoodbyeReason_GOODBYE_REASON_PROTOCOL_VIOLATION, "PROTOCOL_VIOLATION", detail)
	}
	switch {
	case h.KeyType != pb.KeyType_KEY_TYPE_ED25519:
		return violation(fmt.Sprintf("unsupported key type %v", h.KeyType))
	case len(h.PublicKey) != ed25519.PublicKeySize:
		return violation(fmt.Sprintf("Hello.public_key is %d bytes, want %d", len(h.PublicKey), ed25519.PublicKeySize))
	case len(h.PeerId) != PeerIDLength:
		return violation(fmt.Sprintf("Hello.peer_id is %d bytes, want %d", len(h.PeerId), PeerIDLength))
	case len(h.Nonce) != 32:
		return violation(fmt.Sprintf("Hello.nonce is %d bytes, want 32", len(h.Nonce)))
	case s.Role == RoleDialer && h.EarlyData:
		return violation("a listener's Hello set early_data")
	}
	if id := PeerIDFromPublicKey(h.PublicKey); string(id[:]) != string(h.PeerId) {
		return s.fail(pb.GoodbyeReason_GOODBYE_REASON_AUTHENTICATION_FAILED, "AUTHENTICATION_FAILED",
			"Hello.peer_id is not SHA-256(key_type || public_key)")
	}
	if IsSmallOrderKey(h.PublicKey) {
		return s.fail(pb.GoodbyeReason_GOODBYE_REASON_AUTHENTICATION_FAILED, "AUTHENTICATION_FAILED",
			"Hello.public_key has small order: a fixed signature verifies for it")
	}
	return nil
}

// unexpected handles a frame not allowed at this point of the handshake; a
// Goodbye from the peer ends the handshake with the peer's reason.
func (s *Session) unexpected(frame *pb.Frame, detail string) *HandshakeError {
	if g := frame.GetGoodbye(); g != nil {
		s.Writer.Final(nil)
		lingerAndClose(s.Conn, FailureLinger)
		return &HandshakeError{Code: codeForRemoteReason(g.Reason), Reason: g.Reason, Remote: true, Detail: g.Detail,
			RetryAfterMs: g.RetryAfterMs}
	}
	return s.fail(pb.GoodbyeReason_GOODBYE_REASON_PROTOCOL_VIOLATION, "PROTOCOL_VIOLATION",
		fmt.Sprintf("%s, got %s", detail, KindName(frame)))
}

// readFailure maps a read error during the handshake to its outcome.
func (s *Session) readFailure(err error, while string) *HandshakeError {
	var netErr net.Error
	switch {
	case errors.Is(err, ErrMalformedPrefix), errors.Is(err, ErrFrameTooLarge), errors.Is(err, ErrMalformedFrame):
		return s.fail(pb.GoodbyeReason_GOODBYE_REASON_PROTOCOL_VIOLATION, "MALFORMED_FRAME", err.Error())
	case errors.As(err, &netErr) && netErr.Timeout():
		return s.fail(pb.GoodbyeReason_GOODBYE_REASON_TIMEOUT, "HANDSHAKE_TIMEOUT", "handshake timed out "+while)
	}
	_ = s.Conn.Close()
	detail := while + ": " + err.Error()
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		detail = "peer closed the connection " + while
	}
	return &HandshakeError{Code: s.earlyCloseCode(), Detail: detail}
}

// earlyCloseCode is the ErrorCode of a transport that ended during the
// handshake (§8.1): CONNECTION_CLOSED, except inside TLS before the peer's
// Hello, which is how a rejected certificate looks in TLS 1.3
// (AUTHENTICATION_FAILED) — unless this side is the dialer and received
// nothing since its TLS handshake finished: the listener then dropped a pending
// connection before it finished its own side of TLS, without judging us (a
// listener that judged the certificate has sent its session tickets, an alert
// or a close_notify since).
func (s *Session) earlyCloseCode() string {
	if !s.TLS || s.Remote != nil {
		return "CONNECTION_CLOSED"
	}
	if s.Role == RoleDialer && s.receivedSinceSecure() == 0 {
		return "CONNECTION_CLOSED"
	}
	return "AUTHENTICATION_FAILED"
}

// receivedSinceSecure is opts.ReceivedSinceSecure, kept on the session; -1 when unknown.
func (s *Session) receivedSinceSecure() int64 {
	if s.received == nil {
		return -1
	}
	return s.received()
}

// fail sends Goodbye{reason}, closes gracefully and returns the error.
func (s *Session) fail(reason pb.GoodbyeReason, code, detail string) *HandshakeError {
	s.Writer.Final(GoodbyeFrame(reason, detail))
	lingerAndClose(s.Conn, FailureLinger)
	return &HandshakeError{Code: code, Reason: reason, Detail: detail}
}

// codeForRemoteReason is the peerlink ErrorCode a side reports for the peer's
// Goodbye that ended the handshake; a capacity refusal (RESOURCE_CONSTRAINT,
// §8.1) is CONNECTION_LIMIT, not a generic CONNECTION_CLOSED.
func codeForRemoteReason(r pb.GoodbyeReason) string {
	switch r {
	case pb.GoodbyeReason_GOODBYE_REASON_RESOURCE_CONSTRAINT:
		return "CONNECTION_LIMIT"
	case pb.GoodbyeReason_GOODBYE_REASON_RATE_LIMITED:
		return "RATE_LIMITED"
	case pb.GoodbyeReason_GOODBYE_REASON_PEER_BANNED:
		return "PEER_BANNED"
	case pb.GoodbyeReason_GOODBYE_REASON_ALREADY_CONNECTED:
		return "ALREADY_CONNECTED"
	case pb.GoodbyeReason_GOODBYE_REASON_AUTHENTICATION_FAILED:
		return "AUTHENTICATION_FAILED"
	case pb.GoodbyeReason_GOODBYE_REASON_UNEXPECTED_IDENTITY:
		return "IDENTITY_MISMATCH"
	case pb.GoodbyeReason_GOODBYE_REASON_SELF_CONNECTION:
		return "SELF_CONNECTION"
	case pb.GoodbyeReason_GOODBYE_REASON_INCOMPATIBLE_VERSION:
		return "PROTOCOL_MISMATCH"
	case pb.GoodbyeReason_GOODBYE_REASON_PROTOCOL_VIOLATION:
		return "PROTOCOL_VIOLATION"
	case pb.GoodbyeReason_GOODBYE_REASON_TIMEOUT:
		return "HANDSHAKE_TIMEOUT"
	default:
		return "CONNECTION_CLOSED"
	}
}

func buildHello(opts Options, _ bool) (*pb.Hello, error) {
	nonce := make([]byte, 32)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	h := &pb.Hello{
		MinVersion:   opts.MinVersion,
		MaxVersion:   opts.MaxVersion,
		PeerId:       append([]byte(nil), opts.Identity.ID[:]...),
		KeyType:      pb.KeyType_KEY_TYPE_ED25519,
		PublicKey:    append([]byte(nil), opts.Identity.Public...),
		Nonce:        nonce,
		Capabilities: opts.Capabilities,
		ListenAddrs:  opts.ListenAddrs,
		EarlyData:    opts.Role == RoleDialer && len(opts.EarlyData) > 0 && !opts.EarlyUnannounced,
		Agent:        opts.Agent,
	}
	if opts.ClaimPeerID != nil {
		h.PeerId = append([]byte(nil), opts.ClaimPeerID[:]...)
	}
	for _, p := range opts.Protocols {
		h.Protocols = append(h.Protocols, &pb.ProtocolSupport{Name: p.Name, Versions: p.Versions, Alias: p.Alias})
	}
	return h, nil
}

func sign(opts Options, msg []byte) []byte {
	sig := opts.Identity.Sign(msg)
	if opts.BadProof {
		sig[0] ^= 0xff
	}
	return sig
}

func aliasOf(protocols []Protocol, name string) uint32 {
	for _, p := range protocols {
		if p.Name == name {
			return p.Alias
		}
	}
	return 0
}

// KindName names a frame's kind as in frame.proto, "unknown" for a kind this
// peer does not know and "empty" for a frame without one.
func KindName(f *pb.Frame) string {
	switch f.Kind.(type) {
	case *pb.Frame_Data:
		return "data"
	case *pb.Frame_Ping:
		return "ping"
	case *pb.Frame_Pong:
		return "pong"
	case *pb.Frame_Hello:
		return "hello"
	case *pb.Frame_Auth:
		return "auth"
	case *pb.Frame_Goodbye:
		return "goodbye"
	case *pb.Frame_CapabilityUpdate:
		return "capability_update"
	case *pb.Frame_BandwidthProbe:
		return "bandwidth_probe"
	case *pb.Frame_BandwidthReport:
		return "bandwidth_report"
	}
	if len(f.ProtoReflect().GetUnknown()) > 0 {
		return "unknown"
	}
	return "empty"
}
