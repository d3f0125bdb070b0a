package auth

import (
	"errors"

	"github.com/datahub-oss/datahub/connector"
)

// The errors callers tell apart, with codes from the project's catalogue so the API and CLI
// map them without knowing this package. Test with errors.Is.
var (
	// ErrInvalidCredentials is the one error of a failed password login, whatever the cause
	// (unknown user, wrong password, disabled user, user without a password), so a caller
	// cannot tell which names exist.
	ErrInvalidCredentials = codeErr(connector.CodeAuth, "invalid user name or password")
	// ErrInvalidToken is the error of a failed token check. ErrTokenExpired and
	// ErrTokenRevoked wrap it; they are only given for a real token, which only its holder has.
	ErrInvalidToken = codeErr(connector.CodeAuth, "invalid token")
	// ErrTokenExpired: the token was real but has expired.
	ErrTokenExpired = &connector.Error{Code: connector.CodeAuth, Err: wrapMsg{"token expired", ErrInvalidToken}}
	// ErrTokenRevoked: the token was real but has been revoked.
	ErrTokenRevoked = &connector.Error{Code: connector.CodeAuth, Err: wrapMsg{"token revoked", ErrInvalidToken}}
	// ErrForbidden: the principal lacks the permission for what it asked.
	ErrForbidden = codeErr(connector.CodePermission, "permission denied")
	// ErrNotFound: no such user or token.
	ErrNotFound = codeErr(connector.CodeNotFound, "not found")
	// ErrNameTaken: a user with that name exists.
	ErrNameTaken = codeErr(connector.CodeConflict, "user name taken")
	// ErrWeakPassword: the password breaks the policy (see MinPasswordLen).
	ErrWeakPassword = codeErr(connector.CodeUsage, "password too short: at least 12 characters are needed")
	// ErrLastAdmin: the change would leave no enabled admin.
	ErrLastAdmin = codeErr(connector.CodeConflict, "the hub needs at least one enabled admin")
)

func codeErr(c connector.Code, msg string) *connector.Error {
	return &connector.Error{Code: c, Err: errors.New(msg)}
}

// wrapMsg is an error with its own message that still matches its parent with errors.Is.
type wrapMsg struct {
	msg    string
	parent error
}

func (w wrapMsg) Error() string { return w.msg }
func (w wrapMsg) Unwrap() error { return w.parent }

func usageErr(err error) error { return connector.Errorf(connector.CodeUsage, "", "", err) }
