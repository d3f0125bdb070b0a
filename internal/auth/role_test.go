package auth

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/tabwriter"
)

// renderTable writes the role table as the golden file has it: one row per permission, one
// column per role; "yes", "-", or the environments a grant is limited to. It is built from
// Allowed and AllowedIn, not from the map, so the golden file checks the functions callers use.
func renderTable() []byte {
	envs := []string{"DEV", "SIT", "UAT", "MPE", "PROD"}
	var b bytes.Buffer
	b.WriteString("# Which role holds which permission: yes, -, or the environments a grant is limited to.\n")
	b.WriteString("# Regenerate with: go test ./internal/auth -run TestRoleTableGolden -update\n")
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprint(w, "permission")
	for _, r := range Roles() {
		fmt.Fprintf(w, "\t%s", r)
	}
	fmt.Fprintln(w)
	for _, p := range Permissions() {
		fmt.Fprint(w, p)
		for _, r := range Roles() {
			rs := []Role{r}
			cell := "-"
			if Allowed(rs, p) {
				var in []string
				for _, e := range envs {
					if AllowedIn(rs, p, e) {
						in = append(in, e)
					}
				}
				cell = "yes"
				if len(in) < len(envs) {
					cell = strings.Join(in, ",")
				}
			}
			fmt.Fprintf(w, "\t%s", cell)
		}
		fmt.Fprintln(w)
	}
	_ = w.Flush()
	return b.Bytes()
}

func TestRoleTableGolden(t *testing.T) {
	path := filepath.Join("testdata", "permissions.golden")
	got := renderTable()
	if *update {
		if err := os.WriteFile(path, got, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("the role table changed; if that is deliberate, run with -update and review the diff.\ngot:\n%s\nwant:\n%s", got, want)
	}
}

// TestTableComplete keeps the table, Roles and Permissions in step, so the route walk in the
// API tests (every route × every role) sees every role and permission.
func TestTableComplete(t *testing.T) {
	if len(table) != len(Roles()) {
		t.Errorf("table has %d roles, Roles() %d", len(table), len(Roles()))
	}
	known := map[Permission]bool{}
	for _, p := range Permissions() {
		if known[p] {
			t.Errorf("permission %s listed twice", p)
		}
		known[p] = true
	}
	for r, grants := range table {
		if _, err := ParseRole(string(r)); err != nil {
			t.Error(err)
		}
		for p := range grants {
			if !known[p] {
				t.Errorf("role %s holds %s, which Permissions() does not list", r, p)
			}
		}
	}
	for _, p := range Permissions() {
		held := false
		for _, r := range Roles() {
			held = held || Allowed([]Role{r}, p)
		}
		if !held {
			t.Errorf("no role holds %s", p)
		}
	}
}

func TestAllowedEveryCell(t *testing.T) {
	// The invariants the issue states, checked cell by cell independently of the golden file.
	for _, r := range Roles() {
		for _, p := range Permissions() {
			got := Allowed([]Role{r}, p)
			var want bool
			switch r {
			case RoleAdmin:
				want = p != PermApprovalsDecide && p != PermEndpointsApprove
			case RoleViewer:
				want = p == PermResourcesRead || p == PermRunsRead || p == PermUsersRead || p == PermTokensSelf || p == PermAuditRead
			case RoleApprover:
				want = p == PermApprovalsDecide || Allowed([]Role{RoleViewer}, p)
			case RoleEndpointOwner:
				want = p == PermEndpointsApprove || Allowed([]Role{RoleViewer}, p)
			case RoleOperator:
				want = p == PermRunsCreate || p == PermRunsCancel || p == PermDataRead || p == PermSecretsRead || Allowed([]Role{RoleViewer}, p)
			case RoleIntegrator:
				want = p == PermResourcesWrite || p == PermRunsCreate || p == PermRunsCancel || p == PermDataRead ||
					p == PermSecretsRead || p == PermSecretsWrite || Allowed([]Role{RoleViewer}, p)
			}
			if got != want {
				t.Errorf("Allowed(%s, %s) = %v, want %v", r, p, got, want)
			}
		}
	}
}

func TestCanRun(t *testing.T) {
	for _, tc := range []struct {
		roles []Role
		env   string
		want  bool
	}{
		{[]Role{RoleIntegrator}, "DEV", true},
		{[]Role{RoleIntegrator}, "sit", true},
		{[]Role{RoleIntegrator}, "UAT", true},
		{[]Role{RoleIntegrator}, "MPE", false},
		{[]Role{RoleIntegrator}, "PROD", false},
		{[]Role{RoleIntegrator}, "", false},
		{[]Role{RoleOperator}, "PROD", true},
		{[]Role{RoleOperator}, "MPE", true},
		{[]Role{RoleAdmin}, "PROD", true},
		{[]Role{RoleViewer}, "DEV", false},
		{[]Role{RoleApprover, RoleEndpointOwner}, "DEV", false},
		{[]Role{RoleIntegrator, RoleOperator}, "PROD", true},
		{nil, "DEV", false},
		{[]Role{"root"}, "DEV", false},
	} {
		if got := CanRun(tc.roles, tc.env); got != tc.want {
			t.Errorf("CanRun(%v, %q) = %v, want %v", tc.roles, tc.env, got, tc.want)
		}
	}
	if CanCancel([]Role{RoleIntegrator}, "PROD") || !CanCancel([]Role{RoleIntegrator}, "DEV") || !CanCancel([]Role{RoleOperator}, "PROD") {
		t.Error("CanCancel does not follow the table")
	}
}

func TestParseRole(t *testing.T) {
	if r, err := ParseRole(" Endpoint-Owner "); err != nil || r != RoleEndpointOwner {
		t.Errorf("ParseRole = %q, %v", r, err)
	}
	if _, err := ParseRole("root"); err == nil {
		t.Error("ParseRole accepted an unknown role")
	}
	got, err := normRoles([]Role{"viewer", "admin", "VIEWER"})
	if err != nil || len(got) != 2 || got[0] != RoleAdmin || got[1] != RoleViewer {
		t.Errorf("normRoles = %v, %v", got, err)
	}
}
