package policy

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/auth"
	"github.com/datahub-oss/datahub/internal/catalog"
	_ "github.com/datahub-oss/datahub/internal/connectors/all"
	"github.com/datahub-oss/datahub/internal/runs"
)

// layout is a data folder and a file root beside it, as a hub has them.
type layout struct {
	base, data, root, outside string
	p                         *Policy
}

func newLayout(t *testing.T, s Settings) *layout {
	t.Helper()
	base, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	l := &layout{base: base, data: filepath.Join(base, "data"), root: filepath.Join(base, "root"), outside: filepath.Join(base, "outside")}
	for _, d := range []string{l.data, l.root, l.outside, filepath.Join(l.data, "nats")} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"data/master.key", "data/datahub.db", "data/admin.token", "root/in.csv", "outside/secret.txt"} {
		if err := os.WriteFile(filepath.Join(base, f), []byte("x\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s.DataDir = l.data
	s.FileRoots = append(s.FileRoots, l.root)
	if l.p, err = New(s, nil); err != nil {
		t.Fatal(err)
	}
	return l
}

func TestCheckPath(t *testing.T) {
	l := newLayout(t, Settings{})
	files := filepath.Join(l.data, "files")
	mustLink := func(old, name string) string {
		t.Helper()
		p := filepath.Join(l.base, name)
		if err := os.Symlink(old, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	mustLink(l.outside, "root/out-link")
	mustLink(filepath.Join(l.data, "master.key"), "root/key-link")
	mustLink(filepath.Join(l.base, "nowhere"), "root/dangling")
	mustLink(l.data, "data/files/up")
	if err := os.Link(filepath.Join(l.outside, "secret.txt"), filepath.Join(l.root, "hard.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(files, "ok.csv"), []byte("a\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	rel, err := filepath.Rel(wd, filepath.Join(l.root, "in.csv"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path, refused string // refused: "" when allowed, else a word of the reason
	}{
		{"file in a root", filepath.Join(l.root, "in.csv"), ""},
		{"new file in a root", filepath.Join(l.root, "sub", "new.csv"), ""},
		{"relative path into a root", rel, ""},
		{"data files folder", filepath.Join(files, "ok.csv"), ""},
		{"new file in data files", filepath.Join(files, "new.db"), ""},
		{"master key", filepath.Join(l.data, "master.key"), "data folder"},
		{"store", filepath.Join(l.data, "datahub.db"), "data folder"},
		{"store wal", filepath.Join(l.data, "datahub.db-wal"), "data folder"},
		{"nats store", filepath.Join(l.data, "nats", "x"), "data folder"},
		{"data folder itself", l.data, "data folder"},
		{"outside every root", filepath.Join(l.outside, "secret.txt"), "outside the hub's file roots"},
		{"etc passwd", "/etc/passwd", "outside the hub's file roots"},
		{"dot-dot out of a root", filepath.Join(l.root, "..", "outside", "secret.txt"), "outside"},
		{"raw dot-dot out of a root", l.root + "/../outside/secret.txt", "outside"},
		{"dot-dot from files into data", files + "/../master.key", "data folder"},
		{"symlink out of a root", filepath.Join(l.root, "out-link", "secret.txt"), "outside"},
		{"symlink to the master key", filepath.Join(l.root, "key-link"), "data folder"},
		{"symlink then dot-dot", l.root + "/out-link/../outside/secret.txt", "outside"},
		{"symlink in files to data", filepath.Join(files, "up", "master.key"), "data folder"},
		{"dangling symlink", filepath.Join(l.root, "dangling"), "symbolic link to a missing file"},
		{"dot-dot after a new folder", l.root + "/new/../../outside/x", ".. after a folder"},
		{"hard link", filepath.Join(l.root, "hard.txt"), "hard links"},
		{"nul byte", l.root + "/a\x00b", "NUL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := l.p.CheckPath(tc.path)
			switch {
			case tc.refused == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.refused != "" && err == nil:
				t.Fatal("allowed")
			case tc.refused != "" && !strings.Contains(err.Error(), tc.refused):
				t.Fatalf("error %q does not say %q", err, tc.refused)
			case err != nil && !errors.Is(err, ErrRefused):
				t.Fatalf("error %v is not ErrRefused", err)
			}
		})
	}
}

func TestCheckEndpointLocal(t *testing.T) {
	l := newLayout(t, Settings{})
	ctx := context.Background()
	if err := os.Symlink(filepath.Join(l.data, "master.key"), filepath.Join(l.root, "planted.db-wal")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		e       connector.Endpoint
		refused bool
	}{
		{connector.Endpoint{URL: "sqlite:" + filepath.Join(l.root, "planted.db")}, true},
		{connector.Endpoint{URL: "sqlite:" + filepath.Join(l.data, "datahub.db")}, true},
		{connector.Endpoint{URL: "sqlite://" + filepath.Join(l.data, "files", "..", "datahub.db") + "?table=auth_users"}, true},
		{connector.Endpoint{URL: "sqlite:" + filepath.Join(l.data, "files", "ok.db") + "?table=t"}, false},
		{connector.Endpoint{URL: "file://" + filepath.Join(l.data, "master.key")}, true},
		{connector.Endpoint{URL: "file://" + strings.ReplaceAll(filepath.Join(l.data, "files", "..", "master.key"), ".", "%2e")}, true},
		{connector.Endpoint{URL: filepath.Join(l.root, "in.csv") + "?delimiter=;"}, false},
		{connector.Endpoint{URL: filepath.Join(l.root, "x.csv"), Root: l.root}, false},
		{connector.Endpoint{URL: filepath.Join(l.outside, "x.csv"), Root: l.outside}, true},
		{connector.Endpoint{URL: "/root/.ssh/authorized_keys"}, true},
		{connector.Endpoint{URL: "-"}, true}, // the server's standard input or output
		{connector.Endpoint{URL: "-?format=csv", Root: l.root}, true},
		{connector.Endpoint{URL: "postgres://db.example.org/app"}, false}, // the store is SQLite
	} {
		err := l.p.CheckEndpoint(ctx, "ep", "DEV", tc.e)
		if (err != nil) != tc.refused {
			t.Errorf("%s: refused=%v, want %v (%v)", tc.e.URL, err != nil, tc.refused, err)
		}
		if err != nil && !strings.Contains(err.Error(), `endpoint "ep" in DEV`) {
			t.Errorf("%s: the error does not name the endpoint: %v", tc.e.URL, err)
		}
	}
}

// TestPathOptionsConfined: an option declared as a path, in any connector, is confined like
// the endpoint's own file.
func TestPathOptionsConfined(t *testing.T) {
	l := newLayout(t, Settings{})
	connector.Register(connector.Spec{Name: "keyed-test", Schemes: []string{"keyedtest"},
		Options:   []connector.Option{{Name: "key_file", Type: connector.OptPath, Help: "a client key"}},
		NewSource: func(context.Context, connector.Endpoint) (connector.Source, error) { return nil, nil }})
	for _, tc := range []struct {
		e       connector.Endpoint
		refused bool
	}{
		{connector.Endpoint{URL: "keyedtest://h/x?key_file=" + filepath.Join(l.data, "master.key")}, true},
		{connector.Endpoint{URL: "keyedtest://h/x", Options: map[string]string{"key_file": filepath.Join(l.outside, "secret.txt")}}, true},
		{connector.Endpoint{URL: "keyedtest://h/x?key_file=" + filepath.Join(l.root, "in.csv")}, false},
		{connector.Endpoint{URL: "keyedtest://h/x"}, false},
	} {
		if err := l.p.CheckEndpoint(context.Background(), "ep", "DEV", tc.e); (err != nil) != tc.refused {
			t.Errorf("%s %v: refused=%v, want %v (%v)", tc.e.URL, tc.e.Options, err != nil, tc.refused, err)
		}
	}
}

// TestSamePostgres compares endpoints with a PostgreSQL store on this machine, with the
// names resolved by a table instead of DNS.
func TestSamePostgres(t *testing.T) {
	l := newLayout(t, Settings{Store: "postgres://hub@127.0.0.1:5432/datahub?sslmode=disable"})
	l.p.lookupIP = func(_ context.Context, host string) ([]net.IP, error) {
		switch host {
		case "localhost":
			return []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}, nil
		case "me.example.org":
			return []net.IP{net.ParseIP("10.1.2.3")}, nil
		case "db.example.org":
			return []net.IP{net.ParseIP("10.9.9.9")}, nil
		}
		if ip := net.ParseIP(host); ip != nil {
			return []net.IP{ip}, nil
		}
		return nil, errors.New("no such host")
	}
	l.p.localIPs = func() []net.IP { return []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.1.2.3")} }
	ctx := context.Background()
	for _, tc := range []struct {
		url     string
		refused bool
	}{
		{"postgres://u@127.0.0.1:5432/datahub", true},
		{"postgres://u@localhost/datahub?table=auth_users", true},
		{"postgresql://u@[::1]:5432/datahub", true},
		{"postgres://u@0.0.0.0/datahub", true},
		{"postgres://u@me.example.org/datahub", true}, // an address of this machine
		{"postgres://u@/datahub?host=/var/run/postgresql", true},
		{"postgres://u@db.example.org,localhost/datahub", true}, // a fallback host
		{"postgres://u@127.0.0.1:5432/DataHub", true},
		{"postgres://datahub@127.0.0.1:5432", true}, // the database is named after the user
		{"postgres://u@127.0.0.1:5432/other", false},
		{"postgres://u@127.0.0.1:5433/datahub", false},
		{"postgres://u@db.example.org/datahub", false},
	} {
		err := l.p.CheckEndpoint(ctx, "pg", "DEV", connector.Endpoint{URL: tc.url})
		if (err != nil) != tc.refused {
			t.Errorf("%s: refused=%v, want %v (%v)", tc.url, err != nil, tc.refused, err)
		}
		if err != nil && !strings.Contains(err.Error(), "hub's own metadata store") {
			t.Errorf("%s: %v", tc.url, err)
		}
	}
}

func TestCheckRef(t *testing.T) {
	l := newLayout(t, Settings{EnvAllow: []string{"PG_*"}, FileAllow: []string{"/run/secrets/*"}})
	integrator := []auth.Role{auth.RoleIntegrator}
	admin := []auth.Role{auth.RoleAdmin}
	for _, tc := range []struct {
		roles   []auth.Role
		ref     string
		refused string
	}{
		{integrator, "secret:pg", ""},
		{integrator, "env:PG_PASSWORD", ""},
		{integrator, "env:HOME", "only admins"},
		{admin, "env:HOME", ""},
		{integrator, "file:/run/secrets/pg", ""},
		{integrator, "file:/etc/passwd", "only admins"},
		{admin, "file:/etc/hostname", ""},
		{integrator, "file:" + filepath.Join(l.data, "master.key"), "data folder"},
		{admin, "file:" + filepath.Join(l.data, "master.key"), "data folder"},
		{admin, "file:" + filepath.Join(l.data, "files", "..", "admin.token"), "data folder"},
		{admin, "file:" + filepath.Join(l.data, "files", "pw.txt"), ""},
	} {
		err := l.p.CheckRef(tc.roles, tc.ref)
		switch {
		case tc.refused == "" && err != nil:
			t.Errorf("%v %s refused: %v", tc.roles, tc.ref, err)
		case tc.refused != "" && (err == nil || !strings.Contains(err.Error(), tc.refused)):
			t.Errorf("%v %s: %v, want a refusal saying %q", tc.roles, tc.ref, err, tc.refused)
		}
	}
}

// users is a fixed set of users.
type users map[string]*auth.User

func (u users) GetByName(_ context.Context, name string) (*auth.User, error) {
	if x, ok := u[name]; ok {
		return x, nil
	}
	return nil, auth.ErrNotFound
}

func TestCheckRunRights(t *testing.T) {
	l := newLayout(t, Settings{})
	l.p.users = users{
		"ivan": {Name: "ivan", Roles: []auth.Role{auth.RoleIntegrator}},
		"olga": {Name: "olga", Roles: []auth.Role{auth.RoleOperator}},
		"gone": {Name: "gone", Roles: []auth.Role{auth.RoleAdmin}, Disabled: true},
	}
	ok := connector.Endpoint{URL: filepath.Join(l.root, "in.csv")}
	plan := func(env, author string) *runs.Plan {
		return &runs.Plan{Integration: "i", Env: env, Author: author, Source: ok, Dest: ok,
			SourceRef: runs.EndpointRef{Name: "src", Env: env, Author: "ivan"}, DestRef: runs.EndpointRef{Name: "dst", Env: env, Author: "ivan"}}
	}
	for _, tc := range []struct {
		name    string
		plan    *runs.Plan
		r       Requester
		refused string
	}{
		{"integrator in DEV", plan("DEV", "x"), Requester{User: "ivan"}, ""},
		{"integrator in PROD", plan("PROD", "x"), Requester{User: "ivan"}, "may not run integrations in PROD"},
		{"operator in PROD", plan("PROD", "x"), Requester{User: "olga"}, ""},
		{"disabled requester", plan("DEV", "x"), Requester{User: "gone"}, "is disabled"},
		{"unknown requester", plan("DEV", "x"), Requester{User: "nobody"}, "not a user"},
		{"trigger by an operator's integration", plan("PROD", "olga"), Requester{Trigger: "schedule"}, ""},
		{"trigger by an integrator in PROD", plan("PROD", "ivan"), Requester{Trigger: "schedule"}, "author of its schedule trigger"},
		{"trigger by a removed author", plan("DEV", "nobody"), Requester{Trigger: "webhook"}, "not a user"},
	} {
		err := l.p.CheckRun(context.Background(), tc.plan, tc.r)
		switch {
		case tc.refused == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case tc.refused != "" && (err == nil || !strings.Contains(err.Error(), tc.refused)):
			t.Errorf("%s: %v, want a refusal saying %q", tc.name, err, tc.refused)
		case err != nil && connector.CodeOf(err) != connector.CodePermission:
			t.Errorf("%s: code %s", tc.name, connector.CodeOf(err))
		}
	}
	// An Endpoint's env: reference is checked against its author's current roles.
	p := plan("DEV", "x")
	p.SourceRef.Secrets = map[string]string{"password": "env:HOME"}
	if err := l.p.CheckRun(context.Background(), p, Requester{User: "olga"}); err == nil || !strings.Contains(err.Error(), "last applied by ivan") {
		t.Errorf("env reference by an integrator: %v", err)
	}
}

// TestPostgresFileParameters: connection parameters that make the driver read a file of the
// hub's machine take the privilege of a file: reference; service files are refused to all.
func TestPostgresFileParameters(t *testing.T) {
	l := newLayout(t, Settings{FileAllow: []string{"/run/secrets/*"}})
	integrator := []auth.Role{auth.RoleIntegrator}
	admin := []auth.Role{auth.RoleAdmin}
	key := filepath.Join(l.data, "master.key")
	for _, tc := range []struct {
		roles   []auth.Role
		url     string
		refused string
	}{
		{integrator, "postgres://u@db.example.org/app?sslmode=require", ""},
		{integrator, "postgres://u@db.example.org/app?sslrootcert=/run/secrets/ca.pem", ""},
		{integrator, "postgres://u@db.example.org/app?sslkey=/etc/ssl/private/hub.key", "sslkey=/etc/ssl/private/hub.key is refused: only admins"},
		{integrator, "postgresql://u@db.example.org/app?passfile=/root/.pgpass", "passfile=/root/.pgpass is refused"},
		{admin, "postgres://u@db.example.org/app?sslcert=/etc/ssl/certs/hub.pem", ""},
		{admin, "postgres://u@db.example.org/app?sslkey=" + key, "data folder"},
		{integrator, "postgres://u@db.example.org/app?sslrootcert=/run/secrets/ca.pem&sslkey=" + key, "data folder"},
		// Other drivers read no such files.
		{integrator, "mysql://u@db.example.org/app?sslkey=/etc/ssl/private/hub.key", ""},
	} {
		err := l.p.checkPGFiles(tc.roles, tc.url)
		switch {
		case tc.refused == "" && err != nil:
			t.Errorf("%v %s refused: %v", tc.roles, tc.url, err)
		case tc.refused != "" && (err == nil || !strings.Contains(err.Error(), tc.refused)):
			t.Errorf("%v %s: %v, want a refusal saying %q", tc.roles, tc.url, err, tc.refused)
		}
	}
	for _, u := range []string{"postgres://u@db.example.org/app?service=hubstore", "postgres:///app?servicefile=" + key} {
		err := l.p.CheckEndpoint(context.Background(), "pg", "DEV", connector.Endpoint{URL: u})
		if err == nil || !strings.Contains(err.Error(), "service file") {
			t.Errorf("%s: %v, want a refusal naming the service file", u, err)
		}
	}
}

// TestApplyConfinesPathOptions: at apply, an option naming a path is checked as the run will
// see it, from the endpoint's options or an environment's.
func TestApplyConfinesPathOptions(t *testing.T) {
	l := newLayout(t, Settings{})
	connector.Register(connector.Spec{Name: "keyed-apply-test", Schemes: []string{"keyedapply"},
		Options:   []connector.Option{{Name: "key_file", Type: connector.OptPath, Help: "a client key"}},
		NewSource: func(context.Context, connector.Endpoint) (connector.Source, error) { return nil, nil }})
	key := filepath.Join(l.data, "master.key")
	check := l.p.ApplyCheck(&auth.Principal{Name: "ivan", Roles: []auth.Role{auth.RoleIntegrator}})
	for _, doc := range []string{
		"  environments: {DEV: {url: keyedapply://h/x}}\n  options: {key_file: " + key + "}\n",
		"  environments: {DEV: {url: keyedapply://h/x, options: {key_file: " + key + "}}}\n",
	} {
		docs, err := catalog.Parse([]byte("apiVersion: datahub/v1\nkind: Endpoint\nmetadata: {name: k}\nspec:\n  system: s\n  type: keyed-apply-test\n"+doc), "k.yaml")
		if err != nil {
			t.Fatal(err)
		}
		problems, err := check(context.Background(), &docs[0], nil, nil)
		if err != nil || len(problems) != 1 || !strings.Contains(problems[0].Message, "hub's data folder") {
			t.Errorf("%s: %+v %v, want the key file refused", doc, problems, err)
		}
	}
}

// TestApplyChecksEnvironmentSecrets: an environment's own secret references are checked at
// apply like the endpoint's: an integrator may not reference an environment variable that
// is not allowed, in either place.
func TestApplyChecksEnvironmentSecrets(t *testing.T) {
	l := newLayout(t, Settings{EnvAllow: []string{"PG_*"}})
	check := l.p.ApplyCheck(&auth.Principal{Name: "ivan", Roles: []auth.Role{auth.RoleIntegrator}})
	for doc, want := range map[string]string{
		"  environments: {DEV: {url: 'postgres://a@h/db', secrets: {password: 'env:HOME'}}}\n":   "spec.environments.DEV.secrets.password",
		"  environments: {DEV: {url: 'postgres://a@h/db'}}\n  secrets: {password: 'env:HOME'}\n": "spec.secrets.password",
		"  environments: {DEV: {url: 'postgres://a@h/db', secrets: {password: 'env:PG_PW'}}}\n":  "",
	} {
		docs, err := catalog.Parse([]byte("apiVersion: datahub/v1\nkind: Endpoint\nmetadata: {name: k}\nspec:\n  system: s\n  type: postgres\n"+doc), "k.yaml")
		if err != nil {
			t.Fatal(err)
		}
		problems, err := check(context.Background(), &docs[0], nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		var fields []string
		for _, p := range problems {
			fields = append(fields, p.Field)
		}
		if got := strings.Join(fields, ","); got != want {
			t.Errorf("%s: problems at %q, want %q (%+v)", doc, got, want, problems)
		}
	}
}

// TestApplyRefusesStdio: an Endpoint naming "-" is refused at apply: on the server it would
// be the hub's own standard input or output.
func TestApplyRefusesStdio(t *testing.T) {
	l := newLayout(t, Settings{})
	check := l.p.ApplyCheck(&auth.Principal{Name: "ivan", Roles: []auth.Role{auth.RoleIntegrator}})
	docs, err := catalog.Parse([]byte("apiVersion: datahub/v1\nkind: Endpoint\nmetadata: {name: pipe}\nspec:\n  system: s\n  type: file\n  environments: {DEV: {url: '-'}}\n"), "pipe.yaml")
	if err != nil {
		t.Fatal(err)
	}
	problems, err := check(context.Background(), &docs[0], nil, nil)
	if err != nil || len(problems) != 1 || !strings.Contains(problems[0].Message, "standard input or output") {
		t.Errorf("%+v %v, want the endpoint refused for naming the standard streams", problems, err)
	}
}

// TestHubRefusesSFTP: the hub does not serve SFTP endpoints yet, since the store would take
// the server's own ~/.ssh key and known_hosts files; at apply and at run time.
func TestHubRefusesSFTP(t *testing.T) {
	l := newLayout(t, Settings{})
	err := l.p.CheckEndpoint(context.Background(), "partner", "DEV", connector.Endpoint{URL: "sftp://u@partner.example.org/in"})
	if err == nil || !strings.Contains(err.Error(), "SFTP endpoints are not served by the hub yet") {
		t.Fatalf("CheckEndpoint: %v", err)
	}
	check := l.p.ApplyCheck(&auth.Principal{Name: "ada", Roles: []auth.Role{auth.RoleAdmin}})
	docs, err := catalog.Parse([]byte("apiVersion: datahub/v1\nkind: Endpoint\nmetadata: {name: partner}\nspec:\n  system: s\n  type: sftp\n  environments: {DEV: {url: 'sftp://u@partner.example.org/in'}}\n"), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if problems, err := check(context.Background(), &docs[0], nil, nil); err != nil || len(problems) != 1 {
		t.Fatalf("apply: %+v %v, want the endpoint refused", problems, err)
	}
}
