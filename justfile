# Strata development recipes. `just` is optional: every recipe is a plain command.

export CARGO_TARGET_DIR := env_var_or_default("CARGO_TARGET_DIR", env_var("HOME") + "/.cache/strata-target")
export AWS_EC2_METADATA_DISABLED := "true"

# Run the broker on the embedded default (./strata-data, 127.0.0.1:9092).
serve *ARGS:
    cargo run --release -p strata-cli --bin strata -- serve {{ARGS}}

# Install test prerequisites and run every test (the README's test command).
test *ARGS:
    ./integration/run-tests.sh {{ARGS}}

fmt:
    cargo fmt --all

clippy:
    cargo clippy --workspace --all-targets -- -D warnings

# Start a broker, run the load generator, print MB/s, records/s and latency percentiles.
bench:
    bash crates/bench/bench.sh

# Durable acks (group commit): acks=all with and without fsync, durable-write ceiling, latency.
bench-durable:
    bash crates/bench/durable-bench.sh

# Replication: RF=3 acks=all against RF=1 on a three-node loopback cluster.
bench-cluster:
    bash crates/bench/cluster-bench.sh

# TLS: produce and hot consume through a PLAINTEXT and an SSL listener of one broker, CPU per GB.
bench-tls:
    bash crates/bench/tls-bench.sh

# Run one fuzz target (docs/fuzzing.md lists them; needs cargo-fuzz; stable via RUSTC_BOOTSTRAP).
fuzz TARGET="request" SECONDS="60":
    cd fuzz && mkdir -p corpus/{{TARGET}} && RUSTC_BOOTSTRAP=1 cargo fuzz run {{TARGET}} corpus/{{TARGET}} $(test -d seeds/{{TARGET}} && echo seeds/{{TARGET}}) -- -max_total_time={{SECONDS}} -rss_limit_mb=2048

# Start a broker in the background on the default port, with data under ./strata-data.
up:
    cargo build --release -p strata-cli
    nohup {{CARGO_TARGET_DIR}}/release/strata serve > strata.log 2>&1 & echo $! > strata.pid

down:
    kill -TERM $(cat strata.pid) && rm -f strata.pid
