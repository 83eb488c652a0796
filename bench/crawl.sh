#!/usr/bin/env bash
# Crawl speed: `shoplake crawl` over N partition files (default 10,000 = 100 shops x 100 days),
# made by copying one real 2,000-row partition; reads footers only. Prints one JSON line.
# Usage: bench/crawl.sh [PARTITIONS]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
N=${1:-10000}
# The same package set in every bench script: building shoplake alone would unify features
# differently and rebuild most dependencies each time the scripts alternate.
cargo build --release --quiet -p shoplake -p shoplake-load --bins --manifest-path "$ROOT/Cargo.toml"
BIN=$ROOT/target/release/shoplake
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export SHOPLAKE_JWT_SECRET=bench-secret-bench-secret-bench-secret SHOPLAKE_LOG=error
cd "$WORK"
python3 "$ROOT/tests/fixtures/gen_sales.py" --out gen --shops 1 --days 1 --rows-per-file 2000 >/dev/null
"$BIN" ingest --shop 001 --date 2025-07-01 gen/shop_001/2025-07-01.csv >/dev/null
SRC=data/processed/shop_id=001/date=2025-07-01/data.parquet
python3 - "$N" "$SRC" <<'PY'
import datetime, os, shutil, sys
n, src = int(sys.argv[1]), sys.argv[2]
shops = max(1, n // 100)
start = datetime.date(2025, 1, 1)
made = 0
for s in range(1, shops + 1):
    for d in range(100):
        if made >= n:
            break
        day = start + datetime.timedelta(days=d)
        dst = f"data/processed/shop_id={s:04d}/date={day}/data.parquet"
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if not os.path.exists(dst):
            shutil.copyfile(src, dst)
        made += 1
PY
sync
/usr/bin/time -f "%e %M" -o time.txt "$BIN" crawl > crawl.txt
read -r secs rss < time.txt
python3 -c 'import json,sys; s,r,n,t=sys.argv[1:]; print(json.dumps({"job":"crawl","partitions":int(n),"seconds":float(s),"peak_rss_mb":round(int(r)/1024,1),"summary":t.strip().splitlines()[-1]}))' "$secs" "$rss" "$N" "$(tail -n 1 crawl.txt)"
