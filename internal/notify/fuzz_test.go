package notify

import (
	"encoding/json"
	"testing"
	"time"
)

// FuzzVerifySignature: whatever a receiver is sent, verifying never panics, and only the
// signature Sign makes for exactly that timestamp and body verifies.
func FuzzVerifySignature(f *testing.F) {
	f.Add("1700000000", []byte(`{"id":"1"}`), "sha256=00")
	f.Add("", []byte{}, "")
	f.Fuzz(func(t *testing.T, ts string, body []byte, header string) {
		now := time.Unix(1_700_000_000, 0)
		if err := verifySignatureAt(now, "k", ts, body, header); err == nil && header != Sign("k", ts, body) {
			t.Fatalf("accepted %q for %q", header, body)
		}
	})
}

// FuzzRuleJSON: decoding a rule never panics, and a rule that validates matches without panic.
func FuzzRuleJSON(f *testing.F) {
	f.Add([]byte(`{"name":"x","enabled":true,"match":{"integrations":["a*"]},"throttle":{"window":"1m"},"channels":[{"type":"email","to":["owner"]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Rule
		if json.Unmarshal(b, &r) != nil || r.Validate() != nil {
			return
		}
		r.Matches(failedRun(time.Now()))
		_ = r.Throttle.window()
	})
}
