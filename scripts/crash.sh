#!/usr/bin/env bash
# The SIGKILL crash test with more cycles than the suite's 50 (and an optional seed to replay
# a failure): scripts/crash.sh [CYCLES] [SEED]. Prints the cycles survived and what was checked.
set -euo pipefail
cd "$(dirname "$0")/.."
export SHOPLAKE_CRASH_CYCLES=${1:-500}
[ -n "${2:-}" ] && export SHOPLAKE_CRASH_SEED=$2
cargo nextest run --test api crash::sigkill --no-capture 2>&1 | grep -E "crash test|PASS|FAIL|panicked|assert"
