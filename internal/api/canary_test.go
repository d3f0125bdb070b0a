package api

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/datahub-oss/datahub/internal/auth"
)

// TestSecretCanary puts a unique value in a secret that an endpoint uses as its password,
// runs an integration that fails to connect with it, and reads everything the API can show:
// the value must be in no response and not in the server's log.
func TestSecretCanary(t *testing.T) {
	t.Parallel()
	h := newHub(t, true)
	admin := h.admin()
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	canary := "canary-" + hex.EncodeToString(b)

	h.must(http.StatusOK, h.do(http.MethodPut, BasePath+"/secrets/pg-canary", admin, map[string]any{"value": canary}), "put canary")
	// Two ways to fail with the password in the URL: a URL the driver cannot parse (at once)
	// and a server that is not there (retried with back-off, each retry logged).
	res := `apiVersion: datahub/v1
kind: System
metadata: {name: canary-system}
spec: {owner: security}
---
apiVersion: datahub/v1
kind: Endpoint
metadata: {name: canary-pg}
spec:
  system: canary-system
  type: postgres
  environments:
    DEV: {url: "postgres://app@127.0.0.1:1/db?sslmode=disable&connect_timeout=2"}
  secrets: {password: "secret:pg-canary"}
---
apiVersion: datahub/v1
kind: Endpoint
metadata: {name: canary-pg-bad}
spec:
  system: canary-system
  type: postgres
  environments:
    DEV: {url: "postgres://app@127.0.0.1:1/db?connect_timeout=bogus"}
  secrets: {password: "secret:pg-canary"}
---
apiVersion: datahub/v1
kind: Integration
metadata: {name: canary-copy}
spec:
  source: {endpoint: canary-pg, table: src}
  destination: {endpoint: canary-pg, table: dst, mode: append}
  trigger: {type: manual}
---
apiVersion: datahub/v1
kind: Integration
metadata: {name: canary-bad}
spec:
  source: {endpoint: canary-pg-bad, table: src}
  destination: {endpoint: canary-pg-bad, table: dst, mode: append}
  trigger: {type: manual}
`
	h.must(http.StatusOK, h.do(http.MethodPost, BasePath+"/apply", admin, res), "apply")
	var bodies []response
	var run runJSON
	for _, name := range []string{"canary-bad", "canary-copy"} {
		r := h.must(http.StatusOK, h.do(http.MethodPost, BasePath+"/integrations/"+name+"/runs?wait=true", admin, map[string]any{"env": "DEV"}), "run "+name)
		r.json(t, &run)
		if run.Status != "failed" || run.Error == "" || !strings.Contains(run.Error, "xxxxx") {
			t.Fatalf("run %s did not fail with the password in its URL: %s", name, r)
		}
		bodies = append(bodies, r)
	}

	vals := map[string]string{"kind": "endpoint", "name": "canary-pg", "version": "1", "id": run.ID}
	gets := 0
	for _, o := range operations(h.srv) {
		if o.method != http.MethodGet {
			continue
		}
		gets++
		for _, v := range []map[string]string{vals, {"kind": "integration", "name": "canary-copy", "id": run.ID}, {"kind": "endpoint", "name": "canary-pg-bad"}} {
			p := fill(o.path, v)
			if strings.HasSuffix(o.path, "/diff") {
				p += "?from=1&to=1"
			}
			for _, tok := range []string{admin, h.tokens[auth.RoleViewer]} {
				bodies = append(bodies, h.do(http.MethodGet, p, tok, nil))
			}
		}
	}
	bodies = append(bodies,
		h.do(http.MethodGet, BasePath+"/audit?limit=1000", admin, nil),
		h.do(http.MethodGet, BasePath+"/runs?status=failed", admin, nil),
		h.do(http.MethodGet, BasePath+"/resources/endpoint?label=", admin, nil),
		h.do(http.MethodGet, BasePath+"/openapi.json", "", nil),
	)
	ok := 0
	for _, b := range bodies {
		if b.status == http.StatusOK {
			ok++
		}
		if strings.Contains(b.String(), canary) {
			t.Errorf("the canary is in a response (%d): %.500s", b.status, b)
		}
	}
	if gets < 15 || ok < 30 {
		t.Fatalf("only %d GET operations and %d successful reads", gets, ok)
	}
	// The export keeps the reference, not the value.
	if exp := h.do(http.MethodGet, BasePath+"/export", admin, nil); !strings.Contains(exp.String(), "secret:pg-canary") {
		t.Errorf("export lost the secret reference: %s", exp)
	}
	logs := h.logs.String()
	if strings.Contains(logs, canary) {
		i := strings.Index(logs, canary)
		t.Errorf("the canary is in the log: ...%s...", logs[max(0, i-300):min(len(logs), i+100)])
	}
	if !strings.Contains(logs, "run_id="+run.ID) {
		t.Errorf("the log does not show the run (is it captured?):\n%s", logs)
	}
	// Nor on disk: the store's file (and its WAL), the data folder with the rejects and the
	// bus's files hold only the ciphertext.
	for _, root := range []string{filepath.Dir(h.db.Where), h.dir} {
		files := 0
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			files++
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if bytes.Contains(b, []byte(canary)) {
				t.Errorf("the canary is in %s", p)
			}
			return nil
		})
		if err != nil || files == 0 {
			t.Fatalf("scan %s: %d files, %v", root, files, err)
		}
	}
}
