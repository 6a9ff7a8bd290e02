#!/usr/bin/env bash
# Durable acks (group commit) benchmark: acks=all produce with Strata's default
# (`strata.acks.all.fsync=true`, acknowledged after a group-commit fsync) against the same
# build acknowledging from the page cache (`strata.acks.all.fsync=false`), run by run,
# alternating, with the page cache dropped before each run; plus the machine's durable-write
# ceiling measured in the same run, latency at a fixed 20 MB/s, and latency under saturation
# with librdkafka's own rdkafka_performance.
#
# Usage: crates/bench/durable-bench.sh   (knobs: ROUNDS=3 RECORDS_1K=1000000
#        RECORDS_100=4000000 RECORDS_RAW=3000000 RATE_MB=20 RATE_SECONDS=10 SAT_RECORDS=2000000 SKIP_BUILD=1
#        KEEP=1 BENCH_DIR=...)
# Prints one table; see docs/benchmarks.md ("Durable acks") for how to read it.
set -euo pipefail
export LC_ALL=C

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$TARGET/release"
STRATA="${STRATA_BIN:-$BIN/strata}"
LOADGEN="$BIN/strata-loadgen"
ROUNDS="${ROUNDS:-3}"
RECORDS_1K="${RECORDS_1K:-1000000}"
RECORDS_100="${RECORDS_100:-4000000}"
RECORDS_RAW="${RECORDS_RAW:-3000000}"
RATE_MB="${RATE_MB:-20}"
RATE_SECONDS="${RATE_SECONDS:-10}"
SAT_RECORDS="${SAT_RECORDS:-2000000}"

log() { printf '[durable-bench] %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    log "building release binaries"
    (cd "$ROOT" && cargo build --release -p strata-cli -p strata-bench)
fi
[[ -x "$STRATA" && -x "$LOADGEN" ]] || die "missing $STRATA or $LOADGEN"

DIR="${BENCH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/strata-durable-bench.XXXXXX")}"
mkdir -p "$DIR"
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    [[ "${KEEP:-0}" == 1 ]] && log "kept $DIR" || rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
source "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"

# librdkafka's rdkafka_performance, built from the librdkafka sources rdkafka-sys compiled.
PERF_TOOL="$DIR/rdkafka_performance"
rdk_out="$(ls -td "$TARGET"/release/build/rdkafka-sys-*/out 2>/dev/null | head -n 1)"
zstd_out="$(ls -td "$TARGET"/release/build/zstd-sys-*/out 2>/dev/null | head -n 1)"
[[ -f "$rdk_out/src/librdkafka.a" ]] || die "no librdkafka.a under $TARGET/release/build"
gcc -O2 -o "$PERF_TOOL" "$rdk_out/examples/rdkafka_performance.c" -I"$rdk_out/src" \
    "$rdk_out/src/librdkafka.a" -L"$zstd_out" -lzstd -lz -lm -ldl -lpthread -lrt ||
    die "building rdkafka_performance"

drop_caches() {
    sync
    echo 1 >/proc/sys/vm/drop_caches 2>/dev/null || true
}

log "ceiling: durable sequential write (dd 1 GiB, conv=fdatasync, twice)"
DURABLE=()
for _ in 1 2; do
    drop_caches
    DURABLE+=("$(dd if=/dev/zero of="$DIR/dd.bin" bs=1M count=1024 conv=fdatasync 2>&1 |
        tail -n 1 | awk '{ printf "%.0f\n", $1 / $(NF-3) / 1e6 }')")
    rm -f "$DIR/dd.bin"
done
DURABLE_MBPS="$(printf '%s\n' "${DURABLE[@]}" | sort -g | tail -n 1)"
FSYNC_MS="$(dd if=/dev/zero of="$DIR/sync.bin" bs=4k count=500 oflag=dsync 2>&1 |
    tail -n 1 | awk '{ printf "%.3f", $(NF-3) / 500 * 1000 }')"
rm -f "$DIR/sync.bin"

declare -A ADDR METRICS
start_broker() {
    local name="$1" port mport
    shift
    port="$(free_port)"
    mport="$(free_port)"
    "$STRATA" serve --data-dir "$DIR/data-$name" --listen "127.0.0.1:$port" \
        --metrics-listen "127.0.0.1:$mport" "$@" >"$DIR/broker-$name.log" 2>&1 &
    PIDS+=($!)
    ADDR[$name]="127.0.0.1:$port"
    METRICS[$name]="$mport"
    for _ in $(seq 1 300); do
        port_in_use "$port" && return
        sleep 0.1
    done
    die "broker $name did not start"
}
metric() {
    curl -fs "http://127.0.0.1:${METRICS[$1]}/metrics" 2>/dev/null |
        awk -v n="$2" '$1 == n { v = $2 } END { print (v == "" ? 0 : v) }'
}

start_broker pagecache --set strata.acks.all.fsync=false
start_broker durable

TOPIC_SEQ=0
# one BROKER PARTITIONS LOADGEN-ARGS...: one loadgen run on a fresh topic; prints
# "mb_per_s p50 p99 fsyncs_per_s waiters_per_cycle flush_busy_pct".
one() {
    local broker="$1" parts="$2" topic line c0 c1 s0 s1 q0 q1 t0 t1
    shift 2
    TOPIC_SEQ=$((TOPIC_SEQ + 1))
    topic="d$TOPIC_SEQ"
    "$STRATA" topic create "$topic" --partitions "$parts" --bootstrap-server "${ADDR[$broker]}" \
        >/dev/null
    drop_caches
    c0="$(metric "$broker" strata_flush_cycles_total)"
    s0="$(metric "$broker" strata_flush_fsyncs_total)"
    q0="$(metric "$broker" strata_flush_waiters_total)"
    t0="$(metric "$broker" strata_flush_cycle_seconds_sum)"
    line="$("$LOADGEN" "$@" --bootstrap-server "${ADDR[$broker]}" --topic "$topic")" || die "$line"
    c1="$(metric "$broker" strata_flush_cycles_total)"
    s1="$(metric "$broker" strata_flush_fsyncs_total)"
    q1="$(metric "$broker" strata_flush_waiters_total)"
    t1="$(metric "$broker" strata_flush_cycle_seconds_sum)"
    "$STRATA" topic delete "$topic" --bootstrap-server "${ADDR[$broker]}" >/dev/null 2>&1 || true
    awk -v m="$(kv "$line" mb_per_s)" -v p50="$(kv "$line" p50_ms)" -v p99="$(kv "$line" p99_ms)" \
        -v s="$(kv "$line" elapsed_s)" -v a="$s0" -v b="$s1" -v c="$c0" -v d="$c1" -v x="$q0" \
        -v y="$q1" -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%s %s %s %.0f %.1f %.0f\n", m, p50,
            p99, (s > 0 ? (b - a) / s : 0), (d > c ? (y - x) / (d - c) : 0),
            (s > 0 ? 100 * (t1 - t0) / s : 0) }'
}

ROWS=()
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# row NAME PARTITIONS LOADGEN-ARGS...: ROUNDS alternating runs on both brokers.
row() {
    local name="$1" parts="$2" r pc du
    shift 2
    local -a PC_M=() DU_M=() PC_P50=() DU_P50=() PC_P99=() DU_P99=() DU_FS=() DU_W=() DU_B=()
    for r in $(seq 1 "$ROUNDS"); do
        pc="$(one pagecache "$parts" "$@")"
        du="$(one durable "$parts" "$@")"
        log "$name round $r: page cache [$pc] durable [$du]"
        read -r m a b _ _ _ <<<"$pc"
        PC_M+=("$m"); PC_P50+=("$a"); PC_P99+=("$b")
        read -r m a b f w busy <<<"$du"
        DU_M+=("$m"); DU_P50+=("$a"); DU_P99+=("$b"); DU_FS+=("$f"); DU_W+=("$w"); DU_B+=("$busy")
    done
    local pm dm
    pm="$(printf '%s\n' "${PC_M[@]}" | median)"
    dm="$(printf '%s\n' "${DU_M[@]}" | median)"
    ROWS+=("$(printf '%-12s %9s %9s %7s %8s %13s %7s %7s %7s %7s %6s  %s' "$name" "$pm" "$dm" \
        "$(awk -v a="$dm" -v b="$pm" 'BEGIN { printf "%.0f%%", 100 * a / b }')" \
        "$(awk -v a="$dm" -v b="$DURABLE_MBPS" 'BEGIN { printf "%.0f%%", 100 * a / b }')" \
        "$(printf '%s\n' "${PC_P50[@]}" | median)/$(printf '%s\n' "${PC_P99[@]}" | median)" \
        "$(printf '%s\n' "${DU_P50[@]}" | median)" "$(printf '%s\n' "${DU_P99[@]}" | median)" \
        "$(printf '%s\n' "${DU_FS[@]}" | median)" "$(printf '%s\n' "${DU_W[@]}" | median)" \
        "$(printf '%s\n' "${DU_B[@]}" | median)%" \
        "runs pc: ${PC_M[*]} | du: ${DU_M[*]}")")
}

produce_args() { echo produce --acks all --record-size "$1" --records "$2" --producers "$3"; }
# shellcheck disable=SC2046
row "1KiB 1p x1" 1 $(produce_args 1024 "$RECORDS_1K" 1)
# shellcheck disable=SC2046
row "1KiB 4p x4" 4 $(produce_args 1024 "$RECORDS_1K" 4)
# shellcheck disable=SC2046
row "100B 1p x1" 1 $(produce_args 100 "$RECORDS_100" 1)
# The broker's own ingest, with a client that is not the bottleneck: pre-built 1 MB batches of
# 1 KiB records over pipelined connections (8 requests in flight each).
row "raw 1KiB 1p x1" 1 raw-produce --acks -1 --record-size 1024 --records "$RECORDS_RAW"
row "raw 1KiB 2p x2" 2 raw-produce --acks -1 --record-size 1024 --records "$RECORDS_RAW" \
    --connections 2

# latency BROKER NAME ARGS...: rdkafka_performance with per-message latency; prints
# "p50_ms p99_ms max_ms MB/s".
latency() {
    local broker="$1"
    shift
    TOPIC_SEQ=$((TOPIC_SEQ + 1))
    local topic="d$TOPIC_SEQ" out="$DIR/lat-$TOPIC_SEQ.txt" started ended
    "$STRATA" topic create "$topic" --partitions 1 --bootstrap-server "${ADDR[$broker]}" >/dev/null
    drop_caches
    started="$(date +%s%N)"
    "$PERF_TOOL" -P -t "$topic" -b "${ADDR[$broker]}" -p 0 -X acks=all -l -A "$out" "$@" \
        >"$DIR/perf-$TOPIC_SEQ.log" 2>&1 || die "rdkafka_performance failed"
    ended="$(date +%s%N)"
    "$STRATA" topic delete "$topic" --bootstrap-server "${ADDR[$broker]}" >/dev/null 2>&1 || true
    # Values are microseconds, one per message; the last message of a run waits for the
    # tool's final flush timer, so the max is reported but the percentiles are what count.
    sort -n "$out" | awk -v w="$(( (ended - started) / 1000000 ))" '
        { v[NR] = $1 } END { printf "%.2f %.2f %.2f %.0f\n", v[int(NR * 0.5)] / 1000,
            v[int(NR * 0.99)] / 1000, v[NR] / 1000, NR * 1024 / (w * 1000) }'
}

# Latency at a fixed rate: strata-loadgen paces itself (sleeps between records), linger.ms=0.
# (rdkafka_performance's -r rate limit spins a core, which on a 2-core machine measures the
# CPU contention it causes, not the broker.)
rate_latency() {
    local broker="$1" line
    TOPIC_SEQ=$((TOPIC_SEQ + 1))
    "$STRATA" topic create "d$TOPIC_SEQ" --partitions 1 --bootstrap-server "${ADDR[$broker]}" \
        >/dev/null
    drop_caches
    line="$("$LOADGEN" produce --bootstrap-server "${ADDR[$broker]}" --topic "d$TOPIC_SEQ" \
        --acks all --record-size 1024 --records "$((RATE_MB * 1000000 / 1024 * RATE_SECONDS))" \
        --rate-mb-per-s "$RATE_MB" --linger-ms 0)" || die "$line"
    "$STRATA" topic delete "d$TOPIC_SEQ" --bootstrap-server "${ADDR[$broker]}" >/dev/null 2>&1 || true
    echo "$(kv "$line" mb_per_s) MB/s: p50 $(kv "$line" p50_ms) ms, p99 $(kv "$line" p99_ms) ms, max $(kv "$line" max_ms) ms"
}

LAT_ROWS=()
for broker in durable pagecache; do
    LAT_ROWS+=("$(printf '%-10s %s MB/s paced (strata-loadgen, 1KiB, linger.ms=0): %s' "$broker" \
        "$RATE_MB" "$(rate_latency "$broker")")")
    LAT_ROWS+=("$(printf '%-10s saturation (rdkafka_performance full speed, 1KiB): %s' "$broker" \
        "$(latency "$broker" -s 1024 -c "$SAT_RECORDS" |
            awk '{ printf "p50 %s ms, p99 %s ms (p99/p50 %.1f), max %s ms, %s MB/s", $1, $2, $2 / $1, $3, $4 }')")")
done

echo
echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)," \
    "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
echo "ceilings: durable write ${DURABLE_MBPS} MB/s (dd 1 GiB conv=fdatasync, best of: ${DURABLE[*]}) |" \
    "fsync (4 KiB dsync write) ${FSYNC_MS} ms"
echo "acks=all produce, strata-loadgen (produce: librdkafka, batch.size 1 MiB, linger.ms 5;" \
    "raw: raw-produce, 1 MB batches, 8 in flight per connection), median of $ROUNDS alternating" \
    "runs; page cache = strata.acks.all.fsync=false, durable = default; MB = 10^6 payload bytes"
echo
printf '%-12s %9s %9s %7s %8s %13s %7s %7s %7s %7s %6s  %s\n' run pagecache durable dur/pc \
    dur/ceil pc_p50/p99 du_p50 du_p99 fsync/s w/fsync busy runs
echo "(MB/s; latency ms per record; fsync/s = group-commit fdatasyncs per second; w/fsync = produce" \
    "partitions answered per flush cycle; busy = share of wall time the flusher spent in flush cycles)"
for r in "${ROWS[@]}"; do echo "$r"; done
echo
for r in "${LAT_ROWS[@]}"; do echo "$r"; done
