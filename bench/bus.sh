#!/bin/sh
# Service bus benchmarks (issue 4, performance): against the embedded NATS (sync_interval:
# always) and the external NATS on 127.0.0.1:4222 (skipped when none runs; BENCH_NO_EXTERNAL=1
# skips it too).
#   BenchmarkThroughput: a plain JetStream publish+consume loop vs the hub's delivery of the
#     same BENCH_N (default 5000) 1 KiB messages to an http subscription; hub-%-of-plain is the
#     ratio (target >= 80, issue 9). The plain loop has no HTTP hop: plainhttp-msgs/s is the
#     plain loop POSTing each message to the same receiver before its ack (a hand-written
#     bridge), and hub-%-of-plainhttp the hub against that like-for-like reference.
#   BenchmarkLatency: 1 KiB messages at 1,000 msg/s for BENCH_SECONDS (default 5), end-to-end
#     p50/p99 from the publish call to the receiver (target p99 < 50 ms).
#   BenchmarkAPIThroughput, BenchmarkAPILatency (internal/app): the same through a whole hub,
#     the messages POSTed to /api/v1/topics/{name}/messages; api-* by one keep-alive publisher,
#     api8-* by 8 concurrent ones, each against the plain loop measured in the same run.
set -eu
cd "$(dirname "$0")/.."
go test -tags bench -run '^$' -bench 'Benchmark(Throughput|Latency)' -benchtime 1x -count "${BENCH_COUNT:-1}" ./internal/bus/ "$@" |
	grep -E '^(Benchmark|ok|FAIL|---|\s+bench_)' || true
go test -tags bench -run '^$' -bench 'BenchmarkAPI(Throughput|Latency)' -benchtime 1x -count "${BENCH_COUNT:-1}" ./internal/app/ "$@" |
	grep -E '^(Benchmark|ok|FAIL|---|\s+bench_)' || true
