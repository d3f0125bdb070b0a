// Command datahub is the Data Hub command line and server.
package main

import (
	"context"

	"github.com/datahub-oss/datahub/service"
)

func main() { service.RunCLI(context.Background()) }
