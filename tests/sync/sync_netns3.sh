#!/bin/bash
# Three real hapfd nodes (A, B, D) on one sync LAN (a bridge in a hub
# namespace, 192.0.2.0/24); client C pings B (198.51.100.0/24), client E
# pings D (203.0.113.0/24), each through that node's own input filter.
# usage: sync_netns3.sh HAPFD HAPFCTL ; prints "CHECK name ok|FAIL" lines.
set -u
HAPFD=$1 HAPFCTL=$2
T=$(mktemp -d /tmp/hapf-sync3.XXXXXX)
P=$$
A=hs3A$P B=hs3B$P D=hs3D$P C=hs3C$P E=hs3E$P H=hs3H$P
cleanup() {
  for p in $T/*.pid; do [ -f "$p" ] && kill "$(cat $p)" 2>/dev/null; done
  sleep 0.3
  for n in $A $B $D $C $E $H; do ip netns del $n 2>/dev/null; done
  rm -rf $T
}
trap cleanup EXIT
check() { if eval "$2"; then echo "CHECK $1 ok"; else echo "CHECK $1 FAIL"; fi; }
for n in $A $B $D $C $E $H; do ip netns add $n; ip -n $n link set lo up; done
ip -n $H link add br0 type bridge; ip -n $H link set br0 up
i=1
for n in $A $B $D; do
  ip link add s3$i$P netns $n type veth peer name h3$i$P netns $H
  ip -n $H link set h3$i$P master br0; ip -n $H link set h3$i$P up
  ip -n $n addr add 192.0.2.$i/24 dev s3$i$P; ip -n $n link set s3$i$P up
  i=$((i + 1))
done
ip link add c3$P netns $C type veth peer name cb3$P netns $B
ip -n $B addr add 198.51.100.1/24 dev cb3$P; ip -n $B link set cb3$P up
ip -n $C addr add 198.51.100.2/24 dev c3$P; ip -n $C link set c3$P up
ip link add e3$P netns $E type veth peer name ed3$P netns $D
ip -n $D addr add 203.0.113.1/24 dev ed3$P; ip -n $D link set ed3$P up
ip -n $E addr add 203.0.113.2/24 dev e3$P; ip -n $E link set e3$P up
KEY=0123456789abcdef-cluster-key
setup() {  # node addr qbase peers...
  local node=$1 addr=$2 q=$3; shift 3
  mkdir -p $T/$node
  printf 'pass all\n' > $T/$node/pf.conf
  { printf 'control-socket %s\nqueues 1\nqueue-base %s\nsync-listen %s\nsync-key %s\nsync-auto-push yes\n' \
      $T/$node.sock $q $addr $KEY
    for p in "$@"; do echo "sync-peer $p"; done; } > $T/$node/hapfd.conf
}
start() {  # node ns
  rm -f $T/$1.sock
  ip netns exec $2 $HAPFD -d -c $T/$1 >>$T/$1.log 2>&1 &
  echo $! > $T/$1.pid
  for i in $(seq 50); do [ -S $T/$1.sock ] && return 0; sleep 0.1; done
  echo "hapfd $1 did not start"; cat $T/$1.log
}
ctl() { local ns=$1 node=$2; shift 2; ip netns exec $ns $HAPFCTL --socket=$T/$node.sock "$@"; }
ping_b() { ip netns exec $C ping -c 1 -W 1 198.51.100.1 >/dev/null 2>&1; }
ping_d() { ip netns exec $E ping -c 1 -W 1 203.0.113.1 >/dev/null 2>&1; }
setup a 192.0.2.1 40 192.0.2.2 192.0.2.3
setup b 192.0.2.2 50 192.0.2.1 192.0.2.3
setup d 192.0.2.3 60 192.0.2.1 192.0.2.2
start a $A; start b $B; start d $D
check "initial pings pass" 'ping_b && ping_d'
sleep 1.5
printf 'pass all\nblock in quick proto icmp from { 198.51.100.0/24 203.0.113.0/24 }\n' > $T/new.conf
OUT=$(ctl $A a -f $T/new.conf 2>&1); RC=$?
echo "$OUT"
check "push applied on both backups" '[ $RC = 0 ] && grep -q "192.0.2.2:8737: applied" <<<"$OUT" && grep -q "192.0.2.3:8737: applied" <<<"$OUT"'
check "both backups block pings" '! ping_b && ! ping_d'
printf 'pass all\npass in from 192.0.2.1 to s31%s:network\n' $P > $T/broken.conf
OUT=$(ctl $A a -f $T/broken.conf 2>&1); RC=$?
echo "$OUT"
check "refused by both backups" '[ $RC != 0 ] && [ $(grep -c "refused" <<<"$OUT") -ge 2 ]'
check "backups keep their rules" 'cmp -s $T/new.conf $T/b/pf.conf && cmp -s $T/new.conf $T/d/pf.conf && ! ping_d'
kill $(cat $T/d.pid); sleep 0.5; rm -f $T/d.pid
printf 'pass all\n' > $T/open.conf
OUT=$(ctl $A a -f $T/open.conf 2>&1); RC=$?
echo "$OUT"
check "push with D offline" '[ $RC = 0 ] && grep -q "192.0.2.2:8737: applied" <<<"$OUT" && grep -q "192.0.2.3:8737: not connected" <<<"$OUT"'
check "B follows" 'ping_b'
start d $D
for i in $(seq 30); do ping_d && break; sleep 0.2; done
check "D caught up" 'ping_d && cmp -s $T/open.conf $T/d/pf.conf'
ctl $D d sync status
echo "--- d.log"; cat $T/d.log
