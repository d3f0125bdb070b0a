// Command connector is a datahub built outside the hub's repository: the whole datahub command
// line with the built-in connectors and one more, gen (package gen), which registers itself
// when imported. Build it with `go build -o datahub .` and try
// `./datahub copy 'gen:?rows=1000&seed=42' out.ndjson`.
package main

import (
	"context"

	"github.com/datahub-oss/datahub/service"

	_ "example.com/datahub-gen/gen" // registers the gen connector
)

func main() { service.RunCLI(context.Background()) }
