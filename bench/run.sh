#!/usr/bin/env bash
# Build the bench in release and run the whole comparison: mishika vs async-openai vs the
# raw reqwest floor, every workload, medians of 5 runs, one markdown table on stdout
# (progress on stderr, raw per-process figures in target/bench-results.jsonl).
#
#   bash bench/run.sh                      # the full run (about 5 minutes on 2 cores)
#   bash bench/run.sh --runs 1 --scale 0.2 # a quick smoke run
#   bash bench/run.sh --workloads chat-c1,stream --clients mishika,floor
set -euo pipefail
cd "$(dirname "$0")"

cargo build --release --quiet --bins

echo "## mishika client overhead"
echo
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(uname -sr)"
echo "- toolchain: $(rustc --version)"
echo "- mishika: $(git -C .. rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C .. diff --quiet HEAD -- crates 2>/dev/null || echo ' + uncommitted changes in crates/')"
echo "- async-openai: $(cargo tree --quiet --depth 1 -e normal 2>/dev/null | grep -m1 -o 'async-openai v[0-9.]*' || echo '?')"

exec ./target/release/bench-driver --raw target/bench-results.jsonl "$@"
