package sftp

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// hostKeys is how a server's host key is checked: against a known_hosts file (hashed entries
// and @cert-authority lines included, as knownhosts reads them) or a pinned SHA-256
// fingerprint. There is deliberately no way to accept any key.
type hostKeys struct {
	callback ssh.HostKeyCallback
	// algorithms are the key types known for the host, so that the server is asked for the
	// key the file holds rather than another one it also has (which would read as a change).
	algorithms []string
}

// newHostKeys builds the check from ?host_key= (a pinned "SHA256:..." fingerprint) or
// ?known_hosts= (default ~/.ssh/known_hosts) for host, given as "host:port".
func newHostKeys(pinned, knownHostsFile, host string) (*hostKeys, error) {
	if pinned != "" {
		// A '+' of the base64 reads as a space in a URL's query: fingerprints have no spaces.
		pinned = strings.ReplaceAll(strings.TrimSpace(pinned), " ", "+")
		if !strings.HasPrefix(pinned, "SHA256:") {
			return nil, fmt.Errorf("host_key %q: want a SHA256: fingerprint as ssh-keygen -lf prints it", pinned)
		}
		return &hostKeys{callback: pinnedCallback(pinned)}, nil
	}
	if knownHostsFile == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return nil, fmt.Errorf("finding ~/.ssh/known_hosts: %w (give ?known_hosts= or ?host_key=)", err)
		}
		knownHostsFile = filepath.Join(home, ".ssh", "known_hosts")
	}
	cb, err := knownhosts.New(knownHostsFile)
	if err != nil {
		return nil, fmt.Errorf("reading known hosts %s: %w", knownHostsFile, err)
	}
	return &hostKeys{callback: knownHostsCallback(cb, knownHostsFile), algorithms: knownAlgorithms(cb, host)}, nil
}

// pinnedCallback accepts only the key with the fingerprint want.
func pinnedCallback(want string) ssh.HostKeyCallback {
	return func(host string, _ net.Addr, key ssh.PublicKey) error {
		if got := ssh.FingerprintSHA256(key); got != want {
			return fmt.Errorf("host key of %s changed or wrong: expected %s, the server offered %s %s", host, want, key.Type(), got)
		}
		return nil
	}
}

// knownHostsCallback wraps knownhosts' check so that a refusal names the expected and the
// offered fingerprints, which is what a person compares with the server's administrator.
func knownHostsCallback(cb ssh.HostKeyCallback, file string) ssh.HostKeyCallback {
	return func(host string, remote net.Addr, key ssh.PublicKey) error {
		err := cb(host, remote, key)
		var ke *knownhosts.KeyError
		if err == nil || !errors.As(err, &ke) {
			return err
		}
		offered := key.Type() + " " + ssh.FingerprintSHA256(key)
		if len(ke.Want) == 0 {
			return fmt.Errorf("host %s is not in %s: the server offered %s (add it with ssh-keyscan, after checking it)", host, file, offered)
		}
		want := make([]string, len(ke.Want))
		for i, k := range ke.Want {
			want[i] = fmt.Sprintf("%s %s (%s:%d)", k.Key.Type(), ssh.FingerprintSHA256(k.Key), k.Filename, k.Line)
		}
		return fmt.Errorf("host key of %s does not match %s: expected %s, the server offered %s", host, file, strings.Join(want, " or "), offered)
	}
}

// knownAlgorithms lists the key types the known_hosts file holds for host, by asking the
// check about a key it cannot know: the refusal lists the keys it has.
func knownAlgorithms(cb ssh.HostKeyCallback, host string) []string {
	var ke *knownhosts.KeyError
	addr := &net.TCPAddr{IP: net.IPv4zero}
	if h, p, err := net.SplitHostPort(host); err == nil {
		if ip := net.ParseIP(h); ip != nil {
			addr.IP = ip
		}
		addr.Port, _ = strconv.Atoi(p)
	}
	if err := cb(host, addr, probeKey{}); !errors.As(err, &ke) {
		return nil
	}
	var algos []string
	for _, k := range ke.Want {
		switch t := k.Key.Type(); t {
		case ssh.KeyAlgoRSA:
			algos = append(algos, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA)
		default:
			algos = append(algos, t)
		}
	}
	return algos
}

// probeKey is a public key no file holds.
type probeKey struct{}

func (probeKey) Type() string                        { return "probe" }
func (probeKey) Marshal() []byte                     { return []byte("datahub-probe") }
func (probeKey) Verify([]byte, *ssh.Signature) error { return errors.New("probe key") }
