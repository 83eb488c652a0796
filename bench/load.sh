#!/usr/bin/env bash
# Load and back-pressure: CLIENTS concurrent clients send REQUESTS uploads of ROWS-row files
# (each a distinct shop-day) to a release `shoplake serve` on the embedded default, then the
# server's peak RSS (VmHWM) is read. Prints the load tool's summary and the memory figures.
# Usage: bench/load.sh [CLIENTS] [REQUESTS] [ROWS]      (default 200 4000 2000)
# Extra SHOPLAKE_* variables in the environment reach the server (e.g. the upload slots).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CLIENTS=${1:-200}
REQUESTS=${2:-4000}
ROWS=${3:-2000}
cargo build --release --quiet -p shoplake -p shoplake-load --bins --manifest-path "$ROOT/Cargo.toml"
BIN=$ROOT/target/release/shoplake

WORK=$(mktemp -d)
trap 'kill $PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export SHOPLAKE_LISTEN=127.0.0.1:$PORT SHOPLAKE_STORAGE=$WORK/data \
       SHOPLAKE_DATABASE_URL=sqlite://$WORK/data/shoplake.db \
       SHOPLAKE_JWT_SECRET=bench-secret-bench-secret-bench-secret SHOPLAKE_LOG=${SHOPLAKE_LOG:-warn}
"$BIN" serve 2>"$WORK/server.log" & PID=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
TOKEN=$("$BIN" token --role admin --ttl 1h)
IDLE_KB=$(awk '/VmRSS/ {print $2}' /proc/$PID/status)

"$ROOT/target/release/shoplake-load" --url "http://127.0.0.1:$PORT" --token "$TOKEN" \
  --clients "$CLIENTS" --requests "$REQUESTS" --rows "$ROWS"

PEAK_KB=$(awk '/VmHWM/ {print $2}' /proc/$PID/status)
FIVE_XX=$(curl -s "http://127.0.0.1:$PORT/metrics" | awk '/^shoplake_http_request_duration_seconds_count/ && /status="5/ {s += $NF} END {print s + 0}')
echo "server: idle RSS $((IDLE_KB / 1024)) MB, peak RSS $((PEAK_KB / 1024)) MB; 5xx answered (metrics): $FIVE_XX"
grep -c ' ERROR ' "$WORK/server.log" | xargs echo "server log ERROR lines:"
