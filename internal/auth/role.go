package auth

import (
	"fmt"
	"slices"
	"strings"
)

// Role is a named set of permissions given to a user.
type Role string

// The roles. A user holds any number of them; their permissions add up.
const (
	// RoleAdmin may do everything except decide approvals (see the table).
	RoleAdmin Role = "admin"
	// RoleIntegrator writes resources and runs integrations in DEV, SIT and UAT.
	RoleIntegrator Role = "integrator"
	// RoleOperator runs, re-runs and cancels runs in any environment.
	RoleOperator Role = "operator"
	// RoleApprover decides approvals (engagements, promotions, agreements).
	RoleApprover Role = "approver"
	// RoleEndpointOwner approves the use of the endpoints they own.
	RoleEndpointOwner Role = "endpoint-owner"
	// RoleViewer reads everything except secrets.
	RoleViewer Role = "viewer"
)

// Permission is one thing a route or command needs. The API attaches exactly one to every
// route; the table below says which roles hold it.
type Permission string

// The permissions.
const (
	PermResourcesRead  Permission = "resources.read"  // get, list, export, history, diff
	PermResourcesWrite Permission = "resources.write" // apply, delete
	PermRunsRead       Permission = "runs.read"       // runs, statistics, object records
	// PermDataRead reads data that passed through the hub: rejected records, topic messages
	// and dead letters with their bodies. Viewers (and approvers, endpoint owners) see runs
	// and their statistics, not the data; governance will refine this by classification.
	PermDataRead Permission = "data.read"
	// PermRunsCreate starts and re-runs integrations. It is scoped by environment: check
	// CanRun (or AllowedIn) with the run's environment as well as Allowed on the route.
	PermRunsCreate Permission = "runs.create"
	// PermRunsCancel cancels runs; scoped by environment like PermRunsCreate.
	PermRunsCancel Permission = "runs.cancel"
	// PermSecretsRead lists secrets and their metadata. Values are never returned by the
	// API; they are only decrypted for a run.
	PermSecretsRead  Permission = "secrets.read"
	PermSecretsWrite Permission = "secrets.write" // create, replace, delete secrets
	PermUsersRead    Permission = "users.read"    // list users and their roles (never hashes)
	PermUsersManage  Permission = "users.manage"  // create users, set passwords and roles, disable
	// PermTokensSelf creates, lists and revokes one's own API tokens.
	PermTokensSelf Permission = "tokens.self"
	// PermTokensManage lists and revokes other users' tokens, creates tokens for them and
	// creates tokens that never expire.
	PermTokensManage     Permission = "tokens.manage"
	PermAuditRead        Permission = "audit.read"        // list and verify the audit log
	PermApprovalsDecide  Permission = "approvals.decide"  // approve or reject a pending approval
	PermEndpointsApprove Permission = "endpoints.approve" // approve the use of an owned endpoint
)

// lowerEnvs are the environments where integrators may run and cancel runs.
var lowerEnvs = []string{"DEV", "SIT", "UAT"}

// anyEnv marks a grant that holds in every environment (and for permissions that have none).
var anyEnv []string

// table is the one place that says which role holds which permission. A grant's value lists
// the environments it is limited to; anyEnv (nil) means everywhere. testdata/permissions.golden
// mirrors it so that a change is deliberate.
//
// Admin holds everything except approvals.decide and endpoints.approve: approvals keep two
// pairs of eyes, so an admin who must also approve is given the approver role explicitly.
var table = map[Role]map[Permission][]string{
	RoleAdmin: {
		PermResourcesRead: anyEnv, PermResourcesWrite: anyEnv,
		PermRunsRead: anyEnv, PermRunsCreate: anyEnv, PermRunsCancel: anyEnv, PermDataRead: anyEnv,
		PermSecretsRead: anyEnv, PermSecretsWrite: anyEnv,
		PermUsersRead: anyEnv, PermUsersManage: anyEnv,
		PermTokensSelf: anyEnv, PermTokensManage: anyEnv,
		PermAuditRead: anyEnv,
	},
	RoleIntegrator: {
		PermResourcesRead: anyEnv, PermResourcesWrite: anyEnv,
		PermRunsRead: anyEnv, PermRunsCreate: lowerEnvs, PermRunsCancel: lowerEnvs, PermDataRead: anyEnv,
		PermSecretsRead: anyEnv, PermSecretsWrite: anyEnv,
		PermUsersRead: anyEnv, PermTokensSelf: anyEnv, PermAuditRead: anyEnv,
	},
	RoleOperator: {
		PermResourcesRead: anyEnv,
		PermRunsRead:      anyEnv, PermRunsCreate: anyEnv, PermRunsCancel: anyEnv, PermDataRead: anyEnv,
		PermSecretsRead: anyEnv,
		PermUsersRead:   anyEnv, PermTokensSelf: anyEnv, PermAuditRead: anyEnv,
	},
	RoleApprover: {
		PermResourcesRead: anyEnv, PermRunsRead: anyEnv,
		PermUsersRead: anyEnv, PermTokensSelf: anyEnv, PermAuditRead: anyEnv,
		PermApprovalsDecide: anyEnv,
	},
	RoleEndpointOwner: {
		PermResourcesRead: anyEnv, PermRunsRead: anyEnv,
		PermUsersRead: anyEnv, PermTokensSelf: anyEnv, PermAuditRead: anyEnv,
		PermEndpointsApprove: anyEnv,
	},
	RoleViewer: {
		PermResourcesRead: anyEnv, PermRunsRead: anyEnv,
		PermUsersRead: anyEnv, PermTokensSelf: anyEnv, PermAuditRead: anyEnv,
	},
}

// Roles returns every role, in a fixed order.
func Roles() []Role {
	return []Role{RoleAdmin, RoleIntegrator, RoleOperator, RoleApprover, RoleEndpointOwner, RoleViewer}
}

// Permissions returns every permission, in a fixed order.
func Permissions() []Permission {
	return []Permission{
		PermResourcesRead, PermResourcesWrite,
		PermRunsRead, PermRunsCreate, PermRunsCancel, PermDataRead,
		PermSecretsRead, PermSecretsWrite,
		PermUsersRead, PermUsersManage,
		PermTokensSelf, PermTokensManage,
		PermAuditRead, PermApprovalsDecide, PermEndpointsApprove,
	}
}

// Allowed reports whether any of the roles holds p. For a permission limited to some
// environments it reports whether it is held in at least one; the handler then checks the
// environment at hand with AllowedIn or CanRun.
func Allowed(roles []Role, p Permission) bool {
	for _, r := range roles {
		if _, ok := table[r][p]; ok {
			return true
		}
	}
	return false
}

// AllowedIn reports whether any of the roles holds p in environment env (case-insensitive).
// An empty environment is allowed only by grants that hold everywhere.
func AllowedIn(roles []Role, p Permission, env string) bool {
	env = strings.ToUpper(strings.TrimSpace(env))
	for _, r := range roles {
		envs, ok := table[r][p]
		if !ok {
			continue
		}
		if envs == nil || (env != "" && slices.Contains(envs, env)) {
			return true
		}
	}
	return false
}

// CanRun reports whether the roles may start (or re-run) a run in env: integrators only in
// DEV, SIT and UAT; operators and admins anywhere.
func CanRun(roles []Role, env string) bool { return AllowedIn(roles, PermRunsCreate, env) }

// CanCancel reports whether the roles may cancel a run in env.
func CanCancel(roles []Role, env string) bool { return AllowedIn(roles, PermRunsCancel, env) }

// ParseRole checks a role name.
func ParseRole(s string) (Role, error) {
	r := Role(strings.ToLower(strings.TrimSpace(s)))
	if _, ok := table[r]; !ok {
		return "", fmt.Errorf("unknown role %q (roles: %s)", s, roleList())
	}
	return r, nil
}

// normRoles checks roles and returns them sorted without duplicates.
func normRoles(in []Role) ([]Role, error) {
	out := make([]Role, 0, len(in))
	for _, r := range in {
		pr, err := ParseRole(string(r))
		if err != nil {
			return nil, usageErr(err)
		}
		out = append(out, pr)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

func roleList() string {
	var names []string
	for _, r := range Roles() {
		names = append(names, string(r))
	}
	return strings.Join(names, ", ")
}
