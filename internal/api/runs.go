package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/datahub-oss/datahub/internal/auth"
	"github.com/datahub-oss/datahub/internal/runs"
	"github.com/datahub-oss/datahub/internal/runstatus"
	"github.com/datahub-oss/datahub/internal/txlog"
)

// maxWait bounds ?wait=true: a run still going after it is answered as it stands (202).
const maxWait = 10 * time.Minute

// runBody is a run as the API shows it: the transaction log's record and its throughput,
// with the field names of `datahub copy --json`.
type runBody struct {
	txlog.Run
	RowsPerSecond float64 `json:"rows_per_second"`
}

func runOf(r txlog.Run) runBody {
	b := runBody{Run: r}
	if r.DurationMS > 0 {
		// One decimal, truncated, as datahub copy computes it: the rows of the part the
		// duration measured (all of them unless the run was resumed).
		b.RowsPerSecond = float64(int64(float64(r.Part.RowsWritten)/(float64(r.DurationMS)/1000)*10)) / 10
	}
	return b
}

// statusQuery is a run status as a query parameter: its schema's enum is runstatus.All(), so
// the API offers exactly the statuses a run can have.
type statusQuery runstatus.Status

// Schema is the OpenAPI schema of a run status.
func (statusQuery) Schema(huma.Registry) *huma.Schema {
	var enum []any
	for _, s := range runstatus.All() {
		enum = append(enum, string(s))
	}
	return &huma.Schema{Type: huma.TypeString, Enum: enum}
}

type runOutput struct {
	Status int
	Body   runBody
}

type runIDInput struct {
	ID string `path:"id" doc:"Run id, or a unique prefix of it"`
}

type runRequest struct {
	Env    string            `json:"env" minLength:"1" doc:"Environment: DEV, SIT, UAT, MPE or PROD"`
	Params map[string]string `json:"params,omitempty" doc:"Run parameters"`
}

type runRequestInput struct {
	Name string `path:"name" doc:"Integration name"`
	Wait bool   `query:"wait" doc:"Wait (up to 10 minutes) for the run to finish and return it"`
	Body runRequest
}

func (s *server) runRoutes() {
	tags := []string{"runs"}
	register(s, auth.PermRunsCreate, huma.Operation{
		OperationID: "request-run", Method: http.MethodPost, Path: BasePath + "/integrations/{name}/runs", Tags: tags,
		Summary:       "Run an integration in an environment",
		Description:   "Queues a run (202). With wait=true, answers 200 with the finished run, or 202 with the run as it stands after 10 minutes. Integrators may run in DEV, SIT and UAT only.",
		DefaultStatus: http.StatusAccepted,
		Errors:        []int{http.StatusNotFound},
	}, s.requestRun)

	register(s, auth.PermRunsRead, huma.Operation{
		OperationID: "list-runs", Method: http.MethodGet, Path: BasePath + "/runs", Tags: tags,
		Summary: "List runs, newest first",
	}, func(ctx context.Context, in *struct {
		Limit       int         `query:"limit" minimum:"1" maximum:"1000" default:"50" doc:"Page size"`
		Cursor      string      `query:"cursor" doc:"The next cursor of the previous page"`
		Status      statusQuery `query:"status"`
		Integration string      `query:"integration"`
	}) (*struct{ Body page[runBody] }, error) {
		if in.Cursor != "" && !strings.Contains(in.Cursor, "|") {
			return nil, apiError(http.StatusUnprocessableEntity, "invalid cursor")
		}
		p, err := s.d.Log.List(ctx, txlog.Filter{Status: runstatus.Status(in.Status), Integration: in.Integration, Limit: in.Limit, Cursor: in.Cursor})
		if err != nil {
			return nil, err
		}
		out := &struct{ Body page[runBody] }{}
		out.Body.Items = make([]runBody, 0, len(p.Runs))
		for _, r := range p.Runs {
			out.Body.Items = append(out.Body.Items, runOf(r))
		}
		out.Body.Next = p.Next
		return out, nil
	})

	register(s, auth.PermRunsRead, huma.Operation{
		OperationID: "get-run", Method: http.MethodGet, Path: BasePath + "/runs/{id}", Tags: tags,
		Summary: "Get a run", Errors: []int{http.StatusNotFound},
	}, func(ctx context.Context, in *runIDInput) (*runOutput, error) {
		r, err := s.getRun(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		return &runOutput{Status: http.StatusOK, Body: runOf(r)}, nil
	})

	register(s, auth.PermRunsCancel, huma.Operation{
		OperationID: "cancel-run", Method: http.MethodPost, Path: BasePath + "/runs/{id}/cancel", Tags: tags,
		Summary:     "Ask a queued or running run to stop",
		Description: "A running transfer stops at its next check and keeps its checkpoint. A finished run gives 422. Integrators may cancel in DEV, SIT and UAT only.",
		Errors:      []int{http.StatusNotFound},
	}, func(ctx context.Context, in *runIDInput) (*runOutput, error) {
		p := principal(ctx)
		r, err := s.getRun(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		if !auth.CanCancel(p.Roles, r.Env) {
			return nil, apiError(http.StatusForbidden, fmt.Sprintf("permission denied: your roles may not cancel runs in %s", r.Env))
		}
		r, err = s.d.Runs.Cancel(ctx, r.ID, p.Name, RemoteFrom(ctx))
		if err != nil {
			return nil, err
		}
		return &runOutput{Status: http.StatusOK, Body: runOf(r)}, nil
	})

	register(s, auth.PermRunsCreate, huma.Operation{
		OperationID: "resume-run", Method: http.MethodPost, Path: BasePath + "/runs/{id}/resume", Tags: tags,
		Summary:       "Continue a failed or cancelled run from its checkpoint",
		Description:   "Queues the run again (202); a worker resumes it from its last checkpoint after the same policy step as a new run, with the rights of whoever resumes it. A run without a checkpoint, a replace, a run that is not failed or cancelled, or one whose integration changed since (source, destination, mode, key, mapping) gives 422. Integrators may resume in DEV, SIT and UAT only.",
		DefaultStatus: http.StatusAccepted,
		Errors:        []int{http.StatusNotFound, http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *runIDInput) (*runOutput, error) {
		p := principal(ctx)
		r, err := s.getRun(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		if !p.CanRun(r.Env) {
			return nil, apiError(http.StatusForbidden, fmt.Sprintf("permission denied: your roles may not run integrations in %s", r.Env))
		}
		r, err = s.d.Runs.Resume(ctx, r.ID, p.Name, RemoteFrom(ctx))
		if err != nil {
			return nil, err
		}
		return &runOutput{Status: http.StatusAccepted, Body: runOf(r)}, nil
	})

	register(s, auth.PermDataRead, huma.Operation{
		OperationID: "run-rejects", Method: http.MethodGet, Path: BasePath + "/runs/{id}/rejects", Tags: tags,
		Summary: "The run's rejected records as NDJSON (empty when there are none)",
		Errors:  []int{http.StatusNotFound},
		Responses: map[string]*huma.Response{"200": {Description: "One JSON object per rejected record", Content: map[string]*huma.MediaType{
			"application/x-ndjson": {Schema: &huma.Schema{Type: "string"}},
		}}},
	}, func(ctx context.Context, in *runIDInput) (*huma.StreamResponse, error) {
		r, err := s.getRun(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		f, err := s.openRejects(ctx, r)
		if err != nil {
			return nil, err
		}
		return &huma.StreamResponse{Body: func(hctx huma.Context) {
			hctx.SetHeader("Content-Type", "application/x-ndjson")
			hctx.SetStatus(http.StatusOK)
			if f == nil {
				return
			}
			defer func() { _ = f.Close() }()
			if _, err := io.Copy(hctx.BodyWriter(), f); err != nil {
				loggerFrom(ctx).WarnContext(ctx, "stream rejects", "run_id", r.ID, "err", err)
			}
		}}, nil
	})
}

// getRun reads a run by id or unique prefix.
func (s *server) getRun(ctx context.Context, id string) (txlog.Run, error) {
	r, err := s.d.Log.Get(ctx, id)
	if err != nil && strings.HasPrefix(err.Error(), "run id prefix ") {
		// An ambiguous prefix is the caller's to fix (txlog has no sentinel for it).
		return r, apiError(http.StatusUnprocessableEntity, err.Error())
	}
	return r, err
}

func (s *server) requestRun(ctx context.Context, in *runRequestInput) (*runOutput, error) {
	p := principal(ctx)
	env, err := runs.NormalizeEnv(in.Body.Env)
	if err != nil {
		return nil, err
	}
	if !p.CanRun(env) {
		return nil, apiError(http.StatusForbidden, fmt.Sprintf("permission denied: your roles may not run integrations in %s", env))
	}
	r, err := s.d.Runs.Request(ctx, runs.Request{Integration: in.Name, Env: env, Actor: p.Name, Remote: RemoteFrom(ctx), Params: in.Body.Params})
	if err != nil {
		return nil, err
	}
	if !in.Wait {
		return &runOutput{Status: http.StatusAccepted, Body: runOf(r)}, nil
	}
	wctx, cancel := context.WithTimeout(ctx, maxWait)
	defer cancel()
	final, err := s.d.Runs.Wait(wctx, r.ID)
	switch {
	case err == nil:
		return &runOutput{Status: http.StatusOK, Body: runOf(final)}, nil
	case ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded):
		if final.ID == "" {
			final = r
		}
		return &runOutput{Status: http.StatusAccepted, Body: runOf(final)}, nil
	default:
		return nil, err
	}
}

// openRejects opens the run's rejects file, nil when the run rejected nothing. The path comes
// from the transaction log, so it is only trusted inside <data>/rejects, and opened through
// an os.Root there so that no symbolic link leads out of it.
func (s *server) openRejects(ctx context.Context, r txlog.Run) (*os.File, error) {
	if r.RejectsPath == "" {
		return nil, nil
	}
	gone := apiError(http.StatusNotFound, fmt.Sprintf("the rejects of run %s are not available on this server", r.ID))
	if s.d.DataDir == "" {
		return nil, gone
	}
	rootDir, err := filepath.Abs(filepath.Join(s.d.DataDir, "rejects"))
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(r.RejectsPath)
	if err != nil {
		return nil, err
	}
	rel, err := filepath.Rel(rootDir, dir)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		loggerFrom(ctx).WarnContext(ctx, "rejects path outside the data folder refused", "run_id", r.ID, "path", r.RejectsPath)
		return nil, gone
	}
	root, err := os.OpenRoot(rootDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, gone
	}
	if err != nil {
		return nil, err
	}
	defer func() { _ = root.Close() }()
	f, err := root.Open(filepath.Join(rel, "rejects.ndjson"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, gone
	}
	if err != nil {
		loggerFrom(ctx).WarnContext(ctx, "open rejects", "run_id", r.ID, "err", err)
		return nil, gone
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		_ = f.Close()
		return nil, gone
	}
	return f, nil
}
