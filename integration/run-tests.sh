#!/usr/bin/env bash
# The one test command: installs what the tests need, builds the binaries, runs every test
# (unit tests of each crate and the scenario tests in integration/) with cargo-nextest.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/strata-target}"
export AWS_EC2_METADATA_DISABLED=true
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

bash integration/setup.sh
if ! command -v cargo-nextest >/dev/null 2>&1; then
    cargo install --locked cargo-nextest
fi

# The scenario tests start the real `strata` binary; build it (and the load generator) first.
cargo build --workspace --bins
cargo nextest run --workspace --profile ci "$@"
