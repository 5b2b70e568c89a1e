#!/usr/bin/env bash
# A server's user and system CPU time per message, apart: runs a bench's server for each PEER
# in a process of its own, loads it from another process with one scenario, reads the
# server's utime and stime from /proc/PID/stat while it still runs, and divides by the
# messages echoed. The benches report user + system together; this shows where a
# difference lies (the chat layer's own instructions, or the kernel's work for its system
# calls). Peers run in alternation, ROUNDS times (default 3).
#
#   bash benches/cpu_split.sh [SCENARIO [SECS [PEER ...]]]
#
# SCENARIO default throughput, SECS measured default 3, PEERS default mio ioloop-epoll.
# BENCH (default echo), FRAMING, CLIENT_ARGS (extra words for the client, e.g.
# "--inflight 1") as for callgrind_echo.sh: BENCH=broadcast divides by delivered lines
# (SCENARIO ignored), BENCH=line_echo by lines. Linux only (/proc); the clock tick
# (usually 10 ms) bounds the precision, so use SECS of 3 or more.
set -euo pipefail

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }
case "${1:-}" in -h|--help) usage; exit 0 ;; esac

scenario=${1:-throughput}
secs=${2:-3}
shift $(( $# > 2 ? 2 : $# ))
peers=("$@")
[ ${#peers[@]} -eq 0 ] && peers=(mio ioloop-epoll)
bench_name=${BENCH:-echo}
rounds=${ROUNDS:-3}
[ -r /proc/self/stat ] || { echo "cpu_split: needs Linux's /proc" >&2; exit 2; }

cd "$(dirname "$0")/.."
features=()
[ "$bench_name" = tls_echo ] && features=(--features tls)
bin=$(cargo bench -p ioloop-benches "${features[@]}" --bench "$bench_name" --no-run --message-format=json 2>/dev/null |
    sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)
[ -x "$bin" ] || { echo "cpu_split: could not build the $bench_name bench" >&2; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
ticks=$(getconf CLK_TCK)

# utime and stime (fields 14 and 15; the command name, field 2, may hold spaces).
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12, $13 }'; }

printf '%-14s %12s %14s %14s %14s\n' peer messages "user ns/msg" "system ns/msg" "total ns/msg"
for _ in $(seq "$rounds"); do
    for peer in "${peers[@]}"; do
        # The server outlives the client by a margin, then exits by itself.
        "$bin" --serve "$peer" ${FRAMING:+--framing "$FRAMING"} --secs "$(( secs + 3 ))" >"$dir/serve.out" &
        server=$!
        addr=
        for _ in $(seq 100); do
            addr=$(sed -n 's/^listening on //p' "$dir/serve.out")
            [ -n "$addr" ] && break
            sleep 0.1
        done
        [ -n "$addr" ] || { echo "cpu_split: $peer did not start" >&2; kill "$server"; exit 1; }
        read -r user0 sys0 < <(cpu_ticks "$server")
        # shellcheck disable=SC2086 # CLIENT_ARGS is a list of words
        result=$("$bin" --client "$addr" ${FRAMING:+--framing "$FRAMING"} --scenarios "$scenario" --secs "$secs" ${CLIENT_ARGS:-})
        read -r user1 sys1 < <(cpu_ticks "$server")
        wait "$server"
        messages=$(sed -n 's/.*; \([0-9]*\) echoed in all.*/\1/p' <<<"$result")
        awk -v p="$peer" -v m="$messages" -v u=$(( user1 - user0 )) -v s=$(( sys1 - sys0 )) -v t="$ticks" 'BEGIN {
            k = 1e9 / t / m
            printf "%-14s %12d %14.1f %14.1f %14.1f\n", p, m, u * k, s * k, (u + s) * k
        }'
    done
done
