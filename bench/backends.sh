#!/usr/bin/env bash
# The same jobs on both back ends in one run: local directory + SQLite, and S3 (a moto server on
# 127.0.0.1, from the test venv) + PostgreSQL (the machine's server, a throwaway database):
#   upload   CLIENTS clients send REQUESTS 2,000-row uploads (distinct shop-days): p50/p99
#   ingest   `shoplake ingest --dir` of 1,500 shop-day files (50 shops x 30 days x 2,000 rows)
#   big      one MEGABYTES upload: seconds and the server's peak RSS (flat whatever the size)
# Usage: bench/backends.sh [CLIENTS] [REQUESTS] [MEGABYTES]      (default 8 400 1024)
# moto keeps objects in its own process: its speed, not S3's, bounds the S3 figures; compare
# the two back ends for what shoplake adds on each, not for what AWS would do.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CLIENTS=${1:-8}
REQUESTS=${2:-400}
MB=${3:-1024}
DATA=${DATA:-/tmp/perfdata}
VENV=$ROOT/target/test-venv
cargo build --release --quiet -p shoplake -p shoplake-load --bins --manifest-path "$ROOT/Cargo.toml"
BIN=$ROOT/target/release/shoplake
LOAD=$ROOT/target/release/shoplake-load
[ -x "$VENV/bin/moto_server" ] || { python3 -m venv "$VENV"; "$VENV/bin/pip" install --quiet "moto[server]==5.2.5"; }
[ -d "$DATA/small/shop_050" ] || python3 "$ROOT/tests/fixtures/gen_sales.py" --out "$DATA/small" --shops 50 --days 30 --rows-per-file 2000 >/dev/null
ROWS=$(( MB * 1000000 / 83 ))
BIG=$DATA/upload_${MB}mb/shop_001/2025-07-01.csv
[ -f "$BIG" ] || python3 "$ROOT/tests/fixtures/gen_sales.py" --out "$DATA/upload_${MB}mb" --shops 1 --days 1 --rows-per-file "$ROWS" >/dev/null

WORK=$(mktemp -d)
PIDS=()
PG_DATABASE=shoplake_bench_$$
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  psql -q -h 127.0.0.1 -U postgres -d postgres -c "drop database if exists $PG_DATABASE with (force)" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The S3 server and the bucket.
MOTO_PORT=$(free_port)
"$VENV/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" >"$WORK/moto.log" 2>&1 & PIDS+=($!)
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$MOTO_PORT/" >/dev/null 2>&1 && break; sleep 0.1; done
export AWS_ENDPOINT_URL=http://127.0.0.1:$MOTO_PORT AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1
export SHOPLAKE_JWT_SECRET=bench-secret-bench-secret-bench-secret SHOPLAKE_LOG=warn SHOPLAKE_MAX_UPLOAD_BYTES=4GiB
new_bucket() { curl -fs -X PUT "$AWS_ENDPOINT_URL/$1" >/dev/null; }
new_schema() { psql -q -h 127.0.0.1 -U postgres -d "$PG_DATABASE" -c "create schema $1"; }
psql -q -h 127.0.0.1 -U postgres -d postgres -c "create database $PG_DATABASE"

# Points SHOPLAKE_STORAGE/DATABASE_URL at a fresh lake of back end $1 named $2.
use_backend() {
  case $1 in
    local) export SHOPLAKE_STORAGE=$WORK/$2/data SHOPLAKE_DATABASE_URL=sqlite://$WORK/$2/state.db ;;
    s3) new_bucket "$2"; new_schema "${2//-/_}"
        export SHOPLAKE_STORAGE=s3://$2/lake
        export SHOPLAKE_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$PG_DATABASE?options=-c%20search_path%3D${2//-/_}" ;;
  esac
}

# Starts `shoplake serve`; sets PORT and SERVER.
serve() {
  PORT=$(free_port)
  SHOPLAKE_LISTEN=127.0.0.1:$PORT "$BIN" serve 2>>"$WORK/server.log" & SERVER=$!
  PIDS+=("$SERVER")
  for _ in $(seq 200); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null && return; sleep 0.05; done
  echo "server did not start"; tail "$WORK/server.log"; exit 1
}

for backend in local s3; do
  # upload latency
  use_backend "$backend" "up-$backend"
  serve
  TOKEN=$("$BIN" token --role admin --ttl 1h)
  "$LOAD" --url "http://127.0.0.1:$PORT" --token "$TOKEN" --clients "$CLIENTS" --requests "$REQUESTS" --rows 2000 2>/dev/null \
    | python3 -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps({"job":"upload-2000-rows","backend":sys.argv[1],"clients":d["clients"],"uploads_per_s":d["requests_per_s"],"p50_ms":d["latency_ms"]["p50"],"p99_ms":d["latency_ms"]["p99"],"statuses":d["statuses"]}))' "$backend"
  kill "$SERVER"; wait "$SERVER" 2>/dev/null || true

  # 1,500-file ingest through the CLI
  use_backend "$backend" "in-$backend"
  mkdir -p "$WORK/cwd-$backend"
  /usr/bin/time -f "%e %M" -o "$WORK/time" "$BIN" ingest --dir "$DATA/small" >"$WORK/ingest.out" 2>&1 || { tail "$WORK/ingest.out"; exit 1; }
  read -r secs rss <"$WORK/time"
  python3 -c 'import json,sys; b,s,r=sys.argv[1:]; print(json.dumps({"job":"ingest-1500-files","backend":b,"seconds":float(s),"files_per_s":round(1500/float(s),1),"peak_rss_mb":round(int(r)/1024,1)}))' "$backend" "$secs" "$rss"

  # one big upload: peak RSS
  use_backend "$backend" "big-$backend"
  serve
  TOKEN=$("$BIN" token --role shop --shop-id 001 --ttl 1h)
  IDLE_KB=$(awk '/VmRSS/ {print $2}' /proc/$SERVER/status)
  START=$(date +%s.%N)
  STATUS=$(curl -s -o "$WORK/answer.json" -w '%{http_code}' -X POST "http://127.0.0.1:$PORT/v1/shops/001/uploads?date=2025-07-01" \
    -H "Authorization: Bearer $TOKEN" -H "Content-Type: text/csv" -T "$BIG")
  END=$(date +%s.%N)
  PEAK_KB=$(awk '/VmHWM/ {print $2}' /proc/$SERVER/status)
  python3 -c 'import json,sys; b,st,size,idle,peak,s,e=sys.argv[1:]; secs=float(e)-float(s); print(json.dumps({"job":"big-upload","backend":b,"http_status":int(st),"body_mb":round(int(size)/1e6),"seconds":round(secs,1),"mb_per_s":round(int(size)/1e6/secs,1),"idle_rss_mb":round(int(idle)/1024,1),"peak_rss_mb":round(int(peak)/1024,1)}))' \
    "$backend" "$STATUS" "$(stat -c %s "$BIG")" "$IDLE_KB" "$PEAK_KB" "$START" "$END"
  kill "$SERVER"; wait "$SERVER" 2>/dev/null || true
done
