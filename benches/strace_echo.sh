#!/usr/bin/env bash
# Syscalls per echoed message, server side only: runs the echo bench's server for PEER in a
# process of its own under `strace -f -c`, loads it from another process with one scenario,
# and divides. Usage: bash benches/strace_echo.sh [PEER [SCENARIO [SECS]]]
# (PEER: mio, tokio-ct, ioloop-epoll, ioloop-poll, ioloop-select; default ioloop-epoll;
# SCENARIO default throughput; SECS measured, default 2). Needs strace; Linux only.
# Builds the bench with `cargo bench --no-run` (honours CARGO_TARGET_DIR).
# TRACER=perf counts with `perf stat` tracepoints instead: no ptrace slow-down, so the
# server batches as it does untraced (strace slows it ~40×, and it then reads ~16 messages
# per call).
# BENCH=line_echo traces the line-echo bench's servers (mio, tokio-lines, ioloop-KIND);
# FRAMING=length (with BENCH=line_echo) their length-prefixed echo (mio, ioloop-KIND).
# BENCH=broadcast counts per delivered line, BENCH=http_keepalive per request (mio, ioloop-KIND).
# BENCH=tls_echo (built with --features tls): per 64 KiB message (scenario bandwidth) or per
# handshake (handshake); peers mio-rustls, ioloop-KIND.
# CLIENT_ARGS (split into words) are added to the client's command line: the options of the
# load, e.g. CLIENT_ARGS="--inflight 1" (broadcast: --members M, --inflight P;
# http_keepalive: --conns C; tls_echo: --conns C, --size S). Not --secs: SECS sets it, and
# how long the server lives. The servers take no option of their own.
set -euo pipefail
cd "$(dirname "$0")/.."
peer=${1:-ioloop-epoll}
scenario=${2:-throughput}
secs=${3:-2}
read -r -a client_args <<<"${CLIENT_ARGS:-}"
features=()
[[ ${BENCH:-echo} == tls_echo ]] && features=(--features tls)
bin=$(cargo bench -p ioloop-benches "${features[@]}" --no-run --bench "${BENCH:-echo}" --message-format=json 2>/dev/null |
    sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)
[[ -x $bin ]] || { echo "no ${BENCH:-echo} bench binary" >&2; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# The server lives for the load plus a margin, then exits by itself.
serve_secs=$(awk -v s="$secs" 'BEGIN { print s + 4 }')
tracer=${TRACER:-strace}
if [[ $tracer == perf ]]; then
    events=(-e raw_syscalls:sys_enter -e syscalls:sys_enter_epoll_ctl -e syscalls:sys_enter_epoll_pwait
        -e syscalls:sys_enter_epoll_wait -e syscalls:sys_enter_recvfrom -e syscalls:sys_enter_sendto
        -e syscalls:sys_enter_timerfd_settime -e syscalls:sys_enter_read -e syscalls:sys_enter_write)
    perf stat "${events[@]}" -o "$dir/strace.txt" -- "$bin" --serve "$peer" ${FRAMING:+--framing "$FRAMING"} --secs "$serve_secs" >"$dir/serve.out" &
else
    strace -f -c -o "$dir/strace.txt" "$bin" --serve "$peer" ${FRAMING:+--framing "$FRAMING"} --secs "$serve_secs" >"$dir/serve.out" &
fi
server=$!
for _ in $(seq 100); do
    grep -q '^listening on ' "$dir/serve.out" 2>/dev/null && break
    sleep 0.1
done
addr=$(sed -n 's/^listening on //p' "$dir/serve.out")
[[ -n $addr ]] || { echo "the server did not start" >&2; kill "$server"; exit 1; }
"$bin" --client "$addr" ${FRAMING:+--framing "$FRAMING"} --scenarios "$scenario" --secs "$secs" "${client_args[@]}" | tee "$dir/client.out"
wait "$server"
echoed=$(sed -n 's/.*; \([0-9]*\) echoed in all.*/\1/p' "$dir/client.out")
echo "== $peer, $scenario: $tracer of the server process (its idle main thread included)"
cat "$dir/strace.txt"
if [[ $tracer == perf ]]; then
    awk -v echoed="$echoed" -v peer="$peer" '
        $2 == "raw_syscalls:sys_enter" { gsub(",", "", $1); total = $1 }
        $2 == "syscalls:sys_enter_epoll_ctl" { gsub(",", "", $1); ctl = $1 }
        END {
            printf "%s: %d messages echoed, %d syscalls: %.3f syscalls per message; epoll_ctl %d\n",
                peer, echoed, total, total / echoed, ctl
        }' "$dir/strace.txt"
    exit 0
fi
awk -v echoed="$echoed" -v peer="$peer" '
    $NF == "total" { total = $4 }
    $NF == "epoll_ctl" { ctl = $4 }
    END {
        printf "%s: %d messages echoed, %d syscalls: %.3f syscalls per message; epoll_ctl %d\n",
            peer, echoed, total, total / echoed, ctl
    }' "$dir/strace.txt"
