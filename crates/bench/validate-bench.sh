#!/usr/bin/env bash
# A/B benchmark of the produce path for two broker builds (issue 7: record validation).
#
# For each repeat, and for each build in turn (back to back, so both see the same machine
# noise), starts a throw-away broker, runs `strata-loadgen produce` (acks=1) for each case,
# and prints one row per run: produce MB/s (payload) and broker CPU-seconds per GB of payload.
# Cases: uncompressed 1 KiB and 100 B records, lz4 1 KiB records. The load generator's payload
# is one xorshift value repeated in every record, so lz4 batches shrink ~100x on the wire but
# the broker still decompresses every payload byte once to validate it.
#
# Usage:
#   BEFORE=/path/to/old/strata AFTER=/path/to/new/strata crates/bench/validate-bench.sh
# Knobs: REPEATS (3), RECORDS_1K (1000000), RECORDS_100 (3000000), BATCH_BYTES (1048576),
#   LINGER_MS (5), LOADGEN (default: $CARGO_TARGET_DIR/release/strata-loadgen),
#   BENCH_DIR (scratch, default mktemp -d), CASES ("none-1k none-100 lz4-1k").
set -euo pipefail
export LC_ALL=C

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LOADGEN="${LOADGEN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/strata-loadgen}"
: "${BEFORE:?set BEFORE to the old strata binary}"
: "${AFTER:?set AFTER to the new strata binary}"
REPEATS="${REPEATS:-3}"
RECORDS_1K="${RECORDS_1K:-1000000}"
RECORDS_100="${RECORDS_100:-3000000}"
BATCH_BYTES="${BATCH_BYTES:-1048576}"
LINGER_MS="${LINGER_MS:-5}"
CASES="${CASES:-none-1k none-100 lz4-1k}"

log() { printf '[validate-bench] %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}
# shellcheck source=bench-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"

[[ -x "$LOADGEN" ]] || die "missing $LOADGEN"
DIR="${BENCH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/strata-vbench.XXXXXX")}"
mkdir -p "$DIR"
BROKER_PID=""
cleanup() {
    if [[ -n "$BROKER_PID" ]]; then
        kill "$BROKER_PID" 2>/dev/null || true
        wait "$BROKER_PID" 2>/dev/null || true
    fi
    rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

TICK="$(getconf CLK_TCK)"

start_broker() {
    local bin="$1" port
    port="$(free_port)"
    rm -rf "$DIR/data"
    "$bin" serve --data-dir "$DIR/data" --listen "127.0.0.1:$port" >"$DIR/broker.log" 2>&1 &
    BROKER_PID=$!
    BOOTSTRAP="127.0.0.1:$port"
    for _ in $(seq 1 300); do
        kill -0 "$BROKER_PID" 2>/dev/null || die "broker exited: $(tail -n 20 "$DIR/broker.log")"
        if port_in_use "$port"; then
            return
        fi
        sleep 0.1
    done
    die "broker did not listen on $BOOTSTRAP"
}

stop_broker() {
    kill "$BROKER_PID" 2>/dev/null || true
    wait "$BROKER_PID" 2>/dev/null || true
    BROKER_PID=""
}

# one_case BUILD CASE: runs the case against the current broker and prints a row.
one_case() {
    local build="$1" case="$2" codec size n topic line t0 t1 cpu gb
    codec="${case%%-*}"
    case "${case#*-}" in
    1k) size=1024 n="$RECORDS_1K" ;;
    100) size=100 n="$RECORDS_100" ;;
    *) die "unknown case $case" ;;
    esac
    topic="vb-$case"
    "$BEFORE" topic create "$topic" --partitions 1 --bootstrap-server "$BOOTSTRAP" >/dev/null 2>&1 ||
        true
    t0="$(cpu_ticks "$BROKER_PID")"
    line="$("$LOADGEN" produce --bootstrap-server "$BOOTSTRAP" --topic "$topic" --acks 1 \
        --record-size "$size" --records "$n" --compression "$codec" \
        --batch-size-bytes "$BATCH_BYTES" --linger-ms "$LINGER_MS")" || die "$case failed: $line"
    t1="$(cpu_ticks "$BROKER_PID")"
    cpu="$(awk -v a="$t0" -v b="$t1" -v t="$TICK" 'BEGIN { printf "%.2f", (b - a) / t }')"
    gb="$(awk -v n="$n" -v s="$size" 'BEGIN { print n * s / 1e9 }')"
    printf '%-4s %-7s %-9s %9s %8s %10s\n' "$REP" "$build" "$case" "$(kv "$line" mb_per_s)" \
        "$cpu" "$(awk -v c="$cpu" -v g="$gb" 'BEGIN { printf "%.2f", c / g }')"
}

echo "machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
echo "before: $BEFORE"
echo "after:  $AFTER"
echo "batch.size=$BATCH_BYTES linger.ms=$LINGER_MS acks=1; MB = 10^6 payload bytes"
printf '%-4s %-7s %-9s %9s %8s %10s\n' rep build case MB/s cpu_s cpu_s/GB
for REP in $(seq 1 "$REPEATS"); do
    for build in before after; do
        bin="$BEFORE"
        [[ "$build" == after ]] && bin="$AFTER"
        start_broker "$bin"
        for c in $CASES; do
            one_case "$build" "$c"
        done
        stop_broker
    done
done
