package mysql

import (
	"testing"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/connector/conntest"
)

func TestConformance(t *testing.T) {
	admin(t)
	conntest.Run(t, conntest.Harness{
		NewEndpoint: func(t *testing.T, name string) connector.Endpoint {
			return endpoint(t, tableFor(t, "_"+name))
		},
	})
}
