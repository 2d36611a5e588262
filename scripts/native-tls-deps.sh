#!/usr/bin/env bash
# The native-tls feature needs OpenSSL's headers and pkg-config: install them with apt-get
# when missing (.ci/run lints and documents with --all-features; scripts/builds.sh builds
# native-tls alone), and fail loudly when that cannot be done.
set -euo pipefail

if ! pkg-config --exists openssl 2>/dev/null; then
  echo "== installing libssl-dev and pkg-config (for the native-tls feature)"
  if ! command -v apt-get >/dev/null; then
    echo "native-tls needs OpenSSL's headers and pkg-config, and there is no apt-get here" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends libssl-dev pkg-config; }; then
    echo "could not install libssl-dev and pkg-config (needed by the native-tls feature)" >&2
    exit 1
  fi
  pkg-config --exists openssl || { echo "pkg-config still finds no openssl" >&2; exit 1; }
fi

