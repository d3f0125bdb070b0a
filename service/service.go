package service

import (
	"context"
	"io"
	"os"

	"golang.org/x/term"

	"github.com/datahub-oss/datahub/internal/cli"
)

// RunCLI runs the datahub command line on the process's arguments and standard streams and
// exits the process with the command's status (0 success, 1 failure, 2 usage, 3 rejects).
// Connectors must be registered before it is called, normally from init functions.
func RunCLI(ctx context.Context) {
	os.Exit(Execute(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// Execute runs the datahub command line with args (without the program name), writing to
// stdout and stderr, and returns the exit status RunCLI would exit with. Progress bars are
// drawn when stderr is a terminal. It is what tests of a custom binary call in-process.
func Execute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return cli.Execute(ctx, args, stdout, stderr, isTerminal(stderr))
}

// isTerminal reports whether w is a terminal, for the progress bars of `datahub copy`.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd())) //nolint:gosec // a file descriptor fits in int
}
