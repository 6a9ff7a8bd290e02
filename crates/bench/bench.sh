#!/usr/bin/env bash
# Strata end-to-end benchmark.
#
# Builds release binaries, measures the machine ceilings (buffered sequential
# write, fsync latency, loopback sendfile), starts a throw-away broker, runs
# produce (acks=1 / acks=all, 100 B / 1 KiB records) and a hot fetch (librdkafka
# consumer, then a raw Fetch v4 client) with `strata-loadgen`, and prints a
# table with percent of ceiling, then (TIER_RUN=1) the tiered-storage benchmark
# crates/bench/tier-bench.sh. Results and analysis: docs/benchmarks.md.
#
# Knobs (environment):
#   RECORDS_SMALL=2000000   records in the 100 B runs
#   RECORDS_LARGE=500000    records in the 1 KiB runs
#   BATCH_BYTES=1048576     producer batch.size
#   LINGER_MS=5             producer linger.ms
#   FSYNC_RUN=1             also run acks=all against a second broker started
#                           with --set log.flush.interval.messages=1 (fsync
#                           every append); 0 to skip
#   PERF=1                  perf-record the broker during each run and print
#                           its top symbols (needs `perf`)
#   SKIP_BUILD=1            use the existing release binaries
#   BENCH_DIR=DIR           scratch directory (default: mktemp -d); must be on
#                           the disk you want to measure
#   KEEP=1                  keep BENCH_DIR (data, logs, perf files)
#   STRATA_BIN=PATH         broker binary to measure (default: the release
#                           build), e.g. an older build for an A/B comparison
#   TIER_RUN=1              also run crates/bench/tier-bench.sh (S3 through
#                           moto_server, ~3-5 min; its knobs are TIER_*); 0 to
#                           skip. Skipped with a note when moto_server is missing
set -euo pipefail
export LC_ALL=C

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release"
STRATA="${STRATA_BIN:-$BIN/strata}"
LOADGEN="$BIN/strata-loadgen"

RECORDS_SMALL="${RECORDS_SMALL:-2000000}"
RECORDS_LARGE="${RECORDS_LARGE:-500000}"
BATCH_BYTES="${BATCH_BYTES:-1048576}"
LINGER_MS="${LINGER_MS:-5}"
FSYNC_RUN="${FSYNC_RUN:-1}"
PERF="${PERF:-0}"
TIER_RUN="${TIER_RUN:-1}"

log() { printf '[bench] %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# ---------------------------------------------------------------- build ---
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    log "building release binaries"
    (cd "$ROOT" && cargo build --release -p strata-cli -p strata-bench)
fi
[[ -x "$STRATA" ]] || die "missing $STRATA"
[[ -x "$LOADGEN" ]] || die "missing $LOADGEN"

DIR="${BENCH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/strata-bench.XXXXXX")}"
mkdir -p "$DIR"
BROKER_PIDS=()
cleanup() {
    local pid
    for pid in "${BROKER_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [[ "${KEEP:-0}" == 1 ]]; then
        log "kept $DIR"
    else
        rm -rf "$DIR"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# -------------------------------------------------------------- helpers ---
# shellcheck source=bench-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"

# minor_faults PID: minor page faults so far (anonymous-memory first touches,
# page-cache mapping faults; file writes through pwrite do not count).
minor_faults() { awk '{ sub(/^.*\) /, ""); print $8 }' "/proc/$1/stat"; }

# start_broker NAME [serve args...]: sets BROKER_PID and BOOTSTRAP.
start_broker() {
    local name="$1"
    shift
    local port
    port="$(free_port)"
    METRICS_PORT="$(free_port)"
    "$STRATA" serve --data-dir "$DIR/data-$name" --listen "127.0.0.1:$port" \
        --metrics-listen "127.0.0.1:$METRICS_PORT" "$@" \
        >"$DIR/broker-$name.log" 2>&1 &
    BROKER_PID=$!
    BROKER_PIDS+=("$BROKER_PID")
    BOOTSTRAP="127.0.0.1:$port"
    for _ in $(seq 1 300); do
        kill -0 "$BROKER_PID" 2>/dev/null ||
            die "broker $name exited; log: $(tail -n 20 "$DIR/broker-$name.log")"
        if port_in_use "$port"; then
            log "broker $name pid $BROKER_PID on $BOOTSTRAP"
            return
        fi
        sleep 0.1
    done
    die "broker $name did not listen on $BOOTSTRAP within 30 s"
}

# metric NAME: the broker's current value of an unlabelled counter (0 if absent).
metric() {
    curl -fs "http://127.0.0.1:$METRICS_PORT/metrics" 2>/dev/null |
        awk -v n="$1" '$1 == n { v = $2 } END { print (v == "" ? 0 : v) }'
}

create_topic() {
    if ! "$STRATA" topic create "$1" --partitions "${2:-1}" --bootstrap-server "$BOOTSTRAP" \
        >>"$DIR/admin.log" 2>&1; then
        log "topic create $1 failed (see admin.log); relying on auto-create"
    fi
}

perf_start() {
    PERF_PID=""
    if [[ "$PERF" == 1 ]]; then
        perf record -F 499 -g -p "$BROKER_PID" -o "$DIR/perf-$1.data" >/dev/null 2>&1 &
        PERF_PID=$!
        sleep 0.3
    fi
}

perf_stop() {
    if [[ -n "$PERF_PID" ]]; then
        kill -INT "$PERF_PID" 2>/dev/null || true
        wait "$PERF_PID" 2>/dev/null || true
        log "perf top symbols (broker, $1):"
        perf report -i "$DIR/perf-$1.data" --stdio --no-children --sort sym 2>/dev/null |
            grep -E '^ +[0-9]' | head -n 15 >&2 || true
    fi
}

ROWS=()
# run NAME ceiling_mb_per_s loadgen-args...: runs the load generator against
# the current broker and appends a table row.
run() {
    local name="$1" ceiling="$2"
    shift 2
    local t0 t1 b0 b1 w0 w1 f0 f1 line wall c0 c1 s0 s1 q0 q1
    perf_start "$name"
    c0="$(metric strata_flush_cycles_total)"
    s0="$(metric strata_flush_fsyncs_total)"
    q0="$(metric strata_flush_waiters_total)"
    f0="$(minor_faults "$BROKER_PID")"
    t0="$(cpu_ticks "$BROKER_PID")"
    b0="$(busy_ticks)"
    w0="$(date +%s%N)"
    line="$("$LOADGEN" "$@")" || die "$name failed: $line"
    w1="$(date +%s%N)"
    b1="$(busy_ticks)"
    t1="$(cpu_ticks "$BROKER_PID")"
    f1="$(minor_faults "$BROKER_PID")"
    c1="$(metric strata_flush_cycles_total)"
    s1="$(metric strata_flush_fsyncs_total)"
    q1="$(metric strata_flush_waiters_total)"
    perf_stop "$name"
    log "$line"
    # Broker and "other" CPU are averaged over the whole load-generator
    # process lifetime (wall), which includes its start-up and metadata calls.
    wall="$(awk -v a="$w0" -v b="$w1" 'BEGIN { print (b - a) / 1e9 }')"
    local broker_pct
    broker_pct="$(awk -v a="$t0" -v b="$t1" -v s="$wall" 'BEGIN { printf "%.0f", (b - a) / s }')"
    # CPU used by everything else: other processes (noise on a shared
    # machine), kernel threads (writeback, ksoftirqd), load-generator start-up.
    local other_pct
    other_pct="$(awk -v a="$t0" -v b="$t1" -v x="$b0" -v y="$b1" -v s="$wall" \
        -v c="$(kv "$line" client_cpu_s)" \
        'BEGIN { o = ((y - x) - (b - a) - 100 * c) / s; printf "%.0f", (o < 0 ? 0 : o) }')"
    local mbps pct faults
    mbps="$(kv "$line" mb_per_s)"
    # Broker minor page faults per MB moved (4 KiB pages: 244/MB = every byte
    # faulted in once).
    faults="$(awk -v a="$f0" -v b="$f1" -v m="$mbps" -v s="$(kv "$line" elapsed_s)" \
        'BEGIN { if (m > 0 && s > 0) printf "%.1f", (b - a) / (m * s); else print "-" }')"
    pct="$(awk -v m="$mbps" -v c="$ceiling" 'BEGIN { if (c > 0) printf "%.0f%%", 100 * m / c; else print "-" }')"
    # Group commit: fdatasyncs per second of the run, and produce partitions answered per
    # flush cycle (the mean batch per fsync).
    local fsyncs_s per_flush
    fsyncs_s="$(awk -v a="$s0" -v b="$s1" -v s="$(kv "$line" elapsed_s)" \
        'BEGIN { if (b > a && s > 0) printf "%.0f", (b - a) / s; else print "-" }')"
    per_flush="$(awk -v a="$c0" -v b="$c1" -v x="$q0" -v y="$q1" \
        'BEGIN { if (b > a) printf "%.1f", (y - x) / (b - a); else print "-" }')"
    ROWS+=("$(printf '%-28s %9s %6s %10s %9s %8s %8s %8s %8s %7s %7s %7s %7s %7s %7s' \
        "$name" "$(kv "$line" records)" "$(kv "$line" record_size)" \
        "$(kv "$line" records_per_s)" "$mbps" \
        "$(kv "$line" p50_ms)" "$(kv "$line" p99_ms)" "$(kv "$line" max_ms)" \
        "$pct" "${broker_pct}%" "$(kv "$line" client_cpu_pct)%" "${other_pct}%" "$faults" \
        "$fsyncs_s" "$per_flush")")
}

# ------------------------------------------------------------- ceilings ---
# median of the numbers on stdin
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# dd_mbps DD-ARGS...: MB/s reported by one dd run (bytes / seconds).
dd_mbps() {
    dd "$@" 2>&1 | tail -n 1 | awk '{ printf "%.0f\n", $1 / $(NF-3) / 1e6 }'
}

log "scratch dir $DIR ($(df -h --output=source,fstype "$DIR" | tail -n 1 | tr -s ' '))"
# On VMs whose unused guest memory is not backed by the host (e.g. Firecracker
# with free-page reporting) growing the page cache into fresh memory is several
# times slower than reusing freed pages; run 1 usually shows the cold case.
log "ceiling: buffered sequential write (dd 2 GiB x 3, no fsync; median and first)"
WRITE_ALL=()
for _ in 1 2 3; do
    rm -f "$DIR/dd.bin"
    sync
    WRITE_ALL+=("$(dd_mbps if=/dev/zero of="$DIR/dd.bin" bs=1M count=2048)")
done
rm -f "$DIR/dd.bin"
WRITE_MBPS="$(printf '%s\n' "${WRITE_ALL[@]}" | median)"
WRITE_COLD_MBPS="${WRITE_ALL[0]}"

log "ceiling: durable sequential write (dd 1 GiB, conv=fdatasync)"
sync
DURABLE_MBPS="$(dd_mbps if=/dev/zero of="$DIR/dd.bin" bs=1M count=1024 conv=fdatasync)"
rm -f "$DIR/dd.bin"

log "ceiling: fsync latency (dd 4 KiB x 500, oflag=dsync)"
FSYNC_MS="$(dd if=/dev/zero of="$DIR/sync.bin" bs=4k count=500 oflag=dsync 2>&1 |
    tail -n 1 | awk '{ printf "%.3f", $(NF-3) / 500 * 1000 }')"
rm -f "$DIR/sync.bin"
sync

log "ceiling: loopback sendfile of a page-cached file (median of 3)"
SENDFILE_ALL=()
for _ in 1 2 3; do
    lb_line="$("$LOADGEN" loopback-ceiling --dir "$DIR" --file-mib 512 --passes 4)"
    SENDFILE_ALL+=("$(kv "$lb_line" mb_per_s | awk '{ printf "%.0f", $1 }')")
done
SENDFILE_MBPS="$(printf '%s\n' "${SENDFILE_ALL[@]}" | median)"
sync

# ----------------------------------------------------------------- runs ---
produce() {
    local name="$1" topic="$2" acks="$3" size="$4" n="$5" ceiling="${6:-$WRITE_MBPS}"
    local partitions="${7:-1}" producers="${8:-1}"
    create_topic "$topic" "$partitions"
    run "$name" "$ceiling" produce --bootstrap-server "$BOOTSTRAP" --topic "$topic" \
        --acks "$acks" --record-size "$size" --records "$n" --producers "$producers" \
        --batch-size-bytes "$BATCH_BYTES" --linger-ms "$LINGER_MS"
}

# The first broker acknowledges from the page cache (Kafka's single-node behaviour): the
# "without fsync" baseline. The durable runs below use a broker with default settings.
start_broker main --set strata.acks.all.fsync=false
produce "produce acks=1 100B" bench-acks1-100 1 100 "$RECORDS_SMALL"
produce "produce acks=1 1KiB" bench-acks1-1k 1 1024 "$RECORDS_LARGE"
produce "produce acks=all 100B" bench-acksall-100 all 100 "$RECORDS_SMALL"
produce "produce acks=all 1KiB" bench-acksall-1k all 1024 "$RECORDS_LARGE"
run "fetch 1KiB (hot)" "$SENDFILE_MBPS" fetch --bootstrap-server "$BOOTSTRAP" \
    --topic bench-acks1-1k --records "$RECORDS_LARGE"
# Same data through a minimal Fetch v4 client that does not decode records:
# the broker's fetch path without librdkafka's per-record consumer cost.
run "raw-fetch 1KiB (hot)" "$SENDFILE_MBPS" raw-fetch --bootstrap-server "$BOOTSTRAP" \
    --topic bench-acks1-1k --records "$RECORDS_LARGE"

produce "acks=all 1KiB 4p x4" bench-acksall-1k-4p all 1024 "$RECORDS_LARGE" "$WRITE_MBPS" 4 4

if [[ "$FSYNC_RUN" == 1 ]]; then
    # Default settings: acks=all is acknowledged after a group-commit fsync.
    start_broker durable
    produce "durable acks=all 100B" bench-durable-100 all 100 "$RECORDS_SMALL" "$DURABLE_MBPS"
    produce "durable acks=all 1KiB" bench-durable-1k all 1024 "$RECORDS_LARGE" "$DURABLE_MBPS"
    produce "durable acks=all 1KiB 4p x4" bench-durable-1k-4p all 1024 "$RECORDS_LARGE" \
        "$DURABLE_MBPS" 4 4
    produce "durable acks=1 1KiB" bench-durable-acks1-1k 1 1024 "$RECORDS_LARGE" "$WRITE_MBPS"
fi

# ---------------------------------------------------------------- table ---
echo
echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)," \
    "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
echo "ceilings: buffered write ${WRITE_MBPS} MB/s median, ${WRITE_COLD_MBPS} MB/s first/cold (runs: ${WRITE_ALL[*]}) |" \
    "durable write ${DURABLE_MBPS} MB/s | fsync (4 KiB dsync write) ${FSYNC_MS} ms |" \
    "loopback sendfile ${SENDFILE_MBPS} MB/s (runs: ${SENDFILE_ALL[*]})"
echo "batch.size=${BATCH_BYTES} linger.ms=${LINGER_MS}; MB = 10^6 bytes of record payload;" \
    "%ceil: produce vs buffered write, +fsync vs durable write, fetch vs loopback sendfile;" \
    "broker/client/other = average CPU of broker, load generator, everything else (100% = one core);" \
    "flt/MB = broker minor page faults per MB;" \
    "fsync/s = group-commit fdatasyncs per second; w/fsync = produce partitions answered per flush cycle;" \
    "'4p x4' = 4 partitions, 4 producer instances (connections)"
echo "broker: $STRATA"
echo
printf '%-28s %9s %6s %10s %9s %8s %8s %8s %8s %7s %7s %7s %7s %7s %7s\n' \
    run records size records/s MB/s p50_ms p99_ms max_ms %ceil broker client other flt/MB \
    fsync/s w/fsync
for row in "${ROWS[@]}"; do
    echo "$row"
done

# ----------------------------------------------------------------- tier ---
if [[ "$TIER_RUN" == 1 ]]; then
    if ! command -v moto_server >/dev/null; then
        log "tier benchmark skipped: moto_server not found (integration/setup.sh installs it)"
    else
        # Stop the brokers above first: the tier run has the machine to itself.
        for pid in "${BROKER_PIDS[@]}"; do
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        done
        BROKER_PIDS=()
        echo
        SKIP_BUILD=1 BENCH_DIR="$DIR/tier" STRATA_BIN="$STRATA" BATCH_BYTES="$BATCH_BYTES" \
            LINGER_MS="$LINGER_MS" PERF="$PERF" KEEP="${KEEP:-0}" bash "$ROOT/crates/bench/tier-bench.sh"
    fi
fi
