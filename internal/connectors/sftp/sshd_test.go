package sftp_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/datahub-oss/datahub/internal/store/storetest"
	"github.com/datahub-oss/datahub/internal/testutil"
)

// sshd is an OpenSSH server the test started on a spare loopback port.
type sshd struct {
	dir     string // the test's folder; the server's files are under it
	addr    string // 127.0.0.1:port
	user    string
	key     string // the client's private key file
	hostKey ssh.PublicKey
	other   ssh.PublicKey // a host key the server does not have
}

// startSSHD starts OpenSSH's sshd (scripts/test.sh installs it); without it the test fails
// unless -short.
func startSSHD(t *testing.T) *sshd {
	t.Helper()
	if testing.Short() {
		t.Skip("needs OpenSSH's sshd; skipped with -short")
	}
	bin := "/usr/sbin/sshd"
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("OpenSSH's sshd is not installed (%v): apt-get install openssh-server, or run scripts/test.sh", err)
	}
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s := &sshd{dir: dir, user: u.Username, key: filepath.Join(dir, "id")}
	hostFile := filepath.Join(dir, "hostkey")
	s.hostKey = writeKey(t, hostFile)
	s.other = writeKey(t, filepath.Join(dir, "otherhost"))
	clientKey := writeKey(t, s.key)
	writeFile(t, filepath.Join(dir, "authorized_keys"), string(ssh.MarshalAuthorizedKey(clientKey)))
	port := storetest.SparePort(t)
	s.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cfg := fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s
AuthorizedKeysFile %s
PermitRootLogin prohibit-password
PasswordAuthentication no
StrictModes no
UsePAM no
PidFile none
Subsystem sftp internal-sftp
`, port, hostFile, filepath.Join(dir, "authorized_keys"))
	writeFile(t, filepath.Join(dir, "sshd_config"), cfg)
	_ = os.MkdirAll("/run/sshd", 0o755) // sshd's privilege separation folder
	cmd := exec.Command(bin, "-D", "-f", filepath.Join(dir, "sshd_config"), "-E", filepath.Join(dir, "sshd.log"))
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sshd: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	testutil.WaitFor(t, 20*time.Second, "sshd to listen on "+s.addr, func() bool {
		c, err := net.DialTimeout("tcp", s.addr, time.Second)
		if err == nil {
			_ = c.Close()
		}
		return err == nil
	})
	return s
}

// writeKey writes a new ed25519 private key in OpenSSH's format and returns its public key.
func writeKey(t *testing.T, file string) ssh.PublicKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

func writeFile(t *testing.T, file, text string) {
	t.Helper()
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// knownHosts writes a known_hosts file naming key for the server, hashed or plain.
func (s *sshd) knownHosts(t *testing.T, name string, key ssh.PublicKey, hashed bool) string {
	t.Helper()
	host := knownhosts.Normalize(s.addr)
	if hashed {
		host = knownhosts.HashHostname(host)
	}
	file := filepath.Join(s.dir, name)
	writeFile(t, file, knownhosts.Line([]string{host}, key)+"\n")
	return file
}

// url is the endpoint URL of folder dir on the server with the given query.
func (s *sshd) url(dir, query string) string {
	return "sftp://" + s.user + "@" + s.addr + dir + "?key=" + s.key + "&" + query
}
