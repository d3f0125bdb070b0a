// Package service runs the datahub command line, so that another Go module can build its own
// datahub binary with connectors of its own, as Benthos plugins do with their service.RunCLI.
//
// A program that does so registers its connectors with connector.Register from an init
// function and calls RunCLI from main:
//
//	package main
//
//	import (
//		"context"
//
//		"github.com/datahub-oss/datahub/service"
//		_ "example.com/mydatahub/gen" // registers the gen connector in its init
//	)
//
//	func main() { service.RunCLI(context.Background()) }
//
// The binary is the whole datahub: every command (copy, serve, worker, apply, connectors ...)
// with the built-in connectors and the caller's, which the server, its workers and
// `datahub connectors` then use like any other. examples/connector in the repository is such
// a module, with a connector that generates synthetic rows and passes connector/conntest.
//
// # What is public and stable
//
// The SDK is three packages of the module github.com/datahub-oss/datahub:
//
//   - connector: the logical types and values, Schema, Batch, Position, the Source, Sink and
//     Store interfaces with their optional capabilities, Spec and the registry, and the error
//     classification a connector returns (see its documentation for what is provisional);
//   - connector/conntest: the conformance suite a connector's own tests run;
//   - service: this package, the entry point of a binary built with them.
//
// Everything under internal/ is the hub's own and may change in any release; an outside
// module cannot import it. The module follows semantic versioning for these three packages:
// while its major version is 0, a minor release may change them, and says so in its release
// notes with what to change; from v1.0.0 on, an incompatible change to them needs a new major
// version. The command line, the REST API and the resource formats are versioned on their own
// terms (the API under /api/v1), not by this package.
//
// A datahub built this way reports, in `datahub version`, the version of the datahub module it
// requires (from the build information), or what it is linked with:
// -ldflags "-X github.com/datahub-oss/datahub/internal/cli.Version=v0.9.0" (and cli.Commit,
// cli.Date, as scripts/release.sh stamps them).
package service
