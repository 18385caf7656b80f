#!/usr/bin/env bash
# Namespace tests of hapf's CARP on Linux: two (or a hapf and a ucarp) nodes on
# a bridge and a client namespace. Usage: carp_netns.sh CARP_NODE SCENARIO
# Scenarios: elect (with the ARP checks), sigkill, linkdown, preempt, track, carppeer, ucarp_hapf_master,
# ucarp_ucarp_master, ipv6.
# Addresses only from 198.51.100.0/24 and 2001:db8::/32, namespaces named
# hc<pid><role>, always torn down; every wait is bounded.
set -uo pipefail
NODE=$1
SCENARIO=$2
ID=hc$$
S=${ID}s A=${ID}a B=${ID}b C=${ID}c
WORK=$(mktemp -d)
PIDS=()

cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  sleep 0.3
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
  for n in $A $B $C $S; do ip netns del "$n" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; for f in "$WORK"/*.log; do echo "--- $f"; cat "$f"; done; exit 1; }
now_ms() { date +%s%3N; }

setup() {
  for n in $S $A $B $C; do ip netns add "$n" || fail "netns add $n"; done
  ip -n $S link add br0 type bridge
  ip -n $S link set br0 up
  for n in a b c; do
    local ns=${ID}$n
    ip link add ${ID}p$n type veth peer name em0 netns "$ns" || fail "veth $n"
    ip link set ${ID}p$n netns $S
    ip -n $S link set ${ID}p$n master br0 up
    ip -n "$ns" link set lo up
    ip -n "$ns" link set em0 up
  done
  ip -n $A addr add 198.51.100.2/24 dev em0
  ip -n $B addr add 198.51.100.3/24 dev em0
  ip -n $C addr add 198.51.100.10/24 dev em0
  for n in $A $B $C; do ip -n "$n" addr add "2001:db8:5::$(( ${#n} ))$RANDOM/64" dev em0 nodad 2>/dev/null || true; done
  ip netns exec $C sysctl -qw net.ipv6.conf.em0.accept_dad=0
  sleep 0.2
}

# hapf node: start_node NS NAME ADVSKEW [extra hostname lines] [--flags]
start_node() {
  local ns=$1 name=$2 skew=$3 extra=${4:-} flags=${5:-}
  cat >"$WORK/hostname.carp0.$name" <<CONF
inet 198.51.100.1 255.255.255.0 198.51.100.255 vhid 1 carpdev em0 advskew $skew pass toor
$extra
CONF
  mkdir -p "$WORK/$name"
  cp "$WORK/hostname.carp0.$name" "$WORK/$name/hostname.carp0"
  ip netns exec "$ns" "$NODE" --log 4 $flags --status "$WORK/$name.status" "$WORK/$name/hostname.carp0" \
    >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  eval "PID_$name=$!"
  # Serialise start-up (slow under ASan): wait until the node is in BACKUP.
  local i
  for i in $(seq 160); do
    grep -q "INIT -> BACKUP" "$WORK/$name.log" 2>/dev/null && return 0
    sleep 0.05
  done
  fail "$name did not start"
}

has_vip() { ip -n "$1" -4 addr show dev carp0 2>/dev/null | grep 198.51.100.1/ >/dev/null; }

# wait_master NS TIMEOUT_MS: waits until NS holds the VIP; prints elapsed ms.
wait_master() {
  local ns=$1 limit=$2 t0 t
  t0=$(now_ms)
  while :; do
    has_vip "$ns" && { echo $(( $(now_ms) - t0 )); return 0; }
    t=$(now_ms)
    (( t - t0 > limit )) && return 1
    sleep 0.05
  done
}

# arp_macs: the MACs answering ARP for the VIP from C, one per reply.
arp_macs() {
  ip netns exec $C timeout 10 arping -c 3 -w 3 -i em0 198.51.100.1 2>/dev/null |
    sed -n 's/.*bytes from \([0-9a-f:]*\) (198.51.100.1).*/\1/p'
}

check_single_master() {
  has_vip $A && has_vip $B && fail "both hold the VIP"
  has_vip $A || has_vip $B || fail "nobody holds the VIP"
}

setup
case $SCENARIO in
  elect)
    start_node $A a 0
    start_node $B b 100
    wait_master $A 8000 >/dev/null || fail "A did not become MASTER"
    sleep 3
    check_single_master
    has_vip $A || fail "A is not master"
    grep -q "carp0: state transition: BACKUP -> MASTER" "$WORK/a.log" || fail "A logged no transition"
    grep -q "BACKUP -> MASTER" "$WORK/b.log" && fail "B became MASTER"
    kill -USR1 $PID_a; sleep 0.3
    grep -q "carp: MASTER carpdev em0 vhid 1 advbase 1 advskew 0" "$WORK/a.status" || fail "status: $(cat $WORK/a.status)"
    ip -n $A link show carp0 | grep "00:00:5e:00:01:01" >/dev/null || fail "carp0 has not the virtual MAC"
    # tcpdump on the client sees CARPv2 adverts from A only.
    ip netns exec $C timeout 3 tcpdump -n -i em0 -c 2 -T carp 'ip proto 112' >"$WORK/dump.log" 2>&1
    grep -q "198.51.100.2 > 224.0.0.18: CARPv2-advertise 36: vhid=1 advbase=1 advskew=0 authlen=7" "$WORK/dump.log" ||
      fail "tcpdump: $(cat $WORK/dump.log)"
    grep -q "198.51.100.3 >" "$WORK/dump.log" && fail "the BACKUP advertises"
    # ARP for the VIP: answered by the MASTER only, with the virtual MAC.
    macs=$(arp_macs)
    [[ $(wc -l <<<"$macs") -eq 3 ]] || fail "expected 3 ARP replies, got: $macs"
    [[ $(sort -u <<<"$macs") == "00:00:5e:00:01:01" ]] || fail "ARP answered by: $macs"
    ip netns exec $C ping -c 2 -W 1 198.51.100.1 >/dev/null || fail "VIP not reachable"
    # The BACKUP holds no VIP: its real address still answers, the VIP only via A.
    ip -n $B addr | grep 198.51.100.1/ >/dev/null && fail "BACKUP has the VIP"
    ;;
  sigkill)
    start_node $A a 0
    start_node $B b 100
    wait_master $A 8000 >/dev/null || fail "no MASTER"
    sleep 1.5
    kill -KILL $PID_a
    # B's master-down: 3 × (1 + 100/256) s = 4.17 s after A's last advert.
    ms=$(wait_master $B 5500) || fail "B did not take over within 5.5 s"
    echo "takeover after SIGKILL: ${ms} ms"
    sleep 0.5
    has_vip $A && fail "the killed node still holds the VIP"
    macs=$(arp_macs)
    [[ $(wc -l <<<"$macs") -eq 3 && $(sort -u <<<"$macs") == "00:00:5e:00:01:01" ]] || fail "ARP after kill: $macs"
    ip netns exec $C ping -c 2 -W 1 198.51.100.1 >/dev/null || fail "VIP not reachable after takeover"
    ;;
  linkdown)
    # advbase 0: sub-second timers (interval advskew/256 s), OpenBSD-compatible.
    start_node $A a 13 "advbase 0"
    start_node $B b 26 "advbase 0"
    wait_master $A 8000 >/dev/null || fail "no MASTER"
    sleep 1
    ip -n $A link set em0 down
    # B's master-down: 3 x 26/256 s = 305 ms after A's last advert.
    ms=$(wait_master $B 1000) || fail "B did not take over within 1 s"
    echo "takeover after link down: ${ms} ms"
    has_vip $A && fail "A keeps the VIP with its carpdev down"
    ip -n $A link set em0 up
    sleep 1.5
    check_single_master
    has_vip $B || fail "without preempt B stays MASTER"
    ;;
  preempt)
    start_node $B b 26 "advbase 0" --preempt
    wait_master $B 8000 >/dev/null || fail "B alone did not become MASTER"
    start_node $A a 13 "advbase 0" --preempt
    ms=$(wait_master $A 1000) || fail "A did not preempt"
    echo "preempted after ${ms} ms"
    sleep 1
    check_single_master
    ;;
  track)
    # A tracks a second interface; its loss demotes group carp and the VIP moves
    # to B at once (rule B2), although A's carpdev is fine and preempt is off.
    ip -n $A link add em1 type veth peer name em1peer
    ip -n $A link set em1peer up
    ip -n $A link set em1 up
    start_node $A a 13 "advbase 0" "--track em1"
    start_node $B b 26 "advbase 0"
    wait_master $A 8000 >/dev/null || fail "no MASTER"
    sleep 0.5
    ip -n $A link set em1peer down  # em1 loses carrier
    ms=$(wait_master $B 500) || fail "B did not take over within 500 ms"
    echo "takeover after tracked link loss: ${ms} ms"
    sleep 0.5
    check_single_master
    ;;
  carppeer)
    # Unicast adverts to the peer instead of 224.0.0.18.
    start_node $A a 13 "advbase 0
carppeer 198.51.100.3"
    start_node $B b 26 "advbase 0
carppeer 198.51.100.2"
    wait_master $A 8000 >/dev/null || fail "no MASTER"
    sleep 1
    check_single_master
    has_vip $A || fail "A is not master"
    ip netns exec $C timeout 3 tcpdump -n -i em0 -c 2 -T carp 'ip proto 112' >"$WORK/dumpc.log" 2>&1
    ip netns exec $B timeout 3 tcpdump -n -i em0 -c 2 -T carp 'ip proto 112' >"$WORK/dumpp.log" 2>&1
    grep -q "198.51.100.2 > 198.51.100.3: CARPv2-advertise 36: vhid=1 advbase=0 advskew=13" "$WORK/dumpp.log" ||
      fail "peer capture: $(cat $WORK/dumpp.log)"
    grep -q "224.0.0.18" "$WORK/dumpp.log" "$WORK/dumpc.log" && fail "multicast adverts with carppeer"
    ;;
  ucarp_hapf_master|ucarp_ucarp_master)
    if [[ $SCENARIO == ucarp_hapf_master ]]; then hskew=0; uskew=100; else hskew=100; uskew=0; fi
    # The node expected to win starts first, so start-up order cannot decide.
    [[ $SCENARIO == ucarp_hapf_master ]] && start_node $A a $hskew
    printf '#!/bin/sh\necho up >>%s\n' "$WORK/ucarp.events" >"$WORK/up.sh"
    printf '#!/bin/sh\necho down >>%s\n' "$WORK/ucarp.events" >"$WORK/down.sh"
    chmod +x "$WORK/up.sh" "$WORK/down.sh"
    ip netns exec $B ucarp --interface=em0 --srcip=198.51.100.3 --vhid=1 --pass=toor --addr=198.51.100.1 \
      --advbase=1 --advskew=$uskew --upscript="$WORK/up.sh" --downscript="$WORK/down.sh" >"$WORK/ucarp.log" 2>&1 &
    PIDS+=($!)
    [[ $SCENARIO == ucarp_ucarp_master ]] && { sleep 0.5; start_node $A a $hskew; }
    sleep 7
    ucarp_master=0
    tail -1 "$WORK/ucarp.events" 2>/dev/null | grep up >/dev/null && ucarp_master=1
    hapf_master=0
    has_vip $A && hapf_master=1
    (( hapf_master + ucarp_master == 1 )) || fail "hapf master=$hapf_master ucarp master=$ucarp_master"
    if [[ $SCENARIO == ucarp_hapf_master ]]; then
      (( hapf_master == 1 )) || fail "hapf (advskew 0) should be MASTER"
    else
      (( ucarp_master == 1 )) || fail "ucarp (advskew 0) should be MASTER"
    fi
    grep -q "Bad digest" "$WORK/ucarp.log" && fail "ucarp rejected hapf's digest"
    echo "hapf master=$hapf_master ucarp master=$ucarp_master"
    ;;
  ipv6)
    start_node $A a 0 "inet6 2001:db8:7::1 64"
    start_node $B b 100 "inet6 2001:db8:7::1 64"
    wait_master $A 8000 >/dev/null || fail "no MASTER"
    sleep 2
    check_single_master
    ip -n $A -6 addr show dev carp0 | grep 2001:db8:7::1/64 >/dev/null || fail "IPv6 VIP missing: $(ip -n $A -6 addr show dev carp0; ip -n $A link show carp0)"
    ip netns exec $C ping -6 -c 2 -W 2 2001:db8:7::1 >/dev/null 2>&1 ||
      { ip -n $C -6 addr add 2001:db8:7::10/64 dev em0 nodad; sleep 0.5;
        ip netns exec $C ping -6 -c 2 -W 2 2001:db8:7::1 >/dev/null || fail "IPv6 VIP not reachable"; }
    ip netns exec $C timeout 3 tcpdump -n -i em0 -c 2 -T carp 'ip6 proto 112' >"$WORK/dump6.log" 2>&1
    grep -q "> ff02::12: CARPv2-advertise 36: vhid=1 advbase=1 advskew=0" "$WORK/dump6.log" || fail "tcpdump6: $(cat $WORK/dump6.log)"
    ;;
  *) fail "unknown scenario $SCENARIO" ;;
esac
echo "PASS $SCENARIO"
