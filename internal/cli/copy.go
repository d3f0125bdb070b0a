package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/connectors/file"
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
	out         output
	format      string // out, checked
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
	env         string    // the environment of @NAME endpoints
	endpoints   string    // the endpoints file of @NAME endpoints
	stdin       io.Reader // what "-" as SOURCE reads
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
	// SHA256 is the digest of the object a byte-for-byte copy moved.
	SHA256 string `json:"sha256,omitempty"`
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
  -   standard input as SOURCE, standard output as DEST (needs --from-format/--to-format);
      the summary then goes to standard error, and there is no --resume nor retry
  @NAME[/TABLE-OR-PATH][?QUERY]   a named connection: an Endpoint of the endpoints file
      (~/.config/datahub/endpoints.yaml or --endpoints FILE) in --env, with a table of a
      database or a path under a folder after the '/'; see 'datahub endpoints'

Exit status: 0 succeeded, 1 failed, 2 usage error, 3 finished with rejected rows.`,
		Example: `  datahub copy people.csv 'postgres://app@localhost/crm?table=public.people'
  datahub copy --mode upsert --key id 'postgres://localhost/a?table=src' 'mysql://root@localhost/b?table=dst'
  datahub copy --map 'note:remark' --map 'amount::decimal' in.csv 'sqlite:out.db?table=t'
  gunzip -c people.csv.gz | datahub copy --from-format csv - 'sqlite:people.db?table=people'
  datahub copy --to-format ndjson 'sqlite:people.db?table=people' - | head
  datahub copy --env uat @crm-db/public.people @dwh/people`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 {
				return usageError("copy needs SOURCE and DEST, got %d argument(s); see 'datahub copy --help'", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			f.maxSet = cmd.Flags().Changed("max-rejects")
			f.stdin = cmd.InOrStdin()
			tuneGC()
			return runCopy(cmd.Context(), g, f, args[0], args[1])
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.mode, "mode", "append", "write mode: append, replace (atomic swap) or upsert (needs a key)")
	fl.StringVar(&f.key, "key", "", "key columns for upsert and for a created table's primary key: col[,col]")
	fl.StringArrayVar(&f.maps, "map", nil, "column mapping SRC:DST[:TYPE] (or SRC::TYPE to cast); repeatable, comma-separated")
	fl.StringVar(&f.mapFile, "map-file", "", "mapping file: lines of SRC:DST[:TYPE] (and 'only' to drop unmapped columns), or JSON")
	fl.IntVar(&f.batchSize, "batch-size", 10000, "records per batch")
	addOutputFlags(fl, &f.out)
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
	fl.StringVar(&f.env, "env", "", "environment of @NAME endpoints: DEV, SIT, UAT, MPE or PROD (default DEV, or the endpoint's only one)")
	fl.StringVar(&f.endpoints, "endpoints", "", "endpoints file of @NAME endpoints (default ~/.config/datahub/endpoints.yaml, env DATAHUB_ENDPOINTS)")
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
	// secrets are the values resolved for @NAME endpoints, scrubbed from what the run prints.
	secrets []string
	// stdio is set when SOURCE or DEST is "-": the records own standard output, so the
	// summary goes to standard error, and there is no resume nor retry.
	stdio bool
}

func parseCopyArgs(ctx context.Context, f *copyFlags, src, dst string) (copyArgs, error) {
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
	srcEP, dstEP, secrets, err := copyEndpoints(ctx, f, src, dst)
	if err != nil {
		return copyArgs{}, err
	}
	for _, e := range []connector.Endpoint{srcEP, dstEP} {
		if _, err := connector.Resolve(e.URL); err != nil {
			return copyArgs{}, usageError("%v", err)
		}
	}
	switch f.progress {
	case "auto", "always", "never":
	default:
		return copyArgs{}, usageError("--progress: want auto, always or never")
	}
	if f.format, err = f.out.get(); err != nil {
		return copyArgs{}, err
	}
	useStdio, err := copyStdio(f, mode, srcEP.URL, dstEP.URL)
	if err != nil {
		return copyArgs{}, err
	}
	return copyArgs{mode: mode, keys: keys, mapping: mapping, stdio: useStdio,
		src: srcEP, dst: dstEP, secrets: secrets}, nil
}

// runCopy runs one transfer in this process through the hub's run lifecycle (runs.Execute),
// recorded in the local transaction log. It has no policy step: the copy is the local user's
// own process, reading and writing with that user's own rights and credentials, and no hub
// setting confines it (--root confines its file paths when asked).
func runCopy(ctx context.Context, g *globals, f *copyFlags, src, dst string) error {
	a, err := parseCopyArgs(ctx, f, src, dst)
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
	if a.stdio {
		// The file connector reads and writes "-" through the streams in the context; a
		// retry would read on from where the failed attempt left the stream (copyStdio).
		ctx = file.WithStdio(ctx, f.stdin, g.stdout)
		opts.Retries = -1
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	x := runs.Exec{Recorder: runs.Recorder{Log: tl, Logger: g.logger()}, Run: *run, Engine: opts, DataDir: data}
	if f.progress == "always" || (f.progress == "auto" && g.isTerminal) {
		x.Watch = func(eng *engine.Engine) func() { return startProgress(g.stderr, eng).stop }
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
	return reportCopy(g, f, &done, res, a)
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
		NoFastPath: f.noFastPath, Retries: f.retries, Secrets: a.secrets,
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
func reportCopy(g *globals, f *copyFlags, run *txlog.Run, res engine.Result, a copyArgs) error {
	s := makeSummary(run, res)
	// With "-" (either way) the summary goes to standard error, as the README and item 9 say:
	// standard output is the records' when DEST is "-", and one rule for both directions
	// spares scripts from guessing.
	out := g.stdout
	if a.stdio {
		out = g.stderr
	}
	if f.format != outTable {
		if err := writeLine(out, f.format, s); err != nil {
			return err
		}
	} else {
		printSummary(out, s)
	}
	switch res.Status {
	case runstatus.Succeeded:
		return nil
	case runstatus.Partial:
		return &exitError{code: ExitRejected}
	}
	code := errcode.ExitStatus(errcode.Code(run.ErrorCode))
	hint := ""
	if res.Position != nil && a.mode == connector.ModeAppend && !a.stdio {
		hint = fmt.Sprintf("To continue from the last checkpoint: datahub copy --resume %s ... (same arguments)", run.ID)
	}
	if f.format == outTable || out == g.stderr {
		// The summary printed the error where people read it: print it once.
		if hint != "" {
			_, _ = fmt.Fprintln(g.stderr, hint)
		}
		return &exitError{code: code}
	}
	if hint != "" {
		hint = "\n" + hint
	}
	return &exitError{code: code, err: fmt.Errorf("copy %s: %s%s", run.ID, run.Error, hint)}
}

func makeSummary(run *txlog.Run, res engine.Result) summary {
	s := summary{
		RunID: run.ID, Status: run.Status, Source: run.Source, Destination: run.Destination, Mode: run.Mode,
		RowsRead: res.RowsRead, RowsWritten: res.RowsWritten, RowsRejected: res.RowsRejected,
		BytesRead: res.BytesRead, BytesWritten: res.BytesWritten, DurationMS: run.DurationMS,
		Part: txlog.Stats(res.Part), Resumed: res.Resumed,
		RejectsPath: run.RejectsPath, FastPath: res.FastPath, Attempts: res.Attempts,
		StartedAt: run.StartedAt.UTC().Format(time.RFC3339Nano), FinishedAt: res.Finished.UTC().Format(time.RFC3339Nano),
		Error: run.Error, ErrorCode: run.ErrorCode, Schema: res.Schema, SHA256: res.SHA256,
	}
	if d := res.Duration().Seconds(); d > 0 {
		s.RowsPerSecond = float64(int64(float64(res.Part.RowsWritten)/d*10)) / 10
	}
	return s
}

// copyGCPercent and copyMemoryLimit tune the garbage collector for one copy in this process.
// Its live heap is a few batches, tens of MB, and with Go's default (GOGC=100) collecting it
// took about a quarter of the hub's CPU on a CSV → PostgreSQL load, CPU the database needs on
// a small machine: collecting less often, under a soft limit that keeps the peak well below
// the 150 MB the engine promises, gave 20-25 % less CPU. GOGC and GOMEMLIMIT still win.
const (
	copyGCPercent   = 400
	copyMemoryLimit = 100 << 20
)

func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(copyGCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(copyMemoryLimit)
	}
}

// processAlive reports whether a process with this id exists on this machine.
func processAlive(pid int) bool {
	if pid <= 0 || pid == os.Getpid() {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
