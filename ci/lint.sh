#!/usr/bin/env bash
# Formatting, lints and docs: the checks that need no network and no second platform, for
# the whole workspace (the crate and the benches member, benches/Cargo.toml).
# Usable by hand: `bash ci/lint.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    rustup component add rustfmt clippy
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== the same with the tls feature"
cargo clippy --workspace --all-targets --locked --features tls -- -D warnings
echo "== cargo doc --no-deps (warnings denied), and with the private items (the maintainers' docs)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --locked
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --document-private-items --locked
# docs.rs builds with every feature (Cargo.toml's package.metadata.docs.rs).
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --locked --features tls
