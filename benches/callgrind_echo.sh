#!/usr/bin/env bash
# Instructions per echoed message of each echo server, counted by callgrind (immune to the
# machine's noise: the same binary and input give the same count whatever else runs).
#
#   bash benches/callgrind_echo.sh [SCENARIO] [SECS] [PEER ...]
#
# Each PEER (default: mio tokio-ct ioloop-epoll ioloop-poll ioloop-select) serves under
# `valgrind --tool=callgrind` while the bench's own client (not traced) drives it for SECS
# seconds (default 5) with SCENARIO (default latency). Prints, per peer, the server's
# instructions (Ir) divided by the messages it echoed, and keeps the profile in
# $OUT_DIR (default target/callgrind) for `callgrind_annotate`.
#
# BENCH=line_echo counts the line-echo bench's servers instead (default BENCH=echo; its
# peers: mio tokio-lines ioloop-epoll ioloop-poll ioloop-select; its scenarios latency and
# throughput). FRAMING=length (with BENCH=line_echo) counts its length-prefixed echo
# (peers mio and ioloop-KIND). BENCH=broadcast counts instructions per delivered line,
# BENCH=http_keepalive per request (peers mio and ioloop-KIND; SCENARIO is ignored).
# BENCH=tls_echo counts the TLS echo (built with --features tls; peers mio-rustls and
# ioloop-KIND; scenarios bandwidth, per 64 KiB message, and handshake, per handshake).
# CLIENT_ARGS (split into words) are added to the client's command line: the options of
# the load, e.g. CLIENT_ARGS="--inflight 1" (broadcast: --members M, --inflight P;
# http_keepalive: --conns C; tls_echo: --conns C, --size S). Not --secs: SECS sets it, and
# how long the server lives. The servers take no option of their own.
#
# Use the latency scenario to compare loops: one message per wake-up for every peer. In
# the batched scenarios a slower server gathers more messages per read, so a costlier loop
# can look cheaper per message. python-asyncore is not supported: it serves from a child
# process, which callgrind does not follow.
set -euo pipefail

usage() { sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; }
case "${1:-}" in -h|--help) usage; exit 0 ;; esac

scenario=${1:-latency}
secs=${2:-5}
shift $(( $# > 2 ? 2 : $# ))
peers=("$@")
read -r -a client_args <<<"${CLIENT_ARGS:-}"
bench_name=${BENCH:-echo}
if [ ${#peers[@]} -eq 0 ]; then
    case "$bench_name" in
        echo) peers=(mio tokio-ct ioloop-epoll ioloop-poll ioloop-select) ;;
        line_echo) peers=(mio tokio-lines ioloop-epoll ioloop-poll ioloop-select) ;;
        tls_echo) peers=(mio-rustls ioloop-epoll ioloop-poll ioloop-select) ;;
        *) peers=(mio ioloop-epoll ioloop-poll ioloop-select) ;;
    esac
fi

command -v valgrind >/dev/null || { echo "callgrind_echo: valgrind is not installed" >&2; exit 2; }
cd "$(dirname "$0")/.."
export CARGO_PROFILE_BENCH_DEBUG=true
features=()
[ "$bench_name" = tls_echo ] && features=(--features tls)
bench=$(cargo bench -p ioloop-benches "${features[@]}" --bench "$bench_name" --no-run --message-format=json 2>/dev/null |
    sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)
[ -x "$bench" ] || { echo "callgrind_echo: could not build the $bench_name bench" >&2; exit 1; }
out=${OUT_DIR:-target/callgrind}
mkdir -p "$out"

printf '%-14s %12s %14s %10s\n' peer messages instructions "Ir/msg"
for peer in "${peers[@]}"; do
    log=$out/$peer.serve.log
    profile=$out/callgrind.$bench_name${FRAMING:+-$FRAMING}.$peer.$scenario.out
    # A log left by an earlier run would name a dead server's address until the new one
    # truncates it (the redirection below runs in the background job).
    rm -f "$log"
    # The server outlives the client by a margin: callgrind writes its profile at exit.
    valgrind --tool=callgrind --callgrind-out-file="$profile" \
        "$bench" --serve "$peer" ${FRAMING:+--framing "$FRAMING"} --secs "$(( secs + 6 ))" >"$log" 2>"$out/$peer.valgrind.log" &
    server=$!
    addr=
    for _ in $(seq 100); do
        addr=$(sed -n 's/^listening on //p' "$log" 2>/dev/null || true) # the log may not exist yet
        [ -n "$addr" ] && break
        sleep 0.1
    done
    [ -n "$addr" ] || { echo "callgrind_echo: $peer did not start" >&2; kill "$server"; exit 1; }
    result=$("$bench" --client "$addr" ${FRAMING:+--framing "$FRAMING"} --scenarios "$scenario" --secs "$secs" "${client_args[@]}")
    wait "$server"
    messages=$(sed -n 's/.*; \([0-9]*\) echoed in all.*/\1/p' <<<"$result")
    ir=$(sed -n 's/^==[0-9]*== Collected : //p' "$out/$peer.valgrind.log")
    awk -v p="$peer" -v m="$messages" -v i="$ir" 'BEGIN { printf "%-14s %12d %14d %10.0f\n", p, m, i, i / m }'
done
