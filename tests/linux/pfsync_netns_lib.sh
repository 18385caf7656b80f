# Shared by tests/linux/pfsync_netns.sh and bench/pfsync_bulk.sh: two namespaces
# $A and $B joined by a veth "sync cable" em2 (192.0.2.1/30, 192.0.2.2/30) and
# pfsync_node_prog ($PROG) firewalls in them. The caller sets PROG, A, B, WORK,
# PIDS=() and NODE_ARGS (extra arguments of every node), and traps cleanup.

cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  sleep 0.2
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
  for n in $A $B; do ip netns del "$n" 2>/dev/null; done
  if [ -n "${KEEP:-}" ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}

fail() {
  echo "FAIL: $*"
  for f in "$WORK"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -n 40 "$f"; }; done
  for f in "$WORK"/*.status; do [ -f "$f" ] && { echo "--- $f"; head -c 20000 "$f"; }; done
  exit 1
}

setup() {
  ip netns add $A || fail "netns add"
  ip netns add $B || fail "netns add"
  ip -n $A link add em2 type veth peer name em2 netns $B || fail "veth"
  ip -n $A addr add 192.0.2.1/30 dev em2
  ip -n $B addr add 192.0.2.2/30 dev em2
  # PFSYNC_LINK_MTU: the cable's MTU (default 1500; e.g. 9000 with PFSYNC_ARGS="--ifconfig 'mtu 9000'").
  for n in $A $B; do ip -n $n link set lo up; ip -n $n link set em2 mtu "${PFSYNC_LINK_MTU:-1500}" up; done
  sleep 0.2
}

# start NS NAME ARGS...: runs the program in NS, status in $WORK/NAME.status.
start() {
  local ns=$1 name=$2
  shift 2
  # shellcheck disable=SC2086
  ip netns exec "$ns" "$PROG" --dev em2 --status "$WORK/$name.status" $NODE_ARGS "$@" >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  eval "PID_$name=$!"
}
stop() {
  local pid
  eval "pid=\$PID_$1"
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
}
field() { awk -v k="$2" '$1 == k { print $2; exit }' "$WORK/$1.status" 2>/dev/null; }
counter() { grep -m1 -- "$2" "$WORK/$1.status" 2>/dev/null | awk '{ print $1 }'; }
