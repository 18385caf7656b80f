#!/bin/bash
# The status page in a real headless Chromium driven by Playwright (playwright-core
# from npm, Debian's chromium; both installed by scripts/bootstrap.sh): two hapfd
# nodes A and B share carp0 (vhid 7) on one bridge; a third namespace W runs the
# browser. Logs in to both pages, sees A MASTER and B BACKUP (and B's state on
# A's page, reported over the config-sync link), puts A in
# maintenance with a click (confirm dialog accepted) and watches B become MASTER
# on B's page (and in both nodes' /metrics: states and transition counters),
# then leaves maintenance and A preempts back; a wrong password is
# refused. Screenshots go to SHOT_DIR (ctest: the build tree's Testing/web-shots).
# usage: web_status_page.sh HAPFD [SHOT_DIR]; prints "CHECK name ok|FAIL" lines and
# exits non-zero unless all twelve are ok.
set -u
HAPFD=$1
HERE=$(cd "$(dirname "$0")" && pwd)
SHOTS=${2:-$(mktemp -d /tmp/hapf-web-shots.XXXXXX)}
NODE_DIR=${HAPF_NODE_DIR:-/opt/hapf-node}
T=$(mktemp -d /tmp/hapf-web.XXXXXX)
A=hwA$$ B=hwB$$ W=hwW$$ H=hwH$$
cleanup() {
  for p in $T/*.pid; do [ -f "$p" ] && kill "$(cat $p)" 2>/dev/null; done
  sleep 0.3
  for p in $T/*.pid; do [ -f "$p" ] && kill -9 "$(cat $p)" 2>/dev/null; done
  for n in $A $B $W $H; do ip netns del $n 2>/dev/null; done
  rm -rf $T
}
trap cleanup EXIT
for f in /usr/bin/chromium "$NODE_DIR/node_modules/playwright-core/package.json"; do
  [ -e "$f" ] || { echo "CHECK browser installed FAIL ($f missing: run scripts/bootstrap.sh)"; exit 1; }
done
mkdir -p "$SHOTS"
for n in $A $B $W $H; do ip netns add $n; ip -n $n link set lo up; done
ip -n $H link add br0 type bridge; ip -n $H link set br0 up
i=1
for n in $A $B $W; do
  ip link add p$i$$ netns $n type veth peer name h$i netns $H
  ip -n $n link set p$i$$ name eth0
  ip -n $H link set h$i master br0; ip -n $H link set h$i up
  i=$((i + 1))
done
ip -n $A addr add 192.0.2.1/24 dev eth0; ip -n $A link set eth0 up
ip -n $B addr add 192.0.2.2/24 dev eth0; ip -n $B link set eth0 up
ip -n $W addr add 192.0.2.9/24 dev eth0; ip -n $W link set eth0 up
PW=page-secret-$$
PWHASH=$(printf %s "$PW" | sha256sum | cut -d' ' -f1)
setup() {  # node addr advskew qbase peer
  mkdir -p $T/$1
  printf 'pass all\n' > $T/$1/pf.conf
  printf 'inet 192.0.2.100/24 vhid 7 carpdev eth0 advskew %s pass carp-secret\n' $3 > $T/$1/hostname.carp0
  printf 'control-socket %s\nqueues 1\nqueue-base %s\ncarp-preempt on\nhttp-listen %s:9137\nhttp-password-sha256 %s\n' \
    $T/$1.sock $4 $2 $PWHASH > $T/$1/hapfd.conf
  # Config sync between the two: it also carries each node's CARP states to the other's page.
  printf 'sync-listen %s\nsync-peer %s\nsync-key web-test-cluster-key-%s\n' $2 $5 $$ >> $T/$1/hapfd.conf
}
start() {  # node ns
  ip netns exec $2 $HAPFD -d -c $T/$1 >>$T/$1.log 2>&1 &
  echo $! > $T/$1.pid
  for i in $(seq 50); do [ -S $T/$1.sock ] && return 0; sleep 0.1; done
  echo "hapfd $1 did not start"; cat $T/$1.log
}
setup a 192.0.2.1 10 40 192.0.2.2
setup b 192.0.2.2 100 50 192.0.2.1
start a $A; start b $B
ip netns exec $W timeout 120 env NODE_PATH="$NODE_DIR/node_modules" node "$HERE/web_status_page.cjs" \
  http://192.0.2.1:9137 http://192.0.2.2:9137 "$PW" "$SHOTS" 2>&1 | tee $T/checks.txt
echo "screenshots: $SHOTS"; ls "$SHOTS"
echo "--- a.log"; cat $T/a.log; echo "--- b.log"; cat $T/b.log
# Twelve checks, all ok (a crash of the browser script prints fewer).
ok=$(grep -c '^CHECK .* ok$' $T/checks.txt)
echo "$ok of 12 checks ok"
[ "$ok" -eq 12 ] && ! grep -q '^CHECK .* FAIL' $T/checks.txt
