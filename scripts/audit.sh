#!/usr/bin/env bash
# Supply-chain checks with cargo-deny (installed if missing): licenses, banned crates and
# sources always; RustSec advisories too when the advisory database (GitHub) can be fetched.
# Usage: scripts/audit.sh [--offline]   (--offline: skip advisories; what scripts/test.sh runs)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-deny >/dev/null || cargo install --locked cargo-deny@0.20.2
if [ "${1:-}" = --offline ]; then
  cargo deny --all-features check bans licenses sources
else
  cargo deny --all-features check
fi
