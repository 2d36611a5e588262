#!/usr/bin/env bash
# The whole test suite (the README's test command; .ci/run calls exactly this):
#   1. every crate's unit, integration and doc tests, over loopback only;
#   2. the conformance suite through a real LiteLLM proxy (installed into target/ on first
#      use; fails loudly if it cannot be installed or started).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace --all-targets
cargo test --workspace --doc
bash scripts/conformance.sh
