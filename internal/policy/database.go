package policy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/datahub-oss/datahub/internal/auth"
	"github.com/datahub-oss/datahub/internal/secret"
)

// pgTarget is where a PostgreSQL URL connects: its hosts (with fallbacks) and database.
type pgTarget struct {
	hosts []pgHost
	db    string
}

type pgHost struct {
	host string // a name, an address or a unix socket folder
	port uint16
}

func (h pgHost) String() string {
	if strings.HasPrefix(h.host, "/") {
		return fmt.Sprintf("unix socket %s (port %d)", h.host, h.port)
	}
	return net.JoinHostPort(h.host, strconv.Itoa(int(h.port)))
}

// parsePG reads a PostgreSQL URL as the postgres connector and the store do (pgx, with its
// defaults: PGHOST and the other variables, service files, port 5432, the database named
// after the user). The connector's own options and the TLS files are dropped first: they do
// not change where it connects, and reading certificates here could fail where the
// connection would not.
func parsePG(raw string) (*pgTarget, error) {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("unreadable PostgreSQL URL: %v", err)
	}
	u.User = url.User(u.User.Username())
	q := u.Query()
	for k := range q {
		if k == "table" || k == "query" || strings.HasPrefix(k, "ssl") {
			q.Del(k)
		}
	}
	u.RawQuery = q.Encode()
	cfg, err := pgx.ParseConfig(u.String())
	if err != nil {
		return nil, errors.New("unreadable PostgreSQL URL: check its host, port and options")
	}
	t := &pgTarget{db: cfg.Database, hosts: []pgHost{{cfg.Host, cfg.Port}}}
	if t.db == "" {
		t.db = cfg.User
	}
	for _, f := range cfg.Fallbacks {
		t.hosts = append(t.hosts, pgHost{f.Host, f.Port})
	}
	return t, nil
}

// checkPG refuses a PostgreSQL endpoint that reaches the hub's own metadata database: the
// same database name on the same server, whatever the host is called.
func (p *Policy) checkPG(ctx context.Context, raw string) error {
	if p.store == nil {
		return nil
	}
	t, err := parsePG(raw)
	if err != nil {
		return &Error{What: "the PostgreSQL URL", Why: err.Error(), Hint: "fix the URL"}
	}
	if !strings.EqualFold(t.db, p.store.db) {
		return nil
	}
	for _, h := range t.hosts {
		for _, s := range p.store.hosts {
			if p.sameServer(ctx, h, s) {
				return &Error{What: fmt.Sprintf("database %q on %s", t.db, h),
					Why:  "it is the hub's own metadata store",
					Hint: "endpoints may use other databases on that server, never the hub's"}
			}
		}
	}
	return nil
}

// resolveTimeout bounds the name lookups of one comparison.
const resolveTimeout = 3 * time.Second

// sameServer reports whether two hosts are one server: same port, and both this machine
// (a unix socket, a loopback, unspecified or own interface address, or a name resolving to
// one), or sharing an address, or, when names do not resolve, the same name.
func (p *Policy) sameServer(ctx context.Context, a, b pgHost) bool {
	if a.port != b.port {
		return false
	}
	if strings.EqualFold(a.host, b.host) {
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	la, ipa := p.classify(ctx, a.host)
	lb, ipb := p.classify(ctx, b.host)
	if la && lb {
		return true
	}
	for _, x := range ipa {
		for _, y := range ipb {
			if x.Equal(y) {
				return true
			}
		}
	}
	return false
}

// classify says whether host is this machine, and which addresses it has.
func (p *Policy) classify(ctx context.Context, host string) (local bool, ips []net.IP) {
	if strings.HasPrefix(host, "/") || host == "" {
		return true, nil
	}
	ips, err := p.lookupIP(ctx, strings.Trim(host, "[]"))
	if err != nil {
		return false, nil
	}
	own := p.localIPs()
	for _, ip := range ips {
		if ip.IsLoopback() || ip.IsUnspecified() {
			return true, ips
		}
		for _, o := range own {
			if ip.Equal(o) {
				return true, ips
			}
		}
	}
	return false, ips
}

func lookupIP(ctx context.Context, host string) ([]net.IP, error) {
	if ip := net.ParseIP(host); ip != nil {
		return []net.IP{ip}, nil
	}
	return net.DefaultResolver.LookupIP(ctx, "ip", host)
}

// localIPs are the addresses of this machine's interfaces.
func localIPs() []net.IP {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	out := make([]net.IP, 0, len(addrs))
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			out = append(out, n.IP)
		}
	}
	return out
}

// pgFileParams are the connection parameters with which the driver reads a file of the hub's
// machine when it connects (pgx, as libpq). They are credentials' places, so they take the
// privilege of a file: reference: admins, or paths secrets.file_allow names, and never the
// data folder.
var pgFileParams = []string{"passfile", "sslcert", "sslkey", "sslrootcert"}

// pgServiceParams make the driver take the connection's settings (host, database, user,
// password) from a service file of the hub's machine: whatever it names, an endpoint would
// reach it with the hub's own settings, so they are refused to everyone.
var pgServiceParams = []string{"service", "servicefile"}

// pgParam is a connection parameter of a PostgreSQL URL that names a file.
type pgParam struct{ name, value string }

// pgFiles returns the file-naming parameters of a PostgreSQL URL, in a fixed order.
func pgFiles(raw string) []pgParam {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil // CheckEndpoint refuses what cannot be parsed; other drivers read no such files
	}
	q := u.Query()
	var out []pgParam
	for _, name := range pgFileParams {
		for _, v := range q[name] {
			out = append(out, pgParam{name, v})
		}
	}
	return out
}

// checkPGService refuses a PostgreSQL URL that takes its settings from a service file.
func checkPGService(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return &Error{What: "the PostgreSQL URL", Why: "it cannot be parsed", Hint: "write postgres://user@host:5432/database"}
	}
	for _, name := range pgServiceParams {
		if u.Query().Has(name) {
			return &Error{What: "the connection parameter " + name,
				Why:  "it takes the connection's settings from a service file of the hub's machine",
				Hint: "write the host, port, database and user in the URL, and the password as a secret"}
		}
	}
	return nil
}

// checkPGFiles checks the file parameters of a PostgreSQL URL as file: references of an
// author holding roles (see CheckRef).
func (p *Policy) checkPGFiles(roles []auth.Role, raw string) error {
	for _, f := range pgFiles(raw) {
		if err := p.CheckRef(roles, secret.PrefixFile+f.value); err != nil {
			var pe *Error
			if errors.As(err, &pe) {
				pe.What = fmt.Sprintf("the connection parameter %s=%s", f.name, f.value)
			}
			return err
		}
	}
	return nil
}
