#!/usr/bin/env bash
# The whole test suite, from a fresh clone: sets up what the tests need, then runs them.
# Usage: scripts/test.sh [extra cargo-nextest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

# Tools the suite needs: cargo-nextest (preinstalled on our machines; installed when missing).
if ! command -v cargo-nextest >/dev/null 2>&1; then
  cargo install --locked cargo-nextest
fi

cargo fmt --all -- --check
cargo nextest run --workspace --all-targets --no-fail-fast "$@"
cargo test --doc --quiet
