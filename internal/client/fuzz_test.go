package client

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// FuzzReadAPIError feeds arbitrary error bodies: the client must always come up with a code
// and a printable one-line message, whatever a server or a proxy in between sends.
func FuzzReadAPIError(f *testing.F) {
	f.Add(401, `{"code":"unauthenticated","message":"missing token"}`)
	f.Add(422, `{"code":"invalid","message":"bad","details":{"errors":[{"document":2,"field":"spec","message":"x"}]}}`)
	f.Add(502, "<html>\x00\nBad gateway</html>")
	f.Add(404, `{"title":"Not Found","detail":"no route"}`)
	f.Add(500, `{"details":"not an object"}`)
	f.Fuzz(func(t *testing.T, status int, body string) {
		if status < 300 || status > 599 {
			return
		}
		resp := &http.Response{StatusCode: status, Body: io.NopCloser(strings.NewReader(body))}
		e := readAPIError(resp, false)
		if e.Code == "" || e.Status != status {
			t.Fatalf("%+v", e)
		}
		_ = e.FieldErrors()
		if msg := e.Error(); msg == "" {
			t.Fatal("empty message")
		}
	})
}
