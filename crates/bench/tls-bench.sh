#!/usr/bin/env bash
# Strata TLS benchmark: the same load through a PLAINTEXT and an SSL listener of one broker.
#
# Makes a CA and a server certificate for localhost / 127.0.0.1 with openssl in the scratch
# directory, starts one throw-away broker with
#   --listen 127.0.0.1:P1,SSL://127.0.0.1:P2 --tls-cert server.pem --tls-key server.key
# and runs `strata-loadgen` against each listener in turn (SSL clients get
# `-X security.protocol=SSL -X ssl.ca.location=ca.pem`), TLS_REPEAT times:
#   produce  TLS_RECORDS records of 1 KiB, acks=1, to a fresh single-partition topic
#   fetch    a hot consume of that topic (page cache) with the librdkafka consumer
# For every run it records MB/s and the broker's and the load generator's CPU seconds per GB
# moved (from /proc/PID/stat and the load generator's own report), then prints a table, the
# medians per listener and the ratios SSL / PLAINTEXT against the targets (issue 13): TLS hot
# consume >= 50 % of plaintext, TLS produce >= 70 %. Results: docs/benchmarks.md ("TLS").
#
# strata-loadgen must link a librdkafka with OpenSSL. The workspace builds rdkafka without it
# ("OpenSSL not available at build time"); in that case this script builds an SSL-capable
# strata-loadgen (`cargo build --release -p strata-bench --features rdkafka/ssl`) from a copy of
# the repository's tracked files in TLS_LOADGEN_DIR, so the repository (and its Cargo.lock) is
# not touched. The first such build takes a few minutes and fetches openssl-sys.
#
# Knobs (environment):
#   TLS_RECORDS=1000000     1 KiB records per produce run (1.02 GB of payload)
#   TLS_REPEAT=3            produce + fetch rounds per listener (listeners alternate)
#   BATCH_BYTES=1048576     producer batch.size
#   LINGER_MS=5             producer linger.ms
#   TLS_LOADGEN=PATH        an SSL-capable strata-loadgen to use as it is
#   TLS_LOADGEN_DIR=DIR     where the SSL-capable loadgen is built
#                           (default ~/.cache/strata-tls-loadgen)
#   PERF=1                  perf-record the broker during each run, print its top symbols
#   DROP_CACHES=1           drop the page cache before the broker starts (root only; 0: don't)
#   BROKER_ARGS="..."       extra `strata serve` arguments (e.g. --set strata.tls.read.buffer.bytes=0)
#   SKIP_BUILD=1 BENCH_DIR=DIR KEEP=1 STRATA_BIN=PATH   as in bench.sh (with SKIP_BUILD=1 an
#                           existing SSL-capable loadgen in TLS_LOADGEN_DIR is reused)
set -euo pipefail
export LC_ALL=C

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release"
STRATA="${STRATA_BIN:-$BIN/strata}"
LOADGEN="${TLS_LOADGEN:-$BIN/strata-loadgen}"

TLS_RECORDS="${TLS_RECORDS:-1000000}"
TLS_REPEAT="${TLS_REPEAT:-3}"
BATCH_BYTES="${BATCH_BYTES:-1048576}"
LINGER_MS="${LINGER_MS:-5}"
PERF="${PERF:-0}"
TLS_LOADGEN_DIR="${TLS_LOADGEN_DIR:-$HOME/.cache/strata-tls-loadgen}"
RECORD_SIZE=1024
HZ="$(getconf CLK_TCK)"

log() { printf '[tls-bench] %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

command -v openssl >/dev/null || die "openssl not found"

# ---------------------------------------------------------------- build ---
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    log "building release binaries"
    (cd "$ROOT" && cargo build --release -p strata-cli -p strata-bench)
fi
[[ -x "$STRATA" ]] || die "missing $STRATA"
[[ -x "$LOADGEN" ]] || die "missing $LOADGEN"

# loadgen_has_ssl BIN: whether BIN's librdkafka accepts security.protocol=SSL. (With SSL it
# would try to connect to the closed port 9 until killed: exit 124 counts as yes.)
loadgen_has_ssl() {
    local out
    out="$(timeout 5 "$1" fetch --bootstrap-server 127.0.0.1:9 --topic probe --records 1 \
        --idle-timeout-secs 1 -X security.protocol=SSL 2>&1)" || true
    ! grep -q "OpenSSL not available" <<<"$out"
}

if ! loadgen_has_ssl "$LOADGEN"; then
    [[ -z "${TLS_LOADGEN:-}" ]] || die "TLS_LOADGEN=$TLS_LOADGEN has no OpenSSL"
    SSL_LOADGEN="$TLS_LOADGEN_DIR/target/release/strata-loadgen"
    if [[ "${SKIP_BUILD:-0}" == 1 && -x "$SSL_LOADGEN" ]]; then
        log "$LOADGEN has no OpenSSL; using $SSL_LOADGEN"
    else
        log "$LOADGEN has no OpenSSL; building an SSL-capable strata-loadgen in $TLS_LOADGEN_DIR"
        mkdir -p "$TLS_LOADGEN_DIR/src"
        # Tracked files only; tar keeps their mtimes, so unchanged crates are not rebuilt.
        (cd "$ROOT" && git ls-files -z | tar --null -T - -cf -) | tar -xf - -C "$TLS_LOADGEN_DIR/src"
        (cd "$TLS_LOADGEN_DIR/src" && CARGO_TARGET_DIR="$TLS_LOADGEN_DIR/target" \
            cargo build --release -p strata-bench --features rdkafka/ssl) ||
            die "building the SSL-capable strata-loadgen failed"
    fi
    LOADGEN="$SSL_LOADGEN"
    loadgen_has_ssl "$LOADGEN" || die "$LOADGEN still has no OpenSSL"
fi

DIR="${BENCH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/strata-tls-bench.XXXXXX")}"
mkdir -p "$DIR"
BROKER_PID=""
cleanup() {
    if [[ -n "$BROKER_PID" ]]; then
        kill "$BROKER_PID" 2>/dev/null || true
        wait "$BROKER_PID" 2>/dev/null || true
    fi
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
# median of the numbers on stdin
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# ---------------------------------------------------------- certificates ---
CERTS="$DIR/certs"
mkdir -p "$CERTS"
(
    cd "$CERTS"
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >server.ext
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 \
        -subj /CN=strata-bench-ca
    openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem \
        -days 2 -extfile server.ext
) >"$DIR/openssl.log" 2>&1 || die "openssl failed: $(tail -n 5 "$DIR/openssl.log")"

# ---------------------------------------------------------------- broker ---
drop_page_cache
PLAIN_PORT="$(free_port)"
SSL_PORT="$(free_port)"
while [[ "$SSL_PORT" == "$PLAIN_PORT" ]]; do SSL_PORT="$(free_port)"; done
METRICS_PORT="$(free_port)"
"$STRATA" serve --data-dir "$DIR/data" \
    --listen "127.0.0.1:$PLAIN_PORT,SSL://127.0.0.1:$SSL_PORT" \
    --tls-cert "$CERTS/server.pem" --tls-key "$CERTS/server.key" \
    --metrics-listen "127.0.0.1:$METRICS_PORT" ${BROKER_ARGS:-} >"$DIR/broker.log" 2>&1 &
BROKER_PID=$!
for _ in $(seq 1 300); do
    kill -0 "$BROKER_PID" 2>/dev/null || die "broker exited; log: $(tail -n 20 "$DIR/broker.log")"
    if port_in_use "$PLAIN_PORT" && port_in_use "$SSL_PORT"; then
        break
    fi
    sleep 0.1
done
port_in_use "$SSL_PORT" || die "broker did not listen on $PLAIN_PORT and $SSL_PORT within 30 s"
log "broker pid $BROKER_PID: PLAINTEXT 127.0.0.1:$PLAIN_PORT, SSL 127.0.0.1:$SSL_PORT"

PLAIN_ARGS=(--bootstrap-server "127.0.0.1:$PLAIN_PORT")
SSL_ARGS=(--bootstrap-server "127.0.0.1:$SSL_PORT" -X security.protocol=SSL
    -X "ssl.ca.location=$CERTS/ca.pem")

create_topic() {
    "$STRATA" topic create "$1" --partitions 1 --bootstrap-server "127.0.0.1:$PLAIN_PORT" \
        >>"$DIR/admin.log" 2>&1 || die "topic create $1 failed: $(tail -n 5 "$DIR/admin.log")"
}

delete_topic() {
    "$STRATA" topic delete "$1" --bootstrap-server "127.0.0.1:$PLAIN_PORT" \
        >>"$DIR/admin.log" 2>&1 || die "topic delete $1 failed: $(tail -n 5 "$DIR/admin.log")"
    sleep 1
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
RESULTS="$DIR/results.txt"
: >"$RESULTS"
# measure PHASE LISTENER ROUND loadgen-args...: runs the load generator and appends a row
# and a line `phase listener mb_per_s broker_s_per_gb client_s_per_gb` to RESULTS.
measure() {
    local phase="$1" listener="$2" round="$3"
    shift 3
    local name="$phase $listener #$round" t0 t1 a0 a1 w0 w1 line
    perf_start "${phase}-${listener}-${round}"
    t0="$(cpu_ticks "$BROKER_PID")"
    a0="$(busy_ticks)"
    w0="$(now_ns)"
    line="$("$LOADGEN" "$@")" || die "$name failed: $line"
    w1="$(now_ns)"
    a1="$(busy_ticks)"
    t1="$(cpu_ticks "$BROKER_PID")"
    perf_stop "${phase}-${listener}-${round}"
    log "$name: $line"
    local bytes mbps client wall
    bytes="$(kv "$line" bytes)"
    mbps="$(kv "$line" mb_per_s)"
    client="$(kv "$line" client_cpu_s)"
    wall="$(awk -v a="$w0" -v b="$w1" 'BEGIN { print (b - a) / 1e9 }')"
    local stats broker_gb client_gb broker_pct other_pct
    # broker s/GB, client s/GB, broker % of a core, other % (everything else) over the run
    stats="$(awk -v t="$((t1 - t0))" -v a="$((a1 - a0))" -v hz="$HZ" -v b="$bytes" \
        -v c="$client" -v s="$wall" 'BEGIN {
            gb = b / 1e9; o = (a - t) / hz - c; if (o < 0) o = 0
            printf "%.2f %.2f %.0f %.0f", t / hz / gb, c / gb, 100 * t / hz / s, 100 * o / s }')"
    read -r broker_gb client_gb broker_pct other_pct <<<"$stats"
    echo "$phase $listener $mbps $broker_gb $client_gb" >>"$RESULTS"
    ROWS+=("$(printf '%-9s %-10s %3s %9s %8s %10s %9s %10s %10s %7s %7s' \
        "$phase" "$listener" "$round" "$(kv "$line" records)" "$mbps" \
        "$(kv "$line" records_per_s)" "$(kv "$line" p99_ms)" "$broker_gb" "$client_gb" \
        "${broker_pct}%" "${other_pct}%")")
}

# ------------------------------------------------------------------ runs ---
log "scratch dir $DIR; $TLS_RECORDS x $RECORD_SIZE B per produce run, $TLS_REPEAT rounds"
# Each round: produce then fetch through one listener, delete the topic, the same through the
# other; the first listener alternates between rounds. Deleting the topic gives its page cache
# back before the next produce: on VMs whose free memory goes back to the host (see "Machine"
# in docs/benchmarks.md), growing the page cache into fresh memory costs the writer several
# times more than reusing freed pages, and would penalise whichever listener runs later.
for r in $(seq 1 "$TLS_REPEAT"); do
    if ((r % 2)); then order=(PLAINTEXT SSL); else order=(SSL PLAINTEXT); fi
    for l in "${order[@]}"; do
        topic="tls-bench-$l-$r"
        create_topic "$topic"
        if [[ "$l" == SSL ]]; then args=("${SSL_ARGS[@]}"); else args=("${PLAIN_ARGS[@]}"); fi
        measure produce "$l" "$r" produce "${args[@]}" --topic "$topic" --acks 1 \
            --record-size "$RECORD_SIZE" --records "$TLS_RECORDS" \
            --batch-size-bytes "$BATCH_BYTES" --linger-ms "$LINGER_MS"
        measure fetch "$l" "$r" fetch "${args[@]}" --topic "$topic" --records "$TLS_RECORDS"
        delete_topic "$topic"
    done
done
failures="$(curl -fs "http://127.0.0.1:$METRICS_PORT/metrics" 2>/dev/null |
    awk '$1 == "strata_tls_handshake_failures_total" { print $2 }')"

# ----------------------------------------------------------------- table ---
# med PHASE LISTENER FIELD: the median of a RESULTS column (3 MB/s, 4 broker s/GB, 5 client s/GB).
med() { awk -v p="$1" -v l="$2" -v f="$3" '$1 == p && $2 == l { print $f }' "$RESULTS" | median; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.0f%%", 100 * a / b; else print "-" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }'; }

echo
echo "tls: machine $(nproc) cores, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)," \
    "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1);" \
    "$TLS_RECORDS x $RECORD_SIZE B per run, acks=1, 1 partition, batch.size=$BATCH_BYTES linger.ms=$LINGER_MS"
echo "MB = 10^6 bytes of payload; broker/client s/GB = CPU seconds (user+system) of the broker /" \
    "the load generator per 10^9 payload bytes; broker/other = average CPU (100% = one core);" \
    "fetch = hot consume (page cache) with the librdkafka consumer"
echo "broker: $STRATA; load generator: $LOADGEN; TLS handshake failures: ${failures:-?}"
echo
printf '%-9s %-10s %3s %9s %8s %10s %9s %10s %10s %7s %7s\n' \
    phase listener run records MB/s records/s p99_ms broker_s/GB client_s/GB broker other
for row in "${ROWS[@]}"; do
    echo "$row"
done
echo
printf '%-9s %12s %12s %8s %8s %17s %17s %14s\n' \
    phase "PLAIN MB/s" "SSL MB/s" "SSL/PT" target "broker s/GB PT/SSL" "client s/GB PT/SSL" "broker CPU/GB"
for phase in produce fetch; do
    pm="$(med "$phase" PLAINTEXT 3)"
    sm="$(med "$phase" SSL 3)"
    pb="$(med "$phase" PLAINTEXT 4)"
    sb="$(med "$phase" SSL 4)"
    pc="$(med "$phase" PLAINTEXT 5)"
    sc="$(med "$phase" SSL 5)"
    if [[ "$phase" == produce ]]; then target=70; else target=50; fi
    verdict="$(awk -v a="$sm" -v b="$pm" -v t="$target" 'BEGIN { print (b > 0 && 100 * a / b >= t) ? "met" : "NOT met" }')"
    printf '%-9s %12s %12s %8s %8s %17s %17s %14s\n' \
        "$phase" "$pm" "$sm" "$(pct "$sm" "$pm")" ">=${target}% $verdict" "$pb / $sb" "$pc / $sc" \
        "$(ratio "$sb" "$pb")"
done
echo "(medians of $TLS_REPEAT runs; SSL/PT = SSL MB/s as a share of PLAINTEXT MB/s; broker CPU/GB = SSL / PLAINTEXT)"
