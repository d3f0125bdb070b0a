package client_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/internal/client"
	"github.com/datahub-oss/datahub/internal/clock"
)

// flaky answers the first n calls as fail says (a dropped connection or a status), then as ok.
type flaky struct {
	mu    sync.Mutex
	calls int
	fails []int // 0: drop the connection
	ok    func(w http.ResponseWriter, r *http.Request, call int)
	keys  []string
}

func (f *flaky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	call := f.calls
	f.calls++
	f.keys = append(f.keys, r.Header.Get("Idempotency-Key"))
	f.mu.Unlock()
	if call < len(f.fails) {
		if f.fails[call] == 0 {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = conn.Close()
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.fails[call])
		_, _ = fmt.Fprint(w, `{"code":"unavailable","message":"the hub is not ready; try again shortly"}`)
		return
	}
	f.ok(w, r, call)
}

// onClock runs call while moving clk on by step whenever call waits on it, and returns how
// much time clk moved and call's error: the pauses and patience of the client take no
// wall-clock time.
func onClock(clk *clock.Fake, step time.Duration, call func() error) (time.Duration, error) {
	began := clk.Now()
	errc := make(chan error, 1)
	go func() { errc <- call() }()
	for {
		select {
		case err := <-errc:
			return clk.Now().Sub(began), err
		default:
		}
		if clk.Waiters() > 0 {
			clk.Advance(step)
		} else {
			runtime.Gosched()
		}
	}
}

// WaitRun polls on through a server that drops connections and answers 503 (its store cut),
// and returns the run once it has ended.
func TestWaitRunThroughTransientErrors(t *testing.T) {
	f := &flaky{fails: []int{0, 503, 503, 0, 502}, ok: func(w http.ResponseWriter, _ *http.Request, call int) {
		status := "running"
		if call > 6 {
			status = "succeeded"
		}
		_, _ = fmt.Fprintf(w, `{"run_id":"r1","status":%q}`, status)
	}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	clk := clock.NewFake(time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC))
	c := newClient(t, srv.URL, "t", client.WithClock(clk))
	var r client.Run
	_, err := onClock(clk, 100*time.Millisecond, func() (err error) {
		r, err = c.WaitRun(t.Context(), "r1", 10*time.Millisecond)
		return err
	})
	if err != nil || r.Status != "succeeded" {
		t.Fatalf("WaitRun = %+v, %v; want succeeded", r, err)
	}
}

// Past its patience WaitRun gives up with the last transient error; a lasting error that is
// not transient (404) ends it at once.
func TestWaitRunGivesUp(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
	}{{"503 beyond patience", 503}, {"404 at once", 404}} {
		t.Run(tc.name, func(t *testing.T) {
			f := &flaky{fails: make([]int, 1000), ok: nil}
			for i := range f.fails {
				f.fails[i] = tc.status
			}
			srv := httptest.NewServer(f)
			t.Cleanup(srv.Close)
			clk := clock.NewFake(time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC))
			c := newClient(t, srv.URL, "t", client.WithPatience(time.Second), client.WithClock(clk))
			took, err := onClock(clk, 10*time.Millisecond, func() error {
				_, err := c.WaitRun(t.Context(), "r1", 10*time.Millisecond)
				return err
			})
			if client.StatusOf(err) != tc.status {
				t.Fatalf("WaitRun error %v, want HTTP %d", err, tc.status)
			}
			// The clock's time: it gives up at the first try 1 s after the first failure, and
			// the pauses before it add up to at most 1.75 s (250 ms doubling, with jitter).
			if tc.status == 503 && (took < time.Second || took > 2*time.Second) {
				t.Errorf("gave up after %s with a patience of 1s", took)
			}
			if tc.status == 404 && f.calls != 1 {
				t.Errorf("%d calls for a 404", f.calls)
			}
		})
	}
}

// A publish retried through 503s carries the same message id on every try, chosen before
// the first when the caller gave none.
func TestPublishRetriesWithOneID(t *testing.T) {
	f := &flaky{fails: []int{503, 0, 503}, ok: func(w http.ResponseWriter, r *http.Request, _ int) {
		w.WriteHeader(http.StatusAccepted)
		_, _ = fmt.Fprintf(w, `{"seq":1,"message_id":%q}`, r.Header.Get("Idempotency-Key"))
	}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	clk := clock.NewFake(time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC))
	c := newClient(t, srv.URL, "t", client.WithClock(clk))
	var res client.PublishResult
	_, err := onClock(clk, 100*time.Millisecond, func() (err error) {
		res, err = c.Publish(t.Context(), "orders", []byte(`{}`), client.PublishOptions{RetryFor: time.Minute})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.keys) != 4 || f.keys[0] == "" || res.MessageID != f.keys[0] {
		t.Fatalf("keys %q, result %+v", f.keys, res)
	}
	for _, k := range f.keys {
		if k != f.keys[0] {
			t.Fatalf("a retry changed the message id: %q", f.keys)
		}
	}
}
