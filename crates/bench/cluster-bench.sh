#!/usr/bin/env bash
# Replication benchmark (issue 8): a three-node cluster on loopback, acks=all produce to a
# topic with replication factor 3 (min.insync.replicas=2) against one with replication factor
# 1, at a fixed 20 MB/s and at saturation. Reports throughput, p50/p99 produce latency (as the
# librdkafka client measures it) and the brokers' CPU seconds per GB produced (all three
# processes, user+system, from /proc).
#
# Usage: crates/bench/cluster-bench.sh   (knobs: ROUNDS=3 RATE_MB=20 RATE_SECONDS=10
#        SAT_RECORDS=1000000 SKIP_BUILD=1 KEEP=1 BENCH_DIR=... DROP_CACHES=1)
#
# DROP_CACHES=1 (the default; needs root, skipped otherwise) writes back and drops the page
# cache before the nodes start. On this VM a page cache that earlier runs filled with several
# GB makes every new page of the brokers' writes pay for reclaim (kdamond), which moved the
# RF=3 paced p99 from 2.7 to 4-15 ms and RF=1 saturation from 614 to 220-510 MB/s in back-to-back
# runs (docs/benchmarks.md). DROP_CACHES=0 measures whatever state the machine is in.
set -euo pipefail
export LC_ALL=C

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$TARGET/release"
STRATA="${STRATA_BIN:-$BIN/strata}"
LOADGEN="$BIN/strata-loadgen"
ROUNDS="${ROUNDS:-3}"
RATE_MB="${RATE_MB:-20}"
RATE_SECONDS="${RATE_SECONDS:-10}"
SAT_RECORDS="${SAT_RECORDS:-1000000}"

log() { printf '[cluster-bench] %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    log "building release binaries"
    (cd "$ROOT" && cargo build --release -p strata-cli -p strata-bench)
fi
[[ -x "$STRATA" && -x "$LOADGEN" ]] || die "missing $STRATA or $LOADGEN"

DIR="${BENCH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/strata-cluster-bench.XXXXXX")}"
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

drop_page_cache

PORTS=() CPORTS=()
for i in 1 2 3; do
    PORTS+=("$(free_port)")
    CPORTS+=("$(free_port)")
done
VOTERS="1@127.0.0.1:${CPORTS[0]},2@127.0.0.1:${CPORTS[1]},3@127.0.0.1:${CPORTS[2]}"
for i in 1 2 3; do
    "$STRATA" serve --node-id "$i" --data-dir "$DIR/node$i" --listen "127.0.0.1:${PORTS[$((i - 1))]}" \
        --voters "$VOTERS" >"$DIR/node$i.log" 2>&1 &
    PIDS+=($!)
done
for p in "${PORTS[@]}"; do
    for _ in $(seq 1 600); do
        port_in_use "$p" && break
        sleep 0.1
    done
    port_in_use "$p" || die "a node did not start (see $DIR)"
done
BOOT="127.0.0.1:${PORTS[0]},127.0.0.1:${PORTS[1]},127.0.0.1:${PORTS[2]}"
CLK="$(getconf CLK_TCK)"
cpu_all() {
    local t=0 pid
    for pid in "${PIDS[@]}"; do
        t=$((t + $(cpu_ticks "$pid")))
    done
    echo "$t"
}

SEQ=0
# one RF LOADGEN-ARGS...: a fresh 1-partition topic; prints "mb_per_s p50 p99 cpu_s_per_gb".
one() {
    local rf="$1" topic line c0 c1 mb
    shift
    SEQ=$((SEQ + 1))
    topic="rf$rf-$SEQ"
    "$STRATA" topic create "$topic" --partitions 1 --replication-factor "$rf" \
        --config min.insync.replicas="$(( rf > 1 ? 2 : 1 ))" --bootstrap-server "$BOOT" >/dev/null ||
        die "topic create $topic failed"
    sleep 1
    c0="$(cpu_all)"
    line="$("$LOADGEN" "$@" --bootstrap-server "$BOOT" --topic "$topic")" || die "$line"
    c1="$(cpu_all)"
    "$STRATA" topic delete "$topic" --bootstrap-server "$BOOT" >/dev/null 2>&1 || true
    mb="$(kv "$line" mb_per_s)"
    awk -v m="$mb" -v p50="$(kv "$line" p50_ms)" -v p99="$(kv "$line" p99_ms)" \
        -v s="$(kv "$line" elapsed_s)" -v c="$((c1 - c0))" -v hz="$CLK" 'BEGIN {
            gb = m * s / 1000; printf "%s %s %s %.1f\n", m, p50, p99, (gb > 0 ? c / hz / gb : 0) }'
}

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ROWS=()
row() {
    local name="$1" rf="$2" r out
    shift 2
    local -a M=() P50=() P99=() CPU=()
    for r in $(seq 1 "$ROUNDS"); do
        out="$(one "$rf" "$@")" || die "$name: run failed"
        log "$name round $r: $out"
        read -r m a b c <<<"$out"
        M+=("$m"); P50+=("$a"); P99+=("$b"); CPU+=("$c")
    done
    ROWS+=("$(printf '%-28s %10s %9s %9s %10s   runs: %s' "$name" \
        "$(printf '%s\n' "${M[@]}" | median)" "$(printf '%s\n' "${P50[@]}" | median)" \
        "$(printf '%s\n' "${P99[@]}" | median)" "$(printf '%s\n' "${CPU[@]}" | median)" "${M[*]}")")
}

RATE_RECORDS=$((RATE_MB * 1000000 / 1024 * RATE_SECONDS))
for rf in 1 3; do
    row "RF=$rf acks=all ${RATE_MB} MB/s paced" "$rf" produce --acks all --record-size 1024 \
        --records "$RATE_RECORDS" --rate-mb-per-s "$RATE_MB" --linger-ms 0
    row "RF=$rf acks=all saturation" "$rf" produce --acks all --record-size 1024 \
        --records "$SAT_RECORDS"
done

echo
echo "Replication: three nodes on loopback, 1 partition, 1 KiB records, acks=all (min.insync.replicas=2 for RF=3)"
printf '%-28s %10s %9s %9s %10s\n' "run" "MB/s" "p50 ms" "p99 ms" "CPU-s/GB"
printf '%s\n' "${ROWS[@]}"
echo "CPU-s/GB: user+system seconds of all three broker processes per GB produced (the RF=3"
echo "rows include the followers' copies). Machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)."
