#!/usr/bin/env bash
# macOS and FreeBSD type-checked (clippy, warnings denied) and the whole test suite run for
# Windows under Wine, with ../shared/tools/cross-check (it installs Debian's rustc-web,
# MinGW and Wine on first use). Usable by hand: `bash ci/cross.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."

cross_check=../shared/tools/cross-check
if [[ ! -f $cross_check ]]; then
    echo "ci/cross.sh: $cross_check not found (it comes with ../shared beside the repository)" >&2
    exit 1
fi
# The Windows tests run one at a time: Wine's socket emulation is slow to start and the
# suite's fd-heavy tests are kinder to it serially.
bash "$cross_check" -q --clippy -- --locked -- --test-threads=1
