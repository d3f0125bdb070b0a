package auth

import (
	"regexp"
	"strings"
	"testing"
)

var phcRe = regexp.MustCompile(`^\$argon2id\$v=19\$m=65536,t=3,p=4\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)

func TestHashVerifyDefaultParams(t *testing.T) {
	h, err := hashPassword("correct horse battery staple", DefaultParams)
	if err != nil {
		t.Fatal(err)
	}
	if !phcRe.MatchString(h) {
		t.Fatalf("hash %q is not the PHC string of the default parameters", h)
	}
	ok, rehash, err := verifyPassword(h, "correct horse battery staple", DefaultParams)
	if err != nil || !ok || rehash {
		t.Fatalf("verify = %v %v %v", ok, rehash, err)
	}
	if ok, _, _ := verifyPassword(h, "correct horse battery stapl", DefaultParams); ok {
		t.Fatal("a wrong password verified")
	}
	a, _ := hashPassword("correct horse battery staple", fastParams)
	b, _ := hashPassword("correct horse battery staple", fastParams)
	if a == b {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
}

func TestRehashWhenParamsChange(t *testing.T) {
	h, err := hashPassword("correct horse battery", fastParams)
	if err != nil {
		t.Fatal(err)
	}
	stronger := fastParams
	stronger.Time = 2
	ok, rehash, err := verifyPassword(h, "correct horse battery", stronger)
	if err != nil || !ok || !rehash {
		t.Fatalf("verify under new params = %v %v %v, want ok and rehash", ok, rehash, err)
	}
	if ok, rehash, _ := verifyPassword(h, "correct horse battery", fastParams); !ok || rehash {
		t.Fatal("same params asked for a rehash")
	}
}

func TestParsePHC(t *testing.T) {
	good, _ := hashPassword("correct horse battery", fastParams)
	p, salt, key, err := parsePHC(good)
	if err != nil || p != fastParams || len(salt) != 16 || len(key) != 32 {
		t.Fatalf("parsePHC(%q) = %+v %d %d %v", good, p, len(salt), len(key), err)
	}
	parts := strings.Split(good, "$")
	for name, bad := range map[string]string{
		"empty":         "",
		"bcrypt":        "$2a$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234",
		"argon2i":       strings.Replace(good, "argon2id", "argon2i", 1),
		"old version":   strings.Replace(good, "v=19", "v=16", 1),
		"leading zero":  strings.Replace(good, "m=1024", "m=01024", 1),
		"order":         strings.Replace(good, "m=1024,t=1,p=1", "t=1,m=1024,p=1", 1),
		"huge memory":   strings.Replace(good, "m=1024", "m=4194304", 1),
		"zero time":     strings.Replace(good, "t=1", "t=0", 1),
		"zero threads":  strings.Replace(good, "p=1", "p=0", 1),
		"sign":          strings.Replace(good, "t=1", "t=+1", 1),
		"padded salt":   strings.Join([]string{"", parts[1], parts[2], parts[3], parts[4] + "==", parts[5]}, "$"),
		"short salt":    strings.Join([]string{"", parts[1], parts[2], parts[3], "AAAA", parts[5]}, "$"),
		"extra field":   good + "$x",
		"missing field": strings.Join(parts[:5], "$"),
	} {
		if _, _, _, err := parsePHC(bad); err == nil {
			t.Errorf("%s: parsePHC(%q) accepted", name, bad)
		}
	}
}

func TestPasswordPolicy(t *testing.T) {
	for pw, ok := range map[string]bool{
		"":                           false,
		"elevenchars":                false,
		"twelve chars":               true,
		"ääääääääääää":               true, // characters, not bytes
		"äääääääääää":                false,
		strings.Repeat("x", 1024):    true,
		strings.Repeat("x", 1025):    false,
		"correct horse battery tree": true,
	} {
		if err := checkPassword(pw); (err == nil) != ok {
			t.Errorf("checkPassword(%d chars) = %v, want ok=%v", len(pw), err, ok)
		}
	}
}

// FuzzParsePHC: the parser never panics, and what it accepts is exactly what encodePHC
// writes, so a stored hash has one spelling.
func FuzzParsePHC(f *testing.F) {
	good, _ := hashPassword("correct horse battery", fastParams)
	f.Add(good)
	f.Add("$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA")
	f.Add("$argon2id$v=19$m=,t=,p=$$")
	f.Fuzz(func(t *testing.T, s string) {
		p, salt, key, err := parsePHC(s)
		if err != nil {
			return
		}
		if back := encodePHC(p, salt, key); back != s {
			t.Fatalf("parsePHC accepted %q, which encodes back as %q", s, back)
		}
	})
}
