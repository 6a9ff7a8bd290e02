# Shell helpers shared by bench.sh and tier-bench.sh (sourced; each script defines log/die).

# kv LINE KEY: value of KEY in a `key=value key=value` line, or `-`.
kv() {
    local v
    v="$(sed -n "s/^\(.* \)\{0,1\}$2=\([^ ]*\).*/\2/p" <<<"$1")"
    echo "${v:--}"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {
    local p
    for _ in $(seq 1 200); do
        p=$((20000 + RANDOM % 40000))
        if ! port_in_use "$p"; then
            echo "$p"
            return
        fi
    done
    die "no free port found"
}

# busy_ticks: clock ticks all CPUs spent not idle so far (from /proc/stat).
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }

# cpu_ticks PID: user+system clock ticks consumed so far.
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }

# drop_page_cache: with DROP_CACHES=1 (the default) and root, writes back and drops the page
# cache, so a run does not start with several GB cached by earlier runs (on this VM every new
# page the broker writes then pays for reclaim; docs/benchmarks.md, "Replication: the follower
# fsyncs on its own thread"). DROP_CACHES=0 measures the machine as it is.
drop_page_cache() {
    [[ "${DROP_CACHES:-1}" == 1 ]] || return 0
    if [[ -w /proc/sys/vm/drop_caches ]]; then
        sync
        echo 3 >/proc/sys/vm/drop_caches
        printf '[bench] page cache dropped\n' >&2
    else
        printf '[bench] cannot drop the page cache (not root): measuring the machine as it is\n' >&2
    fi
}
