#!/usr/bin/env bash
# Installs what the scenario tests need beyond the Rust toolchain: kcat (Debian's build, which
# links librdkafka 2.0.2), kafka-python (the second client family for consumer groups),
# confluent-kafka (transactions), and moto (an S3 server for crates/tier). Idempotent: does
# nothing when all are there.
set -euo pipefail

# `patch` is used by crates/vendor/check-vendored.sh (vendored kafka-protocol == pristine + patch);
# `openssl` makes the test certificates (integration/src/certs.rs) and `curl` scrapes the
# metrics endpoint over TLS (integration/tests/security_doors.rs).
if ! command -v kcat >/dev/null 2>&1 || ! command -v patch >/dev/null 2>&1 \
    || ! command -v openssl >/dev/null 2>&1 || ! command -v curl >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        SUDO="sudo"
    fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq kcat patch openssl curl >/dev/null
    command -v kcat >/dev/null
    command -v patch >/dev/null
    command -v openssl >/dev/null
    command -v curl >/dev/null
fi

if ! python3 -c "import kafka" >/dev/null 2>&1; then
    python3 -m pip install --quiet kafka-python \
        || python3 -m pip install --quiet --break-system-packages kafka-python
    python3 -c "import kafka"
fi

# confluent-kafka (librdkafka bundled in its wheel): the client of the transaction scenarios
# (integration/tests/txn_*.rs driving integration/py/txn_*.py) and of crates/bench/txn-bench.py.
if ! python3 -c "import confluent_kafka" >/dev/null 2>&1; then
    python3 -m pip install --quiet confluent-kafka \
        || python3 -m pip install --quiet --break-system-packages confluent-kafka
    python3 -c "import confluent_kafka"
fi

# moto's S3 server, for crates/tier's S3 conformance test (tests/store_s3_moto.rs) and the
# tiered-storage scenarios on S3 (integration/tests/tier_replay.rs, tier_outage.rs).
if ! command -v moto_server >/dev/null 2>&1; then
    python3 -m pip install --quiet 'moto[server]>=5.2,<6' \
        || python3 -m pip install --quiet --break-system-packages 'moto[server]>=5.2,<6'
    command -v moto_server >/dev/null
fi

# grpcio with the reflection client and grpc-status: the client that is not ours of the gRPC
# admin API scenario (integration/tests/admin_grpc.rs driving integration/py/admin_grpc.py).
if ! python3 -c "import grpc, grpc_reflection, grpc_status, google.protobuf" >/dev/null 2>&1; then
    python3 -m pip install --quiet grpcio grpcio-reflection grpcio-status grpcio-tools protobuf \
        || python3 -m pip install --quiet --break-system-packages grpcio grpcio-reflection \
            grpcio-status grpcio-tools protobuf
    python3 -c "import grpc, grpc_reflection, grpc_status, google.protobuf"
fi

# pyarrow (boto3 comes with moto): the query-engine side of the Parquet archive scenario
# (integration/tests/tier_parquet.rs driving integration/py/tier_parquet_read.py).
if ! python3 -c "import pyarrow.parquet, pyarrow.dataset, boto3" >/dev/null 2>&1; then
    python3 -m pip install --quiet pyarrow \
        || python3 -m pip install --quiet --break-system-packages pyarrow
    python3 -c "import pyarrow.parquet, pyarrow.dataset, boto3"
fi
# DuckDB: the same files read by a query engine with read_parquet(..., hive_partitioning=true).
if ! python3 -c "import duckdb" >/dev/null 2>&1; then
    python3 -m pip install --quiet duckdb \
        || python3 -m pip install --quiet --break-system-packages duckdb
    python3 -c "import duckdb"
fi

# The power-loss scenario (integration/tests/power_loss.rs) mounts its own FUSE filesystem with
# the pure-Rust mount of the `fuser` crate (mount(2) as root; no libfuse, no fusermount), and the
# disk-full scenario mounts a tmpfs: both need root, and FUSE needs /dev/fuse.
if [ ! -e /dev/fuse ] && command -v modprobe >/dev/null 2>&1; then
    modprobe fuse || true
fi
