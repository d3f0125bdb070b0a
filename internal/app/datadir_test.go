package app_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/datahub-oss/datahub/internal/app"
	"github.com/datahub-oss/datahub/internal/config"
	"github.com/datahub-oss/datahub/internal/datadir"
)

// TestSecondStartOnOneDataFolder is finding 6 of issue 8: a second hub on a data folder that
// a running hub holds is refused before it opens the store or NATS, with a message naming
// the holder; once the first stops, the folder can be started again.
func TestSecondStartOnOneDataFolder(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	cfg := config.Default()
	cfg.Data, cfg.Addr = data, "127.0.0.1:0"
	_, stop := start(t, cfg)

	// A second hub with its own store file would still share the embedded NATS store: the
	// refusal must come before either is opened.
	second := cfg
	second.Store = "sqlite:" + filepath.Join(t.TempDir(), "other.db")
	_, err := app.Start(context.Background(), second, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if !errors.Is(err, datadir.ErrInUse) {
		t.Fatalf("second start: %v, want the data folder refused", err)
	}
	for _, want := range []string{"data folder " + data + " is in use by ", fmt.Sprintf("(pid %d on host ", os.Getpid()), "stop it or use another --data"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not say %q", err, want)
		}
	}
	if _, err := os.Stat(strings.TrimPrefix(second.Store, "sqlite:")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the refused hub created its store: %v", err)
	}

	stop()
	h, _ := start(t, cfg)
	if h.Addr == "" {
		t.Fatal("restarted hub does not serve")
	}
}
