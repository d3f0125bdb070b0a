package notify

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/datahub-oss/datahub/internal/catalog"
	"github.com/datahub-oss/datahub/internal/event"
)

// clock is an injectable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().UTC().Truncate(time.Second)} }

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// sleeps records the waits of retries instead of waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) Sleep(_ context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
	return nil
}

// mailMsg is a message the test SMTP server received.
type mailMsg struct {
	From    string
	Rcpt    []string
	Data    []byte
	TLS     bool
	AuthAs  string
	Header  mail.Header
	Body    string
	Subject string
}

// smtpServer is an in-process SMTP relay with STARTTLS (self-signed) and AUTH PLAIN.
type smtpServer struct {
	Addr string
	CAs  *x509.CertPool
	User string
	Pass string
	// FailData makes DATA fail with a transient 451.
	FailData bool

	mu       sync.Mutex
	msgs     []mailMsg
	attempts int
}

func (s *smtpServer) Messages() []mailMsg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]mailMsg(nil), s.msgs...)
}

func (s *smtpServer) Attempts() int { s.mu.Lock(); defer s.mu.Unlock(); return s.attempts }

func startSMTP(t *testing.T) *smtpServer {
	t.Helper()
	cert, pool := selfSigned(t)
	srv := &smtpServer{CAs: pool, User: "hub", Pass: "s3cr3t-smtp-pw"}
	be := smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &session{srv: srv, conn: c}, nil })
	s := smtp.NewServer(be)
	s.Domain = "localhost"
	s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	s.ReadTimeout, s.WriteTimeout = 5*time.Second, 5*time.Second
	s.ErrorLog = nopLogger{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Addr = l.Addr().String()
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() { _ = s.Close() })
	return srv
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}
func (nopLogger) Println(...any)        {}

type session struct {
	srv  *smtpServer
	conn *smtp.Conn
	msg  mailMsg
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.srv.User || pass != s.srv.Pass {
			return smtp.ErrAuthFailed
		}
		s.msg.AuthAs = user
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.msg.AuthAs == "" {
		return smtp.ErrAuthRequired
	}
	s.msg.From = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.msg.Rcpt = append(s.msg.Rcpt, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	s.srv.attempts++
	if s.srv.FailData {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	m := s.msg
	m.Data = b
	_, m.TLS = s.conn.TLSConnectionState()
	msg, err := mail.ReadMessage(strings.NewReader(string(b)))
	if err != nil {
		return err
	}
	m.Header = msg.Header
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		return err
	}
	m.Body = string(body)
	if m.Subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); err != nil {
		return err
	}
	s.srv.msgs = append(s.srv.msgs, m)
	return nil
}

func (s *session) Reset()        { s.msg.From, s.msg.Rcpt = "", nil }
func (s *session) Logout() error { return nil }

func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// smtpConfig points the service at the test relay, the password given as a file: reference.
func smtpConfig(t *testing.T, s *smtpServer) SMTP {
	return SMTP{
		Addr: s.Addr, From: "Data Hub <hub@example.org>", Username: s.User,
		Password: fileRef(t, "smtp-pw", s.Pass), TLSConfig: &tls.Config{RootCAs: s.CAs, MinVersion: tls.VersionTLS12},
		Timeout: Duration(5 * time.Second),
	}
}

// fileRef writes a value to a file and returns its file: reference.
func fileRef(t *testing.T, name, value string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return "file:" + p
}

// fakeDirectory serves fixed parties.
type fakeDirectory map[string]Parties

func (f fakeDirectory) Parties(_ context.Context, integration, _ string) (Parties, error) {
	p, ok := f[integration]
	if !ok {
		return Parties{}, errors.New("no such integration")
	}
	return p, nil
}

var directory = fakeDirectory{"orders-sync": {
	Owner: "alice@example.org",
	Systems: []SystemParties{
		{Name: "erp", Owner: "erp-team", Contacts: []catalog.Contact{{Name: "Bob", Email: "bob@example.org", Role: "oncall"}}},
		{Name: "crm", Owner: "crm@example.org", Contacts: []catalog.Contact{{Name: "Carol", Email: "carol@example.org", Role: "steward"}}},
	},
}}

// failedRun is a run.failed event of orders-sync in PROD.
func failedRun(at time.Time) event.Event {
	e := event.New(event.RunFailed)
	e.Time = at
	e.Integration, e.System, e.Env, e.RunID = "orders-sync", "erp", "PROD", "run-0001"
	e.Stats = &event.Stats{RowsRead: 120, RowsWritten: 100, RowsRejected: 20, DurationMS: 1500}
	e.Error = "connect erp-db: connection refused"
	return e
}

// startPlainSMTP is a relay without STARTTLS.
func startPlainSMTP(t *testing.T) string {
	t.Helper()
	srv := &smtpServer{}
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &session{srv: srv, conn: c}, nil }))
	s.Domain = "localhost"
	s.ErrorLog = nopLogger{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() { _ = s.Close() })
	return l.Addr().String()
}
