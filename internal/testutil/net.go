package testutil

import (
	"io"
	"net"
	"testing"
	"time"
)

// NotHTTP listens on 127.0.0.1 and answers every connection as a NATS server does, with
// greeting (an INFO banner) whatever the client sends: a target that is not HTTP, for tests
// that its bytes never reach an error text. It returns the host:port; the listener closes
// when the test ends.
func NotHTTP(t testing.TB, greeting string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer func() { _ = c.Close() }()
				_, _ = c.Write([]byte(greeting))
				// Read all the client sends until it hangs up: closing with its request unread
				// would reset the connection, and the client could see that before the greeting.
				_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
				_, _ = io.Copy(io.Discard, c)
			}()
		}
	}()
	return ln.Addr().String()
}
