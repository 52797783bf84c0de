#!/bin/bash
# The server's instructions per `createBuild` (and its SQLite writer thread's), counted by
# callgrind: the README's "server instructions per call" rows. Seconds swing 2-3x on the shared
# hosts; instruction counts move by a percent or two, so compare builds with this.
#
#   bench/tools/callgrind_per_call.sh ./target/release/buildhooks [label] [extra bench args]
#
# Runs `bench --mode api` twice with the server under callgrind (1,000 and 2,000 calls, 8 in
# flight, no warm-up) and prints the difference over 1,000: the per-call cost with start-up and
# schema work cancelled out. The writer's share sums the threads whose profile names the writer
# thread's loop (`--separate-threads=yes`; 0 on PostgreSQL, which has none).
set -euo pipefail
bin=$1
label=${2:-$bin}
shift $(( $# < 2 ? $# : 2 ))
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
declare -A total writer
for n in 1000 2000; do
  BUILDHOOKS_BENCH_SERVER_WRAPPER="valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file=$dir/cg.$n.%p" \
    "$bin" bench --mode api --runs 1 --events "$n" --concurrency 8 --warmup 0 "$@" \
    > "$dir/out.$n.json" 2> "$dir/err.$n"
  t=0; w=0
  for f in "$dir"/cg."$n".*; do
    v=$(grep -m1 '^totals:' "$f" | awk '{print $2}' || true)
    [ -z "$v" ] && v=$(grep -m1 '^summary:' "$f" | awk '{print $2}' || true)
    v=${v:-0}
    t=$((t + v))
    if grep -q 'own_writer::serve\|own_writer::commit' "$f"; then w=$((w + v)); fi
  done
  total[$n]=$t; writer[$n]=$w
done
echo "$label instructions_per_call=$(( (total[2000] - total[1000]) / 1000 )) writer_per_call=$(( (writer[2000] - writer[1000]) / 1000 ))"
