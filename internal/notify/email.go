package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"strings"
	"time"

	"github.com/google/uuid"
)

// SMTP configures the email channel: the relay every email rule sends through.
type SMTP struct {
	// Addr is the relay's host:port.
	Addr string `json:"addr"`
	// From is the sender address.
	From string `json:"from"`
	// Username and Password authenticate (AUTH PLAIN, else LOGIN); Password is a reference
	// (secret:NAME, env:NAME, file:PATH). No username, no authentication.
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	// TLS connects with TLS from the start (port 465) instead of STARTTLS.
	TLS bool `json:"tls,omitempty"`
	// Insecure allows a relay that does not offer STARTTLS (a local relay); the password
	// still never crosses an unencrypted connection.
	Insecure bool `json:"insecure,omitempty"`
	// HelloName is the name sent in EHLO (default localhost).
	HelloName string `json:"helloName,omitempty"`
	// Timeout bounds one delivery (default 30s).
	Timeout Duration `json:"timeout,omitempty"`
	// TLSConfig overrides the TLS settings (tests trust their own CA with it).
	TLSConfig *tls.Config `json:"-"`
}

// emailSender sends through an SMTP relay.
type emailSender struct {
	cfg     SMTP
	secrets Resolver
}

func (m *emailSender) send(ctx context.Context, d *delivery) error {
	if m.cfg.Addr == "" || m.cfg.From == "" {
		return permanent(errors.New("send email: no SMTP relay configured"))
	}
	if len(d.To) == 0 {
		return permanent(errors.New("send email: no recipients"))
	}
	msg, err := buildMessage(m.cfg.From, d)
	if err != nil {
		return permanent(err)
	}
	if err := m.transmit(ctx, d.To, msg); err != nil {
		return fmt.Errorf("send email via %s: %w", m.cfg.Addr, err)
	}
	return nil
}

func (m *emailSender) transmit(ctx context.Context, to []string, msg []byte) error {
	timeout := time.Duration(m.cfg.Timeout)
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	host, _, err := net.SplitHostPort(m.cfg.Addr)
	if err != nil {
		return permanent(fmt.Errorf("relay address: %w", err))
	}
	tlsCfg := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if m.cfg.TLSConfig != nil {
		tlsCfg = m.cfg.TLSConfig.Clone()
		if tlsCfg.ServerName == "" {
			tlsCfg.ServerName = host
		}
	}
	var conn net.Conn
	if m.cfg.TLS {
		conn, err = (&tls.Dialer{Config: tlsCfg}).DialContext(ctx, "tcp", m.cfg.Addr)
	} else {
		conn, err = (&net.Dialer{}).DialContext(ctx, "tcp", m.cfg.Addr)
	}
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	// net/smtp has no context: the deadline and a close on cancel bound every command.
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()

	c, err := smtp.NewClient(conn, host)
	if err != nil {
		_ = conn.Close()
		return fmt.Errorf("greeting: %w", err)
	}
	defer func() { _ = c.Close() }()
	helo := m.cfg.HelloName
	if helo == "" {
		helo = "localhost"
	}
	if err := c.Hello(helo); err != nil {
		return smtpErr("EHLO", err)
	}
	encrypted := m.cfg.TLS
	if !encrypted {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(tlsCfg); err != nil {
				return smtpErr("STARTTLS", err)
			}
			encrypted = true
		} else if !m.cfg.Insecure {
			return permanent(errors.New("the relay does not offer STARTTLS (set insecure: true for a local relay)"))
		}
	}
	if m.cfg.Username != "" {
		if !encrypted {
			return permanent(errors.New("refusing to authenticate over an unencrypted connection"))
		}
		password, err := m.secrets.Resolve(ctx, m.cfg.Password)
		if err != nil {
			return permanent(fmt.Errorf("SMTP password: %w", err))
		}
		if err := c.Auth(chooseAuth(c, m.cfg.Username, password)); err != nil {
			return smtpErr("AUTH", err)
		}
	}
	from, err := mail.ParseAddress(m.cfg.From)
	if err != nil {
		return permanent(fmt.Errorf("sender address: %w", err))
	}
	if err := c.Mail(from.Address); err != nil {
		return smtpErr("MAIL FROM", err)
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt); err != nil {
			return smtpErr("RCPT TO "+rcpt, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return smtpErr("DATA", err)
	}
	if _, err := w.Write(msg); err != nil {
		return smtpErr("DATA", err)
	}
	if err := w.Close(); err != nil {
		return smtpErr("DATA", err)
	}
	return smtpErr("QUIT", c.Quit())
}

// smtpErr names the command that failed; 5xx replies are permanent.
func smtpErr(cmd string, err error) error {
	if err == nil {
		return nil
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		e := fmt.Errorf("%s: %d %s", cmd, te.Code, te.Msg)
		if te.Code >= 500 {
			return permanent(e)
		}
		return e
	}
	return fmt.Errorf("%s: %w", cmd, err)
}

// chooseAuth prefers PLAIN and falls back to LOGIN when that is all the relay offers.
func chooseAuth(c *smtp.Client, user, password string) smtp.Auth {
	if ok, mechs := c.Extension("AUTH"); ok {
		fields := strings.Fields(strings.ToUpper(mechs))
		if !contains(fields, "PLAIN") && contains(fields, "LOGIN") {
			return &loginAuth{user: user, password: password}
		}
	}
	return &plainAuth{user: user, password: password}
}

// plainAuth is AUTH PLAIN. net/smtp's PlainAuth checks the connection itself, but against the
// host name given to it; transmit has already refused unencrypted connections.
type plainAuth struct{ user, password string }

func (a *plainAuth) Start(*smtp.ServerInfo) (string, []byte, error) {
	return "PLAIN", []byte("\x00" + a.user + "\x00" + a.password), nil
}

func (a *plainAuth) Next(_ []byte, more bool) ([]byte, error) {
	if more {
		return nil, errors.New("unexpected server challenge")
	}
	return nil, nil
}

// loginAuth is AUTH LOGIN, which some relays (Exchange, Office 365) offer alone.
type loginAuth struct{ user, password string }

func (a *loginAuth) Start(*smtp.ServerInfo) (string, []byte, error) { return "LOGIN", nil, nil }

func (a *loginAuth) Next(challenge []byte, more bool) ([]byte, error) {
	if !more {
		return nil, nil
	}
	switch strings.ToLower(strings.TrimSpace(string(challenge))) {
	case "username:", "user name", "username":
		return []byte(a.user), nil
	case "password:", "password":
		return []byte(a.password), nil
	}
	return nil, errors.New("unexpected AUTH LOGIN challenge")
}

// buildMessage writes an RFC 5322 message: UTF-8 text/plain, quoted-printable, with Date and
// Message-ID.
func buildMessage(from string, d *delivery) ([]byte, error) {
	fromAddr, err := mail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("sender address %q: %w", from, err)
	}
	domain := "datahub.local"
	if i := strings.LastIndexByte(fromAddr.Address, '@'); i >= 0 {
		domain = fromAddr.Address[i+1:]
	}
	var b bytes.Buffer
	header := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	header("From", fromAddr.String())
	header("To", strings.Join(d.To, ", "))
	header("Subject", mime.QEncoding.Encode("utf-8", d.Msg.Subject))
	header("Date", d.Time.Format(time.RFC1123Z))
	header("Message-ID", "<"+uuid.NewString()+"@"+domain+">")
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=UTF-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	header("Auto-Submitted", "auto-generated")
	header("X-DataHub-Event", d.Kind)
	header("X-DataHub-Delivery", d.ID)
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	body := strings.ReplaceAll(strings.ReplaceAll(d.Msg.Body, "\r\n", "\n"), "\n", "\r\n")
	if _, err := qp.Write([]byte(body)); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
