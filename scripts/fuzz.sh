#!/usr/bin/env bash
# Runs one cargo-fuzz target for SECONDS (default 300) and prints executions and findings.
# Usage: scripts/fuzz.sh {csv_reader|gzip_body|multipart_body|ingest_limits|sql_statement} [SECONDS]
# Needs cargo-fuzz (`cargo install --locked cargo-fuzz`). Our only toolchain is stable, so
# RUSTC_BOOTSTRAP=1 lets it pass the -Z flags libFuzzer's instrumentation needs.
set -euo pipefail
TARGET=${1:?target: csv_reader, gzip_body, multipart_body, ingest_limits or sql_statement}
# The SQL target has its own cargo-fuzz project (DataFusion's instrumented build stays apart).
case "$TARGET" in
  sql_statement) cd "$(dirname "$0")/../fuzz/sql" ;;
  *) cd "$(dirname "$0")/../fuzz" ;;
esac
SECONDS_TO_RUN=${2:-300}
mkdir -p "corpus/$TARGET" "artifacts/$TARGET"
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT
set +e
RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir . "$TARGET" "corpus/$TARGET" -- \
  -max_total_time="$SECONDS_TO_RUN" -rss_limit_mb=1024 -max_len=65536 -timeout="${FUZZ_TIMEOUT:-20}" \
  -print_final_stats=1 >"$LOG" 2>&1
status=$?
set -e
grep -E '^#[0-9]+.*(pulse|DONE)|ERROR|panicked|SUMMARY|error(\[|:)' "$LOG" | tail -n 40 || true
execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$LOG" | grep -oE '[0-9]+$' || echo 0)
crashes=$(find "artifacts/$TARGET" -type f | wc -l)
printf '{"target":"%s","seconds":%s,"executions":%s,"corpus_files":%s,"artifacts":%s,"exit":%s}\n' \
  "$TARGET" "$SECONDS_TO_RUN" "${execs:-0}" "$(find "corpus/$TARGET" -type f | wc -l)" "$crashes" "$status"
exit "$status"
