package sftp_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/datahub-oss/datahub/connector"
	_ "github.com/datahub-oss/datahub/internal/connectors/file" // the local end of copies
	"github.com/datahub-oss/datahub/internal/connectors/sftp"
	"github.com/datahub-oss/datahub/internal/engine"
	"github.com/datahub-oss/datahub/internal/runstatus"
)

func openStore(t *testing.T, s *sshd, dir, query string) *sftp.Store {
	t.Helper()
	st, err := sftp.Open(t.Context(), connector.Endpoint{URL: s.url(dir, query)})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func sum(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

// TestRoundTrip puts a random object of several pipelined requests' worth, reads it back and
// compares the SHA-256 of the bytes and of the entry Put returns.
func TestRoundTrip(t *testing.T) {
	s := startSSHD(t)
	remote := filepath.Join(s.dir, "remote")
	st := openStore(t, s, remote, "known_hosts="+s.knownHosts(t, "kh", s.hostKey, false))
	data := randomBytes(t, 5<<20+123)
	ctx := t.Context()
	for _, r := range []io.Reader{bytes.NewReader(data), io.MultiReader(bytes.NewReader(data))} { // sized, then not
		e, err := st.Put(ctx, "in/big.bin", r)
		if err != nil {
			t.Fatalf("put: %v", err)
		}
		if e.Size != int64(len(data)) || e.SHA256 != sum(data) {
			t.Fatalf("put returned %d bytes, sha256 %s; want %d, %s", e.Size, e.SHA256, len(data), sum(data))
		}
		rc, oe, err := st.Open(ctx, "in/big.bin")
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		var back bytes.Buffer
		if _, err := io.Copy(&back, rc); err != nil {
			t.Fatalf("read: %v", err)
		}
		_ = rc.Close()
		if oe.Size != int64(len(data)) || sum(back.Bytes()) != sum(data) {
			t.Fatalf("read back %d bytes (entry %d), sha256 %s; want %s", back.Len(), oe.Size, sum(back.Bytes()), sum(data))
		}
	}
	if err := st.Remove(ctx, "in/big.bin"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.Open(ctx, "in/big.bin"); connector.CodeOf(err) != connector.CodeNotFound {
		t.Fatalf("open after remove: %v, want not_found", err)
	}
}

// TestHostKeyRefused: a known_hosts file or a pin naming another key refuses the server, and
// the message shows the expected and the offered fingerprints.
func TestHostKeyRefused(t *testing.T) {
	s := startSSHD(t)
	want, offered := ssh.FingerprintSHA256(s.other), ssh.FingerprintSHA256(s.hostKey)
	for name, q := range map[string]string{
		"known_hosts":        "known_hosts=" + s.knownHosts(t, "kh-wrong", s.other, false),
		"hashed known_hosts": "known_hosts=" + s.knownHosts(t, "kh-wrong-hashed", s.other, true),
		"pinned":             "host_key=" + want,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := sftp.Open(t.Context(), connector.Endpoint{URL: s.url(s.dir, q)})
			if err == nil {
				t.Fatal("a wrong host key was accepted")
			}
			if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), offered) {
				t.Fatalf("error %q does not show expected %s and offered %s", err, want, offered)
			}
			if connector.Retryable(err) {
				t.Fatalf("a refused host key is retryable: %v", err)
			}
		})
	}
	t.Run("unknown host", func(t *testing.T) {
		empty := filepath.Join(s.dir, "kh-empty")
		writeFile(t, empty, "")
		_, err := sftp.Open(t.Context(), connector.Endpoint{URL: s.url(s.dir, "known_hosts="+empty)})
		if err == nil || !strings.Contains(err.Error(), offered) {
			t.Fatalf("unknown host: %v, want a refusal showing %s", err, offered)
		}
	})
}

// TestHostKeyAccepted: hashed known_hosts entries and a pinned fingerprint are accepted.
func TestHostKeyAccepted(t *testing.T) {
	s := startSSHD(t)
	for name, q := range map[string]string{
		"hashed known_hosts": "known_hosts=" + s.knownHosts(t, "kh-hashed", s.hostKey, true),
		"pinned":             "host_key=" + ssh.FingerprintSHA256(s.hostKey),
	} {
		t.Run(name, func(t *testing.T) {
			st := openStore(t, s, s.dir, q)
			if _, err := st.List(t.Context(), ""); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestListNames: objects named with spaces and non-ASCII letters are written, listed and read
// under their names; an object being written is not listed; paths cannot leave the folder.
func TestListNames(t *testing.T) {
	s := startSSHD(t)
	remote := filepath.Join(s.dir, "remote")
	st := openStore(t, s, remote, "known_hosts="+s.knownHosts(t, "kh", s.hostKey, false))
	ctx := t.Context()
	names := []string{"a file.txt", "Zürich – été.csv", "日本語.bin"}
	for _, n := range names {
		if _, err := st.Put(ctx, "out/"+n, strings.NewReader(n)); err != nil {
			t.Fatalf("put %q: %v", n, err)
		}
	}
	if err := os.WriteFile(filepath.Join(remote, "out", ".x.datahub-tmp-1"), []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	es, err := st.List(ctx, "out")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range es {
		got = append(got, e.Path)
		if e.Size != int64(len(filepath.Base(e.Path))) {
			t.Errorf("%s: size %d", e.Path, e.Size)
		}
	}
	want := []string{"out/a file.txt", "out/Zürich – été.csv", "out/日本語.bin"}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("list: %q, want %q", got, want)
	}
	for _, p := range []string{"../x", "/etc/passwd", "out/../../x"} {
		if _, err := st.Put(ctx, p, strings.NewReader("x")); connector.CodeOf(err) != connector.CodeUsage {
			t.Errorf("put %q: %v, want a usage refusal", p, err)
		}
	}
}

// TestCopyObject copies a random file to the server and back through the engine's object
// path: both runs carry the SHA-256 of the bytes, and the copies equal the original.
func TestCopyObject(t *testing.T) {
	s := startSSHD(t)
	kh := "known_hosts=" + s.knownHosts(t, "kh", s.hostKey, false)
	data := randomBytes(t, 3<<20+7)
	local := filepath.Join(s.dir, "my file.bin")
	writeFile(t, local, string(data))
	remote := "sftp://" + s.user + "@" + s.addr + filepath.Join(s.dir, "remote") + "/up%20loaded.bin?key=" + s.key + "&" + kh
	back := filepath.Join(s.dir, "back.bin")
	for _, c := range [][2]string{{local, remote}, {remote, back}} {
		res := engine.New(engine.Options{Source: connector.Endpoint{URL: c[0]}, Dest: connector.Endpoint{URL: c[1]}}).Run(context.WithoutCancel(t.Context()))
		if res.Status != runstatus.Succeeded {
			t.Fatalf("copy %s -> %s: %v", c[0], c[1], res.Err)
		}
		if res.SHA256 != sum(data) || res.BytesWritten != int64(len(data)) {
			t.Fatalf("copy %s: sha256 %s, %d bytes; want %s, %d", c[1], res.SHA256, res.BytesWritten, sum(data), len(data))
		}
	}
	for _, f := range []string{filepath.Join(s.dir, "remote", "up loaded.bin"), back} {
		b, err := os.ReadFile(f)
		if err != nil || sum(b) != sum(data) {
			t.Fatalf("%s: %v, sha256 %s", f, err, sum(b))
		}
	}
}

// cancelAfter cancels its context once n bytes were read through it, then reads on.
type cancelAfter struct {
	r      io.Reader
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(b []byte) (int, error) {
	k, err := c.r.Read(b)
	if c.n -= k; c.n <= 0 {
		c.cancel()
	}
	return k, err
}

// TestPutCanceled: a Put whose context is cancelled mid-stream returns the context's error
// and leaves neither the object nor its temporary file.
func TestPutCanceled(t *testing.T) {
	s := startSSHD(t)
	remote := filepath.Join(s.dir, "remote")
	st := openStore(t, s, remote, "known_hosts="+s.knownHosts(t, "kh", s.hostKey, false))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	r := &cancelAfter{r: io.MultiReader(bytes.NewReader(randomBytes(t, 8<<20))), n: 1 << 20, cancel: cancel}
	if _, err := st.Put(ctx, "c.bin", r); !errors.Is(err, context.Canceled) {
		t.Fatalf("put: %v, want context.Canceled", err)
	}
	left, err := os.ReadDir(remote)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range left {
		t.Errorf("left behind: %s", e.Name())
	}
}
