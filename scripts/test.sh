#!/usr/bin/env bash
# The whole test suite: every crate's unit, integration and doc tests over loopback.
# This is the README's test command; .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace --all-targets
cargo test --workspace --doc
