package secret

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/datahub-oss/datahub/internal/store"
	"github.com/datahub-oss/datahub/internal/store/storetest"
)

func canary(t *testing.T) string {
	t.Helper()
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "canary-" + hex.EncodeToString(b)
}

func TestServiceRoundTrip(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := New(db, mustRing(t, mustKey(t)))
		if err := s.Put(ctx, "db.password", []byte("first-value"), "alice"); err != nil {
			t.Fatal(err)
		}
		if err := s.Put(ctx, "db.password", []byte("second-value"), "bob"); err != nil {
			t.Fatal(err)
		}
		if err := s.Put(ctx, "api_token-2", []byte{0, 1, 2, 255}, "alice"); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, "db.password")
		if err != nil || string(got) != "second-value" {
			t.Fatalf("Get = %q, %v", got, err)
		}
		if got, err := s.Get(ctx, "api_token-2"); err != nil || !bytes.Equal(got, []byte{0, 1, 2, 255}) {
			t.Fatalf("Get binary = %v, %v", got, err)
		}
		list, err := s.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[0].Name != "api_token-2" || list[1].Name != "db.password" {
			t.Fatalf("List = %+v", list)
		}
		if in := list[1]; in.CreatedBy != "alice" || in.KeyID != s.KeyID() || in.CreatedAt.IsZero() || in.UpdatedAt.Before(in.CreatedAt) {
			t.Fatalf("List entry = %+v", in)
		}
		if err := s.Delete(ctx, "db.password"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, "db.password"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get after Delete: %v", err)
		}
		if err := s.Delete(ctx, "db.password"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Delete twice: %v", err)
		}
		for _, bad := range []string{"", ".x", "-x", "a b", "a/b", strings.Repeat("a", 129), "ü"} {
			if err := s.Put(ctx, bad, []byte("value"), "alice"); err == nil {
				t.Errorf("Put(%q) accepted", bad)
			}
		}
		if err := s.Put(ctx, strings.Repeat("a", 128), []byte("value"), "alice"); err != nil {
			t.Errorf("128-character name refused: %v", err)
		}
		if err := s.Put(ctx, "empty", nil, "alice"); err == nil {
			t.Error("empty value accepted")
		}
	})
}

// The plaintext never reaches the database: not the SQLite file (nor its WAL), not the
// PostgreSQL column.
func TestServiceNoPlaintextAtRest(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := New(db, mustRing(t, mustKey(t)))
		c := canary(t)
		if err := s.Put(ctx, "canary", []byte(c), "alice"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Rotate(ctx, mustKey(t)); err != nil {
			t.Fatal(err)
		}
		rows, err := db.Query(ctx, `SELECT name, ciphertext, key_id, created_at, updated_at, created_by FROM secret_values`)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for rows.Next() {
			var name, keyID, ca, ua, by string
			var ct []byte
			if err := rows.Scan(&name, &ct, &keyID, &ca, &ua, &by); err != nil {
				t.Fatal(err)
			}
			n++
			if bytes.Contains(ct, []byte(c)) || strings.Contains(name+keyID+ca+ua+by, c) {
				t.Fatal("the table holds the plaintext")
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		if n != 1 {
			t.Fatalf("%d rows", n)
		}
		if db.Dialect == store.SQLite {
			for _, p := range []string{db.Where, db.Where + "-wal"} {
				b, err := os.ReadFile(p)
				if err != nil && !errors.Is(err, os.ErrNotExist) {
					t.Fatal(err)
				}
				if bytes.Contains(b, []byte(c)) {
					t.Fatalf("%s contains the plaintext", filepath.Base(p))
				}
			}
		}
	})
}

func TestServiceSwappedAndTampered(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := New(db, mustRing(t, mustKey(t)))
		if err := s.Put(ctx, "a", []byte("value-of-a"), "alice"); err != nil {
			t.Fatal(err)
		}
		if err := s.Put(ctx, "b", []byte("value-of-b"), "alice"); err != nil {
			t.Fatal(err)
		}
		// Someone with database access copies a's ciphertext over b's.
		if _, err := db.Exec(ctx, `UPDATE secret_values SET ciphertext = (SELECT ciphertext FROM secret_values WHERE name = 'a') WHERE name = 'b'`); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, "b"); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("Get of a swapped ciphertext: %v", err)
		}
		var ct []byte
		if err := db.QueryRow(ctx, `SELECT ciphertext FROM secret_values WHERE name = ?`, "a").Scan(&ct); err != nil {
			t.Fatal(err)
		}
		ct[len(ct)-1] ^= 0x80
		if _, err := db.Exec(ctx, `UPDATE secret_values SET ciphertext = ? WHERE name = ?`, ct, "a"); err != nil {
			t.Fatal(err)
		}
		_, err := s.Get(ctx, "a")
		if !errors.Is(err, ErrDecrypt) || !strings.Contains(err.Error(), "secret a") || strings.Contains(err.Error(), "value-of-a") {
			t.Fatalf("Get of a tampered ciphertext: %v", err)
		}
	})
}

func TestServiceWrongKeyAndRotate(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		old, next := mustKey(t), mustKey(t)
		s := New(db, mustRing(t, old))
		values := map[string]string{}
		for i := range 20 {
			name := "s" + string(rune('a'+i))
			values[name] = canary(t)
			if err := s.Put(ctx, name, []byte(values[name]), "alice"); err != nil {
				t.Fatal(err)
			}
		}
		other := New(db, mustRing(t, mustKey(t)))
		_, err := other.Get(ctx, "sa")
		var wk *WrongKeyError
		if !errors.As(err, &wk) || wk.Want != old.ID() || !strings.Contains(err.Error(), "secret sa") {
			t.Fatalf("Get with the wrong key: %v", err)
		}

		if _, err := s.Rotate(ctx, old); err == nil {
			t.Fatal("rotating to the current key succeeded")
		}
		n, err := s.Rotate(ctx, next)
		if err != nil || n != len(values) {
			t.Fatalf("Rotate = %d, %v; want %d", n, err, len(values))
		}
		if s.KeyID() != next.ID() {
			t.Fatal("the service still seals with the old key")
		}
		list, err := s.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range list {
			if in.KeyID != next.ID() {
				t.Fatalf("%s still under key %s", in.Name, in.KeyID)
			}
		}
		for name, v := range values {
			got, err := s.Get(ctx, name)
			if err != nil || string(got) != v {
				t.Fatalf("Get(%s) after rotation = %q, %v", name, got, err)
			}
		}
		// A server still holding the old key can no longer read anything.
		stale := New(db, mustRing(t, old))
		if _, err := stale.Get(ctx, "sa"); !errors.As(err, &wk) {
			t.Fatalf("old key after rotation: %v", err)
		}
		// Nor can the old key open the stored bytes directly.
		var ct []byte
		if err := db.QueryRow(ctx, `SELECT ciphertext FROM secret_values WHERE name = ?`, "sa").Scan(&ct); err != nil {
			t.Fatal(err)
		}
		forged := bytes.Clone(ct)
		copy(forged[1:headerLen], old.id[:])
		if _, err := mustRing(t, old).Decrypt("sa", forged); err == nil {
			t.Fatal("the old key opened a rotated ciphertext")
		}
	})
}

// A rotation that fails half way (a secret that no loaded key opens) changes nothing.
func TestServiceRotateAtomic(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		k := mustKey(t)
		s := New(db, mustRing(t, k))
		for _, name := range []string{"a", "b", "c"} {
			if err := s.Put(ctx, name, []byte("value-"+name), "alice"); err != nil {
				t.Fatal(err)
			}
		}
		if err := New(db, mustRing(t, mustKey(t))).Put(ctx, "z-foreign", []byte("value-z"), "mallory"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Rotate(ctx, mustKey(t)); err == nil || !strings.Contains(err.Error(), "z-foreign") {
			t.Fatalf("Rotate over an unreadable secret: %v", err)
		}
		if s.KeyID() != k.ID() {
			t.Fatal("a failed rotation switched the key")
		}
		for _, name := range []string{"a", "b", "c"} {
			if _, err := s.Get(ctx, name); err != nil {
				t.Fatalf("after a failed rotation: %v", err)
			}
		}
	})
}

func TestResolve(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := New(db, mustRing(t, mustKey(t)))
		if err := s.Put(ctx, "pg", []byte("stored-password"), "alice"); err != nil {
			t.Fatal(err)
		}
		t.Setenv("DATAHUB_TEST_SECRET_ENV", "env-password")
		t.Setenv("DATAHUB_TEST_SECRET_EMPTY", "")
		unsetEnv(t, "DATAHUB_TEST_SECRET_UNSET")
		dir := t.TempDir()
		write := func(name, content string) string {
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			return p
		}
		lf := write("lf", "file-password\n")
		crlf := write("crlf", "crlf-password\r\n")
		two := write("two", "two-newlines\n\n")
		big := write("big", strings.Repeat("x", MaxFileSize+1))
		missing := filepath.Join(dir, "missing")

		for _, c := range []struct {
			ref, want string
			lit       bool
			errHas    string
		}{
			{ref: "secret:pg", want: "stored-password"},
			{ref: "env:DATAHUB_TEST_SECRET_ENV", want: "env-password"},
			{ref: "env:DATAHUB_TEST_SECRET_EMPTY", want: ""},
			{ref: "file:" + lf, want: "file-password"},
			{ref: "file:" + crlf, want: "crlf-password"},
			{ref: "file:" + two, want: "two-newlines\n"},
			{ref: "plain-literal", want: "plain-literal", lit: true},
			{ref: "secret:nope", errHas: "secret:nope"},
			{ref: "secret:bad name", errHas: "invalid secret name"},
			{ref: "env:DATAHUB_TEST_SECRET_UNSET", errHas: "DATAHUB_TEST_SECRET_UNSET is not set"},
			{ref: "env:1BAD", errHas: "invalid environment variable name"},
			{ref: "file:" + missing, errHas: missing},
			{ref: "file:" + big, errHas: "larger than"},
			{ref: "file:", errHas: "no path"},
			{ref: "plain-literal", errHas: "expected a secret reference"},
		} {
			got, err := s.ResolveWith(ctx, c.ref, ResolveOptions{AllowLiteral: c.lit})
			if c.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), c.errHas) {
					t.Errorf("Resolve(%q): err = %v, want one containing %q", c.ref, err, c.errHas)
				}
				if err != nil && strings.Contains(err.Error(), "plain-literal") {
					t.Errorf("Resolve(%q): the error quotes the value: %v", c.ref, err)
				}
				continue
			}
			if err != nil || got != c.want {
				t.Errorf("Resolve(%q) = %q, %v; want %q", c.ref, got, err, c.want)
			}
		}
		if _, err := s.Resolve(ctx, "secret:nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("missing secret: %v", err)
		}
		// Everything resolved is now redacted.
		line := "connect user=x password=stored-password env=env-password file=file-password crlf=crlf-password lit=plain-literal"
		want := "connect user=x password=xxxxx env=xxxxx file=xxxxx crlf=xxxxx lit=xxxxx"
		if got := s.Redactor().Redact(line); got != want {
			t.Errorf("Redact = %q, want %q", got, want)
		}
	})
}

func TestResolveWithoutStore(t *testing.T) {
	ctx := context.Background()
	var s *Service
	t.Setenv("DATAHUB_TEST_SECRET_ENV", "env-password")
	if v, err := s.Resolve(ctx, "env:DATAHUB_TEST_SECRET_ENV"); err != nil || v != "env-password" {
		t.Fatalf("env without a store: %q, %v", v, err)
	}
	if _, err := s.Resolve(ctx, "secret:x"); err == nil || !strings.Contains(err.Error(), "secret store") {
		t.Fatalf("secret without a store: %v", err)
	}
}

func TestIsRef(t *testing.T) {
	for s, want := range map[string]bool{
		"secret:a": true, "env:A": true, "file:/x": true, "file:rel/x": true,
		"secret:": false, "env:": false, "Secret:a": false, "password": false, "": false, "postgres://u:p@h/db": false,
	} {
		if IsRef(s) != want {
			t.Errorf("IsRef(%q) = %v", s, !want)
		}
	}
}
