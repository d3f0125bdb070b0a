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
	"strings"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/internal/client"
	"github.com/datahub-oss/datahub/internal/client/clienttest"
)

func newClient(t *testing.T, url, token string, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New(url, token, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func admin(t *testing.T) (*clienttest.Server, *client.Client) {
	t.Helper()
	s := clienttest.New(t)
	return s, newClient(t, s.URL, clienttest.AdminToken)
}

const catalogYAML = `apiVersion: datahub/v1
kind: System
metadata: {name: crm}
spec: {owner: sales, classification: internal}
---
apiVersion: datahub/v1
kind: Endpoint
metadata: {name: crm-db, labels: {domain: sales}}
spec: {system: crm, type: sqlite, environments: {DEV: {url: "sqlite:crm.db"}}}
---
apiVersion: datahub/v1
kind: Endpoint
metadata: {name: dwh}
spec: {system: crm, type: sqlite, environments: {DEV: {url: "sqlite:dwh.db"}}}
---
apiVersion: datahub/v1
kind: Integration
metadata: {name: crm-to-dwh}
spec:
  source: {endpoint: crm-db, table: people}
  destination: {endpoint: dwh, table: people, mode: append}
`

func applyCatalog(t *testing.T, c *client.Client) {
	t.Helper()
	if _, err := c.Apply(context.Background(), []byte(catalogYAML), "application/yaml", false); err != nil {
		t.Fatal(err)
	}
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
	s := clienttest.New(t)
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

	_, err = newClient(t, s.URL, clienttest.ViewerToken).DeleteResource(ctx, "System", "x")
	if client.StatusOf(err) != 403 || !errors.As(err, &ae) || ae.Code != client.CodeForbidden {
		t.Errorf("viewer delete: %v", err)
	}

	me, err := newClient(t, s.URL, clienttest.AdminToken).Me(ctx)
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

func TestTimeouts(t *testing.T) {
	release := make(chan struct{})
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/me":
			<-release
		case "/api/v1/export":
			// The answer starts at once and takes longer than the timeout to finish.
			_, _ = w.Write([]byte("---\n"))
			w.(http.Flusher).Flush()
			time.Sleep(150 * time.Millisecond)
			_, _ = w.Write([]byte("kind: System\n"))
		case "/api/v1/integrations/slow/runs":
			time.Sleep(150 * time.Millisecond)
			_, _ = w.Write([]byte(`{"run_id":"r1","status":"succeeded"}`))
		}
	}))
	defer hs.Close()
	defer close(release)
	c := newClient(t, hs.URL, "", client.WithTimeout(50*time.Millisecond))
	ctx := context.Background()

	_, err := c.Me(ctx)
	var ce *client.ConnError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "no answer within 50ms") {
		t.Errorf("slow call: %v", err)
	}
	var b bytes.Buffer
	if err := c.Export(ctx, &b); err != nil || b.String() != "---\nkind: System\n" {
		t.Errorf("slow body: %q %v", b.String(), err)
	}
	r, err := c.RequestRun(ctx, "slow", "dev", true)
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
	s, c := admin(t)
	ctx := context.Background()

	changes, err := c.Apply(ctx, []byte(catalogYAML), "application/yaml", true)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 4 || changes[0].Action != "created" || changes[0].Version != 1 {
		t.Fatalf("dry run: %+v", changes)
	}
	if _, err := c.GetResource(ctx, "System", "crm"); !client.IsNotFound(err) {
		t.Fatalf("the dry run wrote: %v", err)
	}
	if got := s.Requests(); !strings.Contains(got[0], "dry_run=true") {
		t.Errorf("no dry_run in %s", got[0])
	}

	applyCatalog(t, c)
	changes, err = c.ApplyDocuments(ctx, []json.RawMessage{
		json.RawMessage(`{"apiVersion":"datahub/v1","kind":"System","metadata":{"name":"crm"},"spec":{"owner":"sales","classification":"internal"}}`),
		json.RawMessage(`{"apiVersion":"datahub/v1","kind":"System","metadata":{"name":"erp"},"spec":{"owner":"ops"}}`),
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 2 || changes[0].Action != "unchanged" || changes[1].Action != "created" {
		t.Errorf("changes %+v", changes)
	}

	_, err = c.ApplyDocuments(ctx, []json.RawMessage{
		json.RawMessage(`{"apiVersion":"datahub/v1","kind":"System","metadata":{"name":"ok"},"spec":{}}`),
		json.RawMessage(`{"apiVersion":"datahub/v1","kind":"Endpoint","metadata":{"name":"e"},"spec":{"system":"nope"}}`),
	}, false)
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.Status != 422 || ae.Code != client.CodeInvalid {
		t.Fatalf("invalid apply: %v", err)
	}
	fes := ae.FieldErrors()
	if len(fes) != 1 || fes[0].Document != 2 || fes[0].Field != "spec.system" {
		t.Fatalf("field errors %+v", fes)
	}
	if !strings.Contains(err.Error(), `document 2 (Endpoint "e"): spec.system: System "nope" does not exist`) {
		t.Errorf("message %q", err)
	}
}

func TestResources(t *testing.T) {
	_, c := admin(t)
	ctx := context.Background()
	applyCatalog(t, c)

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
	if _, err := c.Apply(ctx, []byte(strings.Replace(catalogYAML, "owner: sales", "owner: marketing", 1)), "application/yaml", false); err != nil {
		t.Fatal(err)
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
	if err != nil || !strings.Contains(d, "-    owner: sales") || !strings.Contains(d, "+    owner: marketing") {
		t.Fatalf("diff: %q %v", d, err)
	}
	if _, err := c.GetResource(ctx, "System", "crm"); !client.IsNotFound(err) {
		t.Errorf("deleted resource: %v", err)
	}
	if _, err := c.ListResources(ctx, "Widget", ""); !client.IsNotFound(err) {
		t.Errorf("unknown kind: %v", err)
	}

	var exp bytes.Buffer
	if err := c.Export(ctx, &exp); err != nil {
		t.Fatal(err)
	}
	if strings.Count(exp.String(), "---\n") != 3 || !strings.Contains(exp.String(), "name: crm-to-dwh") {
		t.Errorf("export:\n%s", exp.String())
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
	s, c := admin(t)
	ctx := context.Background()
	applyCatalog(t, c)
	s.Finish = func(r *client.Run) { r.Status, r.RowsRejected = "partial", 2 }

	r, err := c.RequestRun(ctx, "crm-to-dwh", "dev", false)
	if err != nil || r.Status != "queued" || r.Env != "DEV" || r.ID == "" {
		t.Fatalf("request: %+v %v", r, err)
	}
	done, err := c.WaitRun(ctx, r.ID, time.Millisecond)
	if err != nil || done.Status != "partial" || !done.Final() {
		t.Fatalf("wait: %+v %v", done, err)
	}
	var rej bytes.Buffer
	if err := c.Rejects(ctx, r.ID, &rej); err != nil || strings.Count(rej.String(), "\n") != 2 {
		t.Errorf("rejects: %q %v", rej.String(), err)
	}
	if _, err := c.CancelRun(ctx, r.ID); client.StatusOf(err) != 409 {
		t.Errorf("cancel of an ended run: %v", err)
	}

	w, err := c.RequestRun(ctx, "crm-to-dwh", "DEV", true)
	if err != nil || w.Status != "partial" {
		t.Fatalf("request and wait: %+v %v", w, err)
	}
	q, err := c.RequestRun(ctx, "crm-to-dwh", "DEV", false)
	if err != nil {
		t.Fatal(err)
	}
	cr, err := c.CancelRun(ctx, q.ID)
	if err != nil || cr.Status != "canceled" {
		t.Errorf("cancel: %+v %v", cr, err)
	}
	if _, err := c.RequestRun(ctx, "nope", "DEV", false); !client.IsNotFound(err) {
		t.Errorf("unknown integration: %v", err)
	}
	_, err = c.RequestRun(ctx, "crm-to-dwh", "moon", false)
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.Status != 422 || len(ae.FieldErrors()) != 1 {
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
	only, err := c.ListRuns(ctx, client.RunFilter{Status: "canceled", Integration: "crm-to-dwh"})
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
	if v, _ := s.SecretValue("pg.password"); v != "hunter2" {
		t.Errorf("stored %q", v)
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

	u, err := c.CreateUser(ctx, client.NewUser{Name: "ann", Password: "pw-of-ann", Roles: []string{"integrator"}})
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
	if err != nil || len(users) != 3 {
		t.Fatalf("users: %+v %v", users, err)
	}

	sess, err := c.Login(ctx, "ann", "pw-of-ann")
	if err != nil || sess.Token == "" || sess.UserName() != "ann" || sess.ExpiresAt == nil {
		t.Fatalf("login: %+v %v", sess, err)
	}
	if _, err := c.Login(ctx, "ann", "wrong"); err == nil || strings.Contains(err.Error(), "token") || !strings.Contains(err.Error(), "wrong user name or password") {
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
	if got := s.TokenExpiresIn(tok.ID); got != "720h" {
		t.Errorf("expires_in sent %q", got)
	}
	toks, err := c.ListTokens(ctx, "ann")
	if err != nil || len(toks) != 1 || toks[0].Name != "ci" || toks[0].Prefix != tok.Token[:8] {
		t.Fatalf("list tokens: %+v %v", toks, err)
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
	s.AuditBrokenAt = 3
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
