#!/usr/bin/env bash
# Builds test/interop/par-rs (wasmCloud's provider-archive 0.16.2 + wascap 0.16.2 crates from
# crates.io, pinned by its Cargo.lock) for test/interop/par-crate.test.ts, and caches it outside
# the repo like the control plane:
#   ${GANTRY_INTEROP_CACHE:-$HOME/.cache/gantry/interop}/par-rs-0.16.2/release/par-rs
# A no-op when the binary is newer than Cargo.lock and main.rs. Prints the binary's path on its
# last line.
#
# Environment:
#   GANTRY_SKIP_INTEROP=1   do nothing (the interop tests then skip, saying why)
#   GANTRY_INTEROP_CACHE    cache root (see above)
set -euo pipefail
src="$(cd "$(dirname "$0")/../test/interop/par-rs" && pwd)"
if [ "${GANTRY_SKIP_INTEROP:-}" = "1" ]; then
  echo "interop-par-rs: skipped (GANTRY_SKIP_INTEROP=1)" >&2
  exit 0
fi
export CARGO_TARGET_DIR="${GANTRY_INTEROP_CACHE:-$HOME/.cache/gantry/interop}/par-rs-0.16.2"
bin="$CARGO_TARGET_DIR/release/par-rs"
if [ -x "$bin" ] && [ "$bin" -nt "$src/Cargo.lock" ] && [ "$bin" -nt "$src/src/main.rs" ] && [ "$bin" -nt "$src/Cargo.toml" ]; then
  echo "interop-par-rs: cached" >&2
  echo "$bin"
  exit 0
fi
command -v cargo >/dev/null || { echo "interop-par-rs: cargo not found; install Rust (https://rustup.rs) or set GANTRY_SKIP_INTEROP=1" >&2; exit 1; }
start=$(date +%s)
echo "interop-par-rs: building (provider-archive 0.16.2, wascap 0.16.2 from crates.io)" >&2
# --locked: the crates are exactly those Cargo.lock names, or the build fails
(cd "$src" && nice -n 19 cargo build --release --locked --quiet)
# cargo leaves the old binary's mtime when nothing changed (e.g. a comment in Cargo.toml): touch
# it so the cache check above holds next time
touch "$bin"
echo "interop-par-rs: built in $(( $(date +%s) - start )) s" >&2
echo "$bin"
