#!/usr/bin/env bash
# Conformance: run mishika's suite through a real LiteLLM proxy on 127.0.0.1.
#
# Creates (or reuses) a Python venv under target/ with a pinned litellm[proxy], then runs
# `cargo test --test conformance`. The suite itself starts MockGateway in-process, starts the
# proxy in front of it (offline settings, random master key, free port), waits for
# /health/liveliness and stops the proxy when done. This script additionally kills the
# proxy by the PID the suite records, should the suite die without cleaning up.
# Any failure to install or start the proxy fails loudly: nothing is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

LITELLM_VERSION="1.108.7"
PRISMA_VERSION="0.15.0"
PYTHON="${PYTHON:-python3}"
VENV="${MISHIKA_LITELLM_VENV:-$PWD/target/conformance-venv}"
STAMP="$VENV/.mishika-pins"
WANT="litellm[proxy]==$LITELLM_VERSION prisma==$PRISMA_VERSION"

if [[ ! -x "$VENV/bin/litellm" ]] || [[ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]]; then
  echo "conformance: installing $WANT into $VENV"
  started=$(date +%s)
  mkdir -p "$(dirname "$VENV")"
  [[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    "litellm[proxy]==$LITELLM_VERSION" "prisma==$PRISMA_VERSION"
  echo "$WANT" > "$STAMP"
  echo "conformance: installed in $(( $(date +%s) - started ))s"
fi
"$VENV/bin/litellm" --version >/dev/null 2>&1 || {
  echo "conformance: FAILED: $VENV/bin/litellm does not run" >&2
  exit 1
}

PIDFILE="$(mktemp -t mishika-proxy-pid.XXXXXX)"
cleanup() {
  local pid
  pid="$(cat "$PIDFILE" 2>/dev/null || true)"
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    echo "conformance: stopping leftover proxy pid $pid"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$PIDFILE"
}
trap cleanup EXIT

MISHIKA_LITELLM="$VENV/bin/litellm" \
MISHIKA_LITELLM_CONFIG="$PWD/tests/conformance/litellm_config.yaml" \
MISHIKA_CONFORMANCE_PIDFILE="$PIDFILE" \
  cargo test --test conformance
