# shellcheck shell=bash
# The anycast test network, as functions: sourced by examples/anycast/up and down (to try
# it by hand) and by tests/root/run (which proves it), so both build the same thing.
#
#                         client (10.0.9.2)
#                            |
#                         router (AS 65000)  prefers virginia > frankfurt > tokyo
#                        /      |        \        by BGP local preference 300/200/100
#          virginia (AS 65001) frankfurt (65002) tokyo (65003)
#          each: BIRD + switchyard on 198.18.0.1:80 + two local backends
#
# Every datacenter holds the anycast address 198.18.0.1 (RFC 2544 benchmarking range,
# only ever inside these namespaces) and a BIRD `static` protocol `vip_web` for
# 198.18.0.1/32, `disabled` in bird.conf: switchyard enables it while its pool is healthy
# and disables it otherwise, and BIRD announces or withdraws the prefix to the router.
#
# Inputs (environment): ANY_PREFIX (namespace name prefix), ANY_DIR (work directory for
# configurations, sockets, logs, pid files), SWITCHYARD (the binary), ANY_HOLD_DOWN,
# ANY_WITHDRAW_DELAY. Every process started is recorded in $ANY_DIR/pids/NAME.pid.

ANY_DCS=(virginia frankfurt tokyo)
ANY_VIP=198.18.0.1
declare -A ANY_NUM=([virginia]=1 [frankfurt]=2 [tokyo]=3)
declare -A ANY_PREF=([virginia]=300 [frankfurt]=200 [tokyo]=100)
: "${ANY_HOLD_DOWN:=4s}"
: "${ANY_WITHDRAW_DELAY:=2s}"

any_ns() { printf '%s-%s' "$ANY_PREFIX" "$1"; }
any_in() { local n=$1; shift; ip netns exec "$(any_ns "$n")" "$@"; }

# Builds the namespaces, links, addresses and static routes.
any_net_up() {
  local n dc i
  mkdir -p "$ANY_DIR/pids"
  for n in router client "${ANY_DCS[@]}"; do
    ip netns add "$(any_ns "$n")"
    any_in "$n" ip link set lo up
  done
  any_in router sysctl -qw net.ipv4.ip_forward=1
  # Replies from the anycast address come back on whichever link they come; a strict
  # reverse-path filter would drop them while routes move.
  for n in router client "${ANY_DCS[@]}"; do
    any_in "$n" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
  done
  ip link add name eth-client netns "$(any_ns router)" type veth peer name eth0 netns "$(any_ns client)"
  any_in router ip addr add 10.0.9.1/24 dev eth-client
  any_in router ip link set eth-client up
  any_in client ip addr add 10.0.9.2/24 dev eth0
  any_in client ip link set eth0 up
  any_in client ip route add default via 10.0.9.1
  for dc in "${ANY_DCS[@]}"; do
    i=${ANY_NUM[$dc]}
    ip link add name "eth-$dc" netns "$(any_ns router)" type veth peer name eth0 netns "$(any_ns "$dc")"
    any_in router sysctl -qw "net.ipv4.conf.eth-$dc.rp_filter=0"
    any_in router ip addr add "10.0.$i.1/30" dev "eth-$dc"
    any_in router ip link set "eth-$dc" up
    any_in "$dc" ip addr add "10.0.$i.2/30" dev eth0
    any_in "$dc" ip link set eth0 up
    any_in "$dc" ip route add default via "10.0.$i.1"
    any_in "$dc" ip addr add "$ANY_VIP/32" dev lo
  done
}

# Writes bird.conf for the router and each datacenter, switchyard.toml and the backends'
# pages for each datacenter.
any_write_configs() {
  local dc i d
  mkdir -p "$ANY_DIR/router"
  {
    echo "log \"$ANY_DIR/router/bird.log\" all;"
    echo "router id 10.0.9.1;"
    echo "protocol device {}"
    echo "protocol kernel { ipv4 { import none; export all; }; }"
    for dc in "${ANY_DCS[@]}"; do
      i=${ANY_NUM[$dc]}
      cat <<EOF
protocol bgp $dc {
  local 10.0.$i.1 as 65000;
  neighbor 10.0.$i.2 as 6500$i;
  hold time 6; keepalive time 2; connect retry time 1; error wait time 1, 5;
  ipv4 { import filter { bgp_local_pref = ${ANY_PREF[$dc]}; accept; }; export none; };
}
EOF
    done
  } >"$ANY_DIR/router/bird.conf"
  for dc in "${ANY_DCS[@]}"; do
    i=${ANY_NUM[$dc]}
    d="$ANY_DIR/$dc"
    mkdir -p "$d/www"
    echo "$dc" >"$d/www/index.html"
    cat >"$d/bird.conf" <<EOF
log "$d/bird.log" all;
router id 10.0.$i.2;
protocol device {}
# The service prefix. Disabled here: switchyard enables it while its pool is healthy.
protocol static vip_web {
  disabled;
  ipv4;
  route $ANY_VIP/32 blackhole;
}
protocol bgp uplink {
  local 10.0.$i.2 as 6500$i;
  neighbor 10.0.$i.1 as 65000;
  hold time 6; keepalive time 2; connect retry time 1; error wait time 1, 5;
  ipv4 { import none; export where proto = "vip_web"; next hop self; };
}
EOF
    cat >"$d/switchyard.toml" <<EOF
[global]
shutdown_timeout = "2s"

[admin]
listen = "127.0.0.1:9900"

[[pool]]
name = "app"
algorithm = "round_robin"

[pool.health]
check = "http"
path = "/"
interval = "300ms"
timeout = "250ms"
rise = 2
fall = 2

[[pool.server]]
name = "b1"
address = "127.0.0.1:8081"

[[pool.server]]
name = "b2"
address = "127.0.0.1:8082"

[[listener]]
name = "web"
protocol = "http"
listen = "$ANY_VIP:80"
pool = "app"

[anycast]
bird_socket = "$d/bird.ctl"
hold_down = "$ANY_HOLD_DOWN"
withdraw_delay = "$ANY_WITHDRAW_DELAY"

[[anycast.announce]]
prefix = "$ANY_VIP/32"
bird_protocol = "vip_web"
pools = ["app"]
min_healthy = 1
EOF
  done
}

# Starts a process in namespace $1, recorded as $2; the rest is the command.
any_spawn() {
  local n=$1 name=$2 log=$3
  shift 3
  ip netns exec "$(any_ns "$n")" "$@" >"$log" 2>&1 &
  echo $! >"$ANY_DIR/pids/$name.pid"
}

# Stops the process recorded as $1 (SIGTERM, then SIGKILL after 5 s) and waits for it.
any_stop() {
  local f="$ANY_DIR/pids/$1.pid" pid i
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  rm -f "$f"
  kill "$pid" 2>/dev/null || return 0
  for i in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
}

any_start_backends() {
  local dc=$1 port
  for port in 8081 8082; do
    any_spawn "$dc" "$dc-backend-$port" "$ANY_DIR/$dc/backend-$port.log" \
      python3 -m http.server "$port" --bind 127.0.0.1 --directory "$ANY_DIR/$dc/www"
  done
}

any_stop_backends() {
  any_stop "$1-backend-8081"
  any_stop "$1-backend-8082"
}

any_start_bird() {
  local n=$1 d="$ANY_DIR/$1"
  rm -f "$d/bird.ctl"
  any_spawn "$n" "$n-bird" "$d/bird.out" bird -f -c "$d/bird.conf" -s "$d/bird.ctl"
}

any_start_switchyard() {
  local dc=$1
  NO_COLOR=1 RUST_LOG=${RUST_LOG:-info} any_spawn "$dc" "$dc-switchyard" "$ANY_DIR/$dc/switchyard.log" \
    "$SWITCHYARD" run -c "$ANY_DIR/$dc/switchyard.toml"
}

# Starts everything: the router's BIRD, then per datacenter backends, BIRD, switchyard.
any_start_all() {
  local dc
  any_start_bird router
  for dc in "${ANY_DCS[@]}"; do
    any_start_backends "$dc"
    any_start_bird "$dc"
    any_start_switchyard "$dc"
  done
}

# The datacenter the router sends the anycast address to now (empty when none).
any_route_dc() {
  local via dc
  via=$(any_in router ip -4 route show "$ANY_VIP/32" 2>/dev/null | sed -n 's/.* via \([0-9.]*\).*/\1/p' | head -n 1)
  for dc in "${ANY_DCS[@]}"; do
    [ "$via" = "10.0.${ANY_NUM[$dc]}.2" ] && echo "$dc"
  done
  return 0
}

# One request from the client; prints the answering datacenter's name.
any_ask() {
  any_in client curl -sf --max-time 2 "http://$ANY_VIP/" "$@"
}

# Tears everything down: every recorded process, anything left in our namespaces, the
# namespaces (which removes their links).
any_down() {
  local f n pid
  if [ -d "$ANY_DIR/pids" ]; then
    # switchyard first, so it withdraws while BIRD still runs.
    for f in "$ANY_DIR"/pids/*-switchyard.pid "$ANY_DIR"/pids/*.pid; do
      [ -f "$f" ] && any_stop "$(basename "$f" .pid)"
    done
  fi
  for n in router client "${ANY_DCS[@]}"; do
    if [ -e "/run/netns/$(any_ns "$n")" ]; then
      for pid in $(ip netns pids "$(any_ns "$n")" 2>/dev/null); do
        kill -9 "$pid" 2>/dev/null || true
      done
      ip netns del "$(any_ns "$n")" 2>/dev/null || true
    fi
  done
}
