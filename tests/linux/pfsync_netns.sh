#!/usr/bin/env bash
# Namespace tests of pfsync on Linux: two firewalls (pfsync_node_prog: a real
# filter engine + PfsyncNode) joined by a veth "sync cable" em2, 192.0.2.1/30
# and 192.0.2.2/30. Usage: pfsync_netns.sh PROG ORACLE SCENARIO
#   replicate: states created on A appear on B (list equal); B restarted gets
#              A's table by bulk update; the captured sync traffic decodes with
#              the oracle without errors.
#   storm:     insert storms larger than the sender's socket buffer or its
#              device queue (a throttled link) arrive whole: refused packets
#              are re-sent; a too small send queue drops, and counts it.
#   forged:    with syncpeer + syncauth, a wrong-TTL packet, a packet from a
#              non-peer and an unauthenticated CLR are dropped and counted, and
#              B's replicated table survives them.
# Namespaces are named ps<pid><role> and always torn down; every wait is bounded.
set -uo pipefail
PROG=$1
ORACLE=$2
SCENARIO=$3
ID=ps$$
A=${ID}a B=${ID}b
WORK=$(mktemp -d)
PIDS=()

NODE_ARGS="--seconds 40"
# shellcheck source=tests/linux/pfsync_netns_lib.sh
. "$(dirname "$0")/pfsync_netns_lib.sh"
trap cleanup EXIT

# wait_for NAME KEY VALUE SECONDS
wait_for() {
  for _ in $(seq $(( $4 * 10 ))); do [ "$(field "$1" "$2")" = "$3" ] && return 0; sleep 0.1; done
  fail "$1: $2 is '$(field "$1" "$2")', expected '$3' within $4 s"
}
states() { grep '^state ' "$WORK/$1.status"; }

# One pfsync packet (IPv4 proto 240) sent with scapy from namespace $1.
forge() {
  local ns=$1 src=$2 dst=$3 ttl=$4 hex=$5
  ip netns exec "$ns" /usr/bin/python3 - "$src" "$dst" "$ttl" "$hex" <<'PY' || fail "scapy send"
import sys
from scapy.all import IP, Raw, send, conf
conf.verb = 0
src, dst, ttl, hexbytes = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
send(IP(src=src, dst=dst, ttl=ttl, proto=240, tos=0x10, flags="DF") / Raw(bytes.fromhex(hexbytes)), iface="em2")
PY
}

replicate() {
  setup
  ip netns exec $A tcpdump -i em2 -U -w "$WORK/sync.pcap" ip proto 240 >"$WORK/tcpdump.log" 2>&1 &
  local tcpdump=$!
  PIDS+=($tcpdump)
  sleep 1
  # hapfctl pfsync dump -i, live on B's side, for the first five packets.
  ip netns exec $B "$(dirname "$PROG")/pfsync_dump_prog" -vv -c 5 -i em2 >"$WORK/dump.txt" 2>"$WORK/dump.log" &
  local dump=$!
  PIDS+=($dump)
  start $B b --hostid 0x22
  sleep 0.3
  start $A a --hostid 0x11 --create 50 --create-later 30 --later-ms 1500
  wait_for a states 80 10
  wait_for b states 80 10
  [ "$(states a)" = "$(states b)" ] || fail "state lists differ"
  for _ in $(seq 30); do kill -0 $dump 2>/dev/null || break; sleep 0.1; done
  [ "$(grep -c 'PFSYNCv6 len' "$WORK/dump.txt")" = 5 ] || fail "live dump: $(cat "$WORK/dump.txt" "$WORK/dump.log")"
  grep -q 'act INS ST count' "$WORK/dump.txt" || fail "live dump shows no INS"
  grep -q '^state 00000011 ' "$WORK/b.status" || fail "B has no state created by A"

  # B restarts empty and catches up by bulk update; its CARP stays demoted until then.
  stop b
  rm -f "$WORK/b.status"
  start $B b --hostid 0x22
  wait_for b bulk done 15
  wait_for b states 80 5
  [ "$(field b demotion)" = 0 ] || fail "B still demoted after the bulk update"
  [ "$(states a)" = "$(states b)" ] || fail "state lists differ after the bulk update"
  grep -q 'pfsync: syncdev: em2 maxupd: 128 defer: off' "$WORK/b.status" || fail "ifconfig line"

  sleep 0.5
  kill -INT $tcpdump 2>/dev/null
  wait $tcpdump 2>/dev/null
  local out rc
  out=$("$ORACLE" -vv "$WORK/sync.pcap" 2>&1)
  rc=$?
  echo "$out" | tail -n 3
  [ $rc = 0 ] || fail "oracle exit $rc: $(echo "$out" | grep '!!' | head)"
  echo "$out" | grep -q '!! .*error' && fail "oracle errors"
  local frames
  frames=$(echo "$out" | grep -c 'PFSYNCv6')
  [ "$frames" -ge 3 ] || fail "only $frames pfsync frames captured"
  echo "$out" | grep -q 'act INS ST' || fail "no INS in the capture"
  echo "$out" | grep -q 'act BULK UPD STAT' || fail "no bulk update in the capture"
  echo "captured $frames pfsync frames, oracle clean; regions:"
  echo "$out" | grep -o 'act [A-Z ]* count [0-9]*' | sed 's/ count [0-9]*//' | sort | uniq -c
  echo "PASS replicate"
}

forged() {
  setup
  start $B b --hostid 0x22 --ifconfig "syncpeer 192.0.2.1 syncauth s3cret"
  sleep 0.3
  start $A a --hostid 0x11 --create 10 --ifconfig "syncpeer 192.0.2.2 syncauth s3cret"
  wait_for b states 10 10
  # An empty but well-formed pfsync header, and a CLR of all of A's states.
  local hdr="0600""0014""00000000000000000000000000000000"
  local clr="0600""002c""00000000000000000000000000000000""00050001""00000000000000000000000000000000""00000011"
  forge $A 192.0.2.1 192.0.2.2 64 "$clr"    # wrong TTL
  forge $A 192.0.2.3 192.0.2.2 255 "$clr"   # not the syncpeer
  forge $A 192.0.2.1 192.0.2.2 255 "$clr"   # the peer's address but no MAC
  forge $A 192.0.2.1 192.0.2.2 255 "$hdr"
  sleep 0.5
  local ttl badif auth
  ttl=$(counter b 'discarded for bad ttl')
  badif=$(counter b 'discarded for bad interface')
  auth=$(counter b 'discarded for bad HMAC')
  [ "${ttl:-0}" -ge 1 ] || fail "bad ttl not counted"
  [ "${badif:-0}" -ge 1 ] || fail "non-peer not counted"
  [ "${auth:-0}" -ge 2 ] || fail "unauthenticated packets not counted ($auth)"
  [ "$(field b states)" = 10 ] || fail "a forged packet changed B's table"
  grep -q 'syncpeer: 192.0.2.1' "$WORK/b.status" || fail "ifconfig line"
  echo "bad ttl $ttl, bad interface $badif, bad HMAC $auth"
  echo "PASS forged"
}

# Insert storms of 20 000 states (~6 MB of INS packets, created at once) over
# a link throttled to 50 Mbit/s (tbf). The packets that do not fit wait in
# PfsyncNode's queue and go when the socket takes them again, and B ends up
# with every state; only a packet beyond the queue's bound is lost, and counted.
# storm_run QDISC_LIMIT NODE_ARGS...: one storm from a fresh pair.
storm_run() {
  local limit=$1
  shift
  [ -n "${PID_a:-}" ] && stop a
  [ -n "${PID_b:-}" ] && stop b
  rm -f "$WORK"/*.status
  tc -n $A qdisc replace dev em2 root tbf rate 50mbit burst 32kb limit "$limit" || fail "tc tbf"
  start $A a --hostid 0x11 --create-later 20000 --later-ms 2500 "$@"
  sleep 0.3
  start $B b --hostid 0x22
  wait_for b bulk done 3  # A's empty table: the states below come as INS, not by bulk
  [ "$(field a storm_start_mono_ms)" = -1 ] || fail "the storm began before B was in sync"
  for _ in $(seq 150); do [ "$(field a storm_ms)" -ge 0 ] 2>/dev/null && break; sleep 0.1; done
  [ "$(field a storm_ms)" -ge 0 ] || fail "A's send queue never drained"
  for _ in $(seq 30); do [ "$(field b states)" = 20000 ] && break; sleep 0.1; done  # the flush delay (1 s)
  postponed=$(counter a 'postponed: socket buffer full')
  drops=$(counter a 'dropped: send queue full')
  errors=$(counter a 'send error')
  held=$(field b states)
  [ "${errors:-x}" = 0 ] || fail "$errors send errors"
}

storm() {
  local postponed drops errors held
  setup
  # A 512 KiB send buffer and a queue that never drops: sendmmsg says EAGAIN.
  storm_run 64mb --sndbuf 262144
  [ "${postponed:-0}" -ge 1 ] || fail "the socket never refused a packet: the storm did not fill the send buffer"
  [ "${drops:-x}" = 0 ] || fail "$drops packets dropped from the send queue"
  [ "$held" = 20000 ] || fail "B holds $held of 20000 states (full send buffer)"
  echo "full send buffer: $postponed sends postponed, A's queue drained after $(field a storm_ms) ms, B holds all"
  # A 200 KB device queue that drops: sendmmsg says ENOBUFS (IP_RECVERR; without it the drops were silent).
  storm_run 200kb
  [ "${postponed:-0}" -ge 1 ] || fail "the device queue never refused a packet"
  [ "${drops:-x}" = 0 ] || fail "$drops packets dropped from the send queue"
  [ "$held" = 20000 ] || fail "B holds $held of 20000 states (full device queue)"
  echo "full device queue: $postponed sends postponed, A's queue drained after $(field a storm_ms) ms, B holds all"
  # A send queue of 64 packets: what exceeds it is lost, and counted as such.
  storm_run 64mb --sndbuf 262144 --max-queued 64
  [ "${drops:-0}" -ge 1 ] || fail "a 64-packet queue dropped nothing"
  [ "${held:-20000}" -lt 20000 ] || fail "B holds all states although A dropped $drops packets"
  echo "64-packet send queue: $drops packets dropped and counted, B holds $held"
  echo "PASS storm"
}

case $SCENARIO in
  replicate) replicate ;;
  forged) forged ;;
  storm) storm ;;
  *) fail "unknown scenario $SCENARIO" ;;
esac
