package all_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/testutil"
)

// TestUnreachableServers: a host name DNS does not know fails at once and is not retried; a
// server that accepts the connection and never answers fails after the connect timeout with
// an error that says it timed out, and where (not the driver's "invalid connection").
func TestUnreachableServers(t *testing.T) {
	silent := testutil.NotHTTP(t, "") // accepts, reads, says nothing
	schema := connector.Schema{Columns: []connector.Column{{Name: "id", Type: connector.TypeInt64}}}
	cases := []struct {
		name, url string
		retryable bool
		want      string
	}{
		{"mysql unknown host", "mysql://root@nosuchhost.invalid:3306/db?table=t", false, "check the host name nosuchhost.invalid: DNS does not know it"},
		{"postgres unknown host", "postgres://postgres@nosuchhost.invalid:5432/db?table=t", false, "check the host name nosuchhost.invalid: DNS does not know it"},
		{"mysql silent", "mysql://root@" + silent + "/db?table=t&connect_timeout=300ms", true,
			"connect: timed out after 300ms waiting for the server at " + silent + " to answer"},
		{"postgres silent", "postgres://postgres@" + silent + "/db?table=t&sslmode=disable&connect_timeout=1", true,
			"timed out after 1s connecting to " + silent},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			sink, err := connector.NewSink(ctx, connector.Endpoint{URL: tc.url})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = sink.Close(ctx) }()
			_, err = sink.Open(ctx, schema, connector.SinkOptions{Mode: connector.ModeAppend})
			if err == nil {
				t.Fatal("opened")
			}
			if connector.CodeOf(err) != connector.CodeUnreachable || connector.Retryable(err) != tc.retryable || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q (code %s, retryable %v); want unreachable, retryable %v, saying %q",
					err, connector.CodeOf(err), connector.Retryable(err), tc.retryable, tc.want)
			}
		})
	}
}
