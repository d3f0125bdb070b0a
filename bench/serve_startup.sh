#!/usr/bin/env bash
# Start-up time of `datahub serve` on an empty data folder: from exec to the first 200 from
# /healthz, five times, median. The issue's target is under 1 s.
#
#   bench/serve_startup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
go build -o "$W/datahub" ./cmd/datahub
times=()
for i in 1 2 3 4 5; do
  port=$((20000 + RANDOM % 20000))
  s=$(date +%s%N)
  "$W/datahub" serve --data "$W/d$i" --addr 127.0.0.1:$port >"$W/log$i" 2>&1 & pid=$!
  until curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; do sleep 0.005; done
  e=$(date +%s%N)
  kill $pid; wait $pid 2>/dev/null || true
  times+=("$(( (e - s) / 1000000 ))")
done
printf 'serve start-up on an empty folder (ms): %s; median %s\n' "${times[*]}" "$(printf '%s\n' "${times[@]}" | sort -n | sed -n 3p)"
