#!/usr/bin/env bash
# Many tiered partitions with a slow trickle (issue 12, "Many partitions"): one broker on
# moto's S3 server, one topic of MP_PARTITIONS tiered partitions (`segment.ms` MP_SEGMENT_MS,
# `local.retention.ms=0`), a producer pacing MP_RATE_MB MB/s of 200 B records over all of
# them for MP_SECONDS. Every MP_SAMPLE seconds it prints the broker's RSS, open files and
# threads, and the object-store requests by kind since the last sample (the broker's
# strata_remote_http_requests_total, and moto's own request log), then a summary: the peak
# memory and file counts, and LIST / GET / PUT per second over the run.
#
#   SKIP_BUILD=1 crates/bench/many-partitions.sh
#   MP_PARTITIONS=1000 MP_SECONDS=120 MP_RATE_MB=0.2 MP_SEGMENT_MS=30000 MP_SAMPLE=10
#   MP_INTERVAL_MS=30000   remote.log.manager.task.interval.ms (Kafka's default)
#
# Needs moto_server (integration/setup.sh) and curl; everything stays on 127.0.0.1. The run
# bounds its own duration.
set -euo pipefail
export LC_ALL=C

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release"
STRATA="${STRATA_BIN:-$BIN/strata}"
LOADGEN="$BIN/strata-loadgen"
MP_PARTITIONS="${MP_PARTITIONS:-1000}"
MP_SECONDS="${MP_SECONDS:-120}"
MP_RATE_MB="${MP_RATE_MB:-0.2}"
MP_SEGMENT_MS="${MP_SEGMENT_MS:-30000}"
MP_SAMPLE="${MP_SAMPLE:-10}"
MP_INTERVAL_MS="${MP_INTERVAL_MS:-30000}"
BUCKET=bench
TOPIC=many

log() { printf '[many-partitions] %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}
command -v moto_server >/dev/null || die "moto_server not found (run integration/setup.sh)"
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    (cd "$ROOT" && cargo build --release -p strata-cli -p strata-bench)
fi
[[ -x "$STRATA" && -x "$LOADGEN" ]] || die "missing $STRATA or $LOADGEN"

# shellcheck source=bench-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
curl_lo() { curl -sS --noproxy '*' "$@"; }

DIR="$(mktemp -d "${TMPDIR:-/tmp}/strata-many.XXXXXX")"
BROKER_PID=""
MOTO_PID=""
LOADGEN_PID=""
cleanup() {
    for p in "$LOADGEN_PID" "$BROKER_PID" "$MOTO_PID"; do
        [[ -n "$p" ]] && { kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; }
    done
    rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

MOTO_PORT="$(free_port)"
AWS_EC2_METADATA_DISABLED=true moto_server -H 127.0.0.1 -p "$MOTO_PORT" >"$DIR/moto.log" 2>&1 &
MOTO_PID=$!
S3="http://127.0.0.1:$MOTO_PORT"
for _ in $(seq 1 600); do
    curl_lo -o /dev/null "$S3/" 2>/dev/null && break
    sleep 0.1
done
curl_lo -f -o /dev/null -X PUT "$S3/$BUCKET" || die "creating bucket $BUCKET"

PORT="$(free_port)"
MPORT="$(free_port)"
env AWS_EC2_METADATA_DISABLED=true AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
    AWS_REGION=us-east-1 AWS_ENDPOINT_URL="$S3" AWS_ALLOW_HTTP=true NO_PROXY='*' no_proxy='*' \
    "$STRATA" serve --data-dir "$DIR/data" --listen "127.0.0.1:$PORT" \
    --object-store "s3://$BUCKET/strata" --metrics-listen "127.0.0.1:$MPORT" \
    --set remote.log.manager.task.interval.ms="$MP_INTERVAL_MS" \
    --set log.retention.check.interval.ms=5000 >"$DIR/broker.log" 2>&1 &
BROKER_PID=$!
BOOTSTRAP="127.0.0.1:$PORT"
METRICS="http://127.0.0.1:$MPORT/metrics"
for _ in $(seq 1 300); do
    kill -0 "$BROKER_PID" 2>/dev/null || die "broker exited: $(tail -n 20 "$DIR/broker.log")"
    curl_lo -o /dev/null "$METRICS" 2>/dev/null && break
    sleep 0.1
done
"$STRATA" topic create "$TOPIC" --partitions "$MP_PARTITIONS" --bootstrap-server "$BOOTSTRAP" \
    --config remote.storage.enable=true --config segment.ms="$MP_SEGMENT_MS" \
    --config local.retention.ms=0 --config retention.ms=-1 >"$DIR/admin.log" 2>&1 ||
    die "topic create failed: $(tail -n 5 "$DIR/admin.log")"

# Requests by kind from the broker's metric, as `kind=count` words.
broker_requests() {
    curl_lo "$METRICS" | awk -F'[{}" ]' '/^strata_remote_http_requests_total\{/ {
        for (i = 1; i <= NF; i++) if ($i == "kind=") k = $(i + 1); print k "=" $NF }' |
        sort | tr '\n' ' '
}
count_of() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k { print $2 }' | head -n 1; }
moto_lines() { grep -cE '"(GET|PUT|POST|HEAD|DELETE) /' "$DIR/moto.log" || true; }

records=$(awk -v r="$MP_RATE_MB" -v s="$MP_SECONDS" 'BEGIN { printf "%d", r * 1e6 * s / 200 }')
"$LOADGEN" produce --bootstrap-server "$BOOTSTRAP" --topic "$TOPIC" --record-size 200 \
    --records "$records" --rate-mb-per-s "$MP_RATE_MB" --linger-ms 100 \
    --batch-size-bytes 16384 >"$DIR/loadgen.log" 2>&1 &
LOADGEN_PID=$!

log "$MP_PARTITIONS partitions, $MP_RATE_MB MB/s of 200 B records for ${MP_SECONDS}s, segment.ms=$MP_SEGMENT_MS, task interval ${MP_INTERVAL_MS} ms"
printf '%6s %9s %6s %7s %8s %6s %6s %6s %11s  %s\n' \
    t_s rss_mib fds threads uploaded list get put moto_reqs "requests since last sample"
start=$(date +%s)
peak_rss=0
peak_fds=0
prev="$(broker_requests)"
first="$prev"
prev_moto="$(moto_lines)"
first_moto="$prev_moto"
while (($(date +%s) - start < MP_SECONDS)); do
    sleep "$MP_SAMPLE"
    rss=$(awk '/^VmRSS/ { printf "%d", $2 / 1024 }' "/proc/$BROKER_PID/status")
    fds=$(find "/proc/$BROKER_PID/fd" -mindepth 1 -maxdepth 1 | wc -l)
    threads=$(awk '/^Threads/ { print $2 }' "/proc/$BROKER_PID/status")
    uploaded=$(curl_lo "$METRICS" | awk '/^strata_tier_uploaded_segments_total / { print $2 }')
    now="$(broker_requests)"
    now_moto="$(moto_lines)"
    d() { echo $(($(count_of "$now" "$1" || echo 0) + 0 - $(count_of "$prev" "$1" || echo 0) - 0)); }
    printf '%6d %9d %6d %7d %8s %6s %6s %6s %11d  %s\n' "$(($(date +%s) - start))" "$rss" "$fds" \
        "$threads" "${uploaded:-0}" "$(d list)" "$(($(d get) + $(d get_range)))" \
        "$(($(d put) + $(d multipart_part)))" "$((now_moto - prev_moto))" "$now"
    ((rss > peak_rss)) && peak_rss=$rss
    ((fds > peak_fds)) && peak_fds=$fds
    prev="$now"
    prev_moto="$now_moto"
done
elapsed=$(($(date +%s) - start))
total() { echo $(($(count_of "$prev" "$1" || echo 0) + 0 - $(count_of "$first" "$1" || echo 0) - 0)); }
lists=$(total list)
gets=$(($(total get) + $(total get_range)))
puts=$(($(total put) + $(total multipart_part) + $(total multipart_create) + $(total multipart_complete)))
echo
echo "many-partitions: $MP_PARTITIONS tiered partitions, ${elapsed}s, $MP_RATE_MB MB/s trickle, segment.ms=$MP_SEGMENT_MS, task interval ${MP_INTERVAL_MS} ms"
echo "peak broker RSS ${peak_rss} MiB, peak open files ${peak_fds}"
awk -v l="$lists" -v g="$gets" -v p="$puts" -v m="$((prev_moto - first_moto))" -v s="$elapsed" -v n="$MP_PARTITIONS" 'BEGIN {
    printf "LIST %.2f/s, GET %.2f/s, PUT-class %.2f/s (moto saw %.2f requests/s); per partition per minute: LIST %.3f, GET %.3f, PUT %.3f\n",
        l / s, g / s, p / s, m / s, 60 * l / s / n, 60 * g / s / n, 60 * p / s / n }'
grep -E "mb_per_s|failed" "$DIR/loadgen.log" | tail -n 1 || true
