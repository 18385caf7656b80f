#!/usr/bin/env bash
# TCP connection setups per second through one firewall in namespaces
# (client — fw — server): plain kernel forwarding, nftables with conntrack,
# and hapfd (the pf engine on the NFQUEUE data plane, one state per
# direction), in the same run.
#
#   bash bench/hapfd_connrate.sh [BUILD_DIR] [SECONDS] [PARALLEL]
#
# The client keeps PARALLEL handshakes in flight from 32 addresses
# (192.0.2.10-41) and resets each connection once it is established; the
# figure is completed handshakes per second.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build/release}
SECONDS_PER_CASE=${2:-3}
PARALLEL=${3:-64}
CONNRATE=$BUILD/bench/tcp_connrate
HAPFD=$BUILD/src/daemon/hapfd
HAPFCTL=$BUILD/src/cli/hapfctl
for f in "$CONNRATE" "$HAPFD" "$HAPFCTL"; do [[ -x $f ]] || { echo "missing $f (build first)" >&2; exit 1; }; done

. "$ROOT/tests/netns/netns.sh"
PREFIX=hapf-conn-$$
RUN=$(mktemp -d)
FW_PID=
SRV_PID=
cleanup() {
  [[ -n $FW_PID ]] && kill -9 "$FW_PID" 2>/dev/null || true
  [[ -n $SRV_PID ]] && kill -9 "$SRV_PID" 2>/dev/null || true
  netns_destroy "$PREFIX"
  rm -rf "$RUN"
}
trap cleanup EXIT
netns_create "$PREFIX"
for i in $(seq 10 41); do ip -n "$PREFIX-cli" addr add 192.0.2.$i/24 dev cli0; done
netns_exec "$PREFIX" cli ping -c 1 -W 2 198.51.100.2 >/dev/null

ip netns exec "$PREFIX-srv" "$CONNRATE" serve 9100 600 >"$RUN/srv.log" 2>&1 &
SRV_PID=$!
disown "$SRV_PID"  # killed at exit without a job-control message
for _ in $(seq 100); do grep -q serving "$RUN/srv.log" && break; sleep 0.05; done

measure() {  # prints "conn/s failed"
  local out n failed secs
  out=$(netns_exec "$PREFIX" cli timeout $((SECONDS_PER_CASE + 10)) "$CONNRATE" connect 198.51.100.2 9100 \
        --seconds "$SECONDS_PER_CASE" --parallel "$PARALLEL" --source 192.0.2.10 --sources 32)
  read -r _ n _ failed secs <<<"$out"
  awk -v n="$n" -v f="$failed" -v t="$secs" 'BEGIN { printf "%d %d\n", n / t, f }'
}
printf '%-48s %12s %8s\n' "case ($PARALLEL in flight, ${SECONDS_PER_CASE}s)" "conn/s" "failed"
report() { read -r rate failed; printf '%-48s %12s %8s\n' "$1" "$rate" "$failed"; }

measure | report "kernel forwarding, no ruleset"

netns_exec "$PREFIX" fw nft -f - <<'NFT'
table inet cmp {
  chain forward {
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    tcp dport 9100 ct state new accept
    icmp type echo-request accept
  }
}
NFT
measure | report "nftables + conntrack (equivalent ruleset)"
netns_exec "$PREFIX" fw nft delete table inet cmp

start_hapfd() {  # QUEUES LAYOUT
  mkdir -p "$RUN/etc"
  printf 'control-socket %s\nqueues %s\nqueue-layout %s\n' "$RUN/hapfd.sock" "$1" "$2" >"$RUN/etc/hapfd.conf"
  printf 'set skip on lo\nset limit states 1000000\nblock all\npass inet proto tcp to port 9100\npass inet proto icmp icmp-type echoreq\n' \
    >"$RUN/etc/pf.conf"
  ip netns exec "$PREFIX-fw" "$HAPFD" -d -c "$RUN/etc" >"$RUN/hapfd.log" 2>&1 &
  FW_PID=$!
  for _ in $(seq 100); do "$HAPFCTL" --socket="$RUN/hapfd.sock" -si >/dev/null 2>&1 && return 0; sleep 0.05; done
  cat "$RUN/hapfd.log" >&2
  exit 1
}
for run in "1 split" "2 split" "2 once"; do
  read -r q layout <<<"$run"
  start_hapfd "$q" "$layout"
  measure | report "hapfd (pf engine), $layout layout, $q queue(s)"
  "$HAPFCTL" --socket="$RUN/hapfd.sock" -si | grep -m1 -E 'current entries' | sed 's/^ */    hapfd: /'
  kill -TERM "$FW_PID"
  wait "$FW_PID" || true
  FW_PID=
done
