#!/usr/bin/env bash
# pfsync over a veth "sync cable" between two network namespaces, with two
# pfsync_node_prog firewalls (a real filter engine + PfsyncNode each):
#   bulk:  A holds STATES states; B starts empty and requests the bulk update.
#          Reports the time from B's pfsync up to BUS END (B's bulk_ms) and the
#          states B then holds.
#   storm: B is up; A creates STORM states at once (flushing every 64, as hapfd
#          does per packet batch). Reports the time from the storm's start to
#          B holding all of them (one CLOCK_MONOTONIC for both namespaces).
# Usage: bench/pfsync_bulk.sh BUILD_DIR [STATES [STORM]]
#   (defaults 1000000 and 100000; run as root). Extra arguments for both nodes
#   in PFSYNC_ARGS (e.g. "--bulk-pps 20000"). Namespaces p4-<pid>a/b,
#   192.0.2.1/30 and 192.0.2.2/30, always torn down; every wait is bounded.
set -uo pipefail
BUILD=${1:?usage: pfsync_bulk.sh BUILD_DIR [STATES [STORM]]}
STATES=${2:-1000000}
STORM=${3:-100000}
PROG=$BUILD/tests/linux/pfsync_node_prog
[ -x "$PROG" ] || { echo "no $PROG (ninja -C $BUILD pfsync_node_prog)"; exit 2; }
ID=p4-$$
A=${ID}a B=${ID}b
WORK=$(mktemp -d)
PIDS=()
LIMIT=$(( STATES + STORM + 1000 ))

NODE_ARGS="--seconds 300 --limit $LIMIT ${PFSYNC_ARGS:-}"
# shellcheck source=tests/linux/pfsync_netns_lib.sh
. "$(dirname "$0")/../tests/linux/pfsync_netns_lib.sh"
trap cleanup EXIT

# wait_until NAME KEY TEST SECONDS: until the field passes `test VALUE TEST`.
wait_until() {
  local v
  for _ in $(seq $(( $4 * 10 ))); do
    v=$(field "$1" "$2")
    # shellcheck disable=SC2086
    [ -n "$v" ] && [ "$v" $3 ] && return 0
    sleep 0.1
  done
  fail "$1: $2 is '$(field "$1" "$2")', wanted $3 within $4 s"
}
# counters NAME NS: pfsync counters, and the kernel's drops on the raw sockets
# of NS (receive buffer full), from /proc/net/raw.
counters() {
  echo "  $1: $(counter "$1" 'received (IPv4)') received, $(counter "$1" 'sent (IPv4)') sent," \
    "send errors $(counter "$1" 'send error'), postponed $(counter "$1" 'postponed'), queue drops" \
    "$(counter "$1" 'dropped: send queue full'), failed lookup/insert $(counter "$1" 'failed state lookup')," \
    "socket receive drops $(ip netns exec "$2" awk 'NR > 1 { d += $NF } END { print d + 0 }' /proc/net/raw)"
}

echo "host: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), kernel $(uname -r)"
setup
# --- bulk: B is up first, so that A's own bulk request is answered (by a lone
# BUS END) and A does not keep asking; then B restarts empty, as a rebooted backup.
start $B b --hostid 0x22
sleep 0.3
start $A a --hostid 0x11 --create "$STATES"
wait_until a states "-ge $STATES" 120
wait_until a bulk_ms "-ge 0" 30
wait_until a bulk_sending "-eq 0" 60  # B's retried request may have been answered with A's table
stop b
rm -f "$WORK/b.status"
t0=$(date +%s%N)
start $B b --hostid 0x22
wait_until b bulk_ms "-ge 0" 120
sleep 0.3  # the status file is written every 100 ms
echo "bulk: $STATES states on A; B's bulk request to BUS END: $(field b bulk_ms) ms, B holds $(field b states)" \
  "($(( ($(date +%s%N) - t0) / 1000000 )) ms wall incl. start-up)"
bms=$(field b bulk_ms)
[ "${bms:-0}" -gt 0 ] && echo "  rate: $(( $(field b states) * 1000 / bms )) states/s"
counters a $A
counters b $B
stop a
stop b

# --- insert storm
rm -f "$WORK"/*.status
start $B b --hostid 0x22 --expect "$STORM"
sleep 0.5
start $A a --hostid 0x11 --create-later "$STORM" --later-ms 1000
wait_until a storm_start_mono_ms "-ge 0" 30
for _ in $(seq 600); do
  [ "$(field b expect_mono_ms)" -ge 0 ] 2>/dev/null && break
  sleep 0.1
done
sleep 0.3
s0=$(field a storm_start_mono_ms)
s1=$(field b expect_mono_ms)
if [ "${s1:--1}" -ge 0 ]; then
  echo "storm: $STORM inserts on A; B holds all $(( s1 - s0 )) ms after the storm began" \
    "($(( STORM * 1000 / (s1 - s0 > 0 ? s1 - s0 : 1) )) states/s); A's queue drained after $(field a storm_ms) ms"
else
  echo "storm: $STORM inserts on A; B holds $(field b states) after 60 s"
fi
counters a $A
counters b $B
