#!/usr/bin/env bash
# Smoke test of the Lambda entry point under `cargo lambda watch` (the Lambda runtime emulator),
# offline: moto for S3, the machine's PostgreSQL, a legacy export dropped in raw/, one
# AWS-shaped S3 event invoked twice. Prints both answers: `created`, then `repeated`.
# Not part of scripts/test.sh (it builds the binary with the `lambda` feature: ~3-4 min more);
# the handler itself is tested in the suite (tests/api/s3_only/lambda.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=target/test-venv
[ -x "$VENV/bin/moto_server" ] || { python3 -m venv "$VENV"; "$VENV/bin/pip" install --quiet "moto[server]==5.2.5"; }
[ -x "$VENV/bin/cargo-lambda" ] || "$VENV/bin/pip" install --quiet "cargo-lambda==1.9.2"
export PATH="$PWD/$VENV/bin:$PATH"
WORK=$(mktemp -d)
DB=shoplake_lambda_smoke_$$
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
moto_server -H 127.0.0.1 -p "$PORT" >"$WORK/moto.log" 2>&1 & MOTO=$!
cleanup() {
  kill "$MOTO" 2>/dev/null || true
  pkill -f "cargo-lambda lambda watch" 2>/dev/null || true
  psql -q -h 127.0.0.1 -U postgres -d postgres -c "drop database if exists $DB with (force)" || true
  rm -rf "$WORK"
}
trap cleanup EXIT
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$PORT/" >/dev/null 2>&1 && break; sleep 0.1; done
psql -q -h 127.0.0.1 -U postgres -d postgres -c "create database $DB"
export AWS_ENDPOINT_URL=http://127.0.0.1:$PORT AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
export SHOPLAKE_STORAGE=s3://smoke-lake/lake SHOPLAKE_DATABASE_URL=postgres://postgres@127.0.0.1:5432/$DB
export SHOPLAKE_JWT_SECRET=lambda-smoke-secret-lambda-smoke-secret SHOPLAKE_LOG=warn

python3 tests/fixtures/gen_sales.py --out "$WORK/gen" --shops 1 --days 1 --rows-per-file 500 --start-date 2025-07-30 >/dev/null
"$VENV/bin/python" - "$WORK/gen/shop_001/2025-07-30.csv" <<'PY'
import sys, boto3, botocore
s3 = boto3.client("s3", config=botocore.config.Config(s3={"addressing_style": "path"}))
s3.create_bucket(Bucket="smoke-lake")
s3.put_object(Bucket="smoke-lake", Key="lake/raw/shop_id=001/date=2025-07-30/POS export 30 July.csv", Body=open(sys.argv[1], "rb").read())
PY
cat >"$WORK/event.json" <<'JSON'
{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventTime":"2025-07-30T23:01:02.123Z","eventName":"ObjectCreated:Put","userIdentity":{"principalId":"AWS:EXAMPLE"},"requestParameters":{"sourceIPAddress":"203.0.113.7"},"responseElements":{"x-amz-request-id":"C3D13FE58DE4C810","x-amz-id-2":"FMyUVURIY8"},"s3":{"s3SchemaVersion":"1.0","configurationId":"raw","bucket":{"name":"smoke-lake","ownerIdentity":{"principalId":"EXAMPLE"},"arn":"arn:aws:s3:::smoke-lake"},"object":{"key":"lake/raw/shop_id%3D001/date%3D2025-07-30/POS+export+30+July.csv","size":100,"eTag":"x","sequencer":"0A"}}}]}
JSON
cargo lambda watch --features lambda --bin bootstrap >"$WORK/watch.log" 2>&1 &
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:9000/" && break; sleep 0.2; done
cargo lambda invoke bootstrap --data-file "$WORK/event.json"
echo
cargo lambda invoke bootstrap --data-file "$WORK/event.json"
echo
psql -h 127.0.0.1 -U postgres -d "$DB" -Atc "select status, rows_accepted, raw_key from uploads"
