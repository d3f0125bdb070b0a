// Package app wires the hub server together: metadata store, secrets, audit log, catalog,
// identity, the bus, the workers and the API, started in order and stopped in reverse.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/datahub-oss/datahub/internal/api"
	"github.com/datahub-oss/datahub/internal/audit"
	"github.com/datahub-oss/datahub/internal/auth"
	"github.com/datahub-oss/datahub/internal/bus"
	"github.com/datahub-oss/datahub/internal/catalog"
	"github.com/datahub-oss/datahub/internal/config"
	"github.com/datahub-oss/datahub/internal/datadir"
	"github.com/datahub-oss/datahub/internal/event"
	"github.com/datahub-oss/datahub/internal/notify"
	"github.com/datahub-oss/datahub/internal/outbound"
	"github.com/datahub-oss/datahub/internal/policy"
	"github.com/datahub-oss/datahub/internal/runs"
	"github.com/datahub-oss/datahub/internal/secret"
	"github.com/datahub-oss/datahub/internal/store"
	"github.com/datahub-oss/datahub/internal/trigger"
	"github.com/datahub-oss/datahub/internal/txlog"
	"github.com/datahub-oss/datahub/internal/worker"
)

// Hub is a running server.
type Hub struct {
	cfg     config.Config
	log     *slog.Logger
	DB      *store.DB
	Bus     *bus.Bus
	Secrets *secret.Service
	Audit   *audit.Log
	Catalog *catalog.Service
	Auth    *auth.Service
	Runs    *runs.Service
	Log     *txlog.Log
	// Policy confines endpoints, limits secret references and checks run rights.
	Policy *policy.Policy
	// Notify sends notifications (scheduler role) and lists the notification log (API).
	Notify *notify.Service
	// Outbound is the guard every HTTP connection to an address a resource or request names
	// dials through (settings: outbound.allow); connectors that speak HTTP take it too.
	Outbound *outbound.Guard
	// Addr is where the API listens once Start returned (the real port when :0 was asked).
	Addr string

	srv       *http.Server
	workerCtx context.CancelFunc
	stopSched context.CancelFunc
	stopNote  context.CancelFunc
	stopBus   context.CancelFunc // the service bus's delivery engine
	lock      *datadir.Lock      // the data folder, held for the process's life
	wg        sync.WaitGroup
	serveErr  chan error
}

// Option changes how Start builds a hub, beyond what the configuration says.
type Option func(*options)

type options struct {
	auth []auth.Option
}

// WithAuth passes options to the identity service: tests hash passwords more cheaply.
func WithAuth(opts ...auth.Option) Option {
	return func(o *options) { o.auth = append(o.auth, opts...) }
}

// Start opens everything and begins serving; Stop (or ctx's end, via Serve) stops it.
func Start(ctx context.Context, cfg config.Config, log *slog.Logger, opts ...Option) (_ *Hub, err error) {
	began := time.Now()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	h := &Hub{cfg: cfg, log: log, serveErr: make(chan error, 1)}
	defer func() {
		if err != nil {
			h.close(context.WithoutCancel(ctx))
		}
	}()
	// First of all, before the store or NATS is opened: a second process on the folder is
	// refused before it can touch either.
	if h.lock, err = datadir.Acquire(cfg.Data, processName()); err != nil {
		return nil, err
	}
	if h.Outbound, err = outbound.New(cfg.Outbound.Allow); err != nil {
		return nil, err
	}
	if len(cfg.Outbound.Allow) > 0 {
		log.Info("outbound HTTP may reach these non-global addresses too", "allow", cfg.Outbound.Allow)
	}
	if h.DB, err = store.Open(ctx, cfg.Store, cfg.Data); err != nil {
		return nil, err
	}
	if err := h.DB.Migrate(ctx); err != nil {
		return nil, err
	}
	key, created, err := secret.LoadMasterKey(cfg.Data)
	if err != nil {
		return nil, err
	}
	if created {
		log.Info("created the master key; back it up, secrets cannot be read without it", "path", filepath.Join(cfg.Data, "master.key"))
	}
	ring, err := secret.NewKeyring(key)
	if err != nil {
		return nil, err
	}
	h.Secrets = secret.New(h.DB, ring)
	if err := h.Secrets.CheckKeys(ctx); err != nil {
		return nil, err
	}
	if err := h.openAudit(ctx, key); err != nil {
		return nil, err
	}
	h.Catalog = catalog.New(h.DB, catalog.Options{OnChange: api.CatalogAuditHook(h.Audit), CheckTrigger: trigger.Check,
		CheckOutbound: h.Outbound.CheckURL})
	h.Auth = auth.New(h.DB, append([]auth.Option{auth.WithTokenTTL(cfg.TokenTTL, 0)}, o.auth...)...)
	h.Log = txlog.New(h.DB)
	h.Policy, err = policy.New(policy.Settings{DataDir: cfg.Data, FileRoots: cfg.FileRoots, Store: cfg.Store,
		EnvAllow: cfg.Secrets.EnvAllow, FileAllow: cfg.Secrets.FileAllow}, h.Auth)
	if err != nil {
		return nil, err
	}
	log.Info("file endpoints confined", "file_roots", strings.Join(h.Policy.Roots(), string(filepath.ListSeparator)))
	if made, path, err := h.Auth.EnsureAdmin(ctx, cfg.Data); err != nil {
		return nil, fmt.Errorf("create the first admin: %w", err)
	} else if made {
		log.Info("created the first admin; its API token is in the file (shown nowhere else)", "path", path)
	}
	var oidc *auth.OIDC
	if cfg.OIDC.Issuer != "" {
		if oidc, err = h.openOIDC(ctx); err != nil {
			return nil, err
		}
	}
	h.Bus, err = bus.Open(ctx, bus.Config{URL: cfg.NATS, DataDir: filepath.Join(cfg.Data, "nats"), Listen: cfg.NATSListen, Prefix: cfg.NATSPrefix,
		Replicas: cfg.NATSReplicas, LeaseTTL: cfg.LeaseTTL, Name: "datahub", Logger: log})
	if err != nil {
		return nil, err
	}
	h.Runs = &runs.Service{Catalog: h.Catalog, Log: h.Log, Bus: h.Bus, Audit: h.Audit, Logger: log.With("component", "runs")}

	if cfg.Has(config.RoleWorker) {
		wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		h.workerCtx = cancel
		w := h.NewWorker()
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			if err := w.Run(wctx); err != nil && !errors.Is(err, context.Canceled) {
				log.Error("worker stopped", "err", err)
			}
		}()
	}
	if cfg.Has(config.RoleScheduler) {
		// Every scheduler process competes for one leader lease: only the leader fires.
		sched := trigger.New(trigger.Config{DB: h.DB, Catalog: h.Catalog, Leases: h.Bus, Requester: h.Runs,
			Publisher: bus.Events{Bus: h.Bus}, Topics: h.Bus, HooksDir: filepath.Join(cfg.Data, "hooks"), Policy: h.Policy, Logger: log.With("component", "scheduler")})
		sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		h.stopSched = cancel
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			if err := sched.Run(sctx); err != nil && !errors.Is(err, context.Canceled) {
				log.Error("scheduler stopped", "err", err)
			}
		}()
		h.startJanitor(sctx)
		h.startAnchorer(sctx)
		// Settles the runs no process owns any more (see runs.Reconciler).
		rec := &runs.Reconciler{Service: h.Runs, Logger: log.With("component", "reconciler")}
		h.wg.Go(func() { _ = rec.Run(sctx) })
	} else if h.workerCtx != nil {
		// A worker-only process keeps rejects in its own data folder: it sweeps them too.
		wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		h.stopSched = cancel
		h.startJanitor(wctx)
	}
	h.Notify = notify.New(h.DB, notify.Options{
		Rules:     &notify.CatalogRules{Catalog: h.Catalog, Log: log.With("component", "notify")},
		Directory: notify.CatalogDirectory{Catalog: h.Catalog},
		Secrets:   h.Secrets,
		CheckRefs: h.checkRuleRefs,
		Guard:     h.Outbound,
		SMTP: notify.SMTP{Addr: cfg.SMTP.Addr(), From: cfg.SMTP.From, Username: cfg.SMTP.Username,
			Password: cfg.SMTP.Password, TLS: cfg.SMTP.TLS, Insecure: cfg.SMTP.Insecure},
		BaseURL:       cfg.BaseURL,
		FlushInterval: notifyFlushInterval,
		Redact:        h.Secrets.Redactor().Redact,
		Log:           log.With("component", "notify"),
	})
	if cfg.Has(config.RoleScheduler) {
		h.startNotifier(ctx)
		h.startDelivery(ctx)
	}
	if cfg.Has(config.RoleAPI) {
		handler := api.New(api.Deps{Auth: h.Auth, OIDC: oidc, Catalog: h.Catalog, Runs: h.Runs, Log: h.Log,
			Secrets: h.Secrets, Audit: h.Audit, Notify: h.Notify, Ready: h.Ready, Logger: log.With("component", "api"),
			TokenTTL: cfg.TokenTTL, DataDir: cfg.Data, Hooks: trigger.NewHooks(h.DB), Bus: h.Bus, Policy: h.Policy,
			AuditAnchorFile: AnchorFile(cfg)})
		ln, err := net.Listen("tcp", cfg.Addr)
		if err != nil {
			return nil, fmt.Errorf("listen on %s: %w (is another server running there? use --addr)", cfg.Addr, err)
		}
		h.Addr = ln.Addr().String()
		h.srv = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
		go func() { h.serveErr <- h.srv.Serve(ln) }()
		log.Info("serving the API", "url", "http://"+h.Addr, "startup", time.Since(began).Round(time.Millisecond))
	}
	return h, nil
}

// NewWorker is a worker of this hub's runs, as the worker role runs it: tests without that
// role start one when they want queued runs to go on.
func (h *Hub) NewWorker() *worker.Worker {
	cfg := h.cfg
	return &worker.Worker{Bus: h.Bus, Catalog: h.Catalog, Secrets: h.Secrets, Log: h.Log, DataDir: cfg.Data,
		Logger: h.log.With("component", "worker"), Parallel: cfg.Workers, AckWait: cfg.WorkerAckWait, LeaseTTL: cfg.LeaseTTL,
		CheckpointRows: int64(cfg.CheckpointRows), Policy: h.Policy}
}

// notifyDurable is the events consumer every notifier shares: each event goes to one of them,
// so it is notified once however many scheduler processes run.
const notifyDurable = "datahub-notify"

// notifyFlushInterval is how often due digests are looked for (one indexed query).
const notifyFlushInterval = time.Second

// startNotifier runs the notifier: the events consumer handing each event to the notification
// rules, and the loop that sends digests when throttle windows end. It runs with the
// scheduler role, the hub's role for background work that is not a transfer: several
// processes may take it, the shared durable consumer delivers each event to one of them, and
// each digest is claimed in the store by exactly one.
func (h *Hub) startNotifier(ctx context.Context) {
	nctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	h.stopNote = cancel
	log := h.log.With("component", "notify")
	h.wg.Add(2)
	go func() {
		defer h.wg.Done()
		err := h.Bus.ConsumeEvents(nctx, bus.EventConsumerConfig{Durable: notifyDurable}, func(ctx context.Context, m bus.Event, _ uint64) error {
			e, err := event.Unmarshal(m.Data)
			if err != nil {
				// It would fail on every delivery: drop it.
				log.Warn("unreadable event skipped", "subject", m.Subject, "seq", m.Seq, "error", err)
				return nil
			}
			return h.Notify.Handle(ctx, e)
		})
		if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, bus.ErrClosed) {
			log.Error("notification consumer stopped", "err", err)
		}
	}()
	go func() {
		defer h.wg.Done()
		if err := h.Notify.Run(nctx); err != nil && !errors.Is(err, context.Canceled) {
			log.Error("notification digests stopped", "err", err)
		}
	}()
}

// Ready reports whether the store and the bus answer.
func (h *Hub) Ready(ctx context.Context) error {
	if err := h.DB.PingContext(ctx); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return h.Bus.Ready(ctx)
}

func (h *Hub) openOIDC(ctx context.Context) (*auth.OIDC, error) {
	c := h.cfg.OIDC
	secretValue := ""
	if c.ClientSecret != "" {
		v, err := h.Secrets.Resolve(ctx, c.ClientSecret)
		if err != nil {
			return nil, fmt.Errorf("oidc.client_secret: %w", err)
		}
		secretValue = v
	}
	roleMap := map[string][]auth.Role{}
	for group, role := range c.RoleMap {
		roleMap[group] = append(roleMap[group], auth.Role(role))
	}
	return auth.NewOIDC(ctx, h.Auth, auth.OIDCConfig{IssuerURL: c.Issuer, ClientID: c.ClientID, ClientSecret: secretValue,
		RedirectURL: c.RedirectURL, Scopes: c.Scopes, RolesClaim: c.RolesClaim, RoleMap: roleMap,
		DefaultRoles: []auth.Role{auth.Role(c.DefaultRole)}, Guard: h.Outbound})
}

// Serve runs until ctx ends, then stops gracefully: the API stops taking requests, running
// transfers stop at their next batch and keep their checkpoint (their requests are redelivered
// and resumed on the next start), and the bus and store close.
func (h *Hub) Serve(ctx context.Context) error {
	var err error
	select {
	case <-ctx.Done():
	case err = <-h.serveErr:
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
	}
	h.log.Info("stopping")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.cfg.ShutdownTimeout)
	defer cancel()
	h.close(sctx)
	return err
}

func (h *Hub) close(ctx context.Context) {
	if h.srv != nil {
		_ = h.srv.Shutdown(ctx)
	}
	if h.stopSched != nil {
		h.stopSched()
	}
	if h.stopNote != nil {
		h.stopNote()
	}
	if h.stopBus != nil {
		h.stopBus()
	}
	if h.workerCtx != nil {
		h.workerCtx()
	}
	done := make(chan struct{})
	go func() { h.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		h.log.Warn("workers did not stop in time")
	}
	if h.Bus != nil {
		_ = h.Bus.Close(ctx)
	}
	if h.DB != nil {
		_ = h.DB.Close()
	}
	// Last: the folder is only let go once nothing of this hub writes to it.
	_ = h.lock.Release()
}

// processName describes this process in the data folder's lock: the program and its
// subcommand ("datahub serve"), never the rest of the command line, which may carry a store
// URL with its password.
func processName() string {
	name := "datahub"
	if len(os.Args) > 0 {
		name = filepath.Base(os.Args[0])
	}
	if len(os.Args) > 1 && !strings.HasPrefix(os.Args[1], "-") {
		name += " " + os.Args[1]
	}
	return name
}
