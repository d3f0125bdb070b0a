package bus

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/errcode"
)

// ErrLeaseHeld matches the error of AcquireLease (and AcquireRunLease) when someone else holds
// the lease.
var ErrLeaseHeld = errors.New("lease is held")

// minLeaseTTL keeps renewals (every TTL/3) from flooding the server.
const minLeaseTTL = 300 * time.Millisecond

// Lease is a named lock with an expiry, kept in a KV bucket with history 1 whose TTL is the
// lease time. It is taken with Create (which fails if the key exists) and kept by updating the
// key every TTL/3 with the revision last written, so a renewal that finds another revision
// knows the lease was lost. A holder that dies stops renewing and the key expires after the
// TTL, freeing the lease for the next taker.
type Lease struct {
	b     *Bus
	kv    jetstream.KeyValue
	key   string
	owner string
	ttl   time.Duration

	mu       sync.Mutex
	rev      uint64
	released bool

	lost     chan struct{}
	lostOnce sync.Once
	stop     chan struct{}
	stopped  chan struct{}
}

// AcquireLease takes the lease key for owner (a worker or scheduler id, shown to whoever finds
// the lease held; not secret) for ttl (0: Config.LeaseTTL). The lease is then renewed in the
// background until Release, Close, or a renewal that fails for a whole TTL or finds the key
// taken over (Lost is then closed). ctx bounds the acquisition only.
//
// A key is letters, digits and - / _ = . (dot-separated tokens). Each distinct ttl has its own
// bucket (DATAHUB_LOCKS for the default), because servers before 2.11 expire keys per bucket
// only; the same key with two different ttls is two different leases.
func (b *Bus) AcquireLease(ctx context.Context, key, owner string, ttl time.Duration) (*Lease, error) {
	if b.isClosed() {
		return nil, ErrClosed
	}
	if ttl <= 0 {
		ttl = b.cfg.LeaseTTL
	}
	if ttl < minLeaseTTL {
		return nil, connector.Errorf(connector.CodeUsage, "", "", fmt.Errorf("lease %s: ttl %s is below %s", key, ttl, minLeaseTTL))
	}
	if !kvKeyRE.MatchString(key) || key[0] == '.' || key[len(key)-1] == '.' {
		return nil, connector.Errorf(connector.CodeUsage, "", "", fmt.Errorf("lease key %q: use letters, digits and - / _ = . (no empty token)", key))
	}
	kv, err := b.lockBucket(ctx, ttl)
	if err != nil {
		return nil, err
	}
	rev, err := kv.Create(ctx, key, []byte(owner))
	if errors.Is(err, jetstream.ErrKeyExists) {
		holder := "?"
		if e, gerr := kv.Get(ctx, key); gerr == nil {
			holder = string(e.Value())
		}
		return nil, connector.Errorf(connector.CodeConflict, "", "", fmt.Errorf("lease %s: %w by %s", key, ErrLeaseHeld, holder))
	}
	if err != nil {
		return nil, errcode.Errorf(errcode.Unavailable, b.where, "", fmt.Errorf("acquire lease %s: %w", key, err))
	}
	l := &Lease{
		b: b, kv: kv, key: key, owner: owner, ttl: ttl, rev: rev,
		lost: make(chan struct{}), stop: make(chan struct{}), stopped: make(chan struct{}),
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		_ = kv.Delete(ctx, key, jetstream.LastRevision(rev))
		return nil, ErrClosed
	}
	b.leases[l] = struct{}{}
	b.mu.Unlock()
	// Renewals outlive the caller's ctx (often a request's) but keep its values.
	go l.renew(context.WithoutCancel(ctx))
	return l, nil
}

// kvKeyRE is what JetStream accepts as a KV key.
var kvKeyRE = regexp.MustCompile(`^[-/_=.A-Za-z0-9]{1,255}$`)

// lockBucket opens (creating it the first time) the lease bucket of ttl.
func (b *Bus) lockBucket(ctx context.Context, ttl time.Duration) (jetstream.KeyValue, error) {
	b.mu.Lock()
	kv := b.locks[ttl]
	b.mu.Unlock()
	if kv != nil {
		return kv, nil
	}
	name := b.names.locks
	if ttl != b.cfg.LeaseTTL {
		name += "_" + strconv.FormatInt(ttl.Milliseconds(), 10) + "MS"
	}
	kv, err := b.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      name,
		Description: "Data Hub leases (" + ttl.String() + ")",
		History:     1,
		TTL:         ttl,
		Storage:     jetstream.FileStorage,
		Replicas:    b.cfg.Replicas,
	})
	if err != nil {
		return nil, errcode.Errorf(errcode.Unavailable, b.where, "", fmt.Errorf("create lease bucket %s: %w", name, err))
	}
	b.mu.Lock()
	b.locks[ttl] = kv
	b.mu.Unlock()
	return kv, nil
}

// renew rewrites the key every TTL/3 until stopped or lost.
func (l *Lease) renew(ctx context.Context) {
	defer close(l.stopped)
	t := time.NewTicker(l.ttl / 3)
	defer t.Stop()
	lastOK := time.Now()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		l.mu.Lock()
		rev := l.rev
		l.mu.Unlock()
		uctx, cancel := context.WithTimeout(ctx, l.ttl/3)
		nrev, err := l.kv.Update(uctx, l.key, []byte(l.owner), rev)
		cancel()
		if err == nil {
			l.mu.Lock()
			l.rev = nrev
			l.mu.Unlock()
			lastOK = time.Now()
			continue
		}
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || time.Since(lastOK) >= l.ttl {
			// Expired or taken over: whoever holds it now may already be running.
			l.b.log.Warn("lease lost", "key", l.key, "owner", l.owner, "err", err)
			l.lostOnce.Do(func() { close(l.lost) })
			return
		}
		l.b.log.Warn("renew lease, will retry", "key", l.key, "err", err)
	}
}

// Key is the lease's key.
func (l *Lease) Key() string { return l.key }

// Lost is closed when the lease could not be renewed (the server was unreachable for a whole
// TTL, or the key expired and was taken): the holder must stop what the lease protects.
func (l *Lease) Lost() <-chan struct{} { return l.lost }

// Release stops renewing and frees the lease at once. Releasing twice, or a lost lease, is not
// an error.
func (l *Lease) Release(ctx context.Context) error {
	if !l.stopRenewing() {
		return nil
	}
	select {
	case <-l.lost:
		return nil
	default:
	}
	l.mu.Lock()
	rev := l.rev
	l.mu.Unlock()
	err := l.kv.Delete(ctx, l.key, jetstream.LastRevision(rev))
	if err != nil && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return fmt.Errorf("release lease %s: %w", l.key, err)
	}
	return nil
}

// stopRenewing ends the renewals; it reports false if they had already been ended.
func (l *Lease) stopRenewing() bool {
	l.mu.Lock()
	if l.released {
		l.mu.Unlock()
		return false
	}
	l.released = true
	l.mu.Unlock()
	close(l.stop)
	<-l.stopped
	l.b.mu.Lock()
	delete(l.b.leases, l)
	l.b.mu.Unlock()
	return true
}

// RunLeaseOptions tune AcquireRunLease.
type RunLeaseOptions struct {
	// Owner identifies this worker (host, process): shown to the others, and in logs.
	Owner string
	// Limit is how many runs of one integration in one environment may go at once (default 1).
	Limit int
	// TTL is the lease time (default Config.LeaseTTL): how long a dead worker keeps the
	// integration blocked.
	TTL time.Duration
	// RetryDelay is how long a run request waits before it is tried again when every slot is
	// taken (default 10s).
	RetryDelay time.Duration
}

// AcquireRunLease enforces the per-integration concurrency limit in a worker's RunHandler: it
// takes one of the Limit leases of the request's integration and environment (keys
// run.<integration>[.<env>].<slot>). When all are held it naks m with RetryDelay, so the request
// stays queued and is tried again later instead of running twice at once, and returns an error
// matching ErrLeaseHeld; the handler then just returns (m is already settled):
//
//	lease, err := b.AcquireRunLease(ctx, m, bus.RunLeaseOptions{Owner: workerID})
//	if errors.Is(err, bus.ErrLeaseHeld) {
//		return nil
//	} else if err != nil {
//		return err
//	}
//	defer lease.Release(ctx)
//	// run, watching lease.Lost()
//
// Each such nak is a delivery toward the consumer's MaxDeliver: a request that waits behind
// long runs needs a MaxDeliver (or a RetryDelay) large enough to outlast them.
func (b *Bus) AcquireRunLease(ctx context.Context, m *RunMessage, o RunLeaseOptions) (*Lease, error) {
	if o.Limit <= 0 {
		o.Limit = 1
	}
	if o.RetryDelay <= 0 {
		o.RetryDelay = 10 * time.Second
	}
	base := "run." + m.Request.Integration
	if m.Request.Env != "" {
		base += "." + m.Request.Env
	}
	var held error
	for slot := range o.Limit {
		l, err := b.AcquireLease(ctx, base+"."+strconv.Itoa(slot), o.Owner, o.TTL)
		if err == nil {
			return l, nil
		}
		if !errors.Is(err, ErrLeaseHeld) {
			return nil, err
		}
		held = err
	}
	if err := m.Nak(o.RetryDelay); err != nil {
		return nil, err
	}
	return nil, held
}
