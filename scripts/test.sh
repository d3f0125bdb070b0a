#!/usr/bin/env bash
# The test command: formats, vets, lints, and runs every test against real services.
# PostgreSQL and MariaDB are used where they answer (127.0.0.1:5432 as postgres, 127.0.0.1:3306 as
# root); otherwise this script installs them from Debian's packages if needed and starts private
# instances on spare ports under .test-services/, stopped again on exit.
#
#   scripts/test.sh            everything (also builds scripts/release.sh's binary for this machine)
#   scripts/test.sh -short     unit tests only (no services)
#   FUZZTIME=30s scripts/test.sh   also runs each fuzz target for that long
#   scripts/test.sh -services  starts the services only (the three-node NATS cluster too), prints
#                              their settings to export, and waits (Ctrl-C stops them): for `go test` by hand
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
short=false services=false
[ "${1:-}" = "-short" ] && short=true
[ "${1:-}" = "-services" ] && services=true
svc="$root/.test-services"
cleanup=()
counts=$(mktemp)
# On exit, whatever stopped the script: every go test run's counts, then the cleanups.
on_exit() {
  if [ -s "$counts" ]; then printf '== test counts\n' >&2; cat "$counts"; fi
  rm -f "$counts"
  for c in "${cleanup[@]}"; do eval "$c" || true; done
}
trap on_exit EXIT

log() { printf '== %s\n' "$*" >&2; }

# gotest LABEL ARGS...: go test -json ARGS, shown as plain go test shows it (package lines and
# failing tests' output) with a count line, which is kept for the end (scripts/testsum.py).
gotest() { local label=$1; shift; go test -json "$@" | python3 "$root/scripts/testsum.py" "$label" "$counts"; }

# release_check: scripts/release.sh builds this machine's target, stamped with a version, and
# the binary reports it, is static, and matches its checksum.
release_check() {
  local dist target bin
  dist=$(mktemp -d) target="$(go env GOOS)/$(go env GOARCH)"
  VERSION=v0.0.0-releasecheck DIST=$dist "$root/scripts/release.sh" "$target" 2>/dev/null
  bin="$dist/datahub_v0.0.0-releasecheck_${target%/*}_${target#*/}"
  (cd "$dist" && sha256sum --quiet -c SHA256SUMS) || { echo "release: checksums do not match"; return 1; }
  "$bin" version | head -n 1 | grep -qx 'datahub v0.0.0-releasecheck' ||
    { echo "release: the binary reports $("$bin" --version | head -n 1)"; return 1; }
  "$bin" version --json | grep -q "\"commit\": \"$(git rev-parse --short=12 HEAD)" || { echo "release: no commit stamped"; return 1; }
  go version -m "$bin" | grep -q 'CGO_ENABLED=0' || { echo "release: the binary was built with cgo"; return 1; }
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["bomFormat"]=="CycloneDX" and d["components"]' "$dist"/*.cdx.json ||
    { echo "release: the bill of materials is not CycloneDX JSON"; return 1; }
  rm -rf "$dist"
}

spare_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

apt_install() {
  if [ "$(id -u)" != 0 ]; then echo "need root to apt-get install $*" >&2; return 1; fi
  [ -n "${APT_UPDATED:-}" ] || { apt-get update -qq >/dev/null; APT_UPDATED=1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# ensure_sshd: the SFTP store's tests start OpenSSH's sshd themselves, on a spare port.
ensure_sshd() { [ -x /usr/sbin/sshd ] || apt_install openssh-server; }

ensure_postgres() {
  if [ -n "${DATAHUB_TEST_PG:-}" ]; then return; fi
  if [ -z "${DATAHUB_TEST_PRIVATE:-}" ] && pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null &&
     psql -X -q -h 127.0.0.1 -U postgres -d postgres -c 'select 1' >/dev/null 2>&1; then
    export DATAHUB_TEST_PG="postgres://postgres@127.0.0.1:5432/postgres"; return
  fi
  local bin; bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$bin" ]; then apt_install postgresql postgresql-client; bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1); fi
  local port; port=$(spare_port); local dir="$svc/pg"
  rm -rf "$dir"; mkdir -p "$dir"
  local run=(); if [ "$(id -u)" = 0 ]; then chown -R postgres "$dir"; run=(runuser -u postgres --); fi
  log "starting a private PostgreSQL on 127.0.0.1:$port"
  "${run[@]}" "$bin/initdb" -D "$dir/data" -U postgres -A trust >"$svc/pg-initdb.log" 2>&1
  "${run[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -o "-p $port -k $dir -h 127.0.0.1 -c fsync=off" start >/dev/null
  cleanup+=("${run[*]} $bin/pg_ctl -D $dir/data -m immediate stop >/dev/null 2>&1")
  export DATAHUB_TEST_PG="postgres://postgres@127.0.0.1:$port/postgres"
}

ensure_mariadb() {
  if [ -n "${DATAHUB_TEST_MYSQL:-}" ]; then return; fi
  if [ -z "${DATAHUB_TEST_PRIVATE:-}" ] && mysql -h 127.0.0.1 -P 3306 -u root -e 'select 1' >/dev/null 2>&1; then
    export DATAHUB_TEST_MYSQL="mysql://root@127.0.0.1:3306/"; return
  fi
  command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || apt_install mariadb-server mariadb-client
  local port; port=$(spare_port); local dir="$svc/mariadb"
  rm -rf "$dir"; mkdir -p "$dir"
  log "starting a private MariaDB on 127.0.0.1:$port"
  mariadb-install-db --no-defaults --user="$(id -un)" --datadir="$dir/data" --auth-root-authentication-method=normal >"$svc/mariadb-install.log" 2>&1
  /usr/sbin/mariadbd --no-defaults --user="$(id -un)" --datadir="$dir/data" --port="$port" --bind-address=127.0.0.1 \
    --socket="$dir/sock" --pid-file="$dir/pid" --local-infile=1 --skip-log-bin --innodb-flush-log-at-trx-commit=2 >"$dir/log" 2>&1 &
  cleanup+=("kill $! 2>/dev/null; wait $! 2>/dev/null")
  for _ in $(seq 1 60); do mysql -h 127.0.0.1 -P "$port" -u root -e 'select 1' >/dev/null 2>&1 && break; sleep 0.5; done
  mysql -h 127.0.0.1 -P "$port" -u root -e 'select 1' >/dev/null || { cat "$dir/log" >&2; exit 1; }
  export DATAHUB_TEST_MYSQL="mysql://root@127.0.0.1:$port/"
}

ensure_nats() {
  if [ -n "${DATAHUB_TEST_NATS:-}" ]; then return; fi
  if [ -z "${DATAHUB_TEST_PRIVATE:-}" ] && nats_js_ok 4222; then
    export DATAHUB_TEST_NATS="nats://127.0.0.1:4222"; return
  fi
  local bin; bin=$(nats_bin)
  local port; port=$(spare_port); local dir="$svc/nats"
  rm -rf "$dir"; mkdir -p "$dir"
  log "starting a private NATS JetStream on 127.0.0.1:$port"
  "$bin" -a 127.0.0.1 -p "$port" -js -sd "$dir/js" >"$dir/log" 2>&1 &
  cleanup+=("kill $! 2>/dev/null; wait $! 2>/dev/null")
  for _ in $(seq 1 50); do nats_js_ok "$port" && break; sleep 0.2; done
  nats_js_ok "$port" || { cat "$dir/log" >&2; exit 1; }
  export DATAHUB_TEST_NATS="nats://127.0.0.1:$port"
}

# nats_bin: Debian's nats-server, installed if missing.
nats_bin() {
  command -v nats-server >/dev/null || [ -x /usr/sbin/nats-server ] || apt_install nats-server
  command -v nats-server || echo /usr/sbin/nats-server
}

# low_port: a free loopback port below the ephemeral range, so that a client reconnecting to a
# node that is down cannot be handed that port as its own local end (and connect to itself).
low_port() {
  python3 - <<'PY'
import random, socket
lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
while True:
    p = random.randrange(10000, lo)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); print(p); break
    except OSError:
        pass
    finally:
        s.close()
PY
}

# ensure_nats_cluster: a three-node JetStream cluster on loopback (each node with its own store
# folder, client and cluster port), for the tests that need a cluster and kill no node; the
# tests that kill one start their own (internal/bus/bustest) with the binary named here.
ensure_nats_cluster() {
  local bin; bin=$(nats_bin)
  export DATAHUB_TEST_NATS_SERVER=$bin
  if [ -n "${DATAHUB_TEST_NATS_CLUSTER:-}" ]; then return; fi
  local dir="$svc/nats-cluster" ports=() cports=() routes="" urls="" i
  rm -rf "$dir"; mkdir -p "$dir"
  for i in 0 1 2; do ports+=("$(low_port)"); cports+=("$(low_port)"); done
  for i in 0 1 2; do routes+="${routes:+,}nats-route://127.0.0.1:${cports[$i]}"; urls+="${urls:+,}nats://127.0.0.1:${ports[$i]}"; done
  log "starting a three-node NATS JetStream cluster on 127.0.0.1:${ports[0]},${ports[1]},${ports[2]}"
  for i in 0 1 2; do
    "$bin" -a 127.0.0.1 -p "${ports[$i]}" -js -sd "$dir/n$i" -n "n$i" --cluster_name datahub-test \
      --cluster "nats://127.0.0.1:${cports[$i]}" --routes "$routes" >"$dir/n$i.log" 2>&1 &
    cleanup+=("kill $! 2>/dev/null; wait $! 2>/dev/null")
  done
  for i in 0 1 2; do
    for _ in $(seq 1 50); do nats_js_ok "${ports[$i]}" && break; sleep 0.2; done
    nats_js_ok "${ports[$i]}" || { cat "$dir/n$i.log" >&2; exit 1; }
  done
  export DATAHUB_TEST_NATS_CLUSTER=$urls
}

# nats_js_ok PORT: a NATS server answers there with JetStream enabled.
nats_js_ok() {
  python3 - "$1" <<'PY' 2>/dev/null
import json, socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 2)
line = s.makefile("rb").readline().decode()
info = json.loads(line.split(" ", 1)[1]) if line.startswith("INFO ") else {}
sys.exit(0 if info.get("jetstream") else 1)
PY
}

if $services; then
  ensure_postgres; ensure_mariadb; ensure_nats; ensure_nats_cluster
  for v in DATAHUB_TEST_PG DATAHUB_TEST_MYSQL DATAHUB_TEST_NATS DATAHUB_TEST_NATS_CLUSTER DATAHUB_TEST_NATS_SERVER; do
    printf "export %s='%s'\n" "$v" "${!v}"
  done
  log "services up; Ctrl-C stops them"
  trap 'exit 0' INT TERM
  while :; do sleep 3600 & wait $!; done
fi

log "gofmt"
bad=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './tools/*'))
[ -z "$bad" ] || { echo "not gofmt-formatted:"; echo "$bad"; exit 1; }
log "go vet"
go vet ./...
log "golangci-lint"
(cd tools && go build -o "$root/.bin/golangci-lint" github.com/golangci/golangci-lint/v2/cmd/golangci-lint)
"$root/.bin/golangci-lint" run ./...
# examples/connector is a module of its own (a datahub built with the public SDK alone), so
# ./... above does not reach it; its tests need no service.
log "examples/connector: vet, lint, build, test"
(cd examples/connector && go vet ./... && "$root/.bin/golangci-lint" run ./... &&
  go build -o "$root/.bin/datahub-gen" . && gotest "examples/connector: go test" -count=1 ./...)
log "scripts/release.sh for $(go env GOOS)/$(go env GOARCH): version stamp, static, checksums"
release_check

if $short; then
  log "go test -short"
  gotest "go test -short ./..." -short -count=1 ./...
  exit 0
fi
ensure_postgres
ensure_mariadb
ensure_nats
ensure_nats_cluster
ensure_sshd
# As root (CI is), the tests that need a real full disk mount a small tmpfs of their own.
if [ "$(id -u)" = 0 ] && [ -z "${DATAHUB_TEST_MOUNT:-}" ]; then export DATAHUB_TEST_MOUNT=1; fi
log "go test (PostgreSQL at ${DATAHUB_TEST_PG%%\?*}, MariaDB at $DATAHUB_TEST_MYSQL, NATS at $DATAHUB_TEST_NATS, NATS cluster at $DATAHUB_TEST_NATS_CLUSTER)"
gotest "go test ./..." -count=1 -timeout 20m ./...
gotest "go test -race (connector, engine, transform)" -count=1 -race -timeout 20m ./connector/... ./internal/engine/... ./internal/transform/...
if [ -n "${FUZZTIME:-}" ]; then
  for pkg in $(go list ./...); do
    for fz in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
      log "fuzz $pkg $fz"
      gotest "fuzz $pkg $fz" -run '^$' -fuzz "^$fz\$" -fuzztime "$FUZZTIME" "$pkg"
    done
  done
fi
