#!/usr/bin/env bash
# L4 benchmark: TCP throughput (iperf3) and new connections per second, directly, through
# switchyard (splice and userspace copy) and through HAProxy `mode tcp`.
#
#   apt-get install -y haproxy iperf3
#   cargo build --release -p switchyard && cargo build --release -p switchyard-l4 --example l4_bench
#   bench/l4.sh [ROUNDS] [SECONDS] [CONCURRENCY]      # defaults 3 5 32
#
# The product is measured: `switchyard run` with `global.workers = 1` (one thread, like one
# HAProxy thread), once with `splice = true` and once with `splice = false` on its tcp
# listeners; HAProxy runs with `nbthread 1`. Every proxy is pinned to core $PROXY_CORE
# (default 1); iperf3 (client and server), the echo server and the connection-rate client
# (`l4_bench`, crates/l4/examples) to core $CLIENT_CORE (default 0). The connection-rate
# client opens a connection, sends one byte, reads it back from the echo server and closes
# with a reset, CONCURRENCY at a time, for SECONDS.
#
# Rounds alternate the order of the targets so drift hits all alike. Printed per round and
# as medians: Gbit/s, new connections/s, and the proxy's CPU microseconds per new
# connection (utime+stime from /proc/PID/stat over the run: robust when the machine is
# noisy, unlike the rates). The direct rate shows what the client core can drive at all.
# Each run also prints how busy the client core and the proxy core were ("busy% c/p"):
# a rate is the proxy's only when the proxy core is the one near 100 %.
# Not part of CI: the numbers depend on the machine. Loopback only; every run is bounded.
set -euo pipefail

ROUNDS=${1:-3}
SECS=${2:-5}
CONC=${3:-32}
PROXY_CORE=${PROXY_CORE:-1}
CLIENT_CORE=${CLIENT_CORE:-0}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SY_BIN=${SY_BIN:-$ROOT/target/release/switchyard}
BENCH_BIN=${L4_BENCH_BIN:-$ROOT/target/release/examples/l4_bench}

for tool in iperf3 haproxy taskset python3; do
    command -v "$tool" >/dev/null || { echo "l4.sh: $tool is not installed (apt-get install -y haproxy iperf3)" >&2; exit 2; }
done
[ "$(nproc)" -ge 2 ] || { echo "l4.sh: needs 2 cores" >&2; exit 2; }
for bin in "$SY_BIN" "$BENCH_BIN"; do
    [ -x "$bin" ] || { echo "l4.sh: $bin missing; build first: cargo build --release -p switchyard && cargo build --release -p switchyard-l4 --example l4_bench" >&2; exit 2; }
done

WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

IPERF_PORT=25201 ECHO_PORT=25300
TARGETS=(direct switchyard switchyard_copy haproxy)
declare -A TPUT_PORT=([direct]=$IPERF_PORT [switchyard]=25211 [switchyard_copy]=25212 [haproxy]=25213)
declare -A CONN_PORT=([direct]=$ECHO_PORT [switchyard]=25311 [switchyard_copy]=25312 [haproxy]=25313)
declare -A PID_OF

taskset -c "$CLIENT_CORE" iperf3 -s -p $IPERF_PORT >/dev/null 2>&1 & PIDS+=($!)
taskset -c "$CLIENT_CORE" "$BENCH_BIN" echo 127.0.0.1:$ECHO_PORT & PIDS+=($!)

sy_config() { # name splice -> a switchyard config with a throughput and a conn-rate listener
    cat <<TOML
[global]
workers = 1

[[pool]]
name = "iperf"
algorithm = "round_robin"
[pool.health]
check = "none"
[[pool.server]]
name = "iperf3"
address = "127.0.0.1:$IPERF_PORT"

[[pool]]
name = "echo"
algorithm = "round_robin"
[pool.health]
check = "none"
[[pool.server]]
name = "echo"
address = "127.0.0.1:$ECHO_PORT"

[[listener]]
name = "tput"
protocol = "tcp"
listen = "127.0.0.1:${TPUT_PORT[$1]}"
pool = "iperf"
splice = $2

[[listener]]
name = "conn"
protocol = "tcp"
listen = "127.0.0.1:${CONN_PORT[$1]}"
pool = "echo"
splice = $2
TOML
}
for t in switchyard switchyard_copy; do
    splice=true; [ $t = switchyard_copy ] && splice=false
    sy_config $t $splice > "$WORK/$t.toml"
    RUST_LOG=warn taskset -c "$PROXY_CORE" "$SY_BIN" run -c "$WORK/$t.toml" 2>"$WORK/$t.log" &
    PID_OF[$t]=$!; PIDS+=($!)
done
cat > "$WORK/haproxy.cfg" <<CFG
global
    nbthread 1
    maxconn 8000
defaults
    mode tcp
    timeout connect 3s
    timeout client 60s
    timeout server 60s
listen tput
    bind 127.0.0.1:${TPUT_PORT[haproxy]}
    server s 127.0.0.1:$IPERF_PORT
listen conn
    bind 127.0.0.1:${CONN_PORT[haproxy]}
    server s 127.0.0.1:$ECHO_PORT
CFG
taskset -c "$PROXY_CORE" haproxy -f "$WORK/haproxy.cfg" -db >"$WORK/haproxy.log" 2>&1 &
PID_OF[haproxy]=$!; PIDS+=($!)

# Up to 5 s for every listener to accept.
for t in "${TARGETS[@]}"; do
    for port in "${TPUT_PORT[$t]}" "${CONN_PORT[$t]}"; do
        for _ in $(seq 50); do
            python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), 0.2).close()" 2>/dev/null && continue 2
            sleep 0.1
        done
        echo "l4.sh: $t does not accept on 127.0.0.1:$port" >&2
        cat "$WORK"/*.log >&2 || true
        exit 1
    done
done

CLK_TCK=$(getconf CLK_TCK)
ticks() { # PID -> utime+stime in clock ticks
    awk '{print $14 + $15}' "/proc/$1/stat"
}
core_ticks() { # CORE -> "busy total" jiffies of that core from /proc/stat
    awk -v c="cpu$1" '$1 == c {print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat
}
busy_pct() { # "busy total" before, after -> percent of the core that was busy in between
    awk -v a="$1" -v b="$2" 'BEGIN {split(a, x, " "); split(b, y, " ");
        d = y[2] - x[2]; printf "%.0f", (d > 0 ? 100 * (y[1] - x[1]) / d : 0)}'
}
gbps() { # port -> Gbit/s received
    taskset -c "$CLIENT_CORE" iperf3 -c 127.0.0.1 -p "$1" -t "$SECS" -J 2>/dev/null |
        python3 -c 'import json,sys
try: print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9))
except Exception: print("nan")'
}

printf "%-6s %-16s %9s %10s %9s %13s %14s %14s\n" round target "Gbit/s" "conn/s" errors "CPU us/conn" \
    "busy% tput c/p" "busy% conn c/p"
for r in $(seq 1 "$ROUNDS"); do
    if [ $((r % 2)) -eq 0 ]; then order=$(printf '%s\n' "${TARGETS[@]}" | tac); else order="${TARGETS[*]}"; fi
    for t in $order; do
        c0=$(core_ticks "$CLIENT_CORE") p0=$(core_ticks "$PROXY_CORE")
        g=$(gbps "${TPUT_PORT[$t]}")
        tput_busy="$(busy_pct "$c0" "$(core_ticks "$CLIENT_CORE")")/$(busy_pct "$p0" "$(core_ticks "$PROXY_CORE")")"
        sleep 0.5
        c0=$(core_ticks "$CLIENT_CORE") p0=$(core_ticks "$PROXY_CORE")
        pid=${PID_OF[$t]:-}
        [ -n "$pid" ] && before=$(ticks "$pid")
        read -r rate errors < <(taskset -c "$CLIENT_CORE" "$BENCH_BIN" connrate 127.0.0.1:"${CONN_PORT[$t]}" "$SECS" "$CONC")
        conn_busy="$(busy_pct "$c0" "$(core_ticks "$CLIENT_CORE")")/$(busy_pct "$p0" "$(core_ticks "$PROXY_CORE")")"
        cpu=nan
        if [ -n "$pid" ]; then
            after=$(ticks "$pid")
            cpu=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v n="$rate" -v s="$SECS" \
                'BEGIN {printf "%.1f", (n > 0 ? t / hz * 1e6 / (n * s) : 0)}')
        fi
        printf "%-6s %-16s %9s %10s %9s %13s %14s %14s\n" "$r" "$t" "$g" "$rate" "$errors" "$cpu" \
            "$tput_busy" "$conn_busy"
        echo "$t $g $rate $cpu" >> "$WORK/results"
        sleep 0.5
    done
done

python3 - "$WORK/results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if len(l.split()) == 4]
col = {}
for t, g, c, u in rows:
    for k, v in (("g", g), ("c", c), ("u", u)):
        col.setdefault((t, k), []).append(float(v))
def med(t, k):
    vals = [x for x in col.get((t, k), []) if x == x]
    return statistics.median(vals) if vals else float("nan")
print()
print(f"medians of {len(rows) // 4} rounds")
print(f"{'target':16} {'Gbit/s':>8} {'vs HAProxy':>10} {'conn/s':>8} {'vs HAProxy':>10} {'CPU us/conn':>11} {'vs HAProxy':>10}")
hg, hc, hu = med("haproxy", "g"), med("haproxy", "c"), med("haproxy", "u")
for t in ["direct", "switchyard", "switchyard_copy", "haproxy"]:
    g, c, u = med(t, "g"), med(t, "c"), med(t, "u")
    print(f"{t:16} {g:8.2f} {g / hg:10.2f} {c:8.0f} {c / hc:10.2f} {u:11.1f} {u / hu:10.2f}")
PY
