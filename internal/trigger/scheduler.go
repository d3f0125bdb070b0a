package trigger

import (
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/bus"
	"github.com/datahub-oss/datahub/internal/catalog"
	"github.com/datahub-oss/datahub/internal/clock"
	"github.com/datahub-oss/datahub/internal/event"
	"github.com/datahub-oss/datahub/internal/runs"
	"github.com/datahub-oss/datahub/internal/store"
	"github.com/datahub-oss/datahub/internal/txlog"
)

// LeaderKey is the bus lease held by the one scheduler that fires triggers.
const LeaderKey = "scheduler.leader"

// Actors recorded as who requested a triggered run.
const (
	ActorSchedule = "trigger:schedule"
	ActorFile     = "trigger:file"
)

// Requester queues a run; *runs.Service is one.
type Requester interface {
	Request(ctx context.Context, r runs.Request) (txlog.Run, error)
}

// EndpointChecker says whether an endpoint may be opened; *policy.Policy is one.
type EndpointChecker interface {
	CheckEndpoint(ctx context.Context, name, env string, e connector.Endpoint) error
}

// Leaser takes named leases; *bus.Bus is one.
type Leaser interface {
	AcquireLease(ctx context.Context, key, owner string, ttl time.Duration) (*bus.Lease, error)
}

// BatchConsumer consumes topic messages in batches; *bus.Bus is one.
type BatchConsumer interface {
	ConsumeBatches(ctx context.Context, cfg bus.BatchConfig, handler bus.BatchHandler) error
}

// Config is what a Scheduler works with.
type Config struct {
	DB        *store.DB
	Catalog   *catalog.Service
	Leases    Leaser
	Requester Requester
	// Publisher, when set, receives an object.received event for every file that fires.
	Publisher event.Publisher
	// Topics, when set, runs the event triggers: a durable consumer per event-triggered
	// integration on its topic, in every scheduler process (the consumer is shared, each
	// message goes to one process).
	Topics BatchConsumer
	// HooksDir is <data>/hooks, where an event trigger with body: data stores its batches.
	HooksDir string
	// OpenStore opens the folder a file trigger watches (default: connector.OpenStore, the
	// registered stores). The folder has passed Policy before it is opened.
	OpenStore StoreOpener
	// Policy, when set, confines the folders file triggers watch like every endpoint.
	Policy EndpointChecker
	// Owner names this scheduler in the lease and the tick table (default host:pid).
	Owner string
	// LeaseTTL is the leader lease's time (0: the bus's LeaseTTL): how long a dead leader's
	// triggers stay silent before another scheduler takes over.
	LeaseTTL time.Duration
	// ReloadEvery is how often the catalog is read again (default 5s); Reload asks at once.
	ReloadEvery time.Duration
	// RetryEvery is how often a scheduler that is not the leader tries the lease (default 1s).
	RetryEvery time.Duration
	// Concurrency bounds the run requests made at once (default 16).
	Concurrency int
	// Clock times the schedules, polls, reloads and retries (default clock.Real); tests
	// pass a clock.Fake. The leader lease keeps the bus's own time.
	Clock  clock.Clock
	Logger *slog.Logger
}

// Scheduler fires the schedule and file triggers of the catalog's Integrations while it is
// the leader.
type Scheduler struct {
	cfg    Config
	log    *slog.Logger
	reload chan struct{}
	leader atomic.Bool

	// warned remembers the integration versions whose trigger was reported invalid.
	warned map[string]int
}

// New returns a scheduler; Run starts it.
func New(cfg Config) *Scheduler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.OpenStore == nil {
		cfg.OpenStore = connector.OpenStore
	}
	if cfg.Owner == "" {
		host, _ := os.Hostname()
		cfg.Owner = fmt.Sprintf("%s:%d", host, os.Getpid())
	}
	if cfg.ReloadEvery <= 0 {
		cfg.ReloadEvery = 5 * time.Second
	}
	if cfg.RetryEvery <= 0 {
		cfg.RetryEvery = time.Second
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 16
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real
	}
	return &Scheduler{cfg: cfg, log: cfg.Logger.With("owner", cfg.Owner),
		reload: make(chan struct{}, 1), warned: map[string]int{}}
}

// Reload makes the leader read the catalog again now (after an apply), rather than at its
// next periodic reload.
func (s *Scheduler) Reload() {
	select {
	case s.reload <- struct{}{}:
	default:
	}
}

// IsLeader reports whether this scheduler holds the leader lease and fires triggers.
func (s *Scheduler) IsLeader() bool { return s.leader.Load() }

// Run takes the leader lease when it can and fires triggers while it holds it, until ctx
// ends; it then frees the lease so another scheduler takes over at once.
func (s *Scheduler) Run(ctx context.Context) error {
	if s.cfg.DB == nil || s.cfg.Catalog == nil || s.cfg.Leases == nil || s.cfg.Requester == nil {
		return errors.New("scheduler: DB, Catalog, Leases and Requester are required")
	}
	for {
		lease, err := s.cfg.Leases.AcquireLease(ctx, LeaderKey, s.cfg.Owner, s.cfg.LeaseTTL)
		switch {
		case err == nil:
			s.log.Info("scheduler is the leader: firing triggers")
			s.lead(ctx, lease)
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			if err := lease.Release(rctx); err != nil {
				s.log.Warn("release the scheduler lease", "err", err)
			}
			cancel()
		case errors.Is(err, bus.ErrLeaseHeld):
		case ctx.Err() == nil:
			s.log.Warn("take the scheduler lease, will retry", "err", err)
		}
		if !s.sleep(ctx, s.cfg.RetryEvery) {
			return nil
		}
	}
}

// sleep waits d on the scheduler's clock and reports false when ctx ended first.
func (s *Scheduler) sleep(ctx context.Context, d time.Duration) bool {
	t := s.cfg.Clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C():
		return true
	}
}

// lead fires triggers until ctx ends or the lease is lost.
func (s *Scheduler) lead(ctx context.Context, lease *bus.Lease) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-lease.Lost():
			s.log.Warn("scheduler lost the leader lease: stops firing")
			cancel()
		case <-ctx.Done():
		}
	}()
	s.leader.Store(true)
	defer s.leader.Store(false)
	if s.cfg.Topics != nil {
		// Event triggers are consumed by the leader only: with several pullers on the shared
		// consumer, a batch could be split between processes and runs could overtake each
		// other. A batch in flight when leadership moves is redelivered to the new leader,
		// and trigger_hooks maps it to the run already requested.
		events := make(chan struct{})
		go func() { defer close(events); s.runEvents(ctx) }()
		defer func() { cancel(); <-events }()
	}

	t := &term{s: s, entries: map[string]*entry{}}
	defer t.wg.Wait()
	t.refresh(ctx)
	clk := s.cfg.Clock
	timer := clk.NewTimer(time.Hour)
	defer timer.Stop()
	reload := clk.NewTicker(s.cfg.ReloadEvery)
	defer reload.Stop()
	for {
		wait := time.Hour
		if len(t.heap) > 0 {
			wait = max(t.heap[0].next.Sub(clk.Now()), 0)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-s.reload:
			t.refresh(ctx)
		case <-reload.C():
			t.refresh(ctx)
		case <-timer.C():
			t.due(ctx)
		}
	}
}

// entry is one integration's trigger in the heap of next fire (or poll) times.
type entry struct {
	name    string
	kind    string
	sig     string // the trigger as written: a change rebuilds the entry
	updated time.Time
	sched   ScheduleSettings
	file    FileSettings
	next    time.Time
	index   int

	// File triggers: one poll at a time, and what the polls saw.
	polling atomic.Bool
	watch   *watch
}

// entryHeap orders entries by next time.
type entryHeap []*entry

func (h entryHeap) Len() int           { return len(h) }
func (h entryHeap) Less(i, j int) bool { return h[i].next.Before(h[j].next) }
func (h entryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *entryHeap) Push(x any) { e := x.(*entry); e.index = len(*h); *h = append(*h, e) }
func (h *entryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}

// term is one spell as leader.
type term struct {
	s       *Scheduler
	entries map[string]*entry
	heap    entryHeap
	wg      sync.WaitGroup
}

// load reads every Integration with a schedule or file trigger.
func (s *Scheduler) load(ctx context.Context) (map[string]*entry, error) {
	out := map[string]*entry{}
	cursor := ""
	for {
		es, next, err := s.cfg.Catalog.List(ctx, catalog.KindIntegration, catalog.ListOptions{Limit: 1000, Cursor: cursor})
		if err != nil {
			return nil, fmt.Errorf("scheduler: list integrations: %w", err)
		}
		for _, ce := range es {
			if e := s.entryOf(ce); e != nil {
				out[e.name] = e
			}
		}
		if next == "" {
			return out, nil
		}
		cursor = next
	}
}

// entryOf builds the trigger of an integration, nil when it has none to fire (or an
// invalid one, reported once per version).
func (s *Scheduler) entryOf(ce catalog.Entry) *entry {
	spec := ce.Resource.Integration()
	if spec == nil {
		return nil
	}
	name := ce.Resource.Metadata.Name
	e := &entry{name: name, kind: spec.Trigger.Type, updated: ce.UpdatedAt}
	var err error
	switch spec.Trigger.Type {
	case TypeSchedule:
		e.sched, err = ParseSchedule(spec.Trigger)
	case TypeFile:
		e.file, err = ParseFile(spec.Trigger)
	default:
		return nil
	}
	if err != nil {
		if s.warned[name] != ce.Version {
			s.warned[name] = ce.Version
			s.log.Warn("integration's trigger is not valid: it does not fire", "integration", name, "version", ce.Version, "err", err)
		}
		return nil
	}
	sig, _ := json.Marshal(spec.Trigger)
	e.sig = string(sig)
	return e
}

// refresh reads the catalog again, keeping the next times of unchanged triggers. New and
// changed schedules that missed a tick since their last recorded one (or since the
// integration changed) fire once when they catch up.
func (t *term) refresh(ctx context.Context) {
	fresh, err := t.s.load(ctx)
	if err != nil {
		if ctx.Err() == nil {
			t.s.log.Error("read the catalog, keeping the triggers known", "err", err)
		}
		return
	}
	now := t.s.cfg.Clock.Now()
	var last map[string]time.Time
	var catchUps []tick
	for name, e := range fresh {
		if old := t.entries[name]; old != nil && old.sig == e.sig {
			old.updated = e.updated
			fresh[name] = old
			continue
		}
		switch e.kind {
		case TypeSchedule:
			e.next = e.sched.Schedule.Next(now)
			if e.next.IsZero() {
				t.s.log.Warn("schedule never fires", "integration", name, "cron", e.sched.Cron)
				delete(fresh, name)
				continue
			}
			if !e.sched.CatchUp {
				continue
			}
			if last == nil {
				if last, err = lastTicks(ctx, t.s.cfg.DB); err != nil {
					t.s.log.Error("catch up missed schedules", "err", err)
					last = map[string]time.Time{}
				}
			}
			from := e.updated
			if l, ok := last[name]; ok && l.After(from) {
				from = l
			}
			if missed := e.sched.Schedule.Last(from, now); !missed.IsZero() {
				catchUps = append(catchUps, tick{integration: name, env: e.sched.Env, at: missed, catchUp: true})
			}
		case TypeFile:
			e.next = now
			e.watch = &watch{files: map[string]*fileState{}}
		}
	}
	t.entries = fresh
	t.heap = t.heap[:0]
	for _, e := range fresh {
		t.heap = append(t.heap, e)
	}
	for i, e := range t.heap {
		e.index = i
	}
	heap.Init(&t.heap)
	if len(catchUps) > 0 {
		t.wg.Go(func() { t.fire(ctx, catchUps) })
	}
}

// due fires the ticks that are due and starts the polls that are due.
func (t *term) due(ctx context.Context) {
	now := t.s.cfg.Clock.Now()
	var ticks []tick
	for len(t.heap) > 0 && !t.heap[0].next.After(now) {
		e := t.heap[0]
		switch e.kind {
		case TypeSchedule:
			ticks = append(ticks, tick{integration: e.name, env: e.sched.Env, at: e.next})
			n := e.sched.Schedule.Next(e.next)
			if !n.IsZero() && !n.After(now) {
				// Far behind (the process was stalled): skip to the next tick to come.
				t.s.log.Warn("schedule fell behind, skipping missed ticks", "integration", e.name, "from", n)
				n = e.sched.Schedule.Next(now)
			}
			if n.IsZero() {
				heap.Pop(&t.heap)
				delete(t.entries, e.name)
				continue
			}
			e.next = n
		case TypeFile:
			if e.polling.CompareAndSwap(false, true) {
				t.wg.Go(func() {
					defer e.polling.Store(false)
					t.s.poll(ctx, e.name, e.file, e.watch)
				})
			}
			e.next = now.Add(e.file.PollEvery)
		}
		heap.Fix(&t.heap, 0)
	}
	if len(ticks) > 0 {
		t.wg.Go(func() { t.fire(ctx, ticks) })
	}
}

// requestTimeout bounds one run request once its tick or file is claimed.
const requestTimeout = 30 * time.Second

// fire claims ticks in the store and requests a run for each one this scheduler claimed.
// A claimed tick is requested even if the lease is lost meanwhile: it is recorded as fired,
// so nobody else will.
func (t *term) fire(ctx context.Context, ticks []tick) {
	s := t.s
	won, err := claimTicks(ctx, s.cfg.DB, s.cfg.Owner, ticks, s.cfg.Clock.Now())
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("schedule ticks not fired", "ticks", len(ticks), "err", err)
		}
		return
	}
	rctx := context.WithoutCancel(ctx)
	sem := make(chan struct{}, s.cfg.Concurrency)
	var mu sync.Mutex
	var done []tickRun
	var wg sync.WaitGroup
	for _, tk := range won {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			params := map[string]string{"tick": tk.at.Format(time.RFC3339)}
			if tk.catchUp {
				params["catchUp"] = "true"
			}
			qctx, cancel := context.WithTimeout(rctx, requestTimeout)
			defer cancel()
			run, err := s.cfg.Requester.Request(qctx, runs.Request{Integration: tk.integration, Env: tk.env, Actor: ActorSchedule, Trigger: runs.TriggerSchedule, Params: params})
			if err != nil {
				s.log.Error("scheduled run not requested", "integration", tk.integration, "tick", tk.at, "err", err)
				return
			}
			s.log.Info("schedule fired", "integration", tk.integration, "env", tk.env, "tick", tk.at, "run", run.ID, "catch_up", tk.catchUp)
			mu.Lock()
			done = append(done, tickRun{integration: tk.integration, at: tk.at, runID: run.ID})
			mu.Unlock()
		})
	}
	wg.Wait()
	if err := setTickRuns(rctx, s.cfg.DB, done); err != nil {
		s.log.Warn("note the runs of fired ticks", "err", err)
	}
}
