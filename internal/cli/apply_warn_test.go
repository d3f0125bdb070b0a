package cli

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestApplyPrintsWarnings: apply prints the server's warnings (a secret that does not exist)
// on standard error, and still applies.
func TestApplyPrintsWarnings(t *testing.T) {
	hub(t)
	dir := catalogDir(t)
	writeFile(t, filepath.Join(dir, "9-pg.yaml"), `apiVersion: datahub/v1
kind: Endpoint
metadata: {name: crm-pg}
spec:
  system: crm
  type: postgres
  environments: {DEV: {url: "postgres://app@db:5432/crm"}}
  secrets: {password: "secret:crm-pg-dev"}
`)
	out, errOut := remoteRun(t, 0, "apply", "-f", dir)
	want := `Warning: Endpoint "crm-pg" spec.secrets.password: secret "crm-pg-dev" does not exist yet`
	if !strings.Contains(errOut, want) || !strings.Contains(out, "crm-pg") {
		t.Fatalf("stdout:\n%s\nstderr:\n%s\nwant %q", out, errOut, want)
	}
}
