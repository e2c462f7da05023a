#!/usr/bin/env bash
# HTTP proxy throughput: switchyard against HAProxy and nginx, same backend, same core.
#
#   apt-get install -y haproxy nginx wrk
#   cargo build --release -p switchyard
#   bench/http.sh [ROUNDS] [SECONDS] [CONNECTIONS]
#
# The backend is nginx answering a 13-byte body, and wrk, both pinned to core
# $CLIENT_CORE (default 0); each proxy runs one worker pinned to core $PROXY_CORE
# (default 1) and keeps connections to the backend alive. Rounds alternate the three
# proxies so drift hits all alike. For each round: requests per second and p99 latency
# from wrk, and CPU microseconds per request from the proxy's utime+stime in
# /proc/PID/stat. Prints every round and the medians. Not part of CI: the numbers depend
# on the machine.
set -euo pipefail

ROUNDS=${1:-5}
SECS=${2:-10}
CONNS=${3:-64}
PROXY_CORE=${PROXY_CORE:-1}
CLIENT_CORE=${CLIENT_CORE:-0}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SY_BIN=${SY_BIN:-$ROOT/target/release/switchyard}
BACKEND_PORT=9180
declare -A PORT=([switchyard]=8181 [haproxy]=8182 [nginx]=8183)
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$WORK/backend.pid" ] && kill "$(cat "$WORK/backend.pid")" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

for tool in haproxy nginx wrk taskset; do
  command -v "$tool" >/dev/null || { echo "http.sh: $tool is not installed (apt-get install -y haproxy nginx wrk)" >&2; exit 2; }
done
[ -x "$SY_BIN" ] || { echo "http.sh: build first: cargo build --release -p switchyard" >&2; exit 2; }

CLK_TCK=$(getconf CLK_TCK)
sed -e "s|@WORK@|$WORK|g" -e "s|@PORT@|$BACKEND_PORT|g" "$ROOT/bench/http/backend.conf" > "$WORK/backend.conf"
sed -e "s|@WORK@|$WORK|g" -e "s|@PORT@|${PORT[nginx]}|g" -e "s|@BACKEND@|$BACKEND_PORT|g" "$ROOT/bench/http/nginx-proxy.conf" > "$WORK/nginx-proxy.conf"
sed -e "s|@PORT@|${PORT[haproxy]}|g" -e "s|@BACKEND@|$BACKEND_PORT|g" "$ROOT/bench/http/haproxy.cfg" > "$WORK/haproxy.cfg"

taskset -c "$CLIENT_CORE" nginx -c "$WORK/backend.conf" -p "$WORK"
sleep 0.5

ticks_of() { # sum of utime+stime over the given PIDs
  local t=0
  for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done
  echo "$t"
}

start_proxy() { # name -> sets MEASURE (PIDs whose CPU counts) and STOP
  case $1 in
    switchyard)
      # The product itself: `switchyard run` with one worker thread, like one HAProxy
      # thread or one nginx worker.
      printf '%s\n' '[global]' 'workers = 1' '[[pool]]' 'name = "backend"' \
        'algorithm = "round_robin"' '[pool.health]' 'check = "tcp"' 'interval = "5s"' \
        'timeout = "1s"' '[[pool.server]]' 'name = "nginx"' \
        "address = \"127.0.0.1:$BACKEND_PORT\"" '[[listener]]' 'name = "bench"' \
        'protocol = "http"' "listen = \"127.0.0.1:${PORT[switchyard]}\"" \
        'pool = "backend"' >"$WORK/switchyard.toml"
      RUST_LOG=warn taskset -c "$PROXY_CORE" "$SY_BIN" run -c "$WORK/switchyard.toml" 2>"$WORK/sy.log" &
      local pid=$!; PIDS+=("$pid"); MEASURE=("$pid"); STOP="kill $pid" ;;
    haproxy)
      taskset -c "$PROXY_CORE" haproxy -f "$WORK/haproxy.cfg" -db 2>"$WORK/ha.log" &
      local pid=$!; PIDS+=("$pid"); MEASURE=("$pid"); STOP="kill $pid" ;;
    nginx)
      taskset -c "$PROXY_CORE" nginx -c "$WORK/nginx-proxy.conf" -p "$WORK"
      sleep 0.3
      local master; master=$(cat "$WORK/proxy.pid")
      MEASURE=($(pgrep -P "$master")); STOP="kill $master" ;;
  esac
  sleep 0.5
}

declare -A RPS P99 CPU
for round in $(seq 1 "$ROUNDS"); do
  for name in switchyard haproxy nginx; do
    start_proxy "$name"
    url="http://127.0.0.1:${PORT[$name]}/"
    # Up to 5 s for the proxy to listen and (switchyard) its first health check to pass.
    for _ in $(seq 50); do curl -sf "$url" >/dev/null && break; sleep 0.1; done
    curl -sf "$url" >/dev/null || { echo "http.sh: $name does not answer on $url" >&2; exit 1; }
    taskset -c "$CLIENT_CORE" wrk -t1 -c"$CONNS" -d2s "$url" >/dev/null # warm up
    before=$(ticks_of "${MEASURE[@]}")
    out=$(taskset -c "$CLIENT_CORE" wrk -t1 -c"$CONNS" -d"${SECS}s" --latency "$url")
    after=$(ticks_of "${MEASURE[@]}")
    $STOP; sleep 0.5
    total=$(echo "$out" | awk '/requests in/ {print $1}')
    rps=$(echo "$out" | awk '/^Requests\/sec/ {print $2}')
    p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
    cpu=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v n="$total" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}')
    errors=$(echo "$out" | awk '/Non-2xx|Socket errors/' | tr '\n' ' ')
    printf "round %d %-10s %10s req/s  p99 %8s  %6s us CPU/req %s\n" "$round" "$name" "$rps" "$p99" "$cpu" "$errors"
    RPS[$name]+="$rps "; P99[$name]+="$p99 "; CPU[$name]+="$cpu "
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
to_us() { tr ' ' '\n' | grep -v '^$' | awk '/us$/ {sub("us",""); print; next} /ms$/ {sub("ms",""); print $1*1000; next} /s$/ {sub("s",""); print $1*1e6}'; }
echo
printf "%-10s %12s %12s %14s\n" proxy "req/s" "p99 (us)" "CPU us/req"
for name in switchyard haproxy nginx; do
  printf "%-10s %12s %12s %14s\n" "$name" \
    "$(echo "${RPS[$name]}" | median)" \
    "$(echo "${P99[$name]}" | to_us | tr '\n' ' ' | median)" \
    "$(echo "${CPU[$name]}" | median)"
done
