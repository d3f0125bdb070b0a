package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Password policy: length is what makes a password strong (NIST SP 800-63B); no composition
// rules. The upper bound only keeps a request from feeding megabytes to the hash.
const (
	MinPasswordLen = 12   // characters
	MaxPasswordLen = 1024 // bytes
)

// Params are argon2id's cost parameters.
type Params struct {
	Time    uint32 // passes over memory
	Memory  uint32 // KiB
	Threads uint8  // lanes
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
}

// DefaultParams are RFC 9106's second recommended option (section 4), for machines that
// cannot spend 2 GiB per hash: argon2id, t=3, m=64 MiB, p=4, 128-bit salt, 256-bit tag. About
// 100 ms on a current server core; the Service bounds how many hashes run at once so a burst
// of logins cannot take more than hashSlots × 64 MiB.
var DefaultParams = Params{Time: 3, Memory: 64 * 1024, Threads: 4, SaltLen: 16, KeyLen: 32}

// Bounds on parameters read from a stored hash: a corrupted or hostile row must not make a
// login allocate gigabytes or loop for minutes.
const (
	maxMemory  = 1 << 20 // KiB: 1 GiB
	maxTime    = 64
	minSaltLen = 8
	maxSaltLen = 64
	minKeyLen  = 16
	maxKeyLen  = 64
)

var b64 = base64.RawStdEncoding.Strict()

// checkPassword applies the password policy.
func checkPassword(pw string) error {
	if len(pw) > MaxPasswordLen {
		return usageErr(fmt.Errorf("password too long: at most %d bytes", MaxPasswordLen))
	}
	if utf8.RuneCountInString(pw) < MinPasswordLen {
		return ErrWeakPassword
	}
	return nil
}

// hashPassword returns the PHC string of pw under p:
// $argon2id$v=19$m=65536,t=3,p=4$<salt>$<hash>, salt and hash in unpadded standard base64.
func hashPassword(pw string, p Params) (string, error) {
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return encodePHC(p, salt, key), nil
}

func encodePHC(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

var errBadHash = errors.New("stored password hash is not an argon2id PHC string")

// parsePHC reads a PHC string written by encodePHC. It is strict: anything encodePHC would
// not write is refused, and parameters outside sane bounds are refused.
func parsePHC(s string) (Params, []byte, []byte, error) {
	var p Params
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, errBadHash
	}
	kv := strings.Split(parts[3], ",")
	if len(kv) != 3 {
		return p, nil, nil, errBadHash
	}
	m, ok1 := phcInt(kv[0], "m=", maxMemory)
	t, ok2 := phcInt(kv[1], "t=", maxTime)
	th, ok3 := phcInt(kv[2], "p=", 255)
	if !ok1 || !ok2 || !ok3 || t < 1 || th < 1 || m < 8*th {
		return p, nil, nil, errBadHash
	}
	// The decoder skips CR and LF; refuse them so that a hash has one spelling.
	if strings.ContainsAny(parts[4]+parts[5], "\r\n") {
		return p, nil, nil, errBadHash
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < minSaltLen || len(salt) > maxSaltLen {
		return p, nil, nil, errBadHash
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < minKeyLen || len(key) > maxKeyLen {
		return p, nil, nil, errBadHash
	}
	p = Params{Time: uint32(t), Memory: uint32(m), Threads: uint8(th), SaltLen: uint32(len(salt)), KeyLen: uint32(len(key))} // #nosec G115 -- bounded above
	return p, salt, key, nil
}

// phcInt reads "k=N" with N a canonical decimal in [0, max].
func phcInt(s, key string, maxVal uint64) (uint64, bool) {
	v, ok := strings.CutPrefix(s, key)
	if !ok || v == "" || (len(v) > 1 && v[0] == '0') {
		return 0, false
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil || n > maxVal {
		return 0, false
	}
	return n, true
}

// verifyPassword checks pw against a stored PHC string in constant time (in the hash) and
// reports whether the hash should be redone with want.
func verifyPassword(encoded, pw string, want Params) (ok, rehash bool, err error) {
	p, salt, key, err := parsePHC(encoded)
	if err != nil {
		return false, false, err
	}
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	if subtle.ConstantTimeCompare(got, key) != 1 {
		return false, false, nil
	}
	return true, p != want, nil
}
