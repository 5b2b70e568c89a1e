#!/usr/bin/env bash
# Instructions per callback of the dispatch bench (benches/dispatch.rs), counted by callgrind:
# the user-space cost of the loop, free of the machine's noise and of the kernel's.
#
#   bash benches/callgrind_dispatch.sh [CHAIN] [SIZES] [BACKENDS]
#
# CHAIN: active (default) or all; SIZES: comma-separated N (default 100,1000,19500);
# BACKENDS: comma-separated (default polling,epoll,poll,select). Each (N, backend) runs in
# its own process under `valgrind --tool=callgrind`, counting only the measured rounds
# (1 warm-up + 3 rounds of A + W = 100 + 10 000 callbacks each). Prints instructions per
# callback; profiles stay in $OUT_DIR (default target/callgrind).
set -euo pipefail

case "${1:-}" in -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
chain=${1:-active}
sizes=${2:-100,1000,19500}
backends=${3:-polling,epoll,poll,select}
rounds=3
callbacks=$(( (rounds + 1) * (100 + 10000) ))

command -v valgrind >/dev/null || { echo "callgrind_dispatch: valgrind is not installed" >&2; exit 2; }
cd "$(dirname "$0")/.."
export CARGO_PROFILE_BENCH_DEBUG=true
bench=$(cargo bench -p ioloop-benches --bench dispatch --no-run --message-format=json 2>/dev/null |
    sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)
[ -x "$bench" ] || { echo "callgrind_dispatch: could not build benches/dispatch.rs" >&2; exit 1; }
out=${OUT_DIR:-target/callgrind}
mkdir -p "$out"

printf '%-8s %-8s %14s %12s\n' N backend instructions "Ir/callback"
for n in ${sizes//,/ }; do
    for backend in ${backends//,/ }; do
        log=$out/dispatch.$chain.$n.$backend.log
        # Only the closures that run rounds are counted, not the set-up of N channels.
        valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.dispatch.$chain.$n.$backend.out" \
            --collect-atstart=no --toggle-collect='dispatch::run_mode::{{closure}}' \
            "$bench" --chain "$chain" --sizes "$n" --backends "$backend" --rounds "$rounds" \
            >"$log" 2>&1 || { echo "callgrind_dispatch: N=$n $backend failed, see $log" >&2; exit 1; }
        ir=$(sed -n 's/^==[0-9]*== Collected : //p' "$log")
        awk -v n="$n" -v b="$backend" -v i="$ir" -v c="$callbacks" \
            'BEGIN { printf "%-8s %-8s %14d %12.1f\n", n, b, i, i / c }'
    done
done
