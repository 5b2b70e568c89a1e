#!/usr/bin/env bash
# macOS and FreeBSD type-checked (clippy, warnings denied) and the whole test suite built and
# run for Windows under Wine, with cross-check (it installs Debian's rustc-web, MinGW and
# Wine on first use). Usable by hand: `bash ci/cross.sh`, or with cross-check's own options
# before the cargo arguments, e.g. `bash ci/cross.sh --targets freebsd,macos`.
set -euo pipefail
cd "$(dirname "$0")/.."

# The shared tool when ../shared is beside the repository (as for .ci/run); the copy in ci/
# on hosted CI.
cross_check=../shared/tools/cross-check
[[ -f $cross_check ]] || cross_check=ci/cross-check

bash "$cross_check" "$@" --setup-only

# Every x86_64-pc-windows-gnu program links rsbegin.o and rsend.o, which a prebuilt Windows
# std ships and -Zbuild-std does not build. Compile them from the std source that
# cross-check installed, with its compiler, and put them on the Windows link path.
rtstartup=$PWD/target/cross-rtstartup
src=/usr/lib/rustlib/src/rust/library/rtstartup
if [[ -f $src/rsend.rs && ( ! -f $rtstartup/rsend.o || $src/rsend.rs -nt $rtstartup/rsend.o ) ]]; then
    mkdir -p "$rtstartup"
    for object in rsbegin rsend; do
        RUSTC_BOOTSTRAP=1 /usr/bin/rustc --target x86_64-pc-windows-gnu --emit=obj \
            -C panic=abort -C opt-level=3 -C embed-bitcode=no \
            -o "$rtstartup/$object.o" "$src/$object.rs"
    done
fi
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUSTFLAGS="-L native=$rtstartup"

# cargo runs here on both default members of the workspace, the crate and benches/: clippy
# type-checks the bench programs for every target, and Windows' `cargo test` builds and runs
# the test targets only (the member's one test is the framer's property test), never the
# bench programs.
# The Windows tests run one at a time: Wine's socket emulation is slow to start, and the
# suite's descriptor-heavy tests are kinder to it serially.
#
# The `tls` feature builds ring's C code for the target: Windows has its C cross compiler
# here (MinGW), so its build and tests include TLS; macOS and FreeBSD have none here, so they
# are type-checked without the feature (ring itself is the only part that cannot build).
if [[ $# -eq 0 ]]; then
    bash "$cross_check" -q --clippy --targets macos,freebsd -- --locked
    bash "$cross_check" -q --clippy --targets windows -- --locked --features ioloop/tls \
        -- --test-threads=1
else
    bash "$cross_check" -q --clippy "$@" -- --locked -- --test-threads=1
fi
