#!/usr/bin/env bash
# Uploads one large body (default 1024 MB of generated sales CSV) and reports the server's
# idle RSS and peak RSS (VmHWM), so memory can be seen to stay flat whatever the body size.
# Usage: bench/upload_rss.sh [MEGABYTES] [full|archive-only]
#   full          a valid sales file: archive + clean + Parquet + catalog (default)
#   archive-only  same size, but its header lacks the required columns, so processing stops at
#                 line 1 (422): isolates the streaming archive path (hash, size, raw/ write)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MB=${1:-1024}
MODE=${2:-full}
DATA=${DATA:-/tmp/perfdata}
# The same package set in every bench script: building shoplake alone would unify features
# differently and rebuild most dependencies each time the scripts alternate.
cargo build --release --quiet -p shoplake -p shoplake-load --bins --manifest-path "$ROOT/Cargo.toml"
BIN=$ROOT/target/release/shoplake

# ~83 bytes per generated row.
ROWS=$(( MB * 1000000 / 83 ))
SRC=$DATA/upload_${MB}mb/shop_001/2025-07-01.csv
if [ ! -f "$SRC" ]; then
  python3 "$ROOT/tests/fixtures/gen_sales.py" --out "$DATA/upload_${MB}mb" --shops 1 --days 1 --rows-per-file "$ROWS" >/dev/null
fi
if [ "$MODE" = archive-only ]; then
  BAD=$DATA/upload_${MB}mb/no_required_columns.csv
  [ -f "$BAD" ] || { echo "note,comment"; tail -n +2 "$SRC"; } > "$BAD"
  SRC=$BAD
fi

WORK=$(mktemp -d)
trap 'kill $PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export SHOPLAKE_LISTEN=127.0.0.1:$PORT SHOPLAKE_STORAGE=$WORK/data SHOPLAKE_MAX_UPLOAD_BYTES=4GiB \
       SHOPLAKE_JWT_SECRET=bench-secret-bench-secret-bench-secret SHOPLAKE_LOG=warn
"$BIN" serve & PID=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
TOKEN=$("$BIN" token --role shop --shop-id 001 --ttl 1h)
IDLE_KB=$(awk '/VmRSS/ {print $2}' /proc/$PID/status)

START=$(date +%s.%N)
STATUS=$(curl -s -o "$WORK/answer.json" -w '%{http_code}' -X POST \
  "http://127.0.0.1:$PORT/v1/shops/001/uploads?date=2025-07-01" \
  -H "Authorization: Bearer $TOKEN" -H "Content-Type: text/csv" -T "$SRC")
END=$(date +%s.%N)
PEAK_KB=$(awk '/VmHWM/ {print $2}' /proc/$PID/status)
BYTES=$(stat -c %s "$SRC")
python3 - "$STATUS" "$BYTES" "$IDLE_KB" "$PEAK_KB" "$START" "$END" "$WORK/answer.json" "$MODE" <<'PY'
import json, sys
status, size, idle, peak, start, end, answer = sys.argv[1:8]
body = json.load(open(answer))
secs = float(end) - float(start)
print(json.dumps({"job": "upload-rss", "mode": sys.argv[8], "http_status": int(status), "body_mb": round(int(size) / 1e6, 1),
                  "rows_accepted": body.get("rows_accepted"), "seconds": round(secs, 2),
                  "mb_per_s": round(int(size) / 1e6 / secs, 1), "idle_rss_mb": round(int(idle) / 1024, 1),
                  "peak_rss_mb": round(int(peak) / 1024, 1), "peak_above_idle_mb": round((int(peak) - int(idle)) / 1024, 1)}))
PY
