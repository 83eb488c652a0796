#!/usr/bin/env bash
# shoplake ingest next to DuckDB on the same files, in one run:
#   one 2M-row file (166 MB) -> Parquet: seconds, MB/s, peak RSS (3 runs each, interleaved)
#   1,500 shop-day files (50 shops x 30 days x 2,000 rows) -> processed/: files/s, peak RSS
# Usage: PY=/tmp/benchvenv/bin/python bench/ingest.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PEERS=${SHOPLAKE_PEERS:-$ROOT/../shared/bench}
DATA=${DATA:-/tmp/perfdata}
PY=${PY:-python3}
RUNS=${RUNS:-3}
GEN="$ROOT/tests/fixtures/gen_sales.py"
# The same package set in every bench script: building shoplake alone would unify features
# differently and rebuild most dependencies each time the scripts alternate.
cargo build --release --quiet -p shoplake -p shoplake-load --bins --manifest-path "$ROOT/Cargo.toml"
BIN=$ROOT/target/release/shoplake

[ -f "$DATA/one_big/shop_001/2025-07-01.csv" ] || python3 "$GEN" --out "$DATA/one_big" --shops 1 --days 1 --rows-per-file 2000000 >/dev/null
[ -d "$DATA/small/shop_050" ] || python3 "$GEN" --out "$DATA/small" --shops 50 --days 30 --rows-per-file 2000 >/dev/null
BIG=$DATA/one_big/shop_001/2025-07-01.csv
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export SHOPLAKE_JWT_SECRET=bench-secret-bench-secret-bench-secret SHOPLAKE_LOG=error

# Runs a command under /usr/bin/time; prints "seconds peak_rss_kb".
timed() { /usr/bin/time -f "%e %M" -o "$WORK/time" "$@" >"$WORK/out" 2>&1 || { cat "$WORK/out"; exit 1; }; cat "$WORK/time"; }

report() { # job engine seconds rss_kb extra_json
  python3 -c 'import json,sys; j,e,s,r,x=sys.argv[1:]; d={"job":j,"engine":e,"seconds":float(s),"peak_rss_mb":round(int(r)/1024,1)}; d.update(json.loads(x)); print(json.dumps(d))' "$@"
}

SIZE=$(stat -c %s "$BIG")
mbs() { python3 -c "print(round($SIZE/1e6/$1,1))"; }
for run in $(seq "$RUNS"); do
  rm -rf "$WORK/lake"; mkdir -p "$WORK/lake"
  read -r secs rss < <(cd "$WORK/lake" && timed "$BIN" ingest --shop 001 --date 2025-07-01 "$BIG")
  report convert-one shoplake "$secs" "$rss" "{\"mb_per_s\": $(mbs "$secs"), \"run\": $run, \"timed\": \"whole process: archive + validate + parquet + state\"}"
  for engine in duckdb datafusion; do
    read -r secs rss < <(cd "$PEERS" && timed "$PY" convert_one.py "$engine" "$BIG" "$WORK/peer.parquet")
    inner=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])["seconds"])' "$WORK/out")
    report convert-one "$engine" "$secs" "$rss" "{\"mb_per_s\": $(mbs "$inner"), \"conversion_seconds\": $inner, \"run\": $run, \"timed\": \"conversion only, after imports\"}"
  done
done

for run in $(seq "$RUNS"); do
  rm -rf "$WORK/lake"; mkdir -p "$WORK/lake"
  read -r secs rss < <(cd "$WORK/lake" && timed "$BIN" ingest --dir "$DATA/small")
  report convert-many shoplake "$secs" "$rss" "{\"files_per_s\": $(python3 -c "print(round(1500/$secs,1))"), \"run\": $run}"
  rm -rf "$WORK/duck"
  read -r secs rss < <(cd "$PEERS" && timed "$PY" convert_many.py duckdb-partition "$DATA/small" "$WORK/duck")
  inner=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])["seconds"])' "$WORK/out")
  report convert-many duckdb-partition "$secs" "$rss" "{\"files_per_s\": $(python3 -c "print(round(1500/$inner,1))"), \"conversion_seconds\": $inner, \"run\": $run}"
done
