// Package sftp is the connector for SFTP servers as object stores (connector.Store), over
// golang.org/x/crypto/ssh with github.com/pkg/sftp.
//
// Endpoints are "sftp://user@host:port/folder?key=PATH&known_hosts=PATH" or
// "?host_key=SHA256:...". The key comes from ?key= or else ~/.ssh/id_ed25519 or id_rsa (the
// local credential sources are for datahub copy on a person's own machine); a password from
// the endpoint's secret option password, or the URL. Host keys are always verified, against
// ?known_hosts= (default ~/.ssh/known_hosts) or the pinned fingerprint; a mismatch fails with
// the expected and the offered fingerprints, and nothing turns the check off.
//
// Transfers are pipelined: reads and writes go through the library's concurrent WriteTo and
// ReadFrom (up to maxRequests requests in flight per file), since one packet per round trip,
// as a plain io.Copy would do, is many times slower. Put writes ".name.datahub-tmp-<random>"
// and renames it over the name (posix-rename@openssh.com when the server has it).
package sftp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/datahub-oss/datahub/connector"
)

// maxRequests is the number of requests in flight per file: enough to fill a fast link's
// bandwidth-delay product with 32 KiB packets.
const maxRequests = 64

// maxPacket is the data per read or write request: OpenSSH's sftp-server takes messages of
// up to 256 KiB (its limits@openssh.com), and fewer, larger requests cost less CPU on both
// ends than the protocol's guaranteed 32 KiB.
const maxPacket = 128 << 10

// dialTimeout bounds the TCP connection and the SSH handshake.
const dialTimeout = 30 * time.Second

var spec = connector.Spec{
	Name:    "sftp",
	Schemes: []string{"sftp"},
	Summary: "SFTP servers: objects as they are (files of any kind), host keys always verified",
	Example: "sftp://user@host:22/inbox?key=~/.ssh/id_ed25519&known_hosts=~/.ssh/known_hosts",
	Options: []connector.Option{
		{Name: "key", Type: connector.OptPath, Help: "private key file (default ~/.ssh/id_ed25519, then ~/.ssh/id_rsa)"},
		{Name: "known_hosts", Type: connector.OptPath, Help: "known_hosts file that holds the server's host key (default ~/.ssh/known_hosts)"},
		{Name: "host_key", Type: connector.OptString, Help: "the server's pinned host key fingerprint, SHA256:... as ssh-keygen -lf prints it (instead of known_hosts)"},
		{Name: "password", Type: connector.OptSecret, Help: "password, when the server takes one"},
	},
}

func init() {
	// Set here: Open reads spec, which a composite literal cannot refer to.
	spec.NewStore = func(ctx context.Context, e connector.Endpoint) (connector.Store, func() error, error) {
		st, err := Open(ctx, e)
		if err != nil {
			return nil, nil, err
		}
		return st, st.Close, nil
	}
	connector.Register(spec)
}

// target is a parsed endpoint URL.
type target struct {
	user, addr, dir string
	password        string
	redacted        string
}

func parseTarget(e connector.Endpoint) (target, error) {
	u, err := url.Parse(e.URL)
	if err != nil || u.Scheme != "sftp" || u.Host == "" {
		return target{}, connector.Errorf(connector.CodeUsage, connector.Redact(e.URL), "write sftp://user@host:port/path", fmt.Errorf("not an SFTP URL"))
	}
	if _, err := spec.ParseOptions(e); err != nil {
		return target{}, err
	}
	t := target{addr: u.Host, dir: u.Path, redacted: connector.Redact(e.URL)}
	if u.Port() == "" {
		t.addr = net.JoinHostPort(u.Hostname(), "22")
	}
	if u.User != nil {
		t.user = u.User.Username()
		t.password, _ = u.User.Password()
	}
	if p := e.Option("password"); p != "" {
		t.password = p
	}
	if t.user == "" {
		t.user = os.Getenv("USER")
	}
	if t.dir == "" {
		t.dir = "."
	}
	return t, nil
}

// authMethods are the key (when one is found) and the password (when one is given).
func authMethods(e connector.Endpoint, t target) ([]ssh.AuthMethod, error) {
	var out []ssh.AuthMethod
	keys := []string{e.Option("key")}
	if keys[0] == "" {
		keys = nil
		if home, err := os.UserHomeDir(); err == nil {
			keys = []string{filepath.Join(home, ".ssh", "id_ed25519"), filepath.Join(home, ".ssh", "id_rsa")}
		}
	}
	for _, k := range keys {
		b, err := os.ReadFile(expandHome(k))
		if err != nil {
			if e.Option("key") == "" && errors.Is(err, os.ErrNotExist) {
				continue // the default keys are optional
			}
			return nil, fmt.Errorf("reading the key %s: %w", k, err)
		}
		signer, err := ssh.ParsePrivateKey(b)
		if err != nil {
			return nil, fmt.Errorf("parsing the key %s: %w", k, err)
		}
		out = append(out, ssh.PublicKeys(signer))
		break
	}
	if t.password != "" {
		out = append(out, ssh.Password(t.password))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no key found (give ?key=PATH) and no password")
	}
	return out, nil
}

func expandHome(p string) string {
	if len(p) > 1 && p[0] == '~' && p[1] == '/' {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, p[2:])
		}
	}
	return p
}

// dial connects, verifies the host key and logs in.
func dial(ctx context.Context, e connector.Endpoint, t target) (*ssh.Client, error) {
	usage := func(err error) error { return connector.Errorf(connector.CodeUsage, t.redacted, "", err) }
	hk, err := newHostKeys(e.Option("host_key"), expandHome(e.Option("known_hosts")), t.addr)
	if err != nil {
		return nil, usage(err)
	}
	auth, err := authMethods(e, t)
	if err != nil {
		return nil, connector.Errorf(connector.CodeAuth, t.redacted, "", err)
	}
	cfg := &ssh.ClientConfig{User: t.user, Auth: auth, HostKeyCallback: hk.callback,
		HostKeyAlgorithms: hk.algorithms, Timeout: dialTimeout}
	d := net.Dialer{Timeout: dialTimeout}
	conn, err := d.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return nil, connector.Errorf(connector.CodeUnreachable, t.redacted, "check the host and port", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	c, chans, reqs, err := ssh.NewClientConn(conn, t.addr, cfg)
	if err != nil {
		_ = conn.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, handshakeError(t, err)
	}
	return ssh.NewClient(c, chans, reqs), nil
}

// handshakeError classes a failed handshake: a refused host key is not retryable.
func handshakeError(t target, err error) error {
	switch msg := err.Error(); {
	case containsAny(msg, "host key", "known hosts", "not in "):
		return connector.Errorf(connector.CodePermission, t.redacted, "the server is not the one known: check its host key with its administrator", err)
	case containsAny(msg, "unable to authenticate", "no supported methods"):
		return connector.Errorf(connector.CodeAuth, t.redacted, "check the user, key or password", err)
	}
	return connector.Errorf(connector.CodeUnreachable, t.redacted, "", fmt.Errorf("SSH handshake with %s: %w", t.addr, err))
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
