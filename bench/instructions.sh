#!/usr/bin/env bash
# Instructions per request (or per streamed chunk) of each client, counted by callgrind:
# repeatable where CPU time is noisy. Each client × workload runs at N and 2N requests; the
# difference divided by N leaves out start-up and warm-up.
#
#   bash bench/instructions.sh            # needs valgrind; ~20 min on 2 cores
set -euo pipefail
cd "$(dirname "$0")"
command -v valgrind >/dev/null || { echo "valgrind is needed" >&2; exit 1; }
cargo build --release --quiet
server_log=$(mktemp)
./target/release/bench-server --port 0 >"$server_log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -f "$server_log"' EXIT
for _ in $(seq 1 100); do
  port=$(grep -oE '127\.0\.0\.1:[0-9]+' "$server_log" | head -1 | cut -d: -f2 || true)
  [ -n "${port:-}" ] && break
  sleep 0.1
done
[ -n "${port:-}" ] || { echo "bench-server did not start" >&2; cat "$server_log" >&2; exit 1; }
url="http://127.0.0.1:$port"

count() { # client workload requests -> instructions
  valgrind --tool=callgrind --callgrind-out-file=/dev/null \
    ./target/release/bench-client --client "$1" --workload "$2" --server-url "$url" \
    --requests "$3" 2>&1 >/dev/null | grep -oE 'Collected : [0-9]+' | grep -oE '[0-9]+'
}

echo "| workload | unit | mishika | async-openai | floor | mishika/floor | mishika/async-openai |"
echo "|---|---|---:|---:|---:|---:|---:|"
# workload, N, units per request (200 chunks per stream), unit name
for spec in "chat-c1 500 1 request" "chat-c64 1000 1 request" "stream-burst 50 200 chunk" \
            "embed-float 20 1 request" "embed-base64 20 1 request"; do
  read -r workload n per unit <<<"$spec"
  declare -A per_unit=()
  for client in mishika async-openai floor; do
    once=$(count "$client" "$workload" "$n")
    twice=$(count "$client" "$workload" $((2 * n)))
    per_unit[$client]=$(( (twice - once) / (n * per) ))
    echo "  $workload $client: $once / $twice" >&2
  done
  awk -v w="$workload" -v u="$unit" -v m="${per_unit[mishika]}" -v a="${per_unit[async-openai]}" \
      -v f="${per_unit[floor]}" 'BEGIN { printf "| %s | instructions/%s | %d | %d | %d | %.2f× | %.2f× |\n", w, u, m, a, f, m / f, m / a }'
done

echo
echo "| router workload | unit | mishika with a router (10 deployments) | mishika | router/plain | added |"
echo "|---|---|---:|---:|---:|---:|"
for spec in "chat-c1 500" "chat-c64 1000"; do
  read -r workload n <<<"$spec"
  declare -A routed=()
  for client in mishika-router mishika; do
    once=$(count "$client" "$workload" "$n")
    twice=$(count "$client" "$workload" $((2 * n)))
    routed[$client]=$(( (twice - once) / n ))
    echo "  $workload $client: $once / $twice" >&2
  done
  awk -v w="$workload" -v r="${routed[mishika-router]}" -v m="${routed[mishika]}" \
      'BEGIN { printf "| %s | instructions/request | %d | %d | %.3f× | %+d |\n", w, r, m, r / m, r - m }'
done
