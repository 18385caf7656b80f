#!/usr/bin/env bash
# Packets per second forwarded through the NFQUEUE data plane (nfq_testfw in
# pass mode) in namespaces, next to plain kernel forwarding and to nftables
# with conntrack and an equivalent small ruleset, in the same run.
#
#   bash bench/nfq_forward.sh [BUILD_DIR] [SECONDS] [FLOWS]
#
# 64-byte frames (18-byte UDP payload), FLOWS source ports spread over 32
# client addresses (192.0.2.10-41), one sender for SECONDS per case; the rate
# is what arrives on the server's interface.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build/release}
SECONDS_PER_CASE=${2:-3}
FLOWS=${3:-256}
TESTFW=$BUILD/tests/linux/nfq_testfw
FLOOD=$BUILD/bench/nfq_udpflood
HAPFD=$BUILD/src/daemon/hapfd
HAPFCTL=$BUILD/src/cli/hapfctl
for f in "$TESTFW" "$FLOOD" "$HAPFD" "$HAPFCTL"; do [[ -x $f ]] || { echo "missing $f (build first)" >&2; exit 1; }; done

. "$ROOT/tests/netns/netns.sh"
PREFIX=hapf-bench-$$
RUN=$(mktemp -d)
FW_PID=
cleanup() {
  [[ -n $FW_PID ]] && kill -9 "$FW_PID" 2>/dev/null || true
  netns_destroy "$PREFIX"
  rm -rf "$RUN"
}
trap cleanup EXIT
netns_create "$PREFIX"
for i in $(seq 10 41); do ip -n "$PREFIX-cli" addr add 192.0.2.$i/24 dev cli0; done
netns_exec "$PREFIX" cli ping -c 1 -W 2 198.51.100.2 >/dev/null

rx() { netns_exec "$PREFIX" srv cat /sys/class/net/srv0/statistics/rx_packets; }

measure() {  # prints "pps sent_pps"
  local before after out sent secs
  before=$(rx)
  out=$(netns_exec "$PREFIX" cli timeout $((SECONDS_PER_CASE + 10)) "$FLOOD" 198.51.100.2 9000 \
        --flows "$FLOWS" --seconds "$SECONDS_PER_CASE" --source 192.0.2.10 --sources 32)
  sleep 0.3
  after=$(rx)
  read -r _ sent secs <<<"$out"
  awk -v r=$((after - before)) -v s="$sent" -v t="$secs" 'BEGIN { printf "%d %d\n", r / t, s / t }'
}

start_fw() {
  rm -f "$RUN/ready"
  ip netns exec "$PREFIX-fw" "$TESTFW" --mode pass --ready "$RUN/ready" --counts "$RUN/counts" "$@" \
    >"$RUN/fw.log" 2>&1 &
  FW_PID=$!
  for _ in $(seq 100); do [[ -e $RUN/ready ]] && return 0; sleep 0.05; done
  cat "$RUN/fw.log" >&2
  exit 1
}

stop_fw() {
  kill -TERM "$FW_PID"
  wait "$FW_PID" || true
  FW_PID=
  grep '^#' "$RUN/counts" | sed 's/^# /    testfw: /'
}

printf '%-44s %12s %12s\n' "case ($FLOWS flows, ${SECONDS_PER_CASE}s, 64-byte frames)" "fwd pps" "offered pps"
report() { read -r pps offered; printf '%-44s %12s %12s\n' "$1" "$pps" "$offered"; }

measure | report "kernel forwarding, no ruleset"

netns_exec "$PREFIX" fw nft -f - <<'NFT'
table inet cmp {
  chain forward {
    type filter hook forward priority filter; policy accept;
    ct state established,related accept
    tcp dport 80 drop
    accept
  }
}
NFT
measure | report "nftables + conntrack (equivalent ruleset)"
netns_exec "$PREFIX" fw nft delete table inet cmp

for q in 1 2; do
  start_fw --queues "$q"
  measure | report "nfq_testfw split layout, $q queue(s)"
  stop_fw
done
start_fw --queues 2 --layout once
measure | report "nfq_testfw once layout, 2 queues"
stop_fw

# hapfd: the pf engine behind the same data plane (one state per flow and
# direction, created by the first packet), split layout.
start_hapfd() {  # QUEUES LAYOUT
  mkdir -p "$RUN/etc"
  printf 'control-socket %s\nqueues %s\nqueue-layout %s\n' "$RUN/hapfd.sock" "$1" "$2" >"$RUN/etc/hapfd.conf"
  printf 'set skip on lo\nset limit states 200000\nblock all\npass inet proto { udp icmp }\n' >"$RUN/etc/pf.conf"
  ip netns exec "$PREFIX-fw" "$HAPFD" -d -c "$RUN/etc" >"$RUN/hapfd.log" 2>&1 &
  FW_PID=$!
  for _ in $(seq 100); do "$HAPFCTL" --socket="$RUN/hapfd.sock" -si >/dev/null 2>&1 && return 0; sleep 0.05; done
  cat "$RUN/hapfd.log" >&2
  exit 1
}
for run in "1 split" "2 split" "1 once" "2 once"; do
  read -r q layout <<<"$run"
  start_hapfd "$q" "$layout"
  measure | report "hapfd (pf engine), $layout layout, $q queue(s)"
  "$HAPFCTL" --socket="$RUN/hapfd.sock" -si | grep -m1 -E "current entries" | sed 's/^ */    hapfd: /'
  kill -TERM "$FW_PID"
  wait "$FW_PID" || true
  FW_PID=
done
