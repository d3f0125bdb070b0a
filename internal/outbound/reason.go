package outbound

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"regexp"
	"strings"
	"syscall"
	"unicode"
	"unicode/utf8"
)

// MaxExcerpt is how many bytes of a target's answer Excerpt keeps.
const MaxExcerpt = 200

// Reason describes a failed HTTP request in a few words that hold nothing the target sent:
// Go's errors quote what a target answered (`malformed HTTP response "INFO {...}"` when a
// NATS port answers, HTTP/2 GOAWAY debug data, certificate names), and a viewer reading them
// in a dead-letter queue or the notification log could use the hub as a port scanner. A
// refusal of the guard is its own message.
func Reason(err error) string {
	var refused *RefusedError
	var dns *net.DNSError
	var ne net.Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &refused):
		return refused.Error()
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timed out"
	case errors.As(err, &dns):
		if dns.IsNotFound {
			return "host name not found"
		}
		return "host name lookup failed"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "connection reset by the target"
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "host unreachable"
	case errors.Is(err, syscall.ENETUNREACH):
		return "network unreachable"
	}
	if r := tlsReason(err); r != "" {
		return r
	}
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the target closed the connection without an HTTP answer"
	case strings.Contains(err.Error(), "malformed HTTP"), strings.Contains(err.Error(), "HTTP/1.x transport connection broken"):
		return "the target's answer is not HTTP"
	}
	return "no HTTP answer (the connection failed)"
}

func tlsReason(err error) string {
	var header tls.RecordHeaderError
	var unknown x509.UnknownAuthorityError
	var name x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	var alert tls.AlertError
	switch {
	case errors.As(err, &header):
		return "not a TLS server (the answer is not a TLS handshake)"
	case errors.As(err, &unknown):
		return "TLS certificate signed by an unknown authority"
	case errors.As(err, &name):
		return "TLS certificate not valid for this host name"
	case errors.As(err, &invalid):
		return "TLS certificate not valid (expired or not for this use)"
	case errors.As(err, &verify):
		return "TLS certificate not trusted"
	case errors.As(err, &alert):
		return "TLS handshake refused by the target"
	}
	return ""
}

// Excerpt is a bounded, printable excerpt of what a target answered: at most MaxExcerpt
// bytes, control characters and invalid UTF-8 replaced by '.', and "…[cut]" when cut.
func Excerpt(b []byte) string {
	cut := len(b) > MaxExcerpt
	if cut {
		b = b[:MaxExcerpt]
	}
	var sb strings.Builder
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		switch {
		case r == utf8.RuneError && n <= 1:
			if !cut || len(b) > utf8.UTFMax {
				sb.WriteByte('.')
			}
		case unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Bidi_Control, r):
			sb.WriteByte('.')
		default:
			sb.WriteRune(r)
		}
		b = b[n:]
	}
	if cut {
		sb.WriteString("…[cut]")
	}
	return sb.String()
}

// Sanitize returns err with a text safe to store and show: Reason for an HTTP transport
// failure, else a bounded, printable Excerpt of its text (libraries such as go-oidc quote
// whole response bodies in theirs). Only a refusal (ErrRefused) and the context's errors stay
// reachable through errors.Is and errors.As; the original text does not.
func Sanitize(err error) error {
	if err == nil {
		return nil
	}
	var refused *RefusedError
	var ne net.Error
	s := &sanitized{}
	switch {
	case errors.As(err, &refused):
		s.msg, s.kind = refused.Error(), refused
	case errors.Is(err, context.Canceled):
		s.msg, s.kind = Reason(err), context.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		s.msg, s.kind = Reason(err), context.DeadlineExceeded
	case errors.As(err, &ne):
		s.msg = Reason(err)
	default:
		// Some libraries (go-oidc) flatten the errors they wrap into text: a refusal of the
		// guard is found again by its wording, the guard's own.
		if m := refusedText.FindStringSubmatch(err.Error()); m != nil {
			re := &RefusedError{Addr: m[1], Reason: m[2]}
			s.msg, s.kind = re.Error(), re
			break
		}
		s.msg = Excerpt([]byte(err.Error()))
	}
	return s
}

// refusedText matches RefusedError's message.
var refusedText = regexp.MustCompile(`outbound address (\S{1,64}) refused \(([a-zA-Z0-9 ,-]{1,64})\); allow it with outbound\.allow`)

type sanitized struct {
	msg  string
	kind error
}

func (e *sanitized) Error() string { return e.msg }
func (e *sanitized) Unwrap() error { return e.kind }
