package bus

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// opener opens another Bus on the same server and streams as the test's earlier ones.
type opener func(t *testing.T, mod ...func(*Config)) *Bus

// externalURL is the external NATS the tests use besides the embedded one.
func externalURL() string {
	if u := os.Getenv("DATAHUB_TEST_NATS"); u != "" {
		return u
	}
	return "nats://127.0.0.1:4222"
}

// eachServer runs fn against an embedded server (in a temp folder) and against the external
// NATS, each test under its own prefix there. The external one must answer unless -short.
func eachServer(t *testing.T, fn func(t *testing.T, open opener)) {
	t.Helper()
	t.Run("embedded", func(t *testing.T) {
		t.Parallel()
		var first *Bus
		fn(t, func(t *testing.T, mod ...func(*Config)) *Bus {
			cfg := Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", Name: t.Name()}
			if first != nil {
				cfg = Config{URL: first.ClientURL(), Name: t.Name()}
			}
			b := openBus(t, cfg, mod...)
			if first == nil {
				first = b
			}
			return b
		})
	})
	t.Run("external", func(t *testing.T) {
		t.Parallel()
		u := requireExternal(t)
		prefix := uniquePrefix(t)
		fn(t, func(t *testing.T, mod ...func(*Config)) *Bus {
			return openBus(t, Config{URL: u, Prefix: prefix, Name: t.Name()}, mod...)
		})
	})
}

// requireExternal returns the external URL, skipping with -short and failing if it is down. It
// registers the deletion of the test's prefixed streams and buckets (run after the buses close).
func requireExternal(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("external NATS: -short")
	}
	u := externalURL()
	parsed, err := url.Parse(strings.Split(u, ",")[0])
	if err != nil {
		t.Fatalf("DATAHUB_TEST_NATS: %v", err)
	}
	c, err := net.DialTimeout("tcp", parsed.Host, 2*time.Second)
	if err != nil {
		t.Fatalf("external NATS %s unreachable (start nats-server -js, set DATAHUB_TEST_NATS, or use -short): %v", redactURLs(u), err)
	}
	_ = c.Close()
	return u
}

func uniquePrefix(t *testing.T) string {
	t.Helper()
	var p [6]byte
	_, _ = rand.Read(p[:])
	prefix := "t" + hex.EncodeToString(p[:])
	t.Cleanup(func() { dropPrefix(t, prefix) })
	return prefix
}

// dropPrefix deletes every stream (KV buckets included) named with prefix.
func dropPrefix(t *testing.T, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nc, err := nats.Connect(externalURL())
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	lister := js.StreamNames(ctx)
	var names []string
	for n := range lister.Name() {
		if strings.HasPrefix(n, prefix+"_") || strings.HasPrefix(n, "KV_"+prefix+"_") {
			names = append(names, n)
		}
	}
	for _, n := range names {
		if err := js.DeleteStream(ctx, n); err != nil {
			t.Errorf("cleanup: delete stream %s: %v", n, err)
		}
	}
}

func openBus(t *testing.T, cfg Config, mod ...func(*Config)) *Bus {
	t.Helper()
	for _, m := range mod {
		m(&cfg)
	}
	b, err := Open(t.Context(), cfg)
	if err != nil {
		t.Fatalf("open bus: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := b.Close(ctx); err != nil {
			t.Errorf("close bus: %v", err)
		}
	})
	return b
}

// queued is the number of run requests in b's runs stream.
func queued(t *testing.T, b *Bus) uint64 {
	t.Helper()
	s, err := b.js.Stream(t.Context(), b.names.runs)
	if err != nil {
		t.Fatalf("runs stream: %v", err)
	}
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatalf("runs stream info: %v", err)
	}
	return info.State.Msgs
}

// consume runs ConsumeRuns in the background; the returned stop cancels it and returns its
// error.
func consume(t *testing.T, b *Bus, cfg ConsumerConfig, h RunHandler) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- b.ConsumeRuns(ctx, cfg, h) }()
	var err error
	done := false
	stop = func() error {
		if !done {
			cancel()
			err = <-errc
			done = true
		}
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func run(id, integration string) RunRequest {
	return RunRequest{RunID: id, Integration: integration, Env: "DEV", RequestedBy: "test", Params: map[string]string{"k": "v"}}
}
