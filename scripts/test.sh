#!/usr/bin/env bash
# The whole test suite, from a fresh clone: sets up what the tests need, then runs them.
# Usage: scripts/test.sh [extra cargo-nextest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

# Tools the suite needs: cargo-nextest (preinstalled on our machines; installed when missing).
if ! command -v cargo-nextest >/dev/null 2>&1; then
  cargo install --locked cargo-nextest
fi

# Python tools the suite drives (DuckDB reads our files), in a venv this script owns.
VENV=target/test-venv
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -c "import duckdb" 2>/dev/null || "$VENV/bin/pip" install --quiet "duckdb==2.0.1"
export SHOPLAKE_TEST_PYTHON="$PWD/$VENV/bin/python"

cargo fmt --all -- --check
# Supply chain: licenses, banned crates, sources (advisories need GitHub: scripts/audit.sh).
scripts/audit.sh --offline
cargo nextest run --workspace --all-targets --no-fail-fast "$@"
cargo test --workspace --doc --quiet
