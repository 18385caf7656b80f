#!/bin/bash
# Two real hapfd nodes in network namespaces, synced over 192.0.2.0/24; a
# client namespace pings node B through B's own input filter.
# usage: sync_netns.sh HAPFD HAPFCTL ; prints "CHECK name ok|FAIL" lines.
set -u
HAPFD=$1 HAPFCTL=$2
T=$(mktemp -d /tmp/hapf-sync.XXXXXX)
A=hsyA$$ B=hsyB$$ C=hsyC$$
cleanup() {
  for p in $T/*.pid; do [ -f "$p" ] && kill "$(cat $p)" 2>/dev/null; done
  sleep 0.3
  for n in $A $B $C; do ip netns del $n 2>/dev/null; done
  rm -rf $T
}
trap cleanup EXIT
check() { if eval "$2"; then echo "CHECK $1 ok"; else echo "CHECK $1 FAIL"; fi; }
for n in $A $B $C; do ip netns add $n; ip -n $n link set lo up; done
ip link add sya$$ netns $A type veth peer name syb$$ netns $B
ip link add syc$$ netns $C type veth peer name sycb$$ netns $B
ip -n $A addr add 192.0.2.1/24 dev sya$$; ip -n $A link set sya$$ up
ip -n $B addr add 192.0.2.2/24 dev syb$$; ip -n $B link set syb$$ up
ip -n $B addr add 198.51.100.1/24 dev sycb$$; ip -n $B link set sycb$$ up
ip -n $C addr add 198.51.100.2/24 dev syc$$; ip -n $C link set syc$$ up
ip -n $A link add only$$ type veth peer name onlyp$$; ip -n $A addr add 203.0.113.1/24 dev only$$; ip -n $A link set only$$ up
ip -n $C route add 192.0.2.0/24 via 198.51.100.1
KEY=0123456789abcdef-cluster-key
setup() {  # node addr peer qbase carpdev advskew
  mkdir -p $T/$1
  printf 'pass all\n' > $T/$1/pf.conf
  # carp0 on the sync segment: cluster-wide words, and this node's carpdev and advskew (node-local).
  printf 'inet 192.0.2.100/24 vhid 5 carpdev %s advskew %s pass carp-secret\n' $5 $6 > $T/$1/hostname.carp0
  printf 'control-socket %s\nqueues 1\nqueue-base %s\nsync-listen %s\nsync-peer %s\nsync-key %s\nsync-auto-push yes\n' \
    $T/$1.sock $4 $2 $3 $KEY > $T/$1/hapfd.conf
}
start() {  # node ns
  ip netns exec $2 $HAPFD -d -c $T/$1 >>$T/$1.log 2>&1 &
  echo $! > $T/$1.pid
  for i in $(seq 50); do [ -S $T/$1.sock ] && return 0; sleep 0.1; done
  echo "hapfd $1 did not start"; cat $T/$1.log
}
ctl() { local ns=$1 node=$2; shift 2; ip netns exec $ns $HAPFCTL --socket=$T/$node.sock "$@"; }
ping_b() { ip netns exec $C ping -c 1 -W 1 198.51.100.1 >/dev/null 2>&1; }
setup a 192.0.2.1 192.0.2.2 20 sya$$ 10
setup b 192.0.2.2 192.0.2.1 30 syb$$ 100
start a $A; start b $B
check "initial ping passes" ping_b
# 1. The master's new rules are enforced on the backup within a second.
printf 'pass all\nblock in quick proto icmp from 198.51.100.0/24\n' > $T/new.conf
sleep 1.5  # both caught up (sessions set up)
OUT=$(ctl $A a -f $T/new.conf 2>&1); RC=$?
echo "$OUT"
check "push applied" '[ $RC = 0 ] && grep -q "192.0.2.2:8737: applied (generation 1)" <<<"$OUT"'
START=$(date +%s%N)
check "backup blocks ping within 1 s" '! ping_b && [ $(( ($(date +%s%N) - START) / 1000000 )) -lt 1500 ]'
check "backup pf.conf written" 'cmp -s $T/new.conf $T/b/pf.conf'
check "hapfd.conf stays local" 'grep -q "sync-listen 192.0.2.2" $T/b/hapfd.conf'
ctl $B b sync status
# 2. A ruleset the backup cannot compile: refused there, error at the sender.
printf 'pass all\npass in from only%s:network\n' $$ > $T/broken.conf
OUT=$(ctl $A a -f $T/broken.conf 2>&1); RC=$?
echo "$OUT"
check "refused by the backup, exit non-zero" '[ $RC != 0 ] && grep -q "refused" <<<"$OUT" && grep -q "only$$" <<<"$OUT"'
check "backup still enforces the old rules" '! ping_b && cmp -s $T/new.conf $T/b/pf.conf'
# 3. A forged frame (HELLO then PUSH signed with another key) is dropped and counted.
ip netns exec $C /usr/bin/python3 - <<'PY'
import hmac, hashlib, socket, struct
def frame(t, body, key, counter):
    h = b"HSY1" + bytes([t, 0, 0, 0]) + struct.pack(">IQI", 99, counter, len(body)) + body
    return h + hmac.new(key, h, hashlib.sha256).digest()
s = socket.create_connection(("192.0.2.2", 8737), timeout=2)
s.sendall(frame(1, b"\x01" * 16, b"not-the-cluster-key", 0))
s.sendall(b"HSY1\x04garbage")
import time; time.sleep(0.3); s.close()
PY
sleep 0.3
ctl $B b sync status | tee $T/st.txt
check "forged and truncated frames counted" 'grep -q "forged 1, malformed 1," $T/st.txt'
# 4. An offline backup catches up when it comes back.
kill $(cat $T/b.pid); sleep 0.5; rm -f $T/b.pid
printf 'pass all\n' > $T/open.conf
OUT=$(ctl $A a -f $T/open.conf 2>&1); RC=$?
echo "$OUT"
check "push with backup offline" '[ $RC = 0 ] && grep -q "not connected" <<<"$OUT"'
start b $B
BPID=$(cat $T/b.pid)
for i in $(seq 30); do ping_b && break; sleep 0.2; done
check "backup caught up" 'ping_b && cmp -s $T/open.conf $T/b/pf.conf'
ctl $B b sync status
# 5. CARP settings pushed at run time: B takes the new advbase and VIP at once and keeps its own advskew
#    and carpdev; A (the sender) runs what it published, its MASTER macvlan carries the new VIP.
carp_line() { ctl $1 $2 carp | grep -m1 'carp: '; }
for i in $(seq 50); do carp_line $A a | grep -q MASTER && carp_line $B b | grep -q BACKUP && break; sleep 0.2; done
carp_line $A a; carp_line $B b
check "carp0: A MASTER, B BACKUP before the push" 'carp_line $A a | grep -q MASTER && carp_line $B b | grep -q "BACKUP .* advbase 1 advskew 100"'
printf 'inet 192.0.2.100/24 vhid 5 carpdev sya%s advskew 10 advbase 2 pass carp-secret\ninet alias 192.0.2.101/24\n' $$ \
  > $T/a/hostname.carp0
for i in $(seq 50); do ctl $A a sync status | grep -q "^peer 192.0.2.2:8737: connected" && break; sleep 0.2; done
OUT=$(ctl $A a sync push 2>&1); RC=$?
echo "$OUT"
check "carp push applied" '[ $RC = 0 ] && grep -q "192.0.2.2:8737: applied" <<<"$OUT"'
for i in $(seq 25); do carp_line $B b | grep -q "advbase 2" && break; sleep 0.2; done
carp_line $B b; ctl $B b carp | grep inet
check "B runs advbase 2 with its own advskew 100, no restart" \
  'carp_line $B b | grep -q "BACKUP carpdev syb$$ vhid 5 advbase 2 advskew 100" && [ "$(cat $T/b.pid)" = "$BPID" ]'
check "B knows the new VIP" 'ctl $B b carp | grep -q "inet 192.0.2.101 "'
check "B hostname.carp0 keeps its local words" 'grep -q "advskew 100" $T/b/hostname.carp0 && grep -q "carpdev syb$$" $T/b/hostname.carp0'
# An added address takes every node through INIT to BACKUP (spec carp.md §8, as OpenBSD): A is MASTER
# again after its master-down interval, 3 × advbase 2 + 10/256 s.
for i in $(seq 75); do ip -n $A -4 addr show dev carp0 2>/dev/null | grep -q 192.0.2.101 && break; sleep 0.2; done
ip -n $A -4 addr show dev carp0
check "A (MASTER) carries the new VIP on carp0" \
  'ip -n $A -4 addr show dev carp0 | grep -q "192.0.2.101/24" && carp_line $A a | grep -q "MASTER .* advbase 2 advskew 10"'
echo "--- a.log"; cat $T/a.log; echo "--- b.log"; cat $T/b.log
