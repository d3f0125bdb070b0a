#!/usr/bin/env bash
# Side-by-side benchmark of datahub copy against the databases' own bulk tools, on the issue's
# table: (id bigint primary key, name text, email text, amount numeric(12,2), created_at
# timestamptz, note text). Prints each timing, the ratios and the peak RSS of every datahub run.
# The generic PG->PG path and CSV->PG both write binary COPY encoded in the hub; their bars
# (issue 9) are 1.3x psql's binary pipe and 0.9x psql's \copy, peak RSS under 150 MB.
#
#   bench/run.sh                 2,000,000 rows, 3 rounds
#   ROWS=10000000 ROUNDS=1 bench/run.sh
#
# Uses PostgreSQL on 127.0.0.1:5432 (user postgres) and MariaDB on 127.0.0.1:3306 (root).
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${ROWS:-2000000}
ROUNDS=${ROUNDS:-3}
W=${BENCH_DIR:-/tmp/datahub-bench}
mkdir -p "$W"
PG="postgres://postgres@127.0.0.1:5432"
psqlc() { local db=$1; shift; psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres -d "$db" "$@"; }
my() { mysql -h 127.0.0.1 -P 3306 -u root --local-infile=1 "$@"; }

go build -o "$W/datahub" ./cmd/datahub
DH="$W/datahub"

psqlc postgres -c "SELECT 1 FROM pg_database WHERE datname='bench_src'" | grep -q 1 || psqlc postgres -c "CREATE DATABASE bench_src"
psqlc postgres -c "SELECT 1 FROM pg_database WHERE datname='bench_dst'" | grep -q 1 || psqlc postgres -c "CREATE DATABASE bench_dst"
have=$(psqlc bench_src -c "SELECT count(*) FROM src" 2>/dev/null || echo 0)
if [ "$have" != "$ROWS" ]; then
  echo "making $ROWS source rows"
  psqlc bench_src -c "DROP TABLE IF EXISTS src" \
    -c "CREATE TABLE src (id bigint primary key, name text, email text, amount numeric(12,2), created_at timestamptz, note text)" \
    -c "INSERT INTO src SELECT g, 'name '||g, 'user'||g||'@example.org', (g % 100000)/100.0, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second', repeat('x', 40)||md5(g::text) FROM generate_series(1,$ROWS) g" \
    -c "VACUUM ANALYZE src"
fi
csv="$W/src-$ROWS.csv"
[ -s "$csv" ] || psql -X -q -h 127.0.0.1 -U postgres -d bench_src -c "COPY src TO STDOUT (FORMAT csv, HEADER)" >"$csv"
DDL="CREATE TABLE dst (id bigint primary key, name text, email text, amount numeric(12,2), created_at timestamptz, note text)"
psqlc bench_dst -c "DROP TABLE IF EXISTS dst" -c "$DDL"
my -e "CREATE DATABASE IF NOT EXISTS bench; SET GLOBAL local_infile=1"
MYDDL="CREATE TABLE dst (id bigint primary key, name longtext, email longtext, amount decimal(12,2), created_at datetime(6), note longtext) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"

now() { date +%s.%N; }
secs() { echo "$(now) - $1" | bc; }
timed() { # timed VAR cmd...: runs cmd under /usr/bin/time, sets VAR to seconds and RSS_MB to peak RSS
  local __v=$1; shift; local s; s=$(now)
  /usr/bin/time -f '%M' -o "$W/rss" "$@" >"$W/out" 2>&1 || { echo "FAILED: $*"; tail -n 5 "$W/out"; exit 1; }
  printf -v "$__v" '%s' "$(secs "$s")"; RSS_MB=$(( $(tail -n 1 "$W/rss") / 1024 ))
}
ratio() { echo "scale=3; $1 / $2" | bc; }
report=()

for round in $(seq 1 "$ROUNDS"); do
  echo "--- round $round ($ROWS rows)"
  # PostgreSQL -> PostgreSQL
  psqlc bench_dst -c "TRUNCATE dst"
  s=$(now); psql -X -q -h 127.0.0.1 -U postgres -d bench_src -c "COPY src TO STDOUT (FORMAT binary)" | psql -X -q -h 127.0.0.1 -U postgres -d bench_dst -c "COPY dst FROM STDIN (FORMAT binary)"; base=$(secs "$s")
  psqlc bench_dst -c "TRUNCATE dst"
  timed t "$DH" copy --data "$W/data" "$PG/bench_src?table=public.src" "$PG/bench_dst?table=public.dst"
  report+=("pg->pg native     psql ${base}s  datahub ${t}s  ratio $(ratio "$t" "$base")  rss ${RSS_MB}MB")
  psqlc bench_dst -c "DROP TABLE IF EXISTS dst2"
  timed t "$DH" copy --data "$W/data" --map note:remark "$PG/bench_src?table=public.src" "$PG/bench_dst?table=public.dst2"
  report+=("pg->pg renamed    psql ${base}s  datahub ${t}s  ratio $(ratio "$t" "$base")  rss ${RSS_MB}MB  (new table, column renamed)")
  # The generic path (what a cast or transform takes): binary COPY encoded in the hub. Bar: 1.3.
  psqlc bench_dst -c "TRUNCATE dst"
  timed t "$DH" copy --data "$W/data" --no-fast-path "$PG/bench_src?table=public.src" "$PG/bench_dst?table=public.dst"
  report+=("pg->pg generic    psql ${base}s  datahub ${t}s  ratio $(ratio "$t" "$base")  rss ${RSS_MB}MB  (--no-fast-path)")

  # CSV -> PostgreSQL
  psqlc bench_dst -c "TRUNCATE dst"
  s=$(now); psql -X -q -h 127.0.0.1 -U postgres -d bench_dst -c "\\copy dst FROM '$csv' CSV HEADER"; base=$(secs "$s")
  psqlc bench_dst -c "TRUNCATE dst"
  timed t "$DH" copy --data "$W/data" "$csv" "$PG/bench_dst?table=public.dst"
  report+=("csv->pg           \\copy ${base}s  datahub ${t}s  ratio $(ratio "$t" "$base")  rss ${RSS_MB}MB  (bar 0.9)")

  # PostgreSQL -> MariaDB
  my bench -e "DROP TABLE IF EXISTS dst; $MYDDL"
  s=$(now)
  psql -X -q -h 127.0.0.1 -U postgres -d bench_src -c "COPY src TO STDOUT (FORMAT csv)" >"$W/export.csv"
  my bench -e "LOAD DATA LOCAL INFILE '$W/export.csv' INTO TABLE dst CHARACTER SET utf8mb4 FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' (id,name,email,amount,@c,note) SET created_at = STR_TO_DATE(LEFT(@c,19), '%Y-%m-%d %H:%i:%s')"
  base=$(secs "$s")
  my bench -e "DROP TABLE IF EXISTS dst; $MYDDL"
  timed t "$DH" copy --data "$W/data" "$PG/bench_src?table=public.src" "mysql://root@127.0.0.1:3306/bench?table=dst"
  report+=("pg->mariadb       copy+load ${base}s  datahub ${t}s  ratio $(ratio "$t" "$base")  rss ${RSS_MB}MB")

  # CSV -> NDJSON (memory)
  timed t "$DH" copy --data "$W/data" --mode replace "$csv" "$W/out.ndjson"
  report+=("csv->ndjson       datahub ${t}s  rss ${RSS_MB}MB")
done
printf '%s\n' "${report[@]}"
