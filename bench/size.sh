#!/usr/bin/env bash
# Clean build time and stripped release size of one chat call: mishika (default features)
# against async-openai (its default TLS, `chat-completion`). Each is built from clean in its
# own target directory, one after the other, with the profile in bench/size/Cargo.toml.
#
#   bash bench/size.sh                      # ~4 min on 2 cores
#   MISHIKA_FEATURES="--no-default-features --features rustls-aws-lc-rs" bash bench/size.sh
#
# Build times depend on what else the machine runs: compare the ratio, not the seconds.
set -euo pipefail
cd "$(dirname "$0")/size"
# Fetch first, so the timings count compiling only.
cargo fetch --quiet

declare -A seconds bytes
for package in mishika-one-call async-openai-one-call; do
  target="target/$package"
  rm -rf "$target"
  extra=()
  if [ "$package" = mishika-one-call ] && [ -n "${MISHIKA_FEATURES:-}" ]; then
    # Features of the one-call package forward to mishika (see its Cargo.toml).
    read -r -a extra <<<"$MISHIKA_FEATURES"
  fi
  start=$(date +%s.%N)
  cargo build --release --quiet --locked -p "$package" --target-dir "$target" "${extra[@]}"
  end=$(date +%s.%N)
  seconds[$package]=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.1f", e - s }')
  bytes[$package]=$(stat -c %s "$target/release/$package")
  echo "  $package: ${seconds[$package]} s, ${bytes[$package]} bytes" >&2
done

m=mishika-one-call a=async-openai-one-call
echo "| program | clean build (s) | stripped size (MiB) |"
echo "|---|---:|---:|"
for package in "$m" "$a"; do
  awk -v p="$package" -v s="${seconds[$package]}" -v b="${bytes[$package]}" \
    'BEGIN { printf "| %s | %s | %.2f |\n", p, s, b / 1048576 }'
done
awk -v sm="${seconds[$m]}" -v sa="${seconds[$a]}" -v bm="${bytes[$m]}" -v ba="${bytes[$a]}" \
  'BEGIN { printf "| mishika / async-openai | %.2f× | %.3f× |\n", sm / sa, bm / ba }'
