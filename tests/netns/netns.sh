#!/usr/bin/env bash
# Reusable network-namespace topologies for hapf's namespace tests, lab and
# benchmarks. Only documentation addresses; every namespace name starts with
# the caller's PREFIX so parallel tests never collide.
#
#   netns.sh create PREFIX    client — fw — server:
#       PREFIX-cli  cli0  192.0.2.2/24     2001:db8:1::2/64   via .1
#       PREFIX-fw   fw0   192.0.2.1/24     2001:db8:1::1/64   (forwarding on)
#                   fw1   198.51.100.1/24  2001:db8:2::1/64
#       PREFIX-srv  srv0  198.51.100.2/24  2001:db8:2::2/64   via .1
#   netns.sh destroy PREFIX   kills every process in the namespaces, deletes them
#   netns.sh exec PREFIX ROLE CMD...   runs CMD in PREFIX-ROLE
#
# Sourced (`. netns.sh`), it defines the same as functions netns_create,
# netns_destroy and netns_exec; a script using them should
#   trap 'netns_destroy "$PREFIX"' EXIT
set -euo pipefail

netns_destroy() {
  local prefix=$1 role ns pids
  for role in cli fw srv; do
    ns=$prefix-$role
    ip netns list 2>/dev/null | grep -qw -- "^$ns" || continue
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [[ -n $pids ]] && kill -9 $pids 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
}

netns_exec() {
  local prefix=$1 role=$2
  shift 2
  ip netns exec "$prefix-$role" "$@"
}

netns_create() {
  local prefix=$1 role
  netns_destroy "$prefix"
  for role in cli fw srv; do
    ip netns add "$prefix-$role"
    ip -n "$prefix-$role" link set lo up
    ip netns exec "$prefix-$role" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
  done
  # Created directly inside the namespaces: no name ever appears on the host.
  ip link add cli0 netns "$prefix-cli" type veth peer name fw0 netns "$prefix-fw"
  ip link add fw1 netns "$prefix-fw" type veth peer name srv0 netns "$prefix-srv"

  ip -n "$prefix-cli" addr add 192.0.2.2/24 dev cli0
  ip -n "$prefix-cli" addr add 2001:db8:1::2/64 dev cli0 nodad
  ip -n "$prefix-fw" addr add 192.0.2.1/24 dev fw0
  ip -n "$prefix-fw" addr add 2001:db8:1::1/64 dev fw0 nodad
  ip -n "$prefix-fw" addr add 198.51.100.1/24 dev fw1
  ip -n "$prefix-fw" addr add 2001:db8:2::1/64 dev fw1 nodad
  ip -n "$prefix-srv" addr add 198.51.100.2/24 dev srv0
  ip -n "$prefix-srv" addr add 2001:db8:2::2/64 dev srv0 nodad
  ip -n "$prefix-cli" link set cli0 up
  ip -n "$prefix-fw" link set fw0 up
  ip -n "$prefix-fw" link set fw1 up
  ip -n "$prefix-srv" link set srv0 up
  ip -n "$prefix-cli" route add default via 192.0.2.1
  ip -n "$prefix-cli" -6 route add default via 2001:db8:1::1
  ip -n "$prefix-srv" route add default via 198.51.100.1
  ip -n "$prefix-srv" -6 route add default via 2001:db8:2::1
  ip netns exec "$prefix-fw" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  cmd=${1:-}
  shift || true
  case $cmd in
    create) netns_create "$@" ;;
    destroy) netns_destroy "$@" ;;
    exec) netns_exec "$@" ;;
    *) echo "usage: $0 create|destroy PREFIX | exec PREFIX ROLE CMD..." >&2; exit 2 ;;
  esac
fi
