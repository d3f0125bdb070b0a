package secret

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func mustKey(t testing.TB) Key {
	t.Helper()
	k, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustRing(t testing.TB, k Key, older ...Key) *Keyring {
	t.Helper()
	r, err := NewKeyring(k, older...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestKeyringRoundTrip(t *testing.T) {
	r := mustRing(t, mustKey(t))
	for _, pt := range [][]byte{{}, []byte("hunter2-canary"), bytes.Repeat([]byte{0xff}, 4096)} {
		ct, err := r.Encrypt("db.password", pt)
		if err != nil {
			t.Fatal(err)
		}
		if len(pt) > 0 && bytes.Contains(ct, pt) {
			t.Fatal("ciphertext contains the plaintext")
		}
		if KeyIDOf(ct) != r.Primary().ID() {
			t.Fatalf("KeyIDOf = %q, want %q", KeyIDOf(ct), r.Primary().ID())
		}
		got, err := r.Decrypt("db.password", ct)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, pt) {
			t.Fatalf("round trip: got %q, want %q", got, pt)
		}
	}
	// Two seals of one value differ (random nonce).
	a, _ := r.Encrypt("n", []byte("same"))
	b, _ := r.Encrypt("n", []byte("same"))
	if bytes.Equal(a, b) {
		t.Fatal("two encryptions of one value are identical")
	}
}

func TestKeyringNameBinding(t *testing.T) {
	r := mustRing(t, mustKey(t))
	ct, err := r.Encrypt("A", []byte("value-of-A"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Decrypt("B", ct); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("decrypting A's ciphertext as B: err = %v, want ErrDecrypt", err)
	}
}

func TestKeyringTamper(t *testing.T) {
	r := mustRing(t, mustKey(t))
	ct, err := r.Encrypt("n", []byte("some secret value"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range ct {
		bad := bytes.Clone(ct)
		bad[i] ^= 0x01
		if _, err := r.Decrypt("n", bad); err == nil {
			t.Fatalf("flipping a bit of byte %d went unnoticed", i)
		}
	}
	for _, n := range []int{0, 1, minCiphertext - 1, len(ct) - 1} {
		if _, err := r.Decrypt("n", ct[:n]); err == nil {
			t.Fatalf("ciphertext cut to %d bytes opened", n)
		}
	}
	if _, err := r.Decrypt("n", append(bytes.Clone(ct), 0)); err == nil {
		t.Fatal("ciphertext with a byte appended opened")
	}
}

func TestKeyringWrongKey(t *testing.T) {
	k1, k2 := mustKey(t), mustKey(t)
	ct, err := mustRing(t, k1).Encrypt("n", []byte("canary-wrong-key"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = mustRing(t, k2).Decrypt("n", ct)
	var wk *WrongKeyError
	if !errors.As(err, &wk) {
		t.Fatalf("err = %v, want a WrongKeyError", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, k1.ID()) || !strings.Contains(msg, k2.ID()) || !strings.Contains(msg, EnvMasterKey) {
		t.Fatalf("wrong-key error does not name both keys and the remedy: %s", msg)
	}
	if strings.Contains(msg, k1.Encode()) || strings.Contains(msg, k2.Encode()) {
		t.Fatal("wrong-key error contains a key")
	}
	// A keyring holding the old key as well still opens it.
	if _, err := mustRing(t, k2, k1).Decrypt("n", ct); err != nil {
		t.Fatal(err)
	}
}

func TestKeyNeverPrinted(t *testing.T) {
	k := mustKey(t)
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		if s := fmt.Sprintf(f, k); strings.Contains(s, k.Encode()) || !strings.Contains(s, k.ID()) {
			t.Errorf("Sprintf(%q) = %q", f, s)
		}
	}
}

func TestParseKey(t *testing.T) {
	k := mustKey(t)
	for _, s := range []string{k.Encode(), strings.TrimRight(k.Encode(), "="), k.Encode() + "\n"} {
		got, err := ParseKey(s)
		if err != nil || got != k {
			t.Errorf("ParseKey(%q) = %v, %v", s, got, err)
		}
	}
	for _, s := range []string{"", "!!!", "c2hvcnQ="} {
		if _, err := ParseKey(s); err == nil {
			t.Errorf("ParseKey(%q) succeeded", s)
		}
	}
}

func unsetEnv(t *testing.T, name string) {
	t.Helper()
	t.Setenv(name, "")
	if err := os.Unsetenv(name); err != nil {
		t.Fatal(err)
	}
}

func TestLoadMasterKeyEnv(t *testing.T) {
	k := mustKey(t)
	t.Setenv(EnvMasterKey, k.Encode())
	dir := t.TempDir()
	got, created, err := LoadMasterKey(dir)
	if err != nil || created || got != k {
		t.Fatalf("LoadMasterKey = %v, %v, %v", got, created, err)
	}
	if _, err := os.Stat(filepath.Join(dir, KeyFileName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a key file was written although the key came from the environment")
	}
	for _, bad := range []string{"not a key at all", "c2hvcnQ="} {
		t.Setenv(EnvMasterKey, bad)
		_, _, err := LoadMasterKey(dir)
		if err == nil || !strings.Contains(err.Error(), EnvMasterKey) || strings.Contains(err.Error(), bad) {
			t.Fatalf("malformed %s: err = %v", EnvMasterKey, err)
		}
	}
}

func TestKeyFile(t *testing.T) {
	unsetEnv(t, EnvMasterKey)
	dir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(dir, KeyFileName)
	k, created, err := LoadMasterKey(dir)
	if err != nil || !created {
		t.Fatalf("first start: created = %v, err = %v", created, err)
	}
	assertMode(t, path, 0o600)
	again, created, err := LoadMasterKey(dir)
	if err != nil || created || again != k {
		t.Fatalf("second start: %v, created = %v, err = %v", again, created, err)
	}
	if tmp, _ := filepath.Glob(filepath.Join(dir, ".master.key.tmp-*")); len(tmp) > 0 {
		t.Fatalf("temporary files left: %v", tmp)
	}

	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err = LoadMasterKey(dir)
	if err == nil || !strings.Contains(err.Error(), "chmod 600 "+path) {
		t.Fatalf("0644 key file: err = %v, want a refusal saying chmod 600 %s", err, path)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}

	// Rotation: the new key replaces the file, the old one is kept, both 0600.
	k2 := mustKey(t)
	if err := WriteKeyFile(dir, k2); err != nil {
		t.Fatal(err)
	}
	if err := WriteKeyFile(dir, mustKey(t)); err != nil { // twice in one second: distinct old files
		t.Fatal(err)
	}
	assertMode(t, path, 0o600)
	olds, _ := filepath.Glob(filepath.Join(dir, KeyFileName+".old-*"))
	if len(olds) != 2 {
		t.Fatalf("old key files = %v, want 2", olds)
	}
	found := map[Key]bool{}
	for _, o := range olds {
		assertMode(t, o, 0o600)
		ok, err := ReadKeyFile(o)
		if err != nil {
			t.Fatal(err)
		}
		found[ok] = true
	}
	if !found[k] || !found[k2] {
		t.Fatal("old key files do not hold the replaced keys")
	}

	if err := os.WriteFile(path, []byte("garbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadMasterKey(dir); err == nil || !strings.Contains(err.Error(), path) || strings.Contains(err.Error(), "garbage") {
		t.Fatalf("malformed key file: err = %v", err)
	}
}

// Servers starting at once on one data folder end up with the same key.
func TestKeyFileCreateRace(t *testing.T) {
	unsetEnv(t, EnvMasterKey)
	dir := t.TempDir()
	const n = 8
	keys := make([]Key, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			keys[i], _, errs[i] = LoadMasterKey(dir)
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if keys[i] != keys[0] {
			t.Fatal("concurrent first starts made different keys")
		}
	}
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != want {
		t.Fatalf("%s: mode %04o, want %04o", path, fi.Mode().Perm(), want)
	}
}

// FuzzDecrypt: arbitrary ciphertexts and names never panic, and nothing opens but what the key
// sealed: "value" for "name". (Each fuzz worker seals its own copy with a fresh nonce, so the
// check is on the result, not on the seed's bytes.)
func FuzzDecrypt(f *testing.F) {
	k, err := KeyFromBytes(bytes.Repeat([]byte{7}, KeySize))
	if err != nil {
		f.Fatal(err)
	}
	r := mustRing(f, k)
	good, err := r.Encrypt("name", []byte("value"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good, "name")
	f.Add(good, "other")
	f.Add([]byte{}, "")
	f.Add([]byte{1}, "x")
	f.Add(append([]byte{1}, make([]byte, minCiphertext)...), "name")
	f.Add(append([]byte{2}, good[1:]...), "name")
	f.Fuzz(func(t *testing.T, ct []byte, name string) {
		pt, err := r.Decrypt(name, ct)
		if err == nil && (name != "name" || string(pt) != "value") {
			t.Fatalf("forged ciphertext opened: %x as %q", ct, name)
		}
	})
}

// Derived keys are a stored format's input (the audit chain): a change breaks every chain.
func TestDeriveGolden(t *testing.T) {
	k, err := KeyFromBytes(make([]byte, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	a, err := k.Derive("datahub audit chain v1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := k.Derive("something else v1")
	if len(a) != KeySize || string(a) == string(b) {
		t.Fatalf("derived %x and %x", a, b)
	}
	const want = "859820649cbd828424341c5be5d4c213e942c52f6d26e694752deaa3c1e5344c" // RFC 5869 HKDF-SHA256, checked independently
	if got := hex.EncodeToString(a); got != want {
		t.Fatalf("Derive = %s, want %s", got, want)
	}
	if _, err := (Key{}).Derive("x"); err == nil {
		t.Fatal("the zero key derived a key")
	}
}
