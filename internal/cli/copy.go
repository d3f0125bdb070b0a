package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/engine"
	"github.com/datahub-oss/datahub/internal/errcode"
	"github.com/datahub-oss/datahub/internal/infer"
	"github.com/datahub-oss/datahub/internal/runs"
	"github.com/datahub-oss/datahub/internal/runstatus"
	"github.com/datahub-oss/datahub/internal/transform"
	"github.com/datahub-oss/datahub/internal/txlog"
)

type copyFlags struct {
	mode        string
	key         string
	maps        []string
	mapFile     string
	batchSize   int
	jsonOut     bool
	data        string
	fromFormat  string
	toFormat    string
	resume      string
	root        string
	maxRejects  int64
	maxSet      bool
	noFastPath  bool
	retries     int
	progress    string
	checkpointN int64
	infer       bool
	inferRows   int
}

// summary is what `datahub copy` prints; its JSON form is a stable interface.
type summary struct {
	RunID       string           `json:"run_id"`
	Status      runstatus.Status `json:"status"`
	Source      string           `json:"source"`
	Destination string           `json:"destination"`
	Mode        string           `json:"mode"`
	// The counters are the run's totals: rows written are the rows the destination committed,
	// rows rejected the lines in the rejects file. Part is this invocation's share of them,
	// different only for a resumed run.
	RowsRead      int64       `json:"rows_read"`
	RowsWritten   int64       `json:"rows_written"`
	RowsRejected  int64       `json:"rows_rejected"`
	BytesRead     int64       `json:"bytes_read"`
	BytesWritten  int64       `json:"bytes_written"`
	Part          txlog.Stats `json:"part"`
	Resumed       bool        `json:"resumed"`
	DurationMS    int64       `json:"duration_ms"`
	RowsPerSecond float64     `json:"rows_per_second"`
	RejectsPath   string      `json:"rejects_path"`
	FastPath      bool        `json:"fast_path"`
	Attempts      int         `json:"attempts"`
	StartedAt     string      `json:"started_at"`
	FinishedAt    string      `json:"finished_at"`
	Error         string      `json:"error,omitempty"`
	ErrorCode     string      `json:"error_code,omitempty"`
	// Schema is the table the copy created with types inferred from a text source.
	Schema []engine.SchemaColumn `json:"schema,omitempty"`
}

func newCopyCmd(g *globals) *cobra.Command {
	f := &copyFlags{}
	cmd := &cobra.Command{ //nolint:gosec // G101: the help shows the URL form, it holds no credential
		Use:   "copy SOURCE DEST",
		Short: "Copy records from a source to a destination, once, in this process",
		Long: `Copy records from SOURCE to DEST, with statistics, rejects, checkpoints and a record
in the local transaction log (see 'datahub runs').

SOURCE and DEST are URLs (run 'datahub connectors' for every scheme and option):
  postgres://user:pass@host:5432/db?table=schema.name   (or ?query=SELECT ... as a source)
  mysql://user:pass@host:3306/db?table=name
  sqlite:PATH?table=name
  a file path or file://PATH (.csv, .tsv, .ndjson/.jsonl, .json; --from-format/--to-format override)

Exit status: 0 succeeded, 1 failed, 2 usage error, 3 finished with rejected rows.`,
		Example: `  datahub copy people.csv 'postgres://app@localhost/crm?table=public.people'
  datahub copy --mode upsert --key id 'postgres://localhost/a?table=src' 'mysql://root@localhost/b?table=dst'
  datahub copy --map 'note:remark' --map 'amount::decimal' in.csv 'sqlite:out.db?table=t'`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 {
				return usageError("copy needs SOURCE and DEST, got %d argument(s); see 'datahub copy --help'", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			f.maxSet = cmd.Flags().Changed("max-rejects")
			return runCopy(cmd.Context(), g, f, args[0], args[1])
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.mode, "mode", "append", "write mode: append, replace (atomic swap) or upsert (needs a key)")
	fl.StringVar(&f.key, "key", "", "key columns for upsert and for a created table's primary key: col[,col]")
	fl.StringArrayVar(&f.maps, "map", nil, "column mapping SRC:DST[:TYPE] (or SRC::TYPE to cast); repeatable, comma-separated")
	fl.StringVar(&f.mapFile, "map-file", "", "mapping file: lines of SRC:DST[:TYPE] (and 'only' to drop unmapped columns), or JSON")
	fl.IntVar(&f.batchSize, "batch-size", 10000, "records per batch")
	fl.BoolVar(&f.jsonOut, "json", false, "print the summary as one JSON object")
	fl.StringVar(&f.data, "data", "", "data folder for the transaction log and rejects (default ./datahub-data, env DATAHUB_DATA)")
	fl.StringVar(&f.fromFormat, "from-format", "", "source file format: csv, tsv, ndjson, json (default: from the extension)")
	fl.StringVar(&f.toFormat, "to-format", "", "destination file format: csv, tsv, ndjson, json (default: from the extension)")
	fl.StringVar(&f.resume, "resume", "", "resume the run RUN_ID from its last checkpoint (same SOURCE and DEST)")
	fl.StringVar(&f.root, "root", "", "confine file paths to this folder (no escape through .. or symlinks)")
	fl.Int64Var(&f.maxRejects, "max-rejects", 0, "fail once more than this many records are rejected (default: none for --mode replace, which then keeps the old data; no limit otherwise)")
	fl.BoolVar(&f.noFastPath, "no-fast-path", false, "never stream natively between same-kind endpoints (for comparison)")
	fl.IntVar(&f.retries, "retries", 3, "retries of retryable failures (unreachable endpoint, deadlock) from the last checkpoint")
	fl.StringVar(&f.progress, "progress", "auto", "progress bar: auto (on a terminal), always, never")
	fl.Int64Var(&f.checkpointN, "checkpoint-rows", 0, "commit and checkpoint at least every N rows (default 500000)")
	fl.BoolVar(&f.infer, "infer", true, "type the columns of a table created from a CSV or JSON source from its values (--infer=false: text)")
	fl.IntVar(&f.inferRows, "infer-rows", infer.DefaultRows, "records sampled to infer column types")
	return cmd
}

func dataDir(flag string) string {
	if flag != "" {
		return flag
	}
	if v := os.Getenv("DATAHUB_DATA"); v != "" {
		return v
	}
	return "datahub-data"
}

// copyArgs are a copy's flags and arguments, checked.
type copyArgs struct {
	mode    connector.WriteMode
	keys    []string
	mapping *transform.Mapping
	src     connector.Endpoint
	dst     connector.Endpoint
}

func parseCopyArgs(f *copyFlags, src, dst string) (copyArgs, error) {
	mode, err := connector.ParseWriteMode(f.mode)
	if err != nil {
		return copyArgs{}, usageError("--mode: %v", err)
	}
	var keys []string
	for _, k := range strings.Split(f.key, ",") {
		if k = strings.TrimSpace(k); k != "" {
			keys = append(keys, k)
		}
	}
	mapping, err := transform.ParseArgs(f.maps)
	if err != nil {
		return copyArgs{}, usageError("--map: %v", err)
	}
	if f.mapFile != "" {
		fm, err := transform.Load(f.mapFile)
		if err != nil {
			return copyArgs{}, usageError("--map-file: %v", err)
		}
		fm.Rules = append(fm.Rules, mapping.Rules...)
		mapping = fm
	}
	if f.batchSize <= 0 {
		return copyArgs{}, usageError("--batch-size must be positive")
	}
	if f.inferRows <= 0 {
		return copyArgs{}, usageError("--infer-rows must be positive")
	}
	if f.maxSet && f.maxRejects < 0 {
		return copyArgs{}, usageError("--max-rejects must be 0 or more")
	}
	for _, u := range []string{src, dst} {
		if _, err := connector.Resolve(u); err != nil {
			return copyArgs{}, usageError("%v", err)
		}
	}
	switch f.progress {
	case "auto", "always", "never":
	default:
		return copyArgs{}, usageError("--progress: want auto, always or never")
	}
	return copyArgs{mode: mode, keys: keys, mapping: mapping,
		src: connector.Endpoint{URL: src, Format: f.fromFormat, BatchSize: f.batchSize, Root: f.root},
		dst: connector.Endpoint{URL: dst, Format: f.toFormat, BatchSize: f.batchSize, Root: f.root}}, nil
}

// runCopy runs one transfer in this process through the hub's run lifecycle (runs.Execute),
// recorded in the local transaction log. It has no policy step: the copy is the local user's
// own process, reading and writing with that user's own rights and credentials, and no hub
// setting confines it (--root confines its file paths when asked).
func runCopy(ctx context.Context, g *globals, f *copyFlags, src, dst string) error {
	a, err := parseCopyArgs(f, src, dst)
	if err != nil {
		return err
	}
	data := dataDir(f.data)
	tl, err := txlog.Open(ctx, data)
	if err != nil {
		return &exitError{code: ExitFailed, err: err}
	}
	defer func() { _ = tl.Close() }()
	// A copy killed (or unable to write its outcome) earlier stays running until recorded.
	if host, err := os.Hostname(); err == nil {
		if n, err := tl.FailAbandoned(ctx, "copy", host, processAlive); err != nil {
			_, _ = fmt.Fprintln(g.stderr, "Warning:", err)
		} else if n > 0 {
			g.logger().Info("recorded runs of ended processes as failed", "runs", n)
		}
	}
	run, opts, err := startCopy(ctx, g, f, tl, a)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	x := runs.Exec{Recorder: runs.Recorder{Log: tl, Logger: g.logger()}, Run: *run, Engine: opts, DataDir: data}
	if f.progress == "always" || (f.progress == "auto" && g.isTerminal) {
		x.Watch = func(stats func() engine.Stats) func() { return startProgress(g.stderr, stats).stop }
	}
	// The outcome is recorded even when the copy was interrupted; one that could not be is
	// reported, and the next copy records it as failed (FailAbandoned).
	done, res, err := runs.Execute(ctx, x)
	if err != nil {
		_, _ = fmt.Fprintln(g.stderr, "Warning:", err)
	}
	if resumed, err := tl.Get(context.WithoutCancel(ctx), done.ID); err == nil {
		done.StartedAt = resumed.StartedAt
	}
	return reportCopy(g, f, &done, res, a.mode)
}

// startCopy records the copy's run as started, a new one or the one --resume names, and
// returns it with the engine's options.
func startCopy(ctx context.Context, g *globals, f *copyFlags, tl *txlog.Log, a copyArgs) (*txlog.Run, engine.Options, error) {
	run := &txlog.Run{
		ID: txlog.NewID(), Kind: "copy", Source: a.src.Redacted(), Destination: a.dst.Redacted(),
		Mode: string(a.mode), Status: runstatus.Running, StartedAt: time.Now(),
		Options: txlog.MarshalOptions(map[string]any{"key": a.keys, "map": a.mapping}),
	}
	opts := engine.Options{
		Source: a.src, Dest: a.dst, Mode: a.mode, Key: a.keys, Mapping: a.mapping,
		NoFastPath: f.noFastPath, Retries: f.retries,
		CheckpointRows: f.checkpointN, Logger: g.logger(),
		NoInfer: !f.infer, InferRows: f.inferRows,
	}
	if f.retries == 0 {
		opts.Retries = -1
	}
	if f.maxSet {
		opts.MaxRejects = engine.Limit(f.maxRejects)
	}
	if f.resume != "" {
		if err := resumeCopy(ctx, tl, f.resume, run, &opts); err != nil {
			return nil, opts, err
		}
	}
	if err := tl.Start(ctx, run); err != nil {
		return nil, opts, &exitError{code: ExitFailed, err: err}
	}
	return run, opts, nil
}

// resumeCopy makes run the continuation of the earlier run id, from its last checkpoint: the
// same source, destination and mode, and not finished or still running.
func resumeCopy(ctx context.Context, tl *txlog.Log, id string, run *txlog.Run, opts *engine.Options) error {
	prev, err := tl.Get(ctx, id)
	if err != nil {
		return usageError("--resume: %v", err)
	}
	if prev.Source != run.Source || prev.Destination != run.Destination {
		return usageError("--resume %s: that run copied %s to %s; give the same SOURCE and DEST", prev.ID, prev.Source, prev.Destination)
	}
	if prev.Mode != run.Mode {
		return usageError("--resume %s: that run used --mode %s", prev.ID, prev.Mode)
	}
	if prev.Status == runstatus.Succeeded || prev.Status == runstatus.Partial {
		return usageError("--resume %s: that run already finished (%s)", prev.ID, prev.Status)
	}
	if host, _ := os.Hostname(); prev.Status == runstatus.Running && prev.Host == host && processAlive(prev.PID) {
		return usageError("--resume %s: that run is still running (pid %d)", prev.ID, prev.PID)
	}
	run.ID, run.StartedAt, run.Options = prev.ID, prev.StartedAt, prev.Options
	// Count on from what the checkpoint committed, not from what the failed attempt had
	// read past it.
	run.Stats = prev.Stats
	if s, ok := engine.CheckpointStats(prev.Position); ok && opts.Mode != connector.ModeReplace {
		run.Stats = txlog.Stats(s)
	}
	opts.Resume, opts.Position = true, prev.Position
	opts.Initial = engine.Stats(run.Stats)
	return nil
}

// reportCopy prints a finished copy's summary and returns its exit.
func reportCopy(g *globals, f *copyFlags, run *txlog.Run, res engine.Result, mode connector.WriteMode) error {
	s := makeSummary(run, res)
	if f.jsonOut {
		enc := json.NewEncoder(g.stdout)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			return err
		}
	} else {
		printSummary(g.stdout, s)
	}
	switch res.Status {
	case runstatus.Succeeded:
		return nil
	case runstatus.Partial:
		return &exitError{code: ExitRejected}
	}
	hint := ""
	if res.Position != nil && mode == connector.ModeAppend {
		hint = fmt.Sprintf("\nTo continue from the last checkpoint: datahub copy --resume %s ... (same arguments)", run.ID)
	}
	return &exitError{code: errcode.ExitStatus(errcode.Code(run.ErrorCode)), err: fmt.Errorf("copy %s: %s%s", run.ID, run.Error, hint)}
}

func makeSummary(run *txlog.Run, res engine.Result) summary {
	s := summary{
		RunID: run.ID, Status: run.Status, Source: run.Source, Destination: run.Destination, Mode: run.Mode,
		RowsRead: res.RowsRead, RowsWritten: res.RowsWritten, RowsRejected: res.RowsRejected,
		BytesRead: res.BytesRead, BytesWritten: res.BytesWritten, DurationMS: run.DurationMS,
		Part: txlog.Stats(res.Part), Resumed: res.Resumed,
		RejectsPath: run.RejectsPath, FastPath: res.FastPath, Attempts: res.Attempts,
		StartedAt: run.StartedAt.UTC().Format(time.RFC3339Nano), FinishedAt: res.Finished.UTC().Format(time.RFC3339Nano),
		Error: run.Error, ErrorCode: run.ErrorCode, Schema: res.Schema,
	}
	if d := res.Duration().Seconds(); d > 0 {
		s.RowsPerSecond = float64(int64(float64(res.Part.RowsWritten)/d*10)) / 10
	}
	return s
}

// processAlive reports whether a process with this id exists on this machine.
func processAlive(pid int) bool {
	if pid <= 0 || pid == os.Getpid() {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
