// Package bus is the hub's message bus: NATS JetStream, either embedded in the hub process (data
// in <data>/nats, nothing to configure) or an external cluster. It carries the run work queue
// (one message per run, deduplicated by run id, shared by every worker process), leases in a KV
// bucket (at most N runs of an integration at once; one scheduler firing each trigger) and the
// event stream.
package bus

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/errcode"
)

// DirName is the embedded server's folder inside the data folder.
const DirName = "nats"

// Default stream, bucket and subject names; Config.Prefix namespaces them.
const (
	RunsStream    = "DATAHUB_RUNS"
	EventsStream  = "DATAHUB_EVENTS"
	LocksBucket   = "DATAHUB_LOCKS"
	RunsSubject   = "datahub.runs"
	EventsSubject = "datahub.events"
)

// Defaults.
const (
	DefaultLeaseTTL    = 30 * time.Second
	DefaultDupWindow   = 2 * time.Minute
	DefaultEventMaxAge = 7 * 24 * time.Hour
)

// ErrClosed is returned by calls on a closed Bus.
var ErrClosed = errors.New("bus: closed")

// Config says which NATS to use and how.
type Config struct {
	// URL of an external NATS JetStream cluster (nats://host:port, several separated by
	// commas). Empty runs an embedded server.
	URL string
	// DataDir is the embedded server's JetStream store folder (normally <data>/nats).
	DataDir string
	// Listen is the embedded server's client address ("127.0.0.1:4222"; port 0 picks a free
	// one). Empty opens no port: only in-process connections, nothing reachable from outside.
	Listen string
	// Name identifies this process in the server's connection list.
	Name string

	// Credentials for the external server, or required by the embedded one when it listens.
	// They are never logged nor put in errors.
	User, Password string
	Token          string
	CredsFile      string // external only: a NATS .creds file (JWT + NKey seed)
	TLS            *tls.Config

	// Replicas of every stream and KV bucket the hub creates, on a cluster (default 1; at
	// most 5). The embedded server is one node: 1 only. Consumers inherit their stream's.
	Replicas int
	// LeaseTTL is the TTL of the DATAHUB_LOCKS bucket: the lease time used when AcquireLease
	// is given no TTL (default 30s).
	LeaseTTL time.Duration
	// Prefix namespaces every stream, bucket and subject ("t1" gives t1_DATAHUB_RUNS and
	// t1.datahub.runs.>) so tests, or several hubs, can share one NATS without colliding.
	Prefix string

	Logger *slog.Logger
}

// LogValue shows the configuration without its secrets.
func (c Config) LogValue() slog.Value {
	set := func(s string) bool { return s != "" }
	return slog.GroupValue(
		slog.String("url", redactURLs(c.URL)), slog.String("data_dir", c.DataDir),
		slog.String("listen", c.Listen), slog.String("name", c.Name), slog.String("user", c.User),
		slog.Bool("password", set(c.Password)), slog.Bool("token", set(c.Token)),
		slog.String("creds_file", c.CredsFile), slog.Bool("tls", c.TLS != nil),
		slog.Int("replicas", c.Replicas), slog.Duration("lease_ttl", c.LeaseTTL), slog.String("prefix", c.Prefix),
	)
}

// Bus is a connection to JetStream with the hub's streams in place. Its methods are safe for
// concurrent use.
type Bus struct {
	cfg   Config
	log   *slog.Logger
	names names
	where string // redacted server address, for messages

	srv *server.Server // nil when external
	nc  *nats.Conn
	js  jetstream.JetStream

	ncClosed chan struct{}  // closed by the connection's ClosedHandler
	closing  chan struct{}  // closed when Close starts: consumers stop
	active   sync.WaitGroup // running ConsumeRuns calls

	mu       sync.Mutex
	closed   bool
	locks    map[time.Duration]jetstream.KeyValue // one bucket per lease TTL
	topics   map[string]TopicConfig               // topic streams ensured, as last ensured
	leases   map[*Lease]struct{}
	closeErr error
	// pauseLog bounds the pull failures' warnings (every puller of every consumer fails each
	// second while the server is away) to one a minute each, with a count.
	pauseLog *throttledLog
}

// names are the stream, bucket and subject names after the prefix.
type names struct {
	runs, events, locks string
	runSubj, eventSubj  string
}

var prefixRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

func newNames(prefix string) names {
	if prefix == "" {
		return names{runs: RunsStream, events: EventsStream, locks: LocksBucket, runSubj: RunsSubject, eventSubj: EventsSubject}
	}
	return names{
		runs: prefix + "_" + RunsStream, events: prefix + "_" + EventsStream, locks: prefix + "_" + LocksBucket,
		runSubj: prefix + "." + RunsSubject, eventSubj: prefix + "." + EventsSubject,
	}
}

// Open starts the embedded server (cfg.URL empty) or connects to the external one, and creates
// or updates the hub's streams and lease bucket.
func Open(ctx context.Context, cfg Config) (*Bus, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	if cfg.Replicas > 5 || (cfg.Replicas > 1 && cfg.URL == "") {
		return nil, errcode.Errorf(errcode.Config, "", "give 1 to 5 replicas, more than 1 only on an external cluster",
			fmt.Errorf("bus: %d replicas: JetStream keeps 1 to 5 copies, and the embedded server is one node", cfg.Replicas))
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = DefaultLeaseTTL
	}
	if cfg.Prefix != "" && !prefixRE.MatchString(cfg.Prefix) {
		return nil, errcode.Errorf(errcode.Config, "", "", fmt.Errorf("bus prefix %q: use 1-32 letters, digits, '_' or '-'", cfg.Prefix))
	}
	b := &Bus{
		cfg: cfg, log: cfg.Logger.With("component", "bus"), names: newNames(cfg.Prefix),
		ncClosed: make(chan struct{}), closing: make(chan struct{}),
		locks: map[time.Duration]jetstream.KeyValue{}, leases: map[*Lease]struct{}{}, topics: map[string]TopicConfig{},
		pauseLog: newThrottledLog(time.Minute),
	}
	var err error
	if cfg.URL == "" {
		err = b.startEmbedded()
	} else {
		err = b.connectExternal()
	}
	if err != nil {
		return nil, err
	}
	if err := b.setup(ctx); err != nil {
		_ = b.shutdown(ctx)
		return nil, err
	}
	return b, nil
}

// connectExternal dials the cluster. The first connection must succeed (a wrong URL should fail
// at start, not hang); after that the client reconnects forever with capped back-off, buffering
// publishes meanwhile.
func (b *Bus) connectExternal() error {
	b.where = redactURLs(b.cfg.URL)
	opts := append(b.connOptions(),
		nats.MaxReconnects(-1),
		nats.CustomReconnectDelay(reconnectDelay),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
	)
	if b.cfg.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(b.cfg.CredsFile))
	}
	if b.cfg.TLS != nil {
		opts = append(opts, nats.Secure(b.cfg.TLS))
	}
	nc, err := nats.Connect(b.cfg.URL, opts...)
	if err != nil {
		code := connector.CodeUnreachable
		if errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) {
			code = connector.CodeAuth
		}
		return connector.Errorf(code, b.where, "check that NATS is running with JetStream (-js) and the credentials", fmt.Errorf("connect to NATS: %w", err))
	}
	b.nc = nc
	b.log.Info("connected to NATS", "url", b.where, "server", nc.ConnectedServerName())
	return nil
}

// reconnectDelay backs off from 250ms to 30s; nats.go adds the jitter.
func reconnectDelay(attempts int) time.Duration {
	d := 250 * time.Millisecond
	for i := 1; i < attempts && d < 30*time.Second; i++ {
		d *= 2
	}
	return min(d, 30*time.Second)
}

// connOptions are the options common to both modes.
func (b *Bus) connOptions() []nats.Option {
	opts := []nats.Option{
		nats.Name(b.cfg.Name),
		nats.ClosedHandler(func(*nats.Conn) { close(b.ncClosed) }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				b.log.Warn("disconnected from NATS", "url", b.where, "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			b.log.Info("reconnected to NATS", "url", b.where, "server", nc.ConnectedServerName())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subj := ""
			if sub != nil {
				subj = sub.Subject
			}
			b.log.Warn("NATS asynchronous error", "subject", subj, "err", err)
		}),
	}
	if b.cfg.User != "" || b.cfg.Password != "" {
		opts = append(opts, nats.UserInfo(b.cfg.User, b.cfg.Password))
	}
	if b.cfg.Token != "" {
		opts = append(opts, nats.Token(b.cfg.Token))
	}
	return opts
}

// setup checks JetStream and creates or updates the streams. The lease buckets are created on
// first use.
func (b *Bus) setup(ctx context.Context) error {
	js, err := jetstream.New(b.nc)
	if err != nil {
		return fmt.Errorf("bus %s: JetStream: %w", b.where, err)
	}
	b.js = js
	if _, err := js.AccountInfo(ctx); err != nil {
		if errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) {
			return errcode.Errorf(errcode.Config, b.where, "start nats-server with -js, or enable JetStream for this account", errors.New("JetStream is not enabled on this NATS server"))
		}
		return errcode.Errorf(errcode.Unavailable, b.where, "", fmt.Errorf("JetStream does not answer: %w", err))
	}
	streams := []jetstream.StreamConfig{{
		Name:        b.names.runs,
		Description: "Data Hub run requests: one message per run, removed when a worker acks it",
		Subjects:    []string{b.names.runSubj + ".>"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Duplicates:  DefaultDupWindow,
		Replicas:    b.cfg.Replicas,
	}, {
		Name:        b.names.events,
		Description: "Data Hub events (run.started, run.failed, ...)",
		Subjects:    []string{b.names.eventSubj + ".>"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		MaxAge:      DefaultEventMaxAge,
		Duplicates:  DefaultDupWindow,
		Replicas:    b.cfg.Replicas,
	}}
	for _, sc := range streams {
		if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
			return errcode.Errorf(errcode.Config, b.where, "", fmt.Errorf("create stream %s: %w", sc.Name, err))
		}
	}
	return nil
}

// Ready reports whether the bus is connected and JetStream answers.
func (b *Bus) Ready(ctx context.Context) error {
	if b.isClosed() {
		return ErrClosed
	}
	if st := b.nc.Status(); st != nats.CONNECTED {
		return errcode.Errorf(errcode.Unavailable, b.where, "", fmt.Errorf("NATS connection is %s", st))
	}
	if _, err := b.js.AccountInfo(ctx); err != nil {
		return errcode.Errorf(errcode.Unavailable, b.where, "", fmt.Errorf("JetStream does not answer: %w", err))
	}
	return nil
}

// ClientURL is the address other processes can connect to: the external URL (redacted), the
// embedded server's listening address, or "" for an embedded server without a port.
func (b *Bus) ClientURL() string {
	if b.srv == nil {
		return b.where
	}
	if b.cfg.Listen == "" {
		return ""
	}
	return b.srv.ClientURL()
}

// Close stops the consumers (their handlers' contexts are cancelled; unacked messages are
// redelivered after AckWait), releases the leases still held, drains the connection and shuts
// the embedded server down. ctx bounds the wait; past it the connection is closed at once.
func (b *Bus) Close(ctx context.Context) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return b.closeErr
	}
	b.closed = true
	close(b.closing)
	leases := make([]*Lease, 0, len(b.leases))
	for l := range b.leases {
		leases = append(leases, l)
	}
	b.mu.Unlock()

	waitOrCtx(ctx, b.active.Wait)
	for _, l := range leases {
		if err := l.Release(ctx); err != nil {
			b.log.Warn("release lease on close", "key", l.key, "err", err)
		}
	}
	err := b.shutdown(ctx)
	b.mu.Lock()
	b.closeErr = err
	b.mu.Unlock()
	return err
}

// shutdown drains the connection, then stops the embedded server.
func (b *Bus) shutdown(ctx context.Context) error {
	var err error
	if b.nc != nil {
		if derr := b.nc.Drain(); derr != nil && !errors.Is(derr, nats.ErrConnectionClosed) {
			b.nc.Close()
		}
		select {
		case <-b.ncClosed:
		case <-ctx.Done():
			b.nc.Close()
			err = fmt.Errorf("bus: drain connection: %w", ctx.Err())
		}
	}
	if b.srv != nil {
		b.srv.Shutdown()
		b.srv.WaitForShutdown()
		b.log.Info("embedded NATS stopped")
	}
	return err
}

func (b *Bus) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// waitOrCtx runs wait and returns when it does or when ctx is done.
func waitOrCtx(ctx context.Context, wait func()) {
	done := make(chan struct{})
	go func() { wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// redactURLs hides passwords and tokens in a comma-separated list of NATS URLs.
func redactURLs(raw string) string {
	parts := strings.Split(raw, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		u, err := url.Parse(p)
		if err != nil {
			parts[i] = "(invalid URL)"
			continue
		}
		if u.User != nil {
			if _, ok := u.User.Password(); ok {
				u.User = url.UserPassword(u.User.Username(), "xxxxx")
			} else {
				u.User = url.User("xxxxx") // a lone user part is a token
			}
		}
		parts[i] = u.String()
	}
	return strings.Join(parts, ",")
}
