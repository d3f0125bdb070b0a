package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"
	"gopkg.in/yaml.v3"

	"github.com/datahub-oss/datahub/internal/client"
	"github.com/datahub-oss/datahub/internal/errcode"
)

// defaultServer is where the commands that talk to a hub server look without --server or
// DATAHUB_SERVER: `datahub serve`'s default address.
const defaultServer = "http://127.0.0.1:8080"

// remote holds the flags of the commands that talk to a hub server.
type remote struct {
	server string
	token  string
}

// addRemoteFlags declares --server and --token. Their defaults come from the environment at
// run time, not here: a default is shown in --help, and the token must never be.
func addRemoteFlags(fs *pflag.FlagSet, r *remote) {
	fs.StringVar(&r.server, "server", "", "hub server URL (env DATAHUB_SERVER; default "+defaultServer+")")
	fs.StringVar(&r.token, "token", "", "API token (prefer env DATAHUB_TOKEN: a flag's value shows in the process list)")
}

// serverGiven reports whether a server was named, by flag or environment.
func serverGiven(cmd *cobra.Command) bool {
	f := cmd.Flags().Lookup("server")
	return (f != nil && f.Changed) || os.Getenv("DATAHUB_SERVER") != ""
}

// client returns a client of the server the flags or the environment name, with the token
// they give.
func (g *globals) client(r *remote) (*client.Client, error) {
	return g.clientWith(r.server, firstOf(r.token, os.Getenv("DATAHUB_TOKEN")))
}

func (g *globals) clientWith(server, token string) (*client.Client, error) {
	server = firstOf(server, os.Getenv("DATAHUB_SERVER"), defaultServer)
	c, err := client.New(server, token, client.WithUserAgent("datahub/"+currentVersion().Version))
	if err != nil {
		return nil, usageError("--server: %v", err)
	}
	if token != "" && plainRemote(c.BaseURL()) {
		_, _ = fmt.Fprintf(g.stderr, "Warning: the token goes unencrypted to %s; use https:// beyond this machine\n", c.BaseURL())
	}
	return c, nil
}

func firstOf(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// plainRemote reports an http:// URL to another machine.
func plainRemote(base string) bool {
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "http" {
		return false
	}
	host := u.Hostname()
	if host == "localhost" {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsLoopback()
}

// failure is the exit of a command that failed: the exit status of err's code (1 for most)
// unless err carries its own.
func failure(err error) error {
	if err == nil {
		return nil
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return err
	}
	return &exitError{code: errcode.ExitStatus(errcode.Of(err)), err: err}
}

// Output formats.
const (
	outTable = "table"
	outYAML  = "yaml"
	outJSON  = "json"
)

// output is the -o flag every printing command has, with --json as the short form of -o json.
type output struct {
	format  string
	jsonOut bool
}

// outputFormats are the values of -o, in the order help and completion show them.
var outputFormats = []string{outTable, outJSON, outYAML}

// addOutputFlags declares -o table|json|yaml and --json on fs. The values are declared
// (enumFlag) so that Tab completes them.
func addOutputFlags(fs *pflag.FlagSet, o *output) {
	fs.StringVarP(&o.format, "output", "o", "", "output format: "+strings.Join(outputFormats, ", ")+" (default table)")
	enumFlag(fs, "output", outputFormats...)
	fs.BoolVar(&o.jsonOut, "json", false, "print JSON (same as -o json)")
}

// get returns the chosen format, table when none was chosen.
func (o *output) get() (string, error) {
	f := strings.ToLower(o.format)
	if o.jsonOut {
		if f != "" && f != outJSON {
			return "", usageError("--json is -o json: give one of them, not --json and -o %s", o.format)
		}
		return outJSON, nil
	}
	if f == "" {
		return outTable, nil
	}
	if slices.Contains(outputFormats, f) {
		return f, nil
	}
	return "", usageError("-o %s: want one of %s", o.format, strings.Join(outputFormats, ", "))
}

// writeYAML writes JSON as YAML, keeping the order of its fields.
func writeYAML(w io.Writer, js []byte) error {
	var n yaml.Node
	if err := yaml.Unmarshal(js, &n); err != nil {
		return fmt.Errorf("render YAML: %w", err)
	}
	plainStyle(&n)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return fmt.Errorf("render YAML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("render YAML: %w", err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// plainStyle drops JSON's flow and quoting styles: the emitter then writes block YAML and
// quotes only what would not read back as the same value.
func plainStyle(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		plainStyle(c)
	}
}

// writeAny writes v as JSON (indented) or YAML.
func writeAny(w io.Writer, format string, v any) error {
	if format == outYAML {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		return writeYAML(w, b)
	}
	return writeJSON(w, v)
}

// when renders a time for tables: local, to the second; "-" for none.
func when(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// readSecretInput reads a password or secret value from r (at most 1 MiB), dropping one
// trailing newline (what `echo` and most files add).
func readSecretInput(r io.Reader, what string) ([]byte, error) {
	const limit = 1 << 20
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read the %s: %w", what, err)
	}
	if len(b) > limit {
		return nil, fmt.Errorf("the %s is longer than 1 MiB", what)
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	if len(b) == 0 {
		return nil, fmt.Errorf("the %s is empty", what)
	}
	return b, nil
}

// readPassword reads a password from stdin: piped with --password-stdin, or typed at a
// terminal without echo.
func readPassword(cmd *cobra.Command, g *globals, fromStdin bool, prompt string) (string, error) {
	in := cmd.InOrStdin()
	if fromStdin {
		b, err := readSecretInput(in, "password")
		return string(b), err
	}
	f, ok := in.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", usageError("no terminal to type the password on: pipe it with --password-stdin")
	}
	_, _ = fmt.Fprint(g.stderr, prompt)
	b, err := term.ReadPassword(int(f.Fd()))
	_, _ = fmt.Fprintln(g.stderr)
	if err != nil {
		return "", fmt.Errorf("read the password: %w", err)
	}
	if len(b) == 0 {
		return "", usageError("the password is empty")
	}
	return string(b), nil
}
