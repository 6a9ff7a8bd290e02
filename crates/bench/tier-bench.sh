#!/usr/bin/env bash
# Strata tiered-storage benchmark (S3 through a local moto_server).
#
# Starts moto_server on a free loopback port and a throw-away broker with
# `--object-store s3://bench/strata`, produces TIER_RECORDS 1 KiB records to a
# tiered topic (remote.storage.enable=true, local.retention.bytes=0) and to a
# plain topic, then measures:
#   upload    tiering upload throughput: uploaded bytes / time from produce
#             start (and, separately, from produce end) until every sealed
#             segment is uploaded (strata_tier_uploaded_bytes_total);
#   moto      the S3 ceiling of this machine (serial, and 8 parallel ranged
#             GETs as a read-ahead window issues them): curl GETs of the uploaded
#             segment objects (whole, then in chunk-sized ranges) and PUTs of
#             one of them (no broker involved);
#   hot       replay of the plain topic from local disk (page cache);
#   cold      replay of the tiered topic from S3 right after a broker restart
#             (the cold cache directory is wiped at start);
#   warm      the same replay again, from the cold cache (TIER_CACHE_BYTES);
#   replica   cold and warm replays through a read replica of the bucket
#             (`strata serve --read-replica`, the writer stopped), up to the
#             end of the last uploaded segment;
# and the object-store requests of each phase (strata_remote_requests_total,
# scraped from the broker's Prometheus endpoint before and after), per GiB.
# hot/cold/warm are repeated TIER_REPEAT times. Results and analysis:
# docs/benchmarks.md ("Tiered storage").
#
# Knobs (environment):
#   TIER_RECORDS=1000000        1 KiB records per topic (1.02 GB of payload)
#   TIER_SEGMENT_BYTES=16777216 segment.bytes of both topics
#   TIER_CACHE_BYTES=2147483648 strata.cold.cache.bytes (must hold the topic
#                               for the warm replay to be all hits)
#   TIER_CHUNK_BYTES=16777216   strata.cold.cache.chunk.bytes
#   TIER_REPEAT=2               hot / cold / warm replays each
#   TIER_CLIENT=raw-fetch       replay client: raw-fetch (broker path) or
#                               fetch (librdkafka consumer)
#   TIER_UPLOAD_TIMEOUT=600     seconds to wait for the uploads
#   TIER_COLD_CONFIGS=""        extra topic configs of the tiered topic, space-separated
#                               KEY=VALUE (e.g. strata.parquet.enable=true)
#   BATCH_BYTES=1048576 LINGER_MS=5   producer settings
#   PERF=1                      perf-record the broker during each phase and
#                               print its top symbols; PERF_ARGS (default -g)
#                               e.g. "--call-graph dwarf,16384" for callers
#   SKIP_BUILD=1 BENCH_DIR=DIR KEEP=1 STRATA_BIN=PATH   as in bench.sh
#
# Needs moto_server (integration/setup.sh) and curl. Every address is
# 127.0.0.1; the broker gets AWS_EC2_METADATA_DISABLED=true and test
# credentials, so nothing leaves the machine.
set -euo pipefail
export LC_ALL=C

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release"
STRATA="${STRATA_BIN:-$BIN/strata}"
LOADGEN="$BIN/strata-loadgen"

TIER_RECORDS="${TIER_RECORDS:-1000000}"
TIER_SEGMENT_BYTES="${TIER_SEGMENT_BYTES:-16777216}"
TIER_CACHE_BYTES="${TIER_CACHE_BYTES:-2147483648}"
TIER_CHUNK_BYTES="${TIER_CHUNK_BYTES:-16777216}"
TIER_REPEAT="${TIER_REPEAT:-2}"
TIER_CLIENT="${TIER_CLIENT:-raw-fetch}"
TIER_UPLOAD_TIMEOUT="${TIER_UPLOAD_TIMEOUT:-600}"
BATCH_BYTES="${BATCH_BYTES:-1048576}"
LINGER_MS="${LINGER_MS:-5}"
PERF="${PERF:-0}"
RECORD_SIZE=1024
BUCKET=bench
COLD_TOPIC=tier-cold
HOT_TOPIC=tier-hot

log() { printf '[tier-bench] %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

case "$TIER_CLIENT" in
raw-fetch | fetch) ;;
*) die "TIER_CLIENT must be raw-fetch or fetch, not $TIER_CLIENT" ;;
esac
command -v moto_server >/dev/null || die "moto_server not found (run integration/setup.sh)"
command -v curl >/dev/null || die "curl not found"

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    log "building release binaries"
    (cd "$ROOT" && cargo build --release -p strata-cli -p strata-bench)
fi
[[ -x "$STRATA" ]] || die "missing $STRATA"
[[ -x "$LOADGEN" ]] || die "missing $LOADGEN"

DIR="${BENCH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/strata-tier-bench.XXXXXX")}"
mkdir -p "$DIR"
BROKER_PID=""
MOTO_PID=""
stop_pid() {
    if [[ -n "$1" ]]; then
        kill "$1" 2>/dev/null || true
        wait "$1" 2>/dev/null || true
    fi
}
cleanup() {
    stop_pid "$BROKER_PID"
    stop_pid "$MOTO_PID"
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
now_ns() { date +%s%N; }
curl_lo() { curl -sS --noproxy '*' "$@"; }

# ------------------------------------------------------------------ moto ---
start_moto() {
    MOTO_PORT="$(free_port)"
    AWS_EC2_METADATA_DISABLED=true moto_server -H 127.0.0.1 -p "$MOTO_PORT" \
        >"$DIR/moto.log" 2>&1 &
    MOTO_PID=$!
    S3="http://127.0.0.1:$MOTO_PORT"
    for _ in $(seq 1 600); do
        kill -0 "$MOTO_PID" 2>/dev/null || die "moto_server exited: $(tail -n 5 "$DIR/moto.log")"
        if curl_lo -o /dev/null "$S3/" 2>/dev/null; then
            curl_lo -f -o /dev/null -X PUT "$S3/$BUCKET" || die "creating bucket $BUCKET"
            log "moto_server pid $MOTO_PID on $S3, bucket $BUCKET"
            return
        fi
        sleep 0.1
    done
    die "moto_server did not answer within 60 s"
}

# s3_logs: `key size` of every uploaded .log object of the tiered topic.
s3_logs() {
    local token="" page
    while :; do
        page="$(curl_lo "$S3/$BUCKET?list-type=2&prefix=strata/v1/${token:+&continuation-token=$token}")"
        sed 's/<Contents>/\n/g' <<<"$page" |
            sed -n 's|.*<Key>\([^<]*\.log\)</Key>.*<Size>\([0-9]*\)</Size>.*|\1 \2|p'
        token="$(sed -n 's|.*<NextContinuationToken>\([^<]*\)</NextContinuationToken>.*|\1|p' <<<"$page")"
        [[ -n "$token" ]] || break
        token="$(printf '%s' "$token" | sed 's/+/%2B/g; s|/|%2F|g; s/=/%3D/g')"
    done
}

# ---------------------------------------------------------------- broker ---
DATA="$DIR/data"
start_broker() {
    local port mport
    port="$(free_port)"
    mport="$(free_port)"
    env AWS_EC2_METADATA_DISABLED=true AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
        AWS_REGION=us-east-1 AWS_ENDPOINT_URL="$S3" AWS_ALLOW_HTTP=true \
        NO_PROXY='*' no_proxy='*' \
        "$STRATA" serve --data-dir "$DATA" --listen "127.0.0.1:$port" \
        --object-store "s3://$BUCKET/strata" --metrics-listen "127.0.0.1:$mport" \
        --set remote.log.manager.task.interval.ms=200 \
        --set log.retention.check.interval.ms=200 \
        --set strata.cold.cache.bytes="$TIER_CACHE_BYTES" \
        --set strata.cold.cache.chunk.bytes="$TIER_CHUNK_BYTES" "$@" \
        >>"$DIR/broker.log" 2>&1 &
    BROKER_PID=$!
    BOOTSTRAP="127.0.0.1:$port"
    METRICS="http://127.0.0.1:$mport/metrics"
    for _ in $(seq 1 300); do
        kill -0 "$BROKER_PID" 2>/dev/null ||
            die "broker exited; log: $(tail -n 20 "$DIR/broker.log")"
        if port_in_use "$port" && curl_lo -o /dev/null "$METRICS" 2>/dev/null; then
            log "broker pid $BROKER_PID on $BOOTSTRAP, metrics $METRICS"
            return
        fi
        sleep 0.1
    done
    die "broker did not listen on $BOOTSTRAP within 30 s"
}
stop_broker() {
    stop_pid "$BROKER_PID"
    BROKER_PID=""
}

scrape() { curl_lo "$METRICS" >"$DIR/metrics-$1.txt"; }
# msum PHASE NAME [LABEL-SUBSTRING...]: sum of the samples of metric NAME, in
# the scrape PHASE, whose label set contains every substring.
msum() {
    local f="$DIR/metrics-$1.txt" n="$2"
    shift 2
    awk -v n="$n" -v pats="$*" '
        BEGIN { k = split(pats, P, " ") }
        /^#/ { next }
        { name = $1; sub(/\{.*/, "", name); if (name != n) next
          for (i = 1; i <= k; i++) if (index($1, P[i]) == 0) next
          s += $NF }
        END { printf "%.0f\n", s }' "$f"
}
# requests A B: sets REQS to the object-store requests by op between scrapes A
# and B (`op=count ...`, from the broker's metrics, then the HTTP requests moto
# logged since the last moto_mark), GETS (get, get_range, head, list) and PUTS
# (put, put_if_absent, upload_file, upload_part).
requests() {
    local op d out=""
    GETS=0
    PUTS=0
    for op in get get_range head list put put_if_absent upload_file upload_part delete; do
        d=$(($(msum "$2" strata_remote_requests_total "op=\"$op\"") - $(msum "$1" strata_remote_requests_total "op=\"$op\"")))
        ((d == 0)) || out+="$op=$d "
        case "$op" in
        get | get_range | head | list) GETS=$((GETS + d)) ;;
        put | put_if_absent | upload_file | upload_part) PUTS=$((PUTS + d)) ;;
        esac
    done
    sleep 0.2 # let moto's log catch up
    REQS="${out:-none} | moto http: $(tail -n +"$((MOTO_MARK + 1))" "$DIR/moto.log" |
        awk '$6 ~ /^"[A-Z]+$/ { n[substr($6, 2)]++ } END { for (m in n) printf "%s=%d ", m, n[m] }')"
}
# moto_mark: remember where moto's request log is now.
moto_mark() { MOTO_MARK="$(wc -l <"$DIR/moto.log")"; }

create_topic() {
    "$STRATA" topic create "$1" --partitions 1 --bootstrap-server "$BOOTSTRAP" \
        --config segment.bytes="$TIER_SEGMENT_BYTES" "${@:2}" >>"$DIR/admin.log" 2>&1 ||
        die "topic create $1 failed: $(tail -n 5 "$DIR/admin.log")"
}

perf_start() {
    PERF_PID=""
    if [[ "$PERF" == 1 ]]; then
        # shellcheck disable=SC2086 # PERF_ARGS is a list of perf options
        perf record -F 499 ${PERF_ARGS:--g} -p "$BROKER_PID" -o "$DIR/perf-$1.data" >/dev/null 2>&1 &
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
# measure NAME loadgen-args...: runs the load generator, sets LINE, SECS and
# CPU (broker, moto, client, other; % of one core over the run).
measure() {
    local name="$1"
    shift
    local b0 b1 m0 m1 a0 a1 w0 w1
    perf_start "$name"
    b0="$(cpu_ticks "$BROKER_PID")"
    m0="$(cpu_ticks "$MOTO_PID")"
    a0="$(busy_ticks)"
    w0="$(now_ns)"
    LINE="$("$LOADGEN" "$@")" || die "$name failed: $LINE"
    w1="$(now_ns)"
    a1="$(busy_ticks)"
    m1="$(cpu_ticks "$MOTO_PID")"
    b1="$(cpu_ticks "$BROKER_PID")"
    perf_stop "$name"
    log "$name: $LINE"
    SECS="$(awk -v a="$w0" -v b="$w1" 'BEGIN { print (b - a) / 1e9 }')"
    CPU="$(awk -v b="$((b1 - b0))" -v m="$((m1 - m0))" -v a="$((a1 - a0))" -v s="$SECS" \
        -v c="$(kv "$LINE" client_cpu_s)" 'BEGIN {
            o = (a - b - m - 100 * c) / s; if (o < 0) o = 0
            printf "%.0f%% %.0f%% %.0f%% %.0f%%", b / s, m / s, 100 * c / s, o }')"
}

# row NAME MB/s BYTES GETS PUTS REQUESTS CPU...
row() {
    local per_gib_g per_gib_p
    per_gib_g="$(awk -v n="$4" -v b="$3" 'BEGIN { if (b > 0) printf "%.1f", n / (b / 1073741824); else print "-" }')"
    per_gib_p="$(awk -v n="$5" -v b="$3" 'BEGIN { if (b > 0) printf "%.1f", n / (b / 1073741824); else print "-" }')"
    ROWS+=("$(printf '%-16s %9s %10s %9s %9s %7s %7s %7s %7s  %s' \
        "$1" "$2" "$(awk -v b="$3" 'BEGIN { printf "%.0f", b / 1e6 }')" \
        "$per_gib_g" "$per_gib_p" "${@:7}" "$6")")
}

replay() {
    local name="$1" topic="$2" records="${3:-$TIER_RECORDS}"
    local args=("$TIER_CLIENT" --bootstrap-server "$BOOTSTRAP" --topic "$topic" --records "$records")
    scrape "$name-0"
    moto_mark
    measure "$name" "${args[@]}"
    scrape "$name-1"
    local bytes
    requests "$name-0" "$name-1"
    bytes="$(kv "$LINE" bytes)"
    [[ "$bytes" != - ]] || bytes="$(awk -v m="$(kv "$LINE" mb_per_s)" -v s="$(kv "$LINE" elapsed_s)" 'BEGIN { printf "%.0f", m * s * 1e6 }')"
    local hits misses
    hits=$(($(msum "$name-1" strata_cold_cache_hits_total) - $(msum "$name-0" strata_cold_cache_hits_total)))
    misses=$(($(msum "$name-1" strata_cold_cache_misses_total) - $(msum "$name-0" strata_cold_cache_misses_total)))
    row "$name" "$(kv "$LINE" mb_per_s)" "$bytes" "$GETS" "$PUTS" "cache hit/miss=$hits/$misses; $REQS" $CPU
}

# ------------------------------------------------------------------ runs ---
log "scratch dir $DIR; $TIER_RECORDS x ${RECORD_SIZE} B records per topic, segment.bytes=$TIER_SEGMENT_BYTES"
start_moto
start_broker
create_topic "$HOT_TOPIC"
cold_extra=()
for c in ${TIER_COLD_CONFIGS:-}; do cold_extra+=(--config "$c"); done
create_topic "$COLD_TOPIC" --config remote.storage.enable=true --config local.retention.bytes=0 \
    "${cold_extra[@]}"

produce_args=(produce --bootstrap-server "$BOOTSTRAP" --acks 1 --record-size "$RECORD_SIZE"
    --records "$TIER_RECORDS" --batch-size-bytes "$BATCH_BYTES" --linger-ms "$LINGER_MS")
scrape p-0
moto_mark
measure "produce plain" "${produce_args[@]}" --topic "$HOT_TOPIC"
scrape p-1
requests p-0 p-1
row "produce plain" "$(kv "$LINE" mb_per_s)" 0 "$GETS" "$PUTS" "$REQS" $CPU

# Produce to the tiered topic, then poll the metrics until every sealed segment
# is uploaded: the upload counter stops moving, the lag gauge is 0 and local
# retention (local.retention.bytes=0) has left only the active segment. The
# upload end is the first poll that saw the final counter value.
scrape u-0
moto_mark
m0="$(cpu_ticks "$MOTO_PID")"
b0="$(cpu_ticks "$BROKER_PID")"
a0="$(busy_ticks)"
t_start="$(now_ns)"
measure "produce tiered" "${produce_args[@]}" --topic "$COLD_TOPIC"
t_produced="$(now_ns)"
produce_line="$LINE"
produce_cpu="$CPU"
part_dir="$(find "$DATA" -maxdepth 3 -type d -name "$COLD_TOPIC-0" | head -n 1)"
[[ -n "$part_dir" ]] || die "partition directory of $COLD_TOPIC not found under $DATA"
last=-1
t_last="$t_produced"
deadline=$(($(date +%s) + TIER_UPLOAD_TIMEOUT))
while :; do
    scrape u-poll
    up="$(msum u-poll strata_tier_uploaded_bytes_total)"
    lag="$(msum u-poll strata_tiering_lag_segments "topic=\"$COLD_TOPIC\"")"
    if [[ "$up" != "$last" ]]; then
        last="$up"
        t_last="$(now_ns)"
    fi
    logs="$(find "$part_dir" -maxdepth 1 -name '*.log' | wc -l)"
    if ((up > 0 && lag == 0 && logs <= 1)); then
        break
    fi
    (($(date +%s) < deadline)) || die "uploads not done after ${TIER_UPLOAD_TIMEOUT} s (uploaded $up B, lag $lag segments, $logs local segments)"
    sleep 0.1
done
a1="$(busy_ticks)"
b1="$(cpu_ticks "$BROKER_PID")"
m1="$(cpu_ticks "$MOTO_PID")"
t_done="$(now_ns)"
scrape u-1
requests u-0 u-1
up_bytes=$(($(msum u-1 strata_tier_uploaded_bytes_total) - $(msum u-0 strata_tier_uploaded_bytes_total)))
up_segments=$(($(msum u-1 strata_tier_uploaded_segments_total) - $(msum u-0 strata_tier_uploaded_segments_total)))
at_end="$(msum u-poll strata_tier_uploaded_bytes_total)"
up_total_s="$(awk -v a="$t_start" -v b="$t_last" 'BEGIN { print (b - a) / 1e9 }')"
up_tail_s="$(awk -v a="$t_produced" -v b="$t_last" 'BEGIN { print (b - a) / 1e9 }')"
up_mbps="$(awk -v b="$up_bytes" -v s="$up_total_s" 'BEGIN { printf "%.1f", b / s / 1e6 }')"
up_cpu="$(awk -v b="$((b1 - b0))" -v m="$((m1 - m0))" -v a="$((a1 - a0))" \
    -v s="$(awk -v a="$t_start" -v b="$t_done" 'BEGIN { print (b - a) / 1e9 }')" \
    -v c="$(kv "$produce_line" client_cpu_s)" 'BEGIN {
        o = (a - b - m - 100 * c) / s; if (o < 0) o = 0
        printf "%.0f%% %.0f%% %.0f%% %.0f%%", b / s, m / s, 100 * c / s, o }')"
row "produce tiered" "$(kv "$produce_line" mb_per_s)" 0 0 0 "-" $produce_cpu
row "upload" "$up_mbps" "$up_bytes" "$GETS" "$PUTS" "segments=$up_segments; $REQS" $up_cpu
log "uploaded $up_segments segments, $up_bytes B (${at_end} B total) in ${up_total_s} s from produce start, ${up_tail_s} s after produce end"

# The S3 ceiling: serial GETs of the uploaded .log objects (as the broker's
# cold reads issue them: one chunk-sized GET at a time), then PUTs of one.
s3_logs >"$DIR/s3-logs.txt"
n_objs="$(wc -l <"$DIR/s3-logs.txt")"
((n_objs > 0)) || die "no .log objects in s3://$BUCKET/strata/v1/"
moto_get() {
    local t0 t1 bytes=0 key size m0 m1
    m0="$(cpu_ticks "$MOTO_PID")"
    t0="$(now_ns)"
    while read -r key size; do
        curl_lo -f -o /dev/null "$S3/$BUCKET/$key"
        bytes=$((bytes + size))
    done <"$DIR/s3-logs.txt"
    t1="$(now_ns)"
    m1="$(cpu_ticks "$MOTO_PID")"
    local s
    s="$(awk -v a="$t0" -v b="$t1" 'BEGIN { print (b - a) / 1e9 }')"
    row "moto GET (curl)" "$(awk -v b="$bytes" -v s="$s" 'BEGIN { printf "%.1f", b / s / 1e6 }')" \
        "$bytes" "$n_objs" 0 "serial GETs of the .log objects" - \
        "$(awk -v m="$((m1 - m0))" -v s="$s" 'BEGIN { printf "%.0f%%", m / s }')" - -
}
# moto_get_range: the same bytes as chunk-sized ranged GETs (TIER_CHUNK_BYTES),
# one at a time: the request pattern of a cold replay with a cold cache.
moto_get_range() {
    local t0 t1 bytes=0 n=0 key size off end m0 m1
    m0="$(cpu_ticks "$MOTO_PID")"
    t0="$(now_ns)"
    while read -r key size; do
        for ((off = 0; off < size; off += TIER_CHUNK_BYTES)); do
            end=$((off + TIER_CHUNK_BYTES < size ? off + TIER_CHUNK_BYTES : size))
            curl_lo -f -o /dev/null -r "$off-$((end - 1))" "$S3/$BUCKET/$key"
            n=$((n + 1))
        done
        bytes=$((bytes + size))
    done <"$DIR/s3-logs.txt"
    t1="$(now_ns)"
    m1="$(cpu_ticks "$MOTO_PID")"
    local s
    s="$(awk -v a="$t0" -v b="$t1" 'BEGIN { print (b - a) / 1e9 }')"
    row "moto range GET" "$(awk -v b="$bytes" -v s="$s" 'BEGIN { printf "%.1f", b / s / 1e6 }')" \
        "$bytes" "$n" 0 "serial chunk-sized ranged GETs of the .log objects" - \
        "$(awk -v m="$((m1 - m0))" -v s="$s" 'BEGIN { printf "%.0f%%", m / s }')" - -
}
# moto_get_parallel: the same chunk-sized ranged GETs, 8 at a time (xargs -P 8): the ceiling
# a replay with a read-ahead window of 8 chunks can reach (issue 12's reference).
moto_get_parallel() {
    local t0 t1 bytes=0 n=0 key size off end m0 m1
    : >"$DIR/ranges.txt"
    while read -r key size; do
        for ((off = 0; off < size; off += TIER_CHUNK_BYTES)); do
            end=$((off + TIER_CHUNK_BYTES < size ? off + TIER_CHUNK_BYTES : size))
            printf '%s %s\n' "$off-$((end - 1))" "$S3/$BUCKET/$key" >>"$DIR/ranges.txt"
            n=$((n + 1))
        done
        bytes=$((bytes + size))
    done <"$DIR/s3-logs.txt"
    m0="$(cpu_ticks "$MOTO_PID")"
    t0="$(now_ns)"
    xargs -P 8 -L 1 sh -c 'curl -sS --noproxy "*" -f -o /dev/null -r "$0" "$1"' <"$DIR/ranges.txt"
    t1="$(now_ns)"
    m1="$(cpu_ticks "$MOTO_PID")"
    local s
    s="$(awk -v a="$t0" -v b="$t1" 'BEGIN { print (b - a) / 1e9 }')"
    row "moto 8x range GET" "$(awk -v b="$bytes" -v s="$s" 'BEGIN { printf "%.1f", b / s / 1e6 }')" \
        "$bytes" "$n" 0 "8 parallel chunk-sized ranged GETs of the .log objects" - \
        "$(awk -v m="$((m1 - m0))" -v s="$s" 'BEGIN { printf "%.0f%%", m / s }')" - -
}
moto_put() {
    local key size t0 t1 m0 m1 n=8
    read -r key size <"$DIR/s3-logs.txt"
    curl_lo -f -o "$DIR/object.bin" "$S3/$BUCKET/$key"
    m0="$(cpu_ticks "$MOTO_PID")"
    t0="$(now_ns)"
    for i in $(seq 1 "$n"); do
        curl_lo -f -o /dev/null -T "$DIR/object.bin" "$S3/$BUCKET/ceiling/put-$i"
    done
    t1="$(now_ns)"
    m1="$(cpu_ticks "$MOTO_PID")"
    # (moto refuses anonymous DELETEs; the objects stay, outside the broker's prefix)
    rm -f "$DIR/object.bin"
    local s
    s="$(awk -v a="$t0" -v b="$t1" 'BEGIN { print (b - a) / 1e9 }')"
    row "moto PUT (curl)" "$(awk -v b="$((n * size))" -v s="$s" 'BEGIN { printf "%.1f", b / s / 1e6 }')" \
        "$((n * size))" 0 "$n" "serial single PUTs of one .log object" - \
        "$(awk -v m="$((m1 - m0))" -v s="$s" 'BEGIN { printf "%.0f%%", m / s }')" - -
}
for _ in $(seq 1 "$TIER_REPEAT"); do
    moto_get
    moto_get_range
    moto_get_parallel
done
moto_put

for r in $(seq 1 "$TIER_REPEAT"); do
    replay "hot #$r" "$HOT_TOPIC"
done
for r in $(seq 1 "$TIER_REPEAT"); do
    # A restart wipes the cold cache directory (and zeroes the counters).
    stop_broker
    start_broker
    replay "cold #$r" "$COLD_TOPIC"
    replay "warm #$r" "$COLD_TOPIC"
done

# The same replay through a read replica (`strata serve --read-replica`) of the bucket, with
# the writer stopped: it serves what is uploaded, i.e. up to the end offset of the last
# manifest (the writer's active segment is not in the bucket).
last_manifest="$(curl_lo "$S3/$BUCKET?list-type=2&prefix=strata/v1/" |
    sed 's/<Key>/\n<Key>/g' | sed -n 's|^<Key>\([^<]*\.manifest\.json\)</Key>.*|\1|p' | sort | tail -n 1)"
[[ -n "$last_manifest" ]] || die "no manifest in s3://$BUCKET/strata/v1/"
# (a signed GET: moto refuses anonymous GETs of objects written with a conditional PUT)
replica_records="$(python3 -c '
import json, sys, boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1], aws_access_key_id="test",
                  aws_secret_access_key="test", region_name="us-east-1")
print(json.loads(s3.get_object(Bucket=sys.argv[2], Key=sys.argv[3])["Body"].read())["end_offset"])
' "$S3" "$BUCKET" "$last_manifest")" || die "reading end_offset of $last_manifest failed"
log "read replica: serves $replica_records records of $COLD_TOPIC (to the end of $last_manifest)"
stop_broker
WRITER_DATA="$DATA"
DATA="$DIR/replica"
for r in $(seq 1 "$TIER_REPEAT"); do
    # A fresh replica each time: it discovers the bucket and starts with an empty cache.
    stop_broker
    rm -rf "$DATA"
    start_broker --read-replica --set strata.read.replica.refresh.interval.ms=200
    for _ in $(seq 1 300); do
        scrape rr-wait
        (($(msum rr-wait strata_read_replica_segments_seen_total) > 0)) && break
        sleep 0.1
    done
    (($(msum rr-wait strata_read_replica_segments_seen_total) > 0)) ||
        die "the read replica did not pick up the bucket within 30 s: $(tail -n 5 "$DIR/broker.log")"
    replay "replica cold #$r" "$COLD_TOPIC" "$replica_records"
    replay "replica warm #$r" "$COLD_TOPIC" "$replica_records"
done
DATA="$WRITER_DATA"

# ----------------------------------------------------------------- table ---
echo
echo "tier: machine $(nproc) cores, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo);" \
    "moto $(python3 -c 'import moto; print(moto.__version__)' 2>/dev/null || echo '?');" \
    "$TIER_RECORDS x ${RECORD_SIZE} B per topic; segment.bytes=$TIER_SEGMENT_BYTES" \
    "chunk=$TIER_CHUNK_BYTES cache=$TIER_CACHE_BYTES; client $TIER_CLIENT"
echo "upload: $up_segments segments, ${up_bytes} B; last upload ${up_total_s} s after produce start," \
    "${up_tail_s} s after produce end; upload MB/s = bytes / time from produce start"
echo "MB = 10^6 bytes moved (replays: whole batches); GET/GiB, PUT/GiB per 2^30 bytes moved;" \
    "broker/moto/client/other = average CPU (100% = one core); requests = strata_remote_requests_total deltas by op"
echo
printf '%-16s %9s %10s %9s %9s %7s %7s %7s %7s  %s\n' \
    phase MB/s MB GET/GiB PUT/GiB broker moto client other requests
for r in "${ROWS[@]}"; do
    echo "$r"
done
