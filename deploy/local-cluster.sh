#!/usr/bin/env bash
# A three-node Strata cluster and an S3-compatible server (moto) on loopback.
#
#   deploy/local-cluster.sh start [DIR]   # start; prints the bootstrap servers
#   deploy/local-cluster.sh stop  [DIR]   # SIGTERM every process started under DIR
#   deploy/local-cluster.sh status [DIR]  # strata cluster status through node 1
#
# DIR (default ./strata-cluster) holds each node's data dir, logs and pid files. Ports:
# Kafka 9092-9094, cluster gRPC 9192-9194, S3 9000 (override with STRATA_PORT_BASE, e.g. 19092
# moves them to 19092-19094, 19192-19194 and S3 to 19000). The binary is $STRATA_BIN, else
# target/release/strata, else target/debug/strata (under $CARGO_TARGET_DIR if set).
# Every node shares the bucket s3://strata-local/cluster.
set -euo pipefail

cmd="${1:-start}"
dir="$(realpath -m "${2:-./strata-cluster}")"
base="${STRATA_PORT_BASE:-9092}"
s3_port=$((base - 92))
root="$(cd "$(dirname "$0")/.." && pwd)"

find_bin() {
    if [ -n "${STRATA_BIN:-}" ]; then echo "$STRATA_BIN"; return; fi
    local target="${CARGO_TARGET_DIR:-$root/target}"
    for b in "$target/release/strata" "$target/debug/strata"; do
        if [ -x "$b" ]; then echo "$b"; return; fi
    done
    echo "no strata binary: build it (cargo build --release -p strata-cli) or set STRATA_BIN" >&2
    exit 1
}

voters() {
    local v=""
    for i in 1 2 3; do
        v="$v${v:+,}$i@127.0.0.1:$((base + 100 + i - 1))"
    done
    echo "$v"
}

wait_port() {
    local port=$1 deadline=$((SECONDS + 60))
    until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
        if [ $SECONDS -ge $deadline ]; then
            echo "nothing listens on 127.0.0.1:$port after 60 s" >&2
            return 1
        fi
        sleep 0.2
    done
}

case "$cmd" in
start)
    bin="$(find_bin)"
    mkdir -p "$dir"
    export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_REGION=us-east-1 \
        AWS_ENDPOINT_URL="http://127.0.0.1:$s3_port" AWS_ALLOW_HTTP=true \
        AWS_EC2_METADATA_DISABLED=true
    if command -v moto_server >/dev/null 2>&1; then
        moto_server -H 127.0.0.1 -p "$s3_port" >"$dir/s3.log" 2>&1 &
        echo $! >"$dir/s3.pid"
        wait_port "$s3_port"
        python3 - "$s3_port" <<'PY'
import sys, urllib.request
req = urllib.request.Request(f"http://127.0.0.1:{sys.argv[1]}/strata-local", method="PUT")
try:
    urllib.request.urlopen(req)
except Exception as e:
    print(f"create bucket: {e}", file=sys.stderr)
PY
        store="s3://strata-local/cluster"
    else
        echo "moto_server not found (pip install 'moto[server]'): using file://$dir/bucket" >&2
        store="file://$dir/bucket"
    fi
    for i in 1 2 3; do
        mkdir -p "$dir/node$i"
        "$bin" serve --node-id "$i" --data-dir "$dir/node$i" \
            --listen "127.0.0.1:$((base + i - 1))" \
            --cluster-listen "127.0.0.1:$((base + 100 + i - 1))" \
            --voters "$(voters)" --object-store "$store" \
            >"$dir/node$i.log" 2>&1 &
        echo $! >"$dir/node$i.pid"
    done
    for i in 1 2 3; do
        wait_port $((base + i - 1))
    done
    echo "127.0.0.1:$base,127.0.0.1:$((base + 1)),127.0.0.1:$((base + 2))"
    ;;
stop)
    for f in "$dir"/node*.pid "$dir"/s3.pid; do
        [ -f "$f" ] || continue
        kill -TERM "$(cat "$f")" 2>/dev/null || true
    done
    for f in "$dir"/node*.pid "$dir"/s3.pid; do
        [ -f "$f" ] || continue
        pid="$(cat "$f")"
        for _ in $(seq 1 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        rm -f "$f"
    done
    ;;
status)
    "$(find_bin)" cluster status --bootstrap-server "127.0.0.1:$base"
    ;;
*)
    echo "usage: $0 start|stop|status [DIR]" >&2
    exit 2
    ;;
esac
