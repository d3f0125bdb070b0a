package secret

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
)

// The reference prefixes.
const (
	PrefixSecret = "secret:"
	PrefixEnv    = "env:"
	PrefixFile   = "file:"
)

// MaxFileSize bounds what a file: reference reads, so a reference to /dev/zero or a log file
// fails instead of filling memory.
const MaxFileSize = 1 << 20

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// IsRef reports whether s is a secret reference: secret:NAME, env:NAME or file:PATH with a
// non-empty NAME or PATH. Prefixes are lower case.
func IsRef(s string) bool {
	for _, p := range []string{PrefixSecret, PrefixEnv, PrefixFile} {
		if rest, ok := strings.CutPrefix(s, p); ok && rest != "" {
			return true
		}
	}
	return false
}

// ResolveOptions tune ResolveWith.
type ResolveOptions struct {
	// AllowLiteral returns a value that is not a reference as it is (and learns it for
	// redaction). Off by default: fields meant for secrets should not hold them inline.
	AllowLiteral bool
}

// Resolve returns the value a reference names; see ResolveWith. Literal values are refused.
func (s *Service) Resolve(ctx context.Context, ref string) (string, error) {
	return s.ResolveWith(ctx, ref, ResolveOptions{})
}

// ResolveWith returns the value a reference names:
//
//	secret:NAME  the stored secret NAME
//	env:NAME     the environment variable NAME (set but empty is allowed; unset is an error)
//	file:PATH    the file's content, with one trailing newline (\n or \r\n) removed
//
// Every value resolved is added to the service's Redactor. Errors name the reference, never a
// value. A nil *Service resolves env: and file: only, for commands that run without a store.
func (s *Service) ResolveWith(ctx context.Context, ref string, opts ResolveOptions) (string, error) {
	v, err := s.resolve(ctx, ref, opts)
	if err != nil {
		return "", err
	}
	if s != nil {
		s.red.Add(v)
	}
	return v, nil
}

func (s *Service) resolve(ctx context.Context, ref string, opts ResolveOptions) (string, error) {
	switch {
	case strings.HasPrefix(ref, PrefixSecret):
		name := ref[len(PrefixSecret):]
		if s == nil || s.db == nil {
			return "", fmt.Errorf("resolve %s%s: secret references need the hub's secret store", PrefixSecret, name)
		}
		v, err := s.Get(ctx, name)
		if err != nil {
			return "", fmt.Errorf("resolve %s%s: %w", PrefixSecret, name, err)
		}
		return string(v), nil
	case strings.HasPrefix(ref, PrefixEnv):
		name := ref[len(PrefixEnv):]
		if !envNameRE.MatchString(name) {
			return "", fmt.Errorf("resolve %s%s: invalid environment variable name", PrefixEnv, name)
		}
		v, ok := os.LookupEnv(name)
		if !ok {
			return "", fmt.Errorf("resolve %s%s: environment variable %s is not set", PrefixEnv, name, name)
		}
		return v, nil
	case strings.HasPrefix(ref, PrefixFile):
		path := ref[len(PrefixFile):]
		if path == "" {
			return "", errors.New("resolve file:: no path")
		}
		return readSecretFile(path)
	}
	if !opts.AllowLiteral {
		return "", fmt.Errorf("expected a secret reference (%sNAME, %sNAME or %sPATH), not an inline value", PrefixSecret, PrefixEnv, PrefixFile)
	}
	return ref, nil
}

func readSecretFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("resolve %s%s: %w", PrefixFile, path, unwrapPath(err))
	}
	defer func() { _ = f.Close() }()
	b, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return "", fmt.Errorf("resolve %s%s: %w", PrefixFile, path, unwrapPath(err))
	}
	if len(b) > MaxFileSize {
		return "", fmt.Errorf("resolve %s%s: the file is larger than %d bytes", PrefixFile, path, MaxFileSize)
	}
	s := string(b)
	if t, ok := strings.CutSuffix(s, "\r\n"); ok {
		return t, nil
	}
	return strings.TrimSuffix(s, "\n"), nil
}

// unwrapPath drops the *PathError's own copy of the path, which the message already names.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
