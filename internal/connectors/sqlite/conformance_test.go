package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/connector/conntest"
)

func TestConformance(t *testing.T) {
	conntest.Run(t, conntest.Harness{
		NewEndpoint: func(t *testing.T, name string) connector.Endpoint {
			return connector.Endpoint{URL: "sqlite:" + filepath.Join(t.TempDir(), name+".db") + "?table=" + name}
		},
	})
}

// TestConformanceOneWay runs the suite as a read-only and as a write-only connector would,
// with SQLite on the other side, so that the cases each direction takes part in stay honest.
func TestConformanceOneWay(t *testing.T) {
	endpoint := func(t *testing.T, name string) connector.Endpoint {
		return connector.Endpoint{URL: "sqlite:" + filepath.Join(t.TempDir(), name+".db") + "?table=" + name}
	}
	t.Run("ReadOnly", func(t *testing.T) {
		conntest.Run(t, conntest.Harness{NewEndpoint: endpoint, NoSink: true,
			Seed: func(t *testing.T, e connector.Endpoint, s connector.Schema, rows [][]any) {
				conntest.Write(t, e, s, connector.ModeAppend, rows, 50)
			}})
	})
	t.Run("WriteOnly", func(t *testing.T) {
		conntest.Run(t, conntest.Harness{NewEndpoint: endpoint, NoSource: true,
			ReadBack: func(t *testing.T, e connector.Endpoint) (connector.Schema, [][]any) {
				s, rows, _ := conntest.Read(t, e, nil)
				return s, rows
			}})
	})
}
