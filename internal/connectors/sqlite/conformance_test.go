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
