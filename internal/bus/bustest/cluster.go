package bustest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Cluster is a NATS JetStream cluster of nats-server processes on loopback, owned by one test.
//
// The nodes are real processes of the nats-server binary (Debian's package, as the test
// script and the checks use), not servers inside the test process: a test kills one with
// SIGKILL, so nothing is flushed, no leadership is handed over and no connection is closed
// politely, which is the crash the cluster must survive. An in-process server's Shutdown is
// an orderly stop and would not show that. The nodes are killed when the test ends, and by
// the kernel if the test binary dies first.
type Cluster struct {
	Nodes []*Node
	t     testing.TB
}

// Node is one nats-server of a Cluster.
type Node struct {
	// Name is the server's name, as stream infos report their leader ("n0", "n1", ...).
	Name string
	// URL is the node's client address (nats://127.0.0.1:port).
	URL string

	bin  string
	args []string
	log  string
	cmd  *exec.Cmd
	done chan struct{}
}

// ServerBinary is the nats-server binary the tests run: $DATAHUB_TEST_NATS_SERVER, else
// nats-server on the PATH, else Debian's /usr/sbin/nats-server. The test fails when there is
// none (scripts/test.sh installs the package).
func ServerBinary(t testing.TB) string {
	t.Helper()
	if b := os.Getenv("DATAHUB_TEST_NATS_SERVER"); b != "" {
		return b
	}
	if b, err := exec.LookPath("nats-server"); err == nil {
		return b
	}
	if _, err := os.Stat("/usr/sbin/nats-server"); err == nil {
		return "/usr/sbin/nats-server"
	}
	t.Fatal("no nats-server binary: install Debian's nats-server package (scripts/test.sh does) or set DATAHUB_TEST_NATS_SERVER")
	return ""
}

// StartCluster starts n JetStream nodes (each with its own store folder, client and cluster
// port) and returns once the cluster has elected its JetStream leader. A cluster of one is a
// single nats-server, not clustered: a test that restarts the bus kills and restarts it. The ports are spare
// ones below the ephemeral range, so that a client reconnecting to a dead node cannot end up
// connected to itself on that port.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	bin := ServerBinary(t)
	dir := t.TempDir()
	c := &Cluster{t: t}
	clientPorts, routePorts := make([]int, n), make([]int, n)
	routes := make([]string, n)
	for i := range n {
		clientPorts[i], routePorts[i] = SparePort(t), SparePort(t)
		routes[i] = fmt.Sprintf("nats-route://127.0.0.1:%d", routePorts[i])
	}
	for i := range n {
		name := "n" + strconv.Itoa(i)
		store := filepath.Join(dir, name)
		if err := os.MkdirAll(store, 0o750); err != nil {
			t.Fatal(err)
		}
		node := &Node{
			Name: name, URL: fmt.Sprintf("nats://127.0.0.1:%d", clientPorts[i]), bin: bin, log: store + ".log",
			args: []string{"-a", "127.0.0.1", "-p", strconv.Itoa(clientPorts[i]), "-js", "-sd", store, "-n", name},
		}
		if n > 1 {
			// One node is a plain server: clustered JetStream would wait for peers for ever.
			node.args = append(node.args, "--cluster_name", "datahub-test", "--cluster", fmt.Sprintf("nats://127.0.0.1:%d", routePorts[i]),
				"--routes", strings.Join(routes, ","))
		}
		node.start(t)
		c.Nodes = append(c.Nodes, node)
	}
	t.Cleanup(func() {
		for _, node := range c.Nodes {
			node.stop()
		}
		if t.Failed() {
			for _, node := range c.Nodes {
				b, _ := os.ReadFile(node.log)
				if len(b) > 3000 {
					b = b[len(b)-3000:]
				}
				t.Logf("nats-server %s log tail:\n%s", node.Name, b)
			}
		}
	})
	c.WaitReady(t.Context(), 30*time.Second)
	return c
}

// URL is the cluster's client URL: every node's, comma-separated, as --nats takes it.
func (c *Cluster) URL() string {
	urls := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		urls[i] = n.URL
	}
	return strings.Join(urls, ",")
}

// Node returns the node named name, failing the test when there is none.
func (c *Cluster) Node(name string) *Node {
	c.t.Helper()
	for _, n := range c.Nodes {
		if n.Name == name {
			return n
		}
	}
	c.t.Fatalf("no node %q in the cluster", name)
	return nil
}

// WaitReady polls until JetStream answers through the cluster (a meta leader is elected).
func (c *Cluster) WaitReady(ctx context.Context, timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		if last = c.jsDo(ctx, func(ctx context.Context, js jetstream.JetStream) error { _, err := js.AccountInfo(ctx); return err }); last == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatalf("the NATS cluster's JetStream did not answer within %s: %v", timeout, last)
}

// StreamLeader is the name of the node leading stream ("" while it has none).
func (c *Cluster) StreamLeader(ctx context.Context, stream string) (string, error) {
	var leader string
	err := c.jsDo(ctx, func(ctx context.Context, js jetstream.JetStream) error {
		s, err := js.Stream(ctx, stream)
		if err != nil {
			return err
		}
		if cl := s.CachedInfo().Cluster; cl != nil {
			leader = cl.Leader
		}
		return nil
	})
	return leader, err
}

// StepDown asks stream's leader to hand its leadership to another node.
func (c *Cluster) StepDown(ctx context.Context, stream string) error {
	return c.do(ctx, func(ctx context.Context, nc *nats.Conn) error {
		_, err := nc.RequestWithContext(ctx, "$JS.API.STREAM.LEADER.STEPDOWN."+stream, nil)
		return err
	})
}

// Replicas is the replica count of stream's configuration.
func (c *Cluster) Replicas(ctx context.Context, stream string) (int, error) {
	var n int
	err := c.jsDo(ctx, func(ctx context.Context, js jetstream.JetStream) error {
		s, err := js.Stream(ctx, stream)
		if err == nil {
			n = s.CachedInfo().Config.Replicas
		}
		return err
	})
	return n, err
}

// Streams lists the names of the streams whose name starts with prefix.
func (c *Cluster) Streams(ctx context.Context, prefix string) ([]string, error) {
	var names []string
	err := c.jsDo(ctx, func(ctx context.Context, js jetstream.JetStream) error {
		l := js.StreamNames(ctx)
		for n := range l.Name() {
			if strings.HasPrefix(n, prefix) {
				names = append(names, n)
			}
		}
		return l.Err()
	})
	return names, err
}

func (c *Cluster) jsDo(ctx context.Context, fn func(context.Context, jetstream.JetStream) error) error {
	return c.do(ctx, func(ctx context.Context, nc *nats.Conn) error {
		js, err := jetstream.New(nc)
		if err != nil {
			return err
		}
		return fn(ctx, js)
	})
}

// do runs fn on a fresh connection to the live nodes.
func (c *Cluster) do(ctx context.Context, fn func(context.Context, *nats.Conn) error) error {
	var live []string
	for _, n := range c.Nodes {
		if n.Alive() {
			live = append(live, n.URL)
		}
	}
	if len(live) == 0 {
		return errors.New("no node of the cluster is running")
	}
	nc, err := nats.Connect(strings.Join(live, ","), nats.Timeout(2*time.Second), nats.NoReconnect())
	if err != nil {
		return err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return fn(ctx, nc)
}

func (n *Node) start(t testing.TB) {
	t.Helper()
	logf, err := os.OpenFile(n.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	n.cmd = exec.Command(n.bin, n.args...) //nolint:gosec // the test's own nats-server binary and arguments
	n.cmd.Stdout, n.cmd.Stderr = logf, logf
	n.cmd.SysProcAttr = dieWithParent()
	if err := n.cmd.Start(); err != nil {
		_ = logf.Close()
		t.Fatalf("start nats-server %s: %v", n.Name, err)
	}
	n.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		_ = cmd.Wait()
		_ = logf.Close()
		close(done)
	}(n.cmd, n.done)
}

// PID is the node's process id.
func (n *Node) PID() int { return n.cmd.Process.Pid }

// Alive reports whether the node's process is running.
func (n *Node) Alive() bool {
	select {
	case <-n.done:
		return false
	default:
		return true
	}
}

// Kill stops the node with SIGKILL and waits for it to be gone.
func (n *Node) Kill() {
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.done
}

// Restart starts a killed node again on its store folder and ports.
func (n *Node) Restart(t testing.TB) {
	t.Helper()
	if n.Alive() {
		t.Fatalf("nats-server %s is still running", n.Name)
	}
	n.start(t)
}

func (n *Node) stop() {
	if n.Alive() {
		_ = n.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-n.done:
		case <-time.After(5 * time.Second):
			n.Kill()
		}
	}
}

var (
	usedMu sync.Mutex
	used   = map[int]bool{} // ports handed out: a server not started yet holds none
)

// SparePort returns a free loopback port below the kernel's ephemeral range (read from
// /proc/sys/net/ipv4/ip_local_port_range; 32768 when unknown), where no outgoing connection
// gets its local port, so nothing can take it while a server is down.
func SparePort(t testing.TB) int {
	t.Helper()
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil && v > 12000 {
				low = v
			}
		}
	}
	usedMu.Lock()
	defer usedMu.Unlock()
	for range 200 {
		p := 10000 + rand.IntN(low-10000) //nolint:gosec // a port number, not a secret
		if used[p] {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		_ = ln.Close()
		used[p] = true
		return p
	}
	t.Fatal("no spare port below the ephemeral range")
	return 0
}

// ClusterURL is a three-node cluster for tests that kill no node: the one scripts/test.sh
// started ($DATAHUB_TEST_NATS_CLUSTER, comma-separated URLs), else one of the test's own.
func ClusterURL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv("DATAHUB_TEST_NATS_CLUSTER"); u != "" {
		return u
	}
	return StartCluster(t, 3).URL()
}
