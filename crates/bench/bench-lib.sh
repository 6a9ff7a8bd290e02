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
