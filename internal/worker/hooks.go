package worker

import (
	"path/filepath"

	"github.com/datahub-oss/datahub/internal/runs"
)

// resolveOptions lets runs read webhook bodies stored under <data>/hooks.
func (w *Worker) resolveOptions() runs.ResolveOptions {
	if w.DataDir == "" {
		return runs.ResolveOptions{}
	}
	return runs.ResolveOptions{HooksDir: filepath.Join(w.DataDir, "hooks")}
}
