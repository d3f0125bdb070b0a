// Package cli holds the datahub command line: one file per command.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	_ "github.com/datahub-oss/datahub/internal/connectors/all" // the built-in connectors
	"github.com/datahub-oss/datahub/internal/ctrlchar"
	"github.com/datahub-oss/datahub/internal/errcode"
)

// Exit statuses (the catalogue's, errcode): a failure's status comes from its error code.
const (
	ExitOK       = errcode.ExitOK
	ExitFailed   = errcode.ExitFailed
	ExitUsage    = errcode.ExitUsage
	ExitRejected = errcode.ExitRejected
)

// exitError carries an exit status out of a command; its message (if any) was printed already.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// usageError marks a bad command line.
func usageError(format string, args ...any) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf(format, args...)}
}

// globals are flags every command shares.
type globals struct {
	logLevel string
	stdout   io.Writer
	stderr   io.Writer
	// isTerminal reports whether stderr is a terminal (progress bars).
	isTerminal bool
}

func (g *globals) logger() *slog.Logger {
	level := slog.LevelWarn
	switch strings.ToLower(g.logLevel) {
	case "debug":
		level = slog.LevelDebug
	case "info":
		level = slog.LevelInfo
	case "error":
		level = slog.LevelError
	}
	return slog.New(slog.NewTextHandler(g.stderr, &slog.HandlerOptions{Level: level}))
}

// NewRoot builds the command tree writing to the given streams.
func NewRoot(stdout, stderr io.Writer, isTerminal bool) *cobra.Command {
	g := &globals{stdout: stdout, stderr: stderr, isTerminal: isTerminal}
	root := &cobra.Command{
		Use:   "datahub",
		Short: "Data Hub moves data between systems and logs every transfer",
		Long: `Data Hub is an integration platform: it moves records and files between databases,
files and services, with statistics, rejects, checkpoints and a transaction log.

Start with:
  datahub copy examples/quickstart/people.csv 'sqlite:people.db?table=people'
  datahub runs list`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	// --version prints what `datahub version` does.
	root.Version = currentVersion().text()
	root.SetVersionTemplate("{{.Version}}")
	// One level for every command; the default is warn, but info for serve and worker, whose
	// log is what they print (start, runs, problems; a line per request only at debug).
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", os.Getenv("DATAHUB_LOG_LEVEL"),
		"log level: debug, info, warn, error (env DATAHUB_LOG_LEVEL; default warn, info for serve and worker, whose requests log at debug)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &exitError{code: ExitUsage, err: err} })
	root.AddCommand(newCopyCmd(g), newRunsCmd(g), newConnectorsCmd(g), newVersionCmd(g), newServeCmd(g), newMasterKeyCmd(g),
		newApplyCmd(g), newGetCmd(g), newDeleteCmd(g), newExportCmd(g), newHistoryCmd(g), newRunCmd(g), newAuditCmd(g), newNotificationsCmd(g),
		newTokenCmd(g), newUserCmd(g), newSecretCmd(g), newLoginCmd(g), newEndpointsCmd(g))
	root.AddCommand(newPublishCmd(g), newSubscribeCmd(g), newDLQCmd(g))
	root.AddCommand(newPullCmd(g), newAckCmd(g), newWorkerCmd(g), newWaitCmd(g))
	addCompletion(g, root)
	root.AddCommand(newLsCmd(g), newHeadCmd(g), newSchemaCmd(g))
	return root
}

// Execute runs the command line and returns the process exit status.
func Execute(ctx context.Context, args []string, stdout, stderr io.Writer, isTerminal bool) int {
	root := NewRoot(stdout, stderr, isTerminal)
	root.SetArgs(args)
	return exitStatus(root.ExecuteContext(ctx), stderr)
}

// exitStatus prints a command's error and returns the process exit status for it.
func exitStatus(err error, stderr io.Writer) int {
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			_, _ = fmt.Fprintln(stderr, "Error:", ctrlchar.EscapeText(ee.err.Error()))
		}
		return ee.code
	}
	_, _ = fmt.Fprintln(stderr, "Error:", ctrlchar.EscapeText(err.Error()))
	if strings.Contains(err.Error(), "unknown command") || strings.Contains(err.Error(), "accepts ") ||
		strings.Contains(err.Error(), "requires ") || strings.Contains(err.Error(), "flag") {
		return ExitUsage
	}
	return errcode.ExitStatus(errcode.Of(err))
}
