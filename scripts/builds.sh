#!/usr/bin/env bash
# Build checks for the feature choices (.ci/run calls this before the tests):
#   1. mishika and mishika-http without default features (no reqwest; no TLS), linted;
#   2. each TLS backend alone (rustls-ring, rustls-aws-lc-rs, native-tls), linted, and
#      mishika-http's loopback TLS test run on it; `http2` likewise (ALPN offers h2);
#   3. tests/builds: a provider and transport on mishika-core alone, and mishika without
#      `reqwest` over its own transport, both run (they assert what they get), and their
#      dependency trees checked to hold no reqwest and no hyper.
# native-tls needs OpenSSL's headers and pkg-config: installed with apt-get when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

# The lints .ci/run applies to the default build, on the other feature sets.
lint() { cargo clippy --quiet "$@" -- -D warnings; }

bash scripts/native-tls-deps.sh

echo "== mishika and mishika-http without default features"
lint -p mishika -p mishika-http --no-default-features --all-targets
cargo test --quiet -p mishika-http --no-default-features --test tls

for tls in rustls-ring rustls-aws-lc-rs native-tls; do
  echo "== TLS backend: $tls"
  lint -p mishika --no-default-features --features "$tls"
  cargo test --quiet -p mishika-http --no-default-features --features "$tls" --test tls
done

echo "== http2"
lint -p mishika --features http2
cargo test --quiet -p mishika-http --features http2 --test tls

echo "== tests/builds: mishika-core alone, and mishika without reqwest"
builds=(--manifest-path tests/builds/Cargo.toml)
cargo fmt "${builds[@]}" --all -- --check
lint "${builds[@]}" --target-dir target --locked
cargo run --quiet --locked "${builds[@]}" --target-dir target -p core-only
cargo run --quiet --locked "${builds[@]}" --target-dir target -p no-reqwest
for package in core-only no-reqwest; do
  # The tree first (a failure stops the script), then the names searched in it.
  tree=$(cargo tree --quiet --locked "${builds[@]}" -p "$package" -e normal --prefix none)
  grep -qx "$package v0.0.0 (.*)" <<<"$tree" || { echo "no tree for $package" >&2; exit 1; }
  found=$(awk '{ print $1 }' <<<"$tree" | grep -xE 'reqwest|hyper|hyper-util|h2|rustls' | sort -u || true)
  if [ -n "$found" ]; then
    echo "$package depends on: $found" >&2
    exit 1
  fi
  echo "$package: no reqwest, hyper, h2 or rustls in its tree"
done

echo "== duplicate crates under mishika (default features)"
cargo tree --quiet -p mishika -e normal -d

echo "== builds.sh took $((SECONDS - started)) s"
