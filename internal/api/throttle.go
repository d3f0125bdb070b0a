package api

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/datahub-oss/datahub/internal/throttle"
)

// loginLimits back off failed logins per user name and per client address, in memory and per
// process. A user name gets a few failures, then every further one locks it out for a time
// that doubles (1 s, 2 s, 4 s ... up to 15 min); an address gets more before its first
// lock-out, since many people may sign in from behind one NAT or proxy, and a shorter cap.
// During a lock-out every attempt is refused with 429 before the password is even hashed, the
// right password included; a successful login clears the user name's failures (not the
// address's, or one valid account would reset an address that guesses at others). Checking
// bearer tokens is not throttled: API calls with a bad token answer 401 at once.
type loginLimits struct {
	users, addrs *throttle.Limiter
}

func newLoginLimits(now func() time.Time) *loginLimits {
	return &loginLimits{
		users: throttle.New(throttle.Config{Free: 5, Base: time.Second, Max: 15 * time.Minute, Now: now}),
		addrs: throttle.New(throttle.Config{Free: 20, Base: time.Second, Max: 5 * time.Minute, Now: now}),
	}
}

// loginAttempt is one attempt let through; exactly one of its methods must be called.
type loginAttempt struct {
	l          *loginLimits
	user, addr string
}

// begin lets an attempt for user (may be empty: OIDC) from addr go ahead, or refuses it with
// a 429 that says when to try again. Refused attempts are not counted and not audited (the
// access log has them): a flood of them must not flood the audit log.
func (l *loginLimits) begin(user, addr string) (*loginAttempt, error) {
	a := &loginAttempt{l: l, user: user, addr: addrKey(addr)}
	wait := l.addrs.Allow(a.addr)
	if wait == 0 && user != "" {
		if wait = l.users.Allow(user); wait > 0 {
			l.addrs.Done(a.addr, false)
		}
	}
	if wait > 0 {
		return nil, throttled(wait)
	}
	return a, nil
}

// failed counts a failed attempt and returns the lock-out now in force (0: none yet).
func (a *loginAttempt) failed() time.Duration {
	a.l.addrs.Done(a.addr, true)
	locked := a.l.addrs.Locked(a.addr)
	if a.user != "" {
		a.l.users.Done(a.user, true)
		locked = max(locked, a.l.users.Locked(a.user))
	}
	return locked
}

// succeeded clears the user name's failures.
func (a *loginAttempt) succeeded() {
	a.l.addrs.Done(a.addr, false)
	if a.user != "" {
		a.l.users.Done(a.user, false)
		a.l.users.Reset(a.user)
	}
}

// abandoned releases an attempt that neither failed nor succeeded (the store did not answer).
func (a *loginAttempt) abandoned() {
	a.l.addrs.Done(a.addr, false)
	if a.user != "" {
		a.l.users.Done(a.user, false)
	}
}

// addrKey is the back-off key of a client address: IPv4 in one spelling (also when mapped
// into IPv6), IPv6 addresses by their /64, which one client usually holds whole.
func addrKey(addr string) string {
	ip := net.ParseIP(addr)
	if ip == nil {
		return addr
	}
	if v4 := ip.To4(); v4 != nil {
		return v4.String()
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// throttled is the 429 of a locked-out login, with Retry-After in whole seconds.
func throttled(wait time.Duration) *Error {
	secs := int64(math.Ceil(wait.Seconds()))
	e := apiError(http.StatusTooManyRequests, fmt.Sprintf(
		"too many failed logins for this user name or from this address: try again in %d s", secs))
	e.headers = http.Header{"Retry-After": {strconv.FormatInt(secs, 10)}}
	return e
}
