// Command datahub is the Data Hub command line and server.
package main

import (
	"context"
	"os"

	"golang.org/x/term"

	"github.com/datahub-oss/datahub/internal/cli"
)

func main() {
	os.Exit(cli.Execute(context.Background(), os.Args[1:], os.Stdout, os.Stderr, term.IsTerminal(int(os.Stderr.Fd())))) //nolint:gosec // a file descriptor fits in int
}
