#!/usr/bin/env bash
# DNS throughput: switchyard's DNS server against gdnsd, same zone, same core.
#
#   apt-get install -y gdnsd dnsperf
#   cargo build --release -p switchyard-dns --example dns_server
#   bench/dns.sh [ROUNDS] [SECONDS]
#
# Each server is pinned with taskset to core $SERVER_CORE (default 0) and dnsperf to core
# $CLIENT_CORE (default 1). Rounds alternate switchyard / gdnsd so drift (thermal, other
# load) hits both alike. For each round: queries per second from dnsperf, and CPU per
# query from the server's utime+stime in /proc/PID/stat. Prints every round and the
# medians, and the switchyard/gdnsd ratios. Not part of CI: the numbers depend on the
# machine.
set -euo pipefail

ROUNDS=${1:-5}
SECONDS_PER_ROUND=${2:-10}
SERVER_CORE=${SERVER_CORE:-0}
CLIENT_CORE=${CLIENT_CORE:-1}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SY_BIN=${SY_BIN:-$ROOT/target/release/examples/dns_server}
SY_PORT=5300
GD_PORT=5301
WORK=$(mktemp -d)
trap 'kill "${PID:-}" 2>/dev/null || true; rm -rf "$WORK"' EXIT

for tool in gdnsd dnsperf taskset; do
  command -v "$tool" >/dev/null || { echo "dns.sh: $tool is not installed (apt-get install -y gdnsd dnsperf)" >&2; exit 2; }
done
[ -x "$SY_BIN" ] || { echo "dns.sh: build first: cargo build --release -p switchyard-dns --example dns_server" >&2; exit 2; }

# The query mix: positive A (a rotated RRset), AAAA, MX, a CNAME chain, NXDOMAIN.
cat > "$WORK/queries" <<'EOF'
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

cpu_ticks() { # utime + stime of PID
  awk '{print $14 + $15}' "/proc/$1/stat"
}

start_server() { # name -> sets PID and PORT
  case $1 in
    switchyard)
      taskset -c "$SERVER_CORE" "$SY_BIN" "$ROOT/bench/dns/switchyard.toml" 2>"$WORK/sy.log" &
      PID=$!; PORT=$SY_PORT ;;
    gdnsd)
      mkdir -p "$WORK/run" "$WORK/state"
      RUNTIME_DIRECTORY="$WORK/run" STATE_DIRECTORY="$WORK/state" \
        taskset -c "$SERVER_CORE" gdnsd -c "$ROOT/bench/dns/gdnsd" start 2>"$WORK/gd.log" &
      PID=$!; PORT=$GD_PORT ;;
  esac
  for _ in $(seq 50); do
    if dnsperf -s 127.0.0.1 -p "$PORT" -d "$WORK/queries" -n 1 -t 1 2>/dev/null | grep -q 'Queries completed: *8 '; then
      return 0
    fi
    sleep 0.2
  done
  echo "dns.sh: $1 did not answer on port $PORT" >&2
  cat "$WORK"/*.log >&2
  exit 1
}

round() { # name -> prints "qps cpu_us_per_query"
  start_server "$1"
  local before after out qps completed
  before=$(cpu_ticks "$PID")
  out=$(taskset -c "$CLIENT_CORE" dnsperf -s 127.0.0.1 -p "$PORT" -d "$WORK/queries" \
        -l "$SECONDS_PER_ROUND" -c 4 -q 200 2>&1)
  after=$(cpu_ticks "$PID")
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
  qps=$(awk '/Queries per second/ {print $4}' <<<"$out")
  completed=$(awk '/Queries completed/ {print $3}' <<<"$out")
  awk -v a="$after" -v b="$before" -v t="$CLK_TCK" -v n="$completed" -v q="$qps" \
    'BEGIN { printf "%.0f %.3f\n", q, (a - b) / t / n * 1e6 }'
}

median() { sort -n | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }

: > "$WORK/sy"; : > "$WORK/gd"
for r in $(seq "$ROUNDS"); do
  sy=$(round switchyard); echo "round $r switchyard: qps cpu_us/query = $sy"; echo "$sy" >> "$WORK/sy"
  gd=$(round gdnsd);      echo "round $r gdnsd:      qps cpu_us/query = $gd"; echo "$gd" >> "$WORK/gd"
done

sy_qps=$(cut -d' ' -f1 "$WORK/sy" | median); sy_cpu=$(cut -d' ' -f2 "$WORK/sy" | median)
gd_qps=$(cut -d' ' -f1 "$WORK/gd" | median); gd_cpu=$(cut -d' ' -f2 "$WORK/gd" | median)
echo
echo "median switchyard: $sy_qps qps, $sy_cpu us CPU/query"
echo "median gdnsd:      $gd_qps qps, $gd_cpu us CPU/query"
awk -v a="$sy_qps" -v b="$gd_qps" -v c="$sy_cpu" -v d="$gd_cpu" \
  'BEGIN { printf "switchyard/gdnsd: throughput x%.2f, CPU per query x%.2f\n", a / b, c / d }'
