#!/usr/bin/env bash
# The README's test command. Every behavioural test runs once per selector backend
# available here (epoll, poll and select on Linux), as a test of its own named after the
# backend (`epoll::…`, `poll::…`, `select::…`). With the `tls` feature, so that the TLS
# tests (tests/tls.rs) and doc examples run too; the build without it is checked by
# ci/lint.sh's clippy.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --locked --features tls
