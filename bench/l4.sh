#!/usr/bin/env bash
# L4 benchmark: TCP throughput (iperf3) and new connections per second, directly, through
# switchyard (splice and userspace copy) and through HAProxy `mode tcp`.
#
# The proxy under test is pinned to core 1, iperf3 (client and server) and the
# connection-rate client to core 0. Rounds alternate between the targets; medians of
# ROUNDS rounds are printed with ratios to HAProxy. Not part of CI.
#
#   apt-get install -y haproxy iperf3
#   bench/l4.sh                      # ROUNDS=3 SECONDS=5 CONC=32 by default
#
# Needs 2+ cores. L4_BENCH_BIN may point to a prebuilt `l4_bench` example binary.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
SECS=${SECONDS_PER_RUN:-5}
CONC=${CONC:-32}
cd "$(dirname "$0")/.."

for tool in iperf3 haproxy taskset python3; do
    command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install -y haproxy iperf3)"; exit 2; }
done
if [ "$(nproc)" -lt 2 ]; then echo "needs 2 cores"; exit 2; fi

BIN=${L4_BENCH_BIN:-}
if [ -z "$BIN" ]; then
    cargo build --release -q -p switchyard-l4 --example l4_bench
    BIN=target/release/examples/l4_bench
fi

WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

IPERF_PORT=25201 ECHO_PORT=25300
declare -A TPUT_PORT=([direct]=25201 [switchyard]=25211 [switchyard_nosplice]=25212 [haproxy]=25213)
declare -A CONN_PORT=([direct]=25300 [switchyard]=25311 [switchyard_nosplice]=25312 [haproxy]=25313)

taskset -c 0 iperf3 -s -p $IPERF_PORT >/dev/null 2>&1 & PIDS+=($!)
taskset -c 0 "$BIN" echo 127.0.0.1:$ECHO_PORT & PIDS+=($!)
for kind in tput conn; do
    if [ $kind = tput ]; then from=25211; to=$IPERF_PORT; else from=25311; to=$ECHO_PORT; fi
    taskset -c 1 "$BIN" proxy 127.0.0.1:$from 127.0.0.1:$to 2>/dev/null & PIDS+=($!)
    SWITCHYARD_L4_SPLICE=0 taskset -c 1 "$BIN" proxy 127.0.0.1:$((from + 1)) 127.0.0.1:$to 2>/dev/null & PIDS+=($!)
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
    bind 127.0.0.1:25213
    server s 127.0.0.1:$IPERF_PORT
listen conn
    bind 127.0.0.1:25313
    server s 127.0.0.1:$ECHO_PORT
CFG
taskset -c 1 haproxy -f "$WORK/haproxy.cfg" -db >"$WORK/haproxy.log" 2>&1 & PIDS+=($!)
sleep 1
kill -0 "${PIDS[-1]}" 2>/dev/null || { echo "haproxy did not start:"; cat "$WORK/haproxy.log"; exit 1; }

gbps() { # port -> Gbit/s received
    taskset -c 0 iperf3 -c 127.0.0.1 -p "$1" -t "$SECS" -J 2>/dev/null |
        python3 -c 'import json,sys
try: print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9))
except Exception: print("nan")'
}
cps() { # port -> new connections per second
    taskset -c 0 "$BIN" connrate 127.0.0.1:"$1" "$SECS" "$CONC" | cut -d' ' -f1
}

TARGETS=(direct switchyard switchyard_nosplice haproxy)
for r in $(seq 1 "$ROUNDS"); do
    # alternate the order each round so drift does not favour one target
    if [ $((r % 2)) -eq 0 ]; then order=$(printf '%s\n' "${TARGETS[@]}" | tac); else order="${TARGETS[*]}"; fi
    for t in $order; do
        echo "$t tput $(gbps "${TPUT_PORT[$t]}")" >> "$WORK/results"
        echo "$t conn $(cps "${CONN_PORT[$t]}")" >> "$WORK/results"
        sleep 1
    done
    echo "round $r done" >&2
done

python3 - "$WORK/results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if len(l.split()) == 3]
med = {}
for t, k, v in rows:
    med.setdefault((t, k), []).append(float(v))
med = {key: statistics.median([x for x in v if x == x] or [0.0]) for key, v in med.items()}
targets = ["direct", "switchyard", "switchyard_nosplice", "haproxy"]
print(f"{'target':22} {'Gbit/s':>9} {'conn/s':>9} {'tput/haproxy':>13} {'conn/haproxy':>13}")
for t in targets:
    g, c = med.get((t, "tput"), 0), med.get((t, "conn"), 0)
    hg, hc = med.get(("haproxy", "tput"), 1) or 1, med.get(("haproxy", "conn"), 1) or 1
    print(f"{t:22} {g:9.2f} {c:9.0f} {g / hg:13.2f} {c / hc:13.2f}")
PY
