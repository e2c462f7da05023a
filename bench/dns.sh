#!/usr/bin/env bash
# DNS throughput: the switchyard product (`switchyard run`) against gdnsd, same zone, same core.
#
#   apt-get install -y gdnsd dnsperf
#   cargo build --release -p switchyard
#   bench/dns.sh [ROUNDS] [SECONDS]
#
# Each server is pinned with taskset to core $SERVER_CORE (default 0) and dnsperf to core
# $CLIENT_CORE (default 1). switchyard runs as the product: `switchyard run -c` on a
# generated configuration ([global] workers = 1, one dns listener, the zone of
# bench/dns/switchyard.toml); gdnsd with one UDP and one TCP thread
# (bench/dns/gdnsd). Every round runs both servers in two conditions:
#
# - unconstrained: each server may use all of its core. On a 2-core machine one dnsperf
#   core cannot ask faster than either server answers, so queries per second mostly
#   measure dnsperf; CPU per query is the comparison that counts here.
# - equal budget: each server runs in the same cgroup v1 CPU quota ($BUDGET_PCT % of one
#   core, default 40, enforced every $BUDGET_PERIOD_US µs, default 10 ms), so the server
#   is the bottleneck and queries per second measure how much each server answers with
#   the same CPU. Skipped (with a note) when /sys/fs/cgroup/cpu is not writable.
#
# Rounds alternate the servers (and which one goes first) so drift (thermal, other load)
# hits both alike. For each run: queries per second and lost queries from dnsperf, and CPU
# microseconds per completed query from the server's utime+stime in /proc/PID/stat (user
# and kernel time, all threads), and how much of one core the server used (in the
# equal-budget runs, close to the budget shows the server was the bottleneck). Prints
# every run (with the 1-minute load average, to spot runs disturbed by other work), then
# the medians and the switchyard/gdnsd ratios per condition. Not part of CI: the numbers
# depend on the machine.
set -euo pipefail

ROUNDS=${1:-5}
SECS=${2:-10}
SERVER_CORE=${SERVER_CORE:-0}
CLIENT_CORE=${CLIENT_CORE:-1}
BUDGET_PCT=${BUDGET_PCT:-40}
BUDGET_PERIOD_US=${BUDGET_PERIOD_US:-10000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SY_BIN=${SY_BIN:-$ROOT/target/release/switchyard}
declare -A PORT=([switchyard]=5300 [gdnsd]=5301)
CGROUP=/sys/fs/cgroup/cpu/switchyard-bench-dns-$$
WORK=$(mktemp -d)
PID=
cleanup() {
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  [ -d "$CGROUP" ] && rmdir "$CGROUP" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

for tool in gdnsd dnsperf taskset; do
  command -v "$tool" >/dev/null || { echo "dns.sh: $tool is not installed (apt-get install -y gdnsd dnsperf)" >&2; exit 2; }
done
[ -x "$SY_BIN" ] || { echo "dns.sh: build first: cargo build --release -p switchyard" >&2; exit 2; }

CONDITIONS="unconstrained"
if mkdir "$CGROUP" 2>/dev/null \
  && echo "$BUDGET_PERIOD_US" >"$CGROUP/cpu.cfs_period_us" \
  && echo $((BUDGET_PERIOD_US * BUDGET_PCT / 100)) >"$CGROUP/cpu.cfs_quota_us"; then
  CONDITIONS="unconstrained budget"
else
  echo "dns.sh: cannot create a cgroup v1 CPU quota in /sys/fs/cgroup/cpu (not root, or no cgroup v1 cpu controller): equal-budget runs skipped" >&2
fi

# The product's configuration: one worker thread for the async runtime (TCP); UDP is
# served by one thread per core in the affinity mask, here one.
{
  printf '%s\n' '[global]' 'workers = 1' '' '[[listener]]' 'name = "dns"' 'protocol = "dns"' \
    "listen = \"127.0.0.1:${PORT[switchyard]}\"" ''
  cat "$ROOT/bench/dns/switchyard.toml"
} >"$WORK/switchyard.toml"
"$SY_BIN" check -c "$WORK/switchyard.toml" >"$WORK/check.log" 2>&1 \
  || { echo "dns.sh: the generated configuration does not validate:" >&2; cat "$WORK/check.log" >&2; exit 1; }

# The query mix: positive A (a rotated RRset), AAAA, MX (with its exchange's address in
# the additional section), a CNAME chain, NXDOMAIN.
cat >"$WORK/queries" <<'EOF'
www.example.com A
ns1.example.com A
www.example.com AAAA
example.com MX
alias.example.com A
nope.example.com A
mail.example.com A
www.example.com A
EOF

CLK_TCK=$(getconf CLK_TCK)

cpu_ticks() { # utime + stime of PID (every thread)
  awk '{print $14 + $15}' "/proc/$1/stat"
}

start_server() { # name condition -> sets PID
  local cg=""
  [ "$2" = budget ] && cg="$CGROUP/cgroup.procs"
  # The shell joins the cgroup (when budgeted) and pins itself, then becomes the server,
  # so every thread the server starts is inside both from its first instruction.
  case $1 in
    switchyard)
      RUST_LOG=warn CG="$cg" taskset -c "$SERVER_CORE" sh -c \
        '[ -z "$CG" ] || echo $$ >"$CG"; exec "$0" run -c "$1"' "$SY_BIN" "$WORK/switchyard.toml" \
        2>"$WORK/sy.log" &
      PID=$! ;;
    gdnsd)
      mkdir -p "$WORK/run" "$WORK/state"
      RUNTIME_DIRECTORY="$WORK/run" STATE_DIRECTORY="$WORK/state" CG="$cg" \
        taskset -c "$SERVER_CORE" sh -c \
        '[ -z "$CG" ] || echo $$ >"$CG"; exec gdnsd -c "$0" start' "$ROOT/bench/dns/gdnsd" \
        2>"$WORK/gd.log" &
      PID=$! ;;
  esac
  for _ in $(seq 50); do
    if dnsperf -s 127.0.0.1 -p "${PORT[$1]}" -d "$WORK/queries" -n 1 -t 1 2>/dev/null | grep -q 'Queries completed: *8 '; then
      return 0
    fi
    sleep 0.2
  done
  echo "dns.sh: $1 did not answer on port ${PORT[$1]}" >&2
  cat "$WORK"/*.log >&2
  exit 1
}

run() { # name condition -> prints "qps cpu_us_per_query lost core_percent"
  start_server "$1" "$2"
  local before after out qps completed lost
  before=$(cpu_ticks "$PID")
  out=$(taskset -c "$CLIENT_CORE" dnsperf -s 127.0.0.1 -p "${PORT[$1]}" -d "$WORK/queries" \
        -l "$SECS" -c 4 -q 200 2>&1)
  after=$(cpu_ticks "$PID")
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
  qps=$(awk '/Queries per second/ {print $4}' <<<"$out")
  completed=$(awk '/Queries completed/ {print $3}' <<<"$out")
  lost=$(awk '/Queries lost/ {print $3}' <<<"$out")
  awk -v a="$after" -v b="$before" -v t="$CLK_TCK" -v n="$completed" -v q="$qps" -v l="$lost" -v s="$SECS" \
    'BEGIN { printf "%.0f %.3f %d %.0f\n", q, (a - b) / t / n * 1e6, l, (a - b) / t / s * 100 }'
}

median() { sort -g | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }

echo "server core $SERVER_CORE, dnsperf core $CLIENT_CORE, $ROUNDS rounds of ${SECS}s; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$ROUNDS"); do
  order="switchyard gdnsd"
  [ $((r % 2)) -eq 0 ] && order="gdnsd switchyard"
  for cond in $CONDITIONS; do
    for name in $order; do
      res=$(run "$name" "$cond")
      printf "round %d %-13s %-10s qps cpu_us/query lost %%core = %s  (load %s)\n" "$r" "$cond" "$name" "$res" "$(cut -d' ' -f1 /proc/loadavg)"
      echo "$res" >>"$WORK/$cond.$name"
    done
  done
done

echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
for cond in $CONDITIONS; do
  label=$cond
  [ "$cond" = budget ] && label="equal budget ($BUDGET_PCT% of one core each)"
  echo "$label:"
  for name in switchyard gdnsd; do
    q=$(cut -d' ' -f1 "$WORK/$cond.$name" | median); c=$(cut -d' ' -f2 "$WORK/$cond.$name" | median)
    printf "  median %-10s %8.0f qps  %6.3f us CPU/query\n" "$name" "$q" "$c"
    eval "${name}_q=$q ${name}_c=$c"
  done
  awk -v a="$switchyard_q" -v b="$gdnsd_q" -v c="$switchyard_c" -v d="$gdnsd_c" \
    'BEGIN { printf "  switchyard/gdnsd: throughput x%.2f, CPU per query x%.2f\n", a / b, c / d }'
done
