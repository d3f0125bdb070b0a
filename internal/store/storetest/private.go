package storetest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// SparePort returns a free TCP port on 127.0.0.1 in 20000-29999, outside the kernel's
// ephemeral range (read from /proc/sys/net/ipv4/ip_local_port_range; Linux's default is
// 32768-60999). A service a test stops and starts again must not sit in that range: while it
// is down, a client's reconnect storm may be handed the very port as its own source port and
// connect to itself, and then the service cannot start again.
func SparePort(t testing.TB) int {
	t.Helper()
	lo, hi := 32768, 60999
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			lo, _ = strconv.Atoi(f[0])
			hi, _ = strconv.Atoi(f[1])
		}
	}
	for range 200 {
		p := 20000 + rand.IntN(10000) //nolint:gosec // a port, not a secret
		if p >= lo && p <= hi {
			continue
		}
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue // taken
		}
		_ = ln.Close()
		return p
	}
	t.Fatalf("no free port in 20000-29999 outside the ephemeral range %d-%d", lo, hi)
	return 0
}

// PrivatePostgres is a PostgreSQL server of the test's own (initdb and pg_ctl of
// /usr/lib/postgresql/*/bin into a temporary folder, as scripts/test.sh starts one), which the
// test may stop and start again to cut the store under a hub. Never the machine's own server.
type PrivatePostgres struct {
	// URL is the postgres database's URL.
	URL string

	t         testing.TB
	bin, dir  string
	port      int
	asPostgre bool
}

// StartPrivatePostgres initialises and starts a private server; it is stopped when the test
// ends. Without PostgreSQL's binaries the test fails, or is skipped with -short.
func StartPrivatePostgres(t testing.TB) *PrivatePostgres {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(bins) == 0 {
		if testing.Short() {
			t.Skip("no PostgreSQL binaries in /usr/lib/postgresql/*/bin (skipped with -short)")
		}
		t.Fatal("a private PostgreSQL needs initdb and pg_ctl in /usr/lib/postgresql/*/bin")
	}
	slices.Sort(bins)
	dir, err := os.MkdirTemp("", "datahub-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	p := &PrivatePostgres{t: t, bin: filepath.Dir(bins[len(bins)-1]), dir: dir, port: SparePort(t), asPostgre: os.Getuid() == 0}
	if p.asPostgre {
		// initdb refuses to run as root: the server runs as the postgres user.
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root, a private PostgreSQL needs the postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	p.run("initdb", "-D", filepath.Join(dir, "data"), "-U", "postgres", "-A", "trust")
	p.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres", p.port)
	p.Start()
	t.Cleanup(p.Stop)
	return p
}

func (p *PrivatePostgres) run(tool string, args ...string) {
	p.t.Helper()
	name, argv := filepath.Join(p.bin, tool), args
	if p.asPostgre {
		name, argv = "runuser", append([]string{"-u", "postgres", "--", filepath.Join(p.bin, tool)}, args...)
	}
	out, err := exec.Command(name, argv...).CombinedOutput() //nolint:gosec // the test's own PostgreSQL tools
	if err != nil {
		p.t.Fatalf("%s: %v\n%s", tool, err, out)
	}
}

// Start starts the server (again), waiting until it accepts connections.
func (p *PrivatePostgres) Start() {
	p.t.Helper()
	p.run("pg_ctl", "-D", filepath.Join(p.dir, "data"), "-l", filepath.Join(p.dir, "log"), "-w",
		"-o", fmt.Sprintf("-p %d -k %s -h 127.0.0.1 -c fsync=off", p.port, p.dir), "start")
}

// Stop stops the server at once, as a crash or a cut network would (-m immediate).
func (p *PrivatePostgres) Stop() {
	p.t.Helper()
	name, argv := filepath.Join(p.bin, "pg_ctl"), []string{"-D", filepath.Join(p.dir, "data"), "-m", "immediate", "stop"}
	if p.asPostgre {
		name, argv = "runuser", append([]string{"-u", "postgres", "--", name}, argv...)
	}
	_ = exec.Command(name, argv...).Run() //nolint:gosec // the test's own PostgreSQL tools
}
