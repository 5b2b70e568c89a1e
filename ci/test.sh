#!/usr/bin/env bash
# The README's test command. Every behavioural test runs once per selector backend
# available here (epoll, poll and select on Linux), as a test of its own named after the
# backend (`epoll::…`, `poll::…`, `select::…`).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --locked
