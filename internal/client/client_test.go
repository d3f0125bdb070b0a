package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/internal/app/apptest"
	"github.com/datahub-oss/datahub/internal/auth"
	"github.com/datahub-oss/datahub/internal/client"
	"github.com/datahub-oss/datahub/internal/config"
)

func newClient(t *testing.T, url, token string, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New(url, token, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// admin starts a real hub in-process (SQLite, embedded NATS, the API on a free port) and
// returns it with a client of its first admin.
func admin(t *testing.T, mods ...func(*config.Config)) (*apptest.Hub, *client.Client) {
	t.Helper()
	h := apptest.Start(t, mods...)
	return h, newClient(t, h.URL, h.AdminToken)
}

// catalogYAML is a small catalog; DIR is replaced by the folder of its files.
const catalogYAML = `apiVersion: datahub/v1
kind: System
metadata: {name: crm}
spec: {owner: sales, classification: internal}
---
apiVersion: datahub/v1
kind: Endpoint
metadata: {name: crm-db, labels: {domain: sales}}
spec: {system: crm, type: file, environments: {DEV: {url: "DIR/people.csv"}}, options: {header: "true"}}
---
apiVersion: datahub/v1
kind: Endpoint
metadata: {name: dwh}
spec: {system: crm, type: sqlite, environments: {DEV: {url: "sqlite:DIR/dwh.db"}}}
---
apiVersion: datahub/v1
kind: Integration
metadata: {name: crm-to-dwh}
spec:
  source: {endpoint: crm-db}
  destination: {endpoint: dwh, table: people, mode: append}
  mapping:
    columns:
      - {from: id, type: int64}
      - {from: amount, type: int64}
`

// catalogIn is catalogYAML with its files in a new folder: people.csv holds 5 rows, 2 of
// whose amounts are not numbers (rejects of the integration's casts).
func catalogIn(t *testing.T) []byte {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "people.csv"), []byte("id,amount\n1,10\n2,lots\n3,30\n4,many\n5,50\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return []byte(strings.ReplaceAll(catalogYAML, "DIR", dir))
}

func applyCatalog(t *testing.T, c *client.Client) []byte {
	t.Helper()
	cat := catalogIn(t)
	if _, err := c.Apply(context.Background(), cat, "application/yaml", false); err != nil {
		t.Fatal(err)
	}
	return cat
}

func TestNewNormalizesTheURL(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:8080":                 "http://127.0.0.1:8080",
		"http://hub.example.org/":        "http://hub.example.org",
		"https://hub.example.org/api/v1": "https://hub.example.org",
		"https://hub.example.org/dh/":    "https://hub.example.org/dh",
	} {
		c, err := client.New(in, "")
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if c.BaseURL() != want {
			t.Errorf("%s: base %s, want %s", in, c.BaseURL(), want)
		}
	}
	for _, bad := range []string{"", "ftp://hub", "http://", "http://user:hunter2@hub"} {
		_, err := client.New(bad, "")
		if err == nil {
			t.Errorf("%q: no error", bad)
		} else if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%q: the error shows the password: %v", bad, err)
		}
	}
}

func TestAuthenticationErrors(t *testing.T) {
	s := apptest.Start(t)
	ctx := context.Background()

	_, err := newClient(t, s.URL, "").Me(ctx)
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.Status != 401 || ae.Code != client.CodeUnauthenticated {
		t.Fatalf("no token: %v", err)
	}
	if !strings.Contains(err.Error(), "DATAHUB_TOKEN") || !strings.Contains(err.Error(), "admin.token") {
		t.Errorf("no token: unhelpful message %q", err)
	}

	const garbage = "dht_garbageGarbageGarbage"
	_, err = newClient(t, s.URL, garbage).Me(ctx)
	if !strings.HasPrefix(err.Error(), "the server refused the token") || strings.Contains(err.Error(), garbage) {
		t.Errorf("bad token: message %q", err)
	}

	_, err = newClient(t, s.URL, s.User(t, "viewer", "", auth.RoleViewer)).DeleteResource(ctx, "System", "x")
	if client.StatusOf(err) != 403 || !errors.As(err, &ae) || ae.Code != client.CodeForbidden {
		t.Errorf("viewer delete: %v", err)
	}

	me, err := newClient(t, s.URL, s.AdminToken).Me(ctx)
	if err != nil || me.Name != "admin" || len(me.Roles) != 1 {
		t.Errorf("me: %+v %v", me, err)
	}
}

func TestConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	_, err = newClient(t, "http://"+addr, "dht_secret").Me(context.Background())
	var ce *client.ConnError
	if !errors.As(err, &ce) {
		t.Fatalf("%T %v", err, err)
	}
	want := "cannot reach the Data Hub server at http://" + addr + "; is `datahub serve` running?"
	if err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
}

// TestTimeouts: the client's timeout bounds the wait for an answer's headers, not the reading
// of its body nor a request that asks the server to wait. A slow answer is held back until
// another call's timeout ran out while it was under way, so it outlasts the timeout without
// the test sleeping.
func TestTimeouts(t *testing.T) {
	release := make(chan struct{}) // ends the answers still held at the end
	started := make(chan struct{}) // a slow answer is under way
	goOn := make(chan struct{}, 1) // the slow answer may end
	slow := func() bool {
		select {
		case started <- struct{}{}:
		case <-release:
			return false
		}
		select {
		case <-goOn:
			return true
		case <-release:
			return false
		}
	}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/me":
			<-release
		case "/api/v1/export":
			// The answer starts at once and ends after the timeout.
			_, _ = w.Write([]byte("---\n"))
			w.(http.Flusher).Flush()
			if slow() {
				_, _ = w.Write([]byte("kind: System\n"))
			}
		case "/api/v1/integrations/slow/runs":
			if slow() {
				_, _ = w.Write([]byte(`{"run_id":"r1","status":"succeeded"}`))
			}
		}
	}))
	defer hs.Close()
	defer close(release)
	c := newClient(t, hs.URL, "", client.WithTimeout(50*time.Millisecond))
	ctx := context.Background()

	timedOut := func(what string) {
		t.Helper()
		_, err := c.Me(ctx)
		var ce *client.ConnError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), "no answer within 50ms") {
			t.Errorf("%s: slow call: %v", what, err)
		}
	}
	// outlasting runs call, which asks for a slow answer, and lets that answer end once a
	// call started after it timed out.
	outlasting := func(what string, call func() error) error {
		t.Helper()
		errc := make(chan error, 1)
		go func() { errc <- call() }()
		<-started
		timedOut(what)
		goOn <- struct{}{}
		return <-errc
	}
	timedOut("me")
	var b bytes.Buffer
	if err := outlasting("export", func() error { return c.Export(ctx, &b) }); err != nil || b.String() != "---\nkind: System\n" {
		t.Errorf("slow body: %q %v", b.String(), err)
	}
	var r client.Run
	err := outlasting("run", func() (err error) { r, err = c.RequestRun(ctx, "slow", "dev", true); return err })
	if err != nil || r.Status != "succeeded" {
		t.Errorf("waiting run request: %+v %v", r, err)
	}

	// The caller's context still governs.
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := c.RequestRun(cctx, "slow", "dev", true); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("cancelled wait: %v", err)
	}
}

func TestErrorBodiesOfOtherShapes(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/runs/proxy":
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte("<html>\n<body>Bad   gateway</body></html>"))
		case "/api/v1/runs/huma":
			w.WriteHeader(http.StatusUnprocessableEntity)
			_, _ = w.Write([]byte(`{"title":"Unprocessable Entity","status":422,"detail":"validation failed"}`))
		}
	}))
	defer hs.Close()
	c := newClient(t, hs.URL, "t")
	_, err := c.GetRun(context.Background(), "proxy")
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.Status != 502 || ae.Code != client.CodeInternal || ae.Message != "<html> <body>Bad gateway</body></html>" {
		t.Errorf("proxy page: %#v", err)
	}
	_, err = c.GetRun(context.Background(), "huma")
	if !errors.As(err, &ae) || ae.Code != client.CodeInvalid || err.Error() != "validation failed" {
		t.Errorf("huma body: %v", err)
	}
}

func TestApply(t *testing.T) {
	s, _ := admin(t)
	rec := s.Record(t)
	c := newClient(t, rec.URL, s.AdminToken)
	ctx := context.Background()

	res, err := c.Apply(ctx, catalogIn(t), "application/yaml", true)
	if err != nil {
		t.Fatal(err)
	}
	changes := res.Changes
	if len(changes) != 4 || changes[0].Action != "created" || changes[0].Version != 1 {
		t.Fatalf("dry run: %+v", changes)
	}
	if _, err := c.GetResource(ctx, "System", "crm"); !client.IsNotFound(err) {
		t.Fatalf("the dry run wrote: %v", err)
	}
	if got := rec.Requests(); !strings.Contains(got[0], "dry_run=true") {
		t.Errorf("no dry_run in %s", got[0])
	}

	applyCatalog(t, c)
	res, err = c.ApplyDocuments(ctx, []json.RawMessage{
		json.RawMessage(`{"apiVersion":"datahub/v1","kind":"System","metadata":{"name":"crm"},"spec":{"owner":"sales","classification":"internal"}}`),
		json.RawMessage(`{"apiVersion":"datahub/v1","kind":"System","metadata":{"name":"erp"},"spec":{"owner":"ops"}}`),
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	changes = res.Changes
	if len(changes) != 2 || changes[0].Action != "unchanged" || changes[1].Action != "created" {
		t.Errorf("changes %+v", changes)
	}

	_, err = c.ApplyDocuments(ctx, []json.RawMessage{
		json.RawMessage(`{"apiVersion":"datahub/v1","kind":"System","metadata":{"name":"ok"},"spec":{"owner":"ops"}}`),
		json.RawMessage(fmt.Sprintf(`{"apiVersion":"datahub/v1","kind":"Endpoint","metadata":{"name":"e"},"spec":{"system":"nope","type":"file","environments":{"DEV":{"url":%q}}}}`,
			filepath.Join(t.TempDir(), "e.csv"))),
	}, false)
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.Status != 422 || ae.Code != client.CodeInvalid {
		t.Fatalf("invalid apply: %v", err)
	}
	fes := ae.FieldErrors()
	if len(fes) != 1 || fes[0].Document != 2 || fes[0].Field != "spec.system" {
		t.Fatalf("field errors %+v", fes)
	}
	// The server names the document by its number only (the command line adds the kind and
	// name from its own reading of the files).
	if !strings.Contains(err.Error(), `document 2: spec.system: no System "nope" (apply it first or in the same batch)`) {
		t.Errorf("message %q", err)
	}
}

func TestResources(t *testing.T) {
	_, c := admin(t)
	ctx := context.Background()
	cat := applyCatalog(t, c)

	eps, err := c.ListResources(ctx, "endpoints", "")
	if err != nil || len(eps) != 2 || eps[0].Metadata.Name != "crm-db" || eps[0].Status == nil || eps[0].Status.Version != 1 {
		t.Fatalf("list: %+v %v", eps, err)
	}
	eps, err = c.ListResources(ctx, "Endpoint", "domain=sales")
	if err != nil || len(eps) != 1 {
		t.Fatalf("list by label: %+v %v", eps, err)
	}
	r, err := c.GetResource(ctx, "endpoint", "crm-db")
	if err != nil || r.Kind != "Endpoint" || !bytes.Contains(r.Raw, []byte(`"system":"crm"`)) {
		t.Fatalf("get: %+v %v", r, err)
	}
	if b, _ := json.Marshal(r); !bytes.Equal(b, r.Raw) {
		t.Errorf("a resource does not marshal as received")
	}

	// A second version, a diff, a deletion.
	if _, err := c.Apply(ctx, bytes.Replace(cat, []byte("owner: sales"), []byte("owner: marketing"), 1), "application/yaml", false); err != nil {
		t.Fatal(err)
	}
	var exp bytes.Buffer
	if err := c.Export(ctx, &exp); err != nil {
		t.Fatal(err)
	}
	if strings.Count(exp.String(), "---\n") != 4 || !strings.Contains(exp.String(), "name: crm-to-dwh") || !strings.Contains(exp.String(), "owner: marketing") {
		t.Errorf("export:\n%s", exp.String())
	}
	// A System its endpoints use stays; once they are gone it goes.
	if _, err := c.DeleteResource(ctx, "System", "crm"); client.StatusOf(err) != 409 || !strings.Contains(err.Error(), "in use by") {
		t.Fatalf("delete of a System in use: %v", err)
	}
	for _, r := range []struct{ kind, name string }{{"Integration", "crm-to-dwh"}, {"Endpoint", "crm-db"}, {"Endpoint", "dwh"}} {
		if _, err := c.DeleteResource(ctx, r.kind, r.name); err != nil {
			t.Fatal(err)
		}
	}
	ch, err := c.DeleteResource(ctx, "System", "crm")
	if err != nil || ch.Action != "deleted" || ch.Version != 3 {
		t.Fatalf("delete: %+v %v", ch, err)
	}
	hist, err := c.History(ctx, "System", "crm")
	if err != nil || len(hist) != 3 || hist[1].Change != "updated" || hist[2].Change != "deleted" || hist[0].CreatedBy != "admin" {
		t.Fatalf("history: %+v %v", hist, err)
	}
	v1, err := c.Version(ctx, "System", "crm", 1)
	if err != nil || !bytes.Contains(v1.Spec, []byte("sales")) {
		t.Fatalf("version 1: %s %v", v1.Spec, err)
	}
	d, err := c.Diff(ctx, "System", "crm", 1, 2)
	if err != nil || !strings.Contains(d, "-  owner: sales") || !strings.Contains(d, "+  owner: marketing") {
		t.Fatalf("diff: %q %v", d, err)
	}
	if _, err := c.GetResource(ctx, "System", "crm"); !client.IsNotFound(err) {
		t.Errorf("deleted resource: %v", err)
	}
	if _, err := c.ListResources(ctx, "Widget", ""); !client.IsNotFound(err) {
		t.Errorf("unknown kind: %v", err)
	}
	exp.Reset()
	if err := c.Export(ctx, &exp); err != nil || strings.Contains(exp.String(), "kind:") {
		t.Errorf("export of an empty catalog: %v\n%s", err, exp.String())
	}
}

func TestListFollowsCursors(t *testing.T) {
	_, c := admin(t)
	var b strings.Builder
	const n = 1003
	for i := range n {
		fmt.Fprintf(&b, "---\napiVersion: datahub/v1\nkind: System\nmetadata: {name: s%04d}\nspec: {owner: x}\n", i)
	}
	ctx := context.Background()
	if _, err := c.Apply(ctx, []byte(b.String()), "application/yaml", false); err != nil {
		t.Fatal(err)
	}
	all, err := c.ListResources(ctx, "systems", "")
	if err != nil || len(all) != n || all[n-1].Metadata.Name != "s1002" {
		t.Fatalf("%d resources, %v", len(all), err)
	}
}

func TestRuns(t *testing.T) {
	// No worker but the one the test starts: a run requested while none runs stays queued.
	s, c := admin(t, apptest.Roles(config.RoleAPI))
	ctx := context.Background()
	applyCatalog(t, c)
	stopWorker := s.StartWorker(t)

	r, err := c.RequestRun(ctx, "crm-to-dwh", "dev", false)
	if err != nil || r.Status != "queued" || r.Env != "DEV" || r.ID == "" {
		t.Fatalf("request: %+v %v", r, err)
	}
	done, err := c.WaitRun(ctx, r.ID, time.Millisecond)
	if err != nil || done.Status != "partial" || !done.Final() || done.RowsRejected != 2 {
		t.Fatalf("wait: %+v %v", done, err)
	}
	var rej bytes.Buffer
	if err := c.Rejects(ctx, r.ID, &rej); err != nil || strings.Count(rej.String(), "\n") != 2 {
		t.Errorf("rejects: %q %v", rej.String(), err)
	}
	if _, err := c.CancelRun(ctx, r.ID); client.StatusOf(err) != 422 || !strings.Contains(err.Error(), "already finished (partial)") {
		t.Errorf("cancel of an ended run: %v", err)
	}

	w, err := c.RequestRun(ctx, "crm-to-dwh", "DEV", true)
	if err != nil || w.Status != "partial" {
		t.Fatalf("request and wait: %+v %v", w, err)
	}
	stopWorker()
	q, err := c.RequestRun(ctx, "crm-to-dwh", "DEV", false)
	if err != nil {
		t.Fatal(err)
	}
	// Queued, so the cancellation is asked for: the worker that takes the run cancels it.
	cr, err := c.CancelRun(ctx, q.ID)
	if err != nil || cr.Status != "cancel_requested" {
		t.Errorf("cancel: %+v %v", cr, err)
	}
	if _, err := c.RequestRun(ctx, "nope", "DEV", false); !client.IsNotFound(err) {
		t.Errorf("unknown integration: %v", err)
	}
	_, err = c.RequestRun(ctx, "crm-to-dwh", "moon", false)
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.Status != 422 || ae.Code != client.CodeInvalid || !strings.Contains(err.Error(), `"MOON" is not one of DEV, SIT, UAT, MPE, PROD`) {
		t.Errorf("bad env: %v", err)
	}

	p1, err := c.ListRuns(ctx, client.RunFilter{Limit: 2})
	if err != nil || len(p1.Items) != 2 || p1.Next == "" || p1.Items[0].ID != q.ID {
		t.Fatalf("page 1: %+v %v", p1, err)
	}
	p2, err := c.ListRuns(ctx, client.RunFilter{Limit: 2, Cursor: p1.Next})
	if err != nil || len(p2.Items) != 1 || p2.Next != "" || p2.Items[0].ID != r.ID {
		t.Fatalf("page 2: %+v %v", p2, err)
	}
	only, err := c.ListRuns(ctx, client.RunFilter{Status: "cancel_requested", Integration: "crm-to-dwh"})
	if err != nil || len(only.Items) != 1 || only.Items[0].ID != q.ID {
		t.Errorf("filtered: %+v %v", only, err)
	}
}

func TestSecretsUsersTokens(t *testing.T) {
	s, c := admin(t)
	ctx := context.Background()

	sec, err := c.PutSecret(ctx, "pg.password", []byte("hunter2"))
	if err != nil || sec.Name != "pg.password" || sec.UpdatedAt.IsZero() {
		t.Fatalf("put: %+v %v", sec, err)
	}
	if v, err := s.Secrets.Get(ctx, "pg.password"); string(v) != "hunter2" {
		t.Errorf("stored %q %v", v, err)
	}
	if _, err := c.PutSecret(ctx, "bin", []byte{0xff, 0xfe}); err == nil {
		t.Error("a non-UTF-8 secret was sent")
	}
	list, err := c.ListSecrets(ctx)
	if err != nil || len(list) != 1 || list[0].Name != "pg.password" {
		t.Fatalf("list: %+v %v", list, err)
	}
	if err := c.DeleteSecret(ctx, "pg.password"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteSecret(ctx, "pg.password"); !client.IsNotFound(err) {
		t.Errorf("second delete: %v", err)
	}

	u, err := c.CreateUser(ctx, client.NewUser{Name: "ann", Password: "pw-of-ann-long", Roles: []string{"integrator"}})
	if err != nil || u.Name != "ann" || !u.HasPassword {
		t.Fatalf("create user: %+v %v", u, err)
	}
	if _, err := c.CreateUser(ctx, client.NewUser{Name: "bob", Roles: []string{"wizard"}}); client.StatusOf(err) != 422 {
		t.Errorf("bad role: %v", err)
	}
	u, err = c.SetRoles(ctx, "ann", []string{"operator", "viewer"})
	if err != nil || strings.Join(u.Roles, ",") != "operator,viewer" {
		t.Fatalf("set roles: %+v %v", u, err)
	}
	users, err := c.ListUsers(ctx)
	if err != nil || len(users) != 2 || users[0].Name != "admin" || users[1].Name != "ann" {
		t.Fatalf("users: %+v %v", users, err)
	}

	sess, err := c.Login(ctx, "ann", "pw-of-ann-long")
	if err != nil || sess.Token == "" || sess.UserName() != "ann" || sess.ExpiresAt == nil {
		t.Fatalf("login: %+v %v", sess, err)
	}
	if _, err := c.Login(ctx, "ann", "wrong"); err == nil || strings.Contains(err.Error(), "token") || !strings.Contains(err.Error(), "invalid user name or password") {
		t.Errorf("bad login: %v", err)
	}
	me, err := newClient(t, s.URL, sess.Token).Me(ctx)
	if err != nil || me.Name != "ann" {
		t.Errorf("session: %+v %v", me, err)
	}

	tok, err := c.CreateToken(ctx, client.NewToken{Name: "ci", User: "ann", ExpiresIn: "720h"})
	if err != nil || !strings.HasPrefix(tok.Token, "dht_") || tok.ID == "" || tok.ExpiresAt == nil {
		t.Fatalf("create token: %+v %v", tok, err)
	}
	// Ann's tokens: the new one, then her login's session.
	toks, err := c.ListTokens(ctx, "ann")
	if err != nil || len(toks) != 2 || toks[0].Name != "ci" || toks[0].Prefix != tok.Token[:8] {
		t.Fatalf("list tokens: %+v %v", toks, err)
	}
	if e := toks[0].ExpiresAt; e == nil || e.Sub(toks[0].CreatedAt).Round(time.Hour) != 720*time.Hour {
		t.Errorf("expires_in 720h: created %s, expires %v", toks[0].CreatedAt, e)
	}
	if err := c.RevokeToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := newClient(t, s.URL, tok.Token).Me(ctx); client.StatusOf(err) != 401 {
		t.Errorf("revoked token still works: %v", err)
	}
}

func TestAudit(t *testing.T) {
	s, c := admin(t)
	ctx := context.Background()
	applyCatalog(t, c)
	if _, err := c.PutSecret(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	p, err := c.AuditList(ctx, client.AuditFilter{Action: "resource.*", Limit: 3, Since: time.Now().Add(-time.Hour)})
	if err != nil || len(p.Items) != 3 || p.Next == "" || p.Items[0].Action != "resource.apply" || p.Items[0].Seq != 4 {
		t.Fatalf("page: %+v %v", p, err)
	}
	p, err = c.AuditList(ctx, client.AuditFilter{Action: "resource.*", Cursor: p.Next})
	if err != nil || len(p.Items) != 1 || p.Next != "" {
		t.Fatalf("page 2: %+v %v", p, err)
	}
	p, err = c.AuditList(ctx, client.AuditFilter{Kind: "Secret", Name: "k", Actor: "admin"})
	if err != nil || len(p.Items) != 1 || p.Items[0].Action != "secret.put" {
		t.Fatalf("filtered: %+v %v", p, err)
	}
	v, err := c.AuditVerify(ctx)
	if err != nil || !v.OK || v.Entries != 5 {
		t.Fatalf("verify: %+v %v", v, err)
	}
	// An entry edited in the store, behind the hub's back.
	if _, err := s.DB.ExecContext(ctx, `UPDATE audit_entries SET actor = 'mallory' WHERE seq = 3`); err != nil {
		t.Fatal(err)
	}
	v, err = c.AuditVerify(ctx)
	if err != nil || v.OK || v.FirstBadSeq != 3 || !strings.HasPrefix(v.Reason, "edited") {
		t.Fatalf("broken: %+v %v", v, err)
	}
}

func TestDecodingVariants(t *testing.T) {
	// The audit package's own report shape.
	var v client.VerifyReport
	if err := json.Unmarshal([]byte(`{"ok":false,"checked":7,"head_seq":9,"broken_seq":8,"problem":"missing","detail":"seq 8 is missing"}`), &v); err != nil {
		t.Fatal(err)
	}
	if v.OK || v.Entries != 7 || v.FirstBadSeq != 8 || v.Reason != "missing: seq 8 is missing" {
		t.Errorf("%+v", v)
	}
	// A numeric cursor, as the audit package pages.
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"items":[{"seq":5,"actor":"a","action":"x"}],"next":4}`))
	}))
	defer hs.Close()
	p, err := newClient(t, hs.URL, "t").AuditList(context.Background(), client.AuditFilter{})
	if err != nil || p.Next != "4" || len(p.Items) != 1 {
		t.Errorf("%+v %v", p, err)
	}
}

// TestApplyWarnsOfMissingSecrets: a resource naming a secret the hub does not hold applies,
// with a warning naming the resource, the field and the secret; once the secret is put, the
// same apply warns of nothing.
func TestApplyWarnsOfMissingSecrets(t *testing.T) {
	_, c := admin(t)
	ctx := context.Background()
	applyCatalog(t, c)
	doc := []json.RawMessage{json.RawMessage(`{"apiVersion":"datahub/v1","kind":"Endpoint","metadata":{"name":"crm-pg"},"spec":{"system":"crm","type":"postgres",` +
		`"environments":{"DEV":{"url":"postgres://app@db:5432/crm"},"PROD":{"url":"postgres://app@db-prod:5432/crm","secrets":{"password":"secret:crm-pg-prod"}}},` +
		`"secrets":{"password":"env:PG_PASSWORD"}}}`)}
	for _, dry := range []bool{true, false} {
		res, err := c.ApplyDocuments(ctx, doc, dry)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Warnings) != 1 {
			t.Fatalf("dry run %v: warnings %+v, want one", dry, res.Warnings)
		}
		w := res.Warnings[0]
		if w.Kind != "Endpoint" || w.Name != "crm-pg" || w.Field != "spec.environments.PROD.secrets.password" || !strings.Contains(w.Message, `secret "crm-pg-prod" does not exist`) {
			t.Errorf("warning %+v", w)
		}
	}
	if _, err := c.PutSecret(ctx, "crm-pg-prod", []byte("s3cret-value")); err != nil {
		t.Fatal(err)
	}
	if res, err := c.ApplyDocuments(ctx, doc, false); err != nil || len(res.Warnings) != 0 {
		t.Fatalf("with the secret put: warnings %+v, %v", res.Warnings, err)
	}
}
