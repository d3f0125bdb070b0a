// Package connector is the public SDK of Data Hub: the logical types records are made of, the
// batches they travel in, the Source, Sink and Store interfaces every connector implements, and
// the registry connectors join from their init functions.
//
// Values travel as plain Go values, one per logical type (nil is SQL NULL):
//
//	TypeInt64        int64
//	TypeFloat64      float64
//	TypeDecimal      Decimal (exact decimal text, every digit kept)
//	TypeString       string
//	TypeBool         bool
//	TypeDate         time.Time at midnight UTC
//	TypeTimestamp    time.Time in UTC holding the wall clock (no zone)
//	TypeTimestampTZ  time.Time (an instant; the location is not significant)
//	TypeBytes        []byte
//	TypeJSON         json.RawMessage (valid JSON text)
//	TypeUUID         UUID
//
// Connectors convert to and from these at their edge, so that any source can feed any sink.
//
// # Writing a connector outside this repository
//
// A connector is a Spec registered from an init function (Register panics on a duplicate
// name or scheme, so a clash shows at start-up) whose NewSource and NewSink make the Source
// and Sink the engine drives: Open, Schema, Read until ErrEndOfInput, Close for a source;
// Open, Write, Flush, Commit, Close for a sink. Its tests run connector/conntest against the
// real system it talks to. A binary that includes it is built with package
// github.com/datahub-oss/datahub/service, whose RunCLI is the whole datahub command line;
// examples/connector in the repository is a complete module doing so.
//
// The hub's policy confines the endpoints of the built-in connectors (allowed file roots, never
// the hub's own store); it does not know what an outside connector opens. One that reads or
// writes local files must keep to Endpoint.Root when it is set, as the file connector does, and
// one that dials hosts must expect the URL to come from an integrator, not an administrator.
//
// Errors a connector returns are classified with a Code (Errorf). The classification the
// engine acts on is small:
//
//   - retryable: CodeUnreachable or CodeTransient (and dropped connections, see Retryable):
//     the engine tries again, with back-off, from the last checkpoint;
//   - authentication: CodeAuth, the endpoint refused the credentials (the hub raises a
//     connection-failed event for it, as for CodeUnreachable);
//   - not found: CodeNotFound, a missing database, table, file or column;
//   - bad input: CodeUsage (a bad URL, option or flag), CodeSchema (columns that do not fit)
//     or CodeData (a refused value);
//   - fatal: anything else (CodeInternal, and any code the connector does not know).
//
// The finer codes (CodePermission, CodeTooLarge, CodeInvalidData, CodeDiskFull with DiskFull,
// CodeConflict, CodeUnsupported, and CodeCanceled, which CodeOf gives a context error) say more to people. Every class but retryable fails the run at once; the class tells
// people (and the API's status and the CLI's exit status) what to fix. The hub raises codes of its own
// (unavailable, interrupted, config) and maps every code to its HTTP status and exit status in its
// internal catalogue: a connector never needs those. Messages carry Endpoint.Redacted, never
// the URL itself.
//
// # Acknowledgements
//
// Source.Read returns each batch with an AckFunc, and the engine calls it exactly once per batch:
//
//   - ack(ctx, nil) only after the batch is durable in the sink: after the Sink.Flush that
//     covers it in append and upsert mode, after Sink.Commit in replace mode (nothing is
//     durable before the swap). Batches are acknowledged in the order they were read. A
//     source may then forget the batch for good (commit a broker offset, delete a message).
//   - ack(ctx, err) (a nack) when the run fails or is cancelled before that flush or commit,
//     with the reason; the batch may or may not have reached the sink, so the source should
//     deliver it again to a later run. The nack's context outlives the run's cancellation,
//     for at most a few seconds.
//   - neither, when the process dies: a source that forgets only what was acked loses
//     nothing, and one that resumes from a Position (see Sink.Flush and PositionStore) reads
//     the unacknowledged batches again from the last checkpoint.
//
// Delivery is therefore at least once; upsert and replace targets make a repeat harmless. An
// error returned by an ack fails the run (the batch stays durable and will be read again).
// Acks come from the engine's writing goroutine, never concurrently with each other, but
// concurrently with Read. Between two flushes the engine holds at most one checkpoint's
// worth of batches unacknowledged (every 500,000 records or 10 s by default); a source that
// needs its acks sooner (a broker's ack wait, a cap on unacknowledged messages) implements
// AckPacer. Sources whose positions alone make them resumable (files, tables) return NopAck
// (or nil), which the engine does not keep.
//
// # What is public and stable
//
// This package, connector/conntest and service are the SDK; the module follows semantic
// versioning for them. While the module's major version is 0, a minor release may change
// them and its release notes say what and how to adapt; from v1.0.0 on, an incompatible
// change needs a new major version. Within the SDK:
//
//   - stable: the value types and their Go representations above, Type and AllTypes (a type
//     may be added: a connector meeting an unknown Type refuses the column), Column, Schema,
//     Batch, Reject, Position, AckFunc and ErrEndOfInput, the Source and Sink interfaces and
//     their contracts, SinkOptions and the write modes, RecordError(s), Entry and Store, Spec,
//     Endpoint, Register, Resolve, NewSource and NewSink, Redact and SecretParam, Errorf,
//     Error, CodeOf, Retryable, the codes of the classification above (CodeUnreachable,
//     CodeTransient, CodeAuth, CodeNotFound, CodeUsage, CodeSchema, CodeData, CodeInternal),
//     the value helpers (Parse*, Format*, Convert, Equal), and the typed options: Option with
//     its OptionType, Default, Required, Enum and Range, Spec.ParseOptions and OptionsOf, the
//     Options getters and OptionError (an option type or a field of Option may be added);
//   - provisional, expected to change before v1.0.0: the optional capabilities (PositionStore,
//     RawSource/RawSink, NULRefuser, Meter, AckPacer), the finer codes above (they may fold
//     into the classification), IsDiskFull and DiskFull, and the helpers CapText, CapError
//     and CheckNameLengths.
//
// Removed in this minor release (v0): CodeUnavailable, CodeInterrupted and CodeConfig (the
// hub's own codes, now in its internal catalogue), and Secrets and Scrub (the hub's redaction helpers,
// now internal; a connector redacts with Endpoint.Redacted and Redact).
//
// Everything under internal/ (engine, formats, the built-in connectors, the server) is not
// part of the SDK and cannot be imported from another module.
package connector
