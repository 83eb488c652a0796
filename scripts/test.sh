#!/usr/bin/env bash
# The whole test suite, from a fresh clone: sets up what the tests need, then runs them on both
# back ends — local directory + SQLite, then S3 (moto_server on 127.0.0.1) + PostgreSQL (the
# machine's server, one throwaway database per run).
# Usage: scripts/test.sh [extra cargo-nextest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

# Tools the suite needs: cargo-nextest (preinstalled on our machines; installed when missing).
if ! command -v cargo-nextest >/dev/null 2>&1; then
  cargo install --locked cargo-nextest
fi

# Python tools the suite drives (DuckDB reads our files; moto is the S3 and Glue server;
# cfn-lint checks the SAM template; the OpenAPI tools below), in a venv this script owns.
VENV=target/test-venv
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -c "import duckdb" 2>/dev/null || "$VENV/bin/pip" install --quiet "duckdb==2.0.1"
[ -x "$VENV/bin/moto_server" ] || "$VENV/bin/pip" install --quiet "moto[server]==5.2.5"
[ -x "$VENV/bin/cfn-lint" ] || "$VENV/bin/pip" install --quiet "cfn-lint==1.51.0"
# What a POS integrator runs on our OpenAPI document: a validator and a client generator (the
# generated client needs httpx and attrs).
[ -x "$VENV/bin/openapi-spec-validator" ] || "$VENV/bin/pip" install --quiet "openapi-spec-validator==0.9.0"
[ -x "$VENV/bin/openapi-python-client" ] \
  || "$VENV/bin/pip" install --quiet "openapi-python-client==0.29.1" "httpx==0.28.1" "attrs==26.1.0"
export SHOPLAKE_TEST_PYTHON="$PWD/$VENV/bin/python"

# PostgreSQL on 127.0.0.1:5432 (trust auth), started when it is down.
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
  for _ in $(seq 50); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.2; done
  pg_isready -q -h 127.0.0.1 -p 5432 || { echo "PostgreSQL does not answer on 127.0.0.1:5432"; exit 1; }
fi
PG_DATABASE="shoplake_test_$$"
psql -q -h 127.0.0.1 -U postgres -d postgres -c "create database $PG_DATABASE"

# The S3 server, on a free port of 127.0.0.1.
MOTO_LOG=$(mktemp)
"$VENV/bin/moto_server" -H 127.0.0.1 -p 0 >"$MOTO_LOG" 2>&1 &
MOTO_PID=$!
cleanup() {
  kill "$MOTO_PID" 2>/dev/null || true
  psql -q -h 127.0.0.1 -U postgres -d postgres -c "drop database if exists $PG_DATABASE with (force)" || true
  rm -f "$MOTO_LOG"
}
trap cleanup EXIT
MOTO_URL=""
for _ in $(seq 100); do
  MOTO_URL=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$MOTO_LOG" | head -1 || true)
  [ -n "$MOTO_URL" ] && break
  sleep 0.1
done
[ -n "$MOTO_URL" ] || { echo "moto_server did not start:"; cat "$MOTO_LOG"; exit 1; }

cargo fmt --all -- --check
# The AWS deployment: the SAM template is valid (the SAM transform runs locally), and the
# Lambda entry point (feature `lambda`) compiles.
"$VENV/bin/cfn-lint" deploy/template.yaml
cargo check --quiet --features lambda --bin bootstrap
# Supply chain: licenses, banned crates, sources (advisories need GitHub: scripts/audit.sh).
scripts/audit.sh --offline

failed=0
echo "== back end: local directory + SQLite"
cargo nextest run --workspace --all-targets --no-fail-fast "$@" || failed=1
# The reporting pages in a real browser, against the binary the suite above built: Debian's
# Chromium and playwright-core from npm (which downloads no browser), installed when missing.
echo "== browser: the reporting pages in Chromium"
if [ ! -x /usr/lib/chromium/chromium ]; then
  apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q && apt-get install -y -q chromium; }
fi
(cd tests/browser && { [ -d node_modules/playwright-core ] || npm ci --silent --no-audit --no-fund; } && node --test) || failed=1
echo "== back end: S3 ($MOTO_URL) + PostgreSQL ($PG_DATABASE)"
SHOPLAKE_TEST_BACKEND=s3 \
  SHOPLAKE_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:5432/$PG_DATABASE" \
  AWS_ENDPOINT_URL="$MOTO_URL" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 \
  cargo nextest run --profile s3 --workspace --all-targets --no-fail-fast "$@" || failed=1
cargo test --workspace --doc --quiet || failed=1
exit "$failed"
