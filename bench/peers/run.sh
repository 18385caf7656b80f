#!/usr/bin/env bash
# hapf beside its Linux peers, same machine, same topology, same run (issue 11):
#   (a) hapf: two hapfd nodes (lab/lab with a prefix of our own)
#   (b) keepalived (VRRP, sync group) + conntrackd (FTFW) + nftables with the equivalent ruleset
#   (c) ucarp (one process per VIP) + conntrackd + nftables
#   (d) plain kernel forwarding, no filter (the ceiling)
#
#   bash bench/peers/run.sh [--size tiny|full] [--runs N] [--build DIR] [--systems "hapf keepalived ucarp kernel"]
#                           [--results FILE] [--write-readme] [--parallel]
#
# Prints a summary table (median [min..max] over the runs, hapf/peer ratio); --write-readme puts it into
# bench/README.md between the peers markers. Namespaces are "<prefix>sw|cpe|client|fw1|fw2|srv" with prefixes
# unique to this run; only documentation addresses; everything is torn down on exit; every loop is bounded.
set -uo pipefail
cd "$(dirname "$0")/../.."
SRC=$PWD
SIZE=full RUNS= BUILD=$SRC/build/dev SYSTEMS="hapf keepalived ucarp kernel" RESULTS= WRITE_README=0 PARALLEL=0
while (($#)); do
  case $1 in
    --size) SIZE=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --build) BUILD=$(cd "$2" && pwd); shift 2 ;;
    --systems) SYSTEMS=$2; shift 2 ;;
    --results) RESULTS=$2; shift 2 ;;
    --write-readme) WRITE_README=1; shift ;;
    --parallel) PARALLEL=1; shift ;;  # the systems side by side (smoke test only: they share the CPUs)
    *) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
  esac
done
# PEERS_SYNC_MTU: the em2 sync cable's MTU for every system (hapf's pfsync0 gets the same `mtu`; conntrackd
# sizes its messages from the interface), default 1500.
SYNC_MTU=${PEERS_SYNC_MTU:-1500}
COMMAND="${PEERS_SYNC_MTU:+PEERS_SYNC_MTU=$SYNC_MTU }bash bench/peers/run.sh --size $SIZE${RUNS:+ --runs $RUNS}"
case $SIZE in
  tiny) RUNS=${RUNS:-1} SESSIONS=20 INSERTS=2000 BULK=1000 CT_BULK=1000 PPS_SECONDS=1 SETUP_SECONDS=1
        FLOW_PPS=20000 PROBE_DEFAULT=10 PROBE_FAST=6 HOLD_AFTER=10 BULK_LIMIT=10000 STABLE=2000 ;;
  full) RUNS=${RUNS:-3} SESSIONS=1000 INSERTS=100000 BULK=500000 CT_BULK=240000 PPS_SECONDS=3 SETUP_SECONDS=3
        FLOW_PPS=${PEERS_FLOW_PPS:-50000} PROBE_DEFAULT=12 PROBE_FAST=7 HOLD_AFTER=20 BULK_LIMIT=60000 STABLE=5000 ;;
  *) echo "--size tiny|full" >&2; exit 2 ;;
esac
# BULK and CT_BULK count flows. hapf keeps two pf states per forwarded flow (in on em0, out on em1), so
# 500 000 flows are 1 000 000 states; conntrack keeps one entry per flow and nf_conntrack_max (262144 here,
# global, not writable inside a namespace) caps its table.
TOOL=$BUILD/bench/peers_tool
HAPFD=$BUILD/src/daemon/hapfd
HAPFCTL=$BUILD/src/cli/hapfctl
for f in "$TOOL" "$HAPFD" "$HAPFCTL"; do
  [[ -x $f ]] || { echo "run.sh: $f missing (ninja -C $BUILD hapfd hapfctl peers_tool)" >&2; exit 1; }
done
for b in keepalived conntrackd conntrack ucarp nft; do
  command -v $b >/dev/null || { echo "run.sh: $b not installed (scripts/bootstrap.sh)" >&2; exit 1; }
done

TAG=pb$$-  # namespace prefix of this run; each system gets its own: ${TAG}a- ${TAG}b- ...
WORK=$(mktemp -d /tmp/hapf-peers.XXXXXX)
RESULTS=${RESULTS:-$WORK/results.txt}
: >"$RESULTS"
P=  # the prefix of the topology in use
SYS=  # the system under test
now_ms() { date +%s%3N; }
# (Background daemons are started with "ip netns exec ... &" directly, never through this function: $! must be
# the daemon's own pid, not a subshell's.)
in_ns() { local n=$1; shift; ip netns exec "$P$n" "$@"; }
log() { echo "[$(date +%T)] $SYS: $*" >&2; }
debug_state() {  # what each firewall holds, and the end of the HA logs (on an unexpected state)
  local n
  for n in 1 2; do log "fw$n: $(ip -n "${P}fw$n" -4 -o addr show 2>/dev/null | awk '{print $2, $4}' | tr '\n' ' ')"; done
  if [[ $SYS == hapf ]]; then tail -n 6 "$LAB_RUN"/logs/ha-fw*.log >&2
  else tail -n 4 "$WORK/$SYS"/fw*/*.log >&2; fi
}
STEPS=${PEERS_STEPS:-fwd sessions gaps states ceiling fast}  # (for debugging the harness: a subset)
step() { [[ " $STEPS " == *" $1 "* ]]; }
record() { echo "$SYS|$1|$2" >>"$RESULTS"; log "$1 = $2"; }  # record ROW VALUE

# ---------------------------------------------------------------- topology (the lab's, see docs/lab.md)
ROLES=(sw cpe client fw1 fw2 srv)
topo_down() {
  local prefix=$1 r pids
  for r in "${ROLES[@]}"; do
    ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$prefix$r" || continue
    pids=$(ip netns pids "$prefix$r" 2>/dev/null)
    [[ -n $pids ]] && kill -KILL $pids 2>/dev/null
    ip netns del "$prefix$r" 2>/dev/null
  done
}
topo_up() {  # the lab's namespaces and addresses, without any firewall software
  local r pair
  for r in "${ROLES[@]}"; do ip netns add "$P$r" || return 1; ip -n "$P$r" link set lo up; done
  ip -n "${P}sw" link add out type bridge && ip -n "${P}sw" link set out up
  ip -n "${P}sw" link add dmz type bridge && ip -n "${P}sw" link set dmz up
  for pair in "cpe em0 out" "fw1 em0 out" "fw2 em0 out" "fw1 em1 dmz" "fw2 em1 dmz" "srv em0 dmz"; do
    set -- $pair
    ip -n "$P$1" link add "$2" type veth peer name "$1-$2" netns "${P}sw" || return 1
    ip -n "$P$1" link set "$2" up; ip -n "${P}sw" link set "$1-$2" master "$3" up
  done
  ip -n "${P}client" link add em0 type veth peer name em1 netns "${P}cpe"
  ip -n "${P}fw1" link add em2 type veth peer name em2 netns "${P}fw2"
  ip -n "${P}client" link set em0 up; ip -n "${P}cpe" link set em1 up
  ip -n "${P}fw1" link set em2 mtu "$SYNC_MTU" up; ip -n "${P}fw2" link set em2 mtu "$SYNC_MTU" up
  ip -n "${P}client" addr add 198.51.100.42/25 dev em0
  ip -n "${P}client" route add default via 198.51.100.1
  ip -n "${P}cpe" addr add 198.51.100.1/25 dev em1
  ip -n "${P}cpe" addr add 198.51.100.134/29 dev em0
  ip -n "${P}cpe" route add 203.0.113.192/26 via 198.51.100.131
  local n
  for n in 1 2; do
    ip -n "${P}fw$n" addr add 198.51.100.$((128 + n))/29 dev em0
    ip -n "${P}fw$n" addr add 203.0.113.$((192 + n))/26 dev em1
    ip -n "${P}fw$n" addr add 192.0.2.$n/30 dev em2
    ip -n "${P}fw$n" route add 198.51.100.0/25 via 198.51.100.134
    in_ns fw$n sysctl -qw net.ipv4.ip_forward=1
  done
  in_ns cpe sysctl -qw net.ipv4.ip_forward=1
  ip -n "${P}srv" addr add 203.0.113.196/26 dev em0
  ip -n "${P}srv" route add default via 203.0.113.195
}
# What every system shares: client source addresses for many connections, our echo/discard server on srv.
common_up() {
  local i n
  for i in $(seq 43 50); do ip -n "${P}client" addr add 198.51.100.$i/25 dev em0; done
  in_ns client sysctl -qw net.ipv4.ip_local_port_range="1024 65000"
  for n in fw1 fw2; do
    in_ns $n sysctl -qw net.netfilter.nf_conntrack_udp_timeout=900 2>/dev/null
    in_ns $n sysctl -qw net.netfilter.nf_conntrack_udp_timeout_stream=900 2>/dev/null
  done
  in_ns srv "$TOOL" serve 7 --discard 9 --seconds 3600 >"$WORK/$SYS.serve.log" 2>&1 &
  for _ in $(seq 50); do grep -q serving "$WORK/$SYS.serve.log" 2>/dev/null && break; sleep 0.1; done
}

# ---------------------------------------------------------------- VIP ownership
vip_on() {  # vip_on N ADDR: fwN has ADDR
  ip -n "${P}fw$1" -4 -o addr show 2>/dev/null | grep -q " $2/"
}
holds_both() { vip_on "$1" 198.51.100.131 && vip_on "$1" 203.0.113.195; }
wait_master() {  # wait_master N LIMIT_MS: fwN holds both VIPs and the other none
  local n=$1 o=$((3 - $1)) t0; t0=$(now_ms)
  while (($(now_ms) - t0 < $2)); do
    holds_both "$n" && ! vip_on $o 198.51.100.131 && ! vip_on $o 203.0.113.195 && return 0
    # A killed keepalived/ucarp leaves its VIPs behind: then the peer holding both is what counts.
    [[ ${LEFTOVER_OK:-0} == 1 ]] && holds_both "$n" && return 0
    sleep 0.02
  done
  log "wait_master $1: timeout"; debug_state
  return 1
}

# ---------------------------------------------------------------- the equivalent ruleset (nftables)
# The lab's pf.conf (docs/lab.md) plus the benchmark's UDP sink (port 9): stateful passes from the user net
# to the server for ssh/echo (TCP: flags S/SA, i.e. only a SYN creates state) and echo/discard (UDP), ICMP,
# TCP 80 blocked, VRRP/CARP and the sync link allowed, everything else dropped.
# EXTRA non-matching rules go after `ct state established,related accept`, where an nftables user puts them;
# the benchmark's one-way UDP flows never get a reply, so conntrack keeps them NEW (quirks.md 7) and every
# packet walks them all the same, while a pf state matches from a flow's first packet.
nft_ruleset() {  # nft_ruleset EXTRA
  local extra=$1 i
  echo "table inet pf {"
  echo " chain forward { type filter hook forward priority filter; policy drop;"
  echo "  ct state established,related accept"
  for ((i = 0; i < extra; i++)); do
    echo "  iifname \"em0\" ip saddr 198.51.100.0/25 ip daddr 203.0.113.196 udp dport $((10000 + i)) accept"
  done
  cat <<'EOF'
  iifname "em0" ip daddr 203.0.113.196 tcp dport 80 drop
  iifname "em0" oifname "em1" ip saddr 198.51.100.0/25 ip daddr 203.0.113.196 tcp dport { 7, 22 } tcp flags & (syn | ack) == syn ct state new accept
  iifname "em0" oifname "em1" ip saddr 198.51.100.0/25 ip daddr 203.0.113.196 udp dport { 7, 9 } ct state new accept
  ip protocol icmp accept
 }
 chain input { type filter hook input priority filter; policy drop;
  iif "lo" accept
  ct state established,related accept
  ip protocol { icmp, vrrp } accept
  iifname "em2" accept
 }
}
EOF
}
nft_load() {  # nft_load N EXTRA
  in_ns fw$1 nft delete table inet pf 2>/dev/null
  nft_ruleset "$2" | in_ns fw$1 nft -f -
}

# pf.conf of the hapf run: the lab's file plus the same benchmark additions.
pf_conf() {  # pf_conf LABFILE EXTRA
  local extra=$2 i
  echo "set limit states 1500000"
  # adaptive.start/end as OpenBSD's pfctl derives them from the states limit (60 % / 120 %). hapf keeps
  # pf's fixed 60 000 / 120 000 when only the limit is set: past 60 000 states every timeout shrank, and
  # the tables of the 2026-11-23 run (and of the first 2026-12-06 run) stopped near 120 000 states.
  echo "set timeout { udp.first 900, udp.single 900, udp.multiple 900, adaptive.start 900000, adaptive.end 1800000 }"
  grep -v '^block in quick' "$1"
  echo 'pass in  on em0 inet proto udp from $user_net to $server port discard keep state'
  echo 'pass out on em1 inet proto udp from $user_net to $server port discard keep state'
  for ((i = 0; i < extra; i++)); do
    echo "pass in on em0 inet proto udp from \$user_net to \$server port $((10000 + i)) keep state"
  done
  grep '^block in quick' "$1"
}

# ---------------------------------------------------------------- conntrackd (b, c)
ctd_conf() {  # ctd_conf N: FTFW over the em2 cable, caches large enough for the bulk test
  local n=$1 me=192.0.2.$1 peer=192.0.2.$((3 - $1)) d=$WORK/$SYS/fw$1
  mkdir -p "$d"
  cat >"$d/conntrackd.conf" <<EOF
Sync {
  Mode FTFW {
    DisableExternalCache Off
    CommitTimeout 1800
    PurgeTimeout 60
  }
  UDP {
    IPv4_address $me
    IPv4_Destination_Address $peer
    Port 3780
    Interface em2
    SndSocketBuffer 24985600
    RcvSocketBuffer 24985600
    Checksum on
  }
}
General {
  Systemd off
  HashSize 262144
  HashLimit 2097152
  LogFile $d/conntrackd.log
  Syslog off
  LockFile $d/conntrackd.lock
  UNIX {
    Path $d/conntrackd.ctl
  }
  NetlinkBufferSize 2097152
  NetlinkBufferSizeMaxGrowth 134217728
  NetlinkOverrunResync On
  NetlinkEventsReliable Off
  Filter From Userspace {
    Protocol Accept {
      TCP
      UDP
    }
    Address Ignore {
      IPv4_address 127.0.0.1
      IPv4_address 192.0.2.0/30
    }
  }
}
EOF
  # What conntrack-tools' primary-backup.sh does on each keepalived/ucarp transition (our own script).
  cat >"$d/notify.sh" <<EOF
#!/bin/sh
C="conntrackd -C $d/conntrackd.conf"
echo "\$(date +%s%3N) \$*" >>$d/notify.log
case "\$1" in
  primary) \$C -c; \$C -f; \$C -R; \$C -B ;;   # commit the external cache, flush, resync with the kernel, bulk to the peer
  backup)  \$C -n; \$C -t ;;                   # ask the peer for a resync, shorten the kernel's timers
  fault)   \$C -t ;;
esac
exit 0
EOF
  chmod +x "$d/notify.sh"
}
ctd_start() {  # ctd_start N
  local d=$WORK/$SYS/fw$1
  rm -f "$d/conntrackd.lock" "$d/conntrackd.ctl"
  ip netns exec "${P}fw$1" conntrackd -C "$d/conntrackd.conf" >>"$d/conntrackd.out" 2>&1 &
  echo $! >"$d/conntrackd.pid"; disown $!
  for _ in $(seq 50); do [[ -S $d/conntrackd.ctl ]] && return 0; sleep 0.1; done
  log "conntrackd on fw$1 did not start"; return 1
}
ctd() { local n=$1; shift; in_ns fw$n conntrackd -C "$WORK/$SYS/fw$n/conntrackd.conf" "$@"; }
ctd_external() {  # entries in fwN's external cache
  ctd "$1" -s 2>/dev/null | awk '/cache external/ {x=1} x && /current active connections/ {print $(NF); exit}'
}

# ---------------------------------------------------------------- keepalived (b)
KA_TIMERS=default
ka_conf() {  # ka_conf N
  local n=$1 d=$WORK/$SYS/fw$1 prio version adv
  ((n == 1)) && prio=200 || prio=100
  if [[ $KA_TIMERS == fast ]]; then version=3; adv=0.05; else version=2; adv=1; fi
  cat >"$d/keepalived.conf" <<EOF
global_defs {
  router_id fw$n
  vrrp_version $version
  script_user root
  enable_script_security
  vrrp_garp_master_repeat 2
}
vrrp_sync_group G {
  group {
    OUT
    DMZ
  }
  notify_master "$d/notify.sh primary"
  notify_backup "$d/notify.sh backup"
  notify_fault "$d/notify.sh fault"
}
vrrp_instance OUT {
  state BACKUP
  interface em0
  virtual_router_id 1
  priority $prio
  advert_int $adv
  virtual_ipaddress {
    198.51.100.131/29 dev em0
  }
}
vrrp_instance DMZ {
  state BACKUP
  interface em1
  virtual_router_id 2
  priority $prio
  advert_int $adv
  virtual_ipaddress {
    203.0.113.195/26 dev em1
  }
}
EOF
}
ka_start() {  # ka_start N
  local d=$WORK/$SYS/fw$1
  ka_conf "$1"
  ip netns exec "${P}fw$1" keepalived -n -l -D --vrrp -f "$d/keepalived.conf" -p "$d/ka.pid" -r "$d/ka-vrrp.pid" \
    -c "$d/ka-check.pid" >>"$d/keepalived.log" 2>&1 &
  disown $!
}
ka_pids() { pgrep -f -- "-f $WORK/$SYS/fw$1/keepalived.conf" ; }

# ---------------------------------------------------------------- ucarp (c)
UC_TIMERS=default
uc_start() {  # uc_start N [IF]: one ucarp per VIP (no grouping exists); only the missing ones with IF
  local n=$1 d=$WORK/$SYS/fw$1 skew dead
  ((n == 1)) && skew=0 || skew=100
  [[ $UC_TIMERS == fast ]] && dead=1 || dead=3
  local spec
  for spec in "em0 1 198.51.100.131 29 198.51.100.$((128 + n))" "em1 2 203.0.113.195 26 203.0.113.$((192 + n))"; do
    set -- $spec
    [[ -n ${2:-} && -n ${UC_ONLY:-} && $UC_ONLY != "$1" ]] && continue
    cat >"$d/up-$1.sh" <<EOF
#!/bin/sh
ip addr add $3/$4 dev $1
$d/notify.sh primary
EOF
    cat >"$d/down-$1.sh" <<EOF
#!/bin/sh
ip addr del $3/$4 dev $1 2>/dev/null
$d/notify.sh backup
EOF
    chmod +x "$d/up-$1.sh" "$d/down-$1.sh"
    ip netns exec "${P}fw$n" ucarp -i "$1" -s "$5" -v "$2" -p hapf-bench -a "$3" -b 1 -k $skew -r $dead -P -z \
      -u "$d/up-$1.sh" -d "$d/down-$1.sh" >>"$d/ucarp-$1.log" 2>&1 &
    echo $! >"$d/ucarp-$1.pid"; disown $!
  done
}
uc_pids() { pgrep -f -- "ucarp .*$WORK/$SYS/fw$1/" ; }

# ---------------------------------------------------------------- hapf (a)
LAB_RUN=
hapf_ctl() { local n=$1; shift; in_ns fw$n "$HAPFCTL" --socket="$LAB_RUN/fw$n/hapfd.sock" "$@"; }
hapf_states() { hapf_ctl "$1" -si 2>/dev/null | awk '/current entries/ {print $3; exit}'; }
hapf_start() {  # hapf_start N: as lab/lab starts it
  # A killed hapfd's guard process (it removes the CARP macvlans) may still hold the NFQUEUE binding for a
  # moment; a new hapfd started before it is gone cannot bind the queue. Wait for it (bounded).
  local pid
  for _ in $(seq 100); do
    pid=$(for p in $(ip netns pids "${P}fw$1" 2>/dev/null); do [[ $(cat /proc/$p/comm 2>/dev/null) == hapfd ]] && echo $p; done)
    [[ -z $pid ]] && break
    sleep 0.05
  done
  rm -f "$LAB_RUN/fw$1/hapfd.sock"
  ip netns exec "${P}fw$1" "$HAPFD" -d -c "$LAB_RUN/fw$1/etc" >>"$LAB_RUN/logs/ha-fw$1.log" 2>&1 &
  echo $! >"$LAB_RUN/pids/ha-fw$1.pid"; disown $!
  for _ in $(seq 100); do [[ -S $LAB_RUN/fw$1/hapfd.sock ]] && break; sleep 0.05; done
}
hapf_pid() { cat "$LAB_RUN/pids/ha-fw$1.pid"; }
hapf_timers() {  # hapf_timers default|fast: rewrite hostname.carpN (fast: hapf's fastinterval 50 ms)
  local n f
  for n in 1 2; do
    for f in "$LAB_RUN"/fw$n/etc/hostname.carp*; do
      sed -i 's/ fastinterval [0-9]*//' "$f"
      [[ $1 == fast ]] && sed -i 's/$/ fastinterval 50/' "$f"
    done
  done
  hapf_restart_both
}
hapf_restart_both() {
  local n
  for n in 2 1; do
    kill -TERM "$(hapf_pid $n)" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$(hapf_pid $n)" 2>/dev/null || break; sleep 0.05; done
    hapf_start $n
  done
  wait_master 1 15000 || log "fw1 not MASTER after the restart"
}

# ---------------------------------------------------------------- system start/stop/fail/restore
sys_up() {
  local n
  P=$TAG$1-
  case $SYS in
    hapf)
      LAB_RUN=$WORK/lab
      HAPF_LAB_PREFIX=$P HAPF_LAB_RUN=$LAB_RUN HAPF_LAB_BUILD=$BUILD HAPF_LAB_MODE=hapfd \
        HAPF_LAB_HAPFD=$HAPFD HAPF_LAB_HAPFCTL=$HAPFCTL HAPF_LAB_SYNC_MTU=$SYNC_MTU bash lab/lab up >"$WORK/lab-up.log" 2>&1 ||
        { cat "$WORK/lab-up.log" >&2; return 1; }
      kill "$(cat "$LAB_RUN/pids/echo.pid")" 2>/dev/null  # our server takes port 7
      sleep 0.2
      common_up
      for n in 1 2; do
        pf_conf "$LAB_RUN/fw$n/etc/pf.conf" 0 >"$WORK/pf.conf"
        cp "$WORK/pf.conf" "$LAB_RUN/fw$n/etc/pf.conf"
        hapf_ctl $n -f "$LAB_RUN/fw$n/etc/pf.conf" || return 1
      done
      wait_master 1 15000 ;;
    keepalived|ucarp)
      topo_up || return 1
      common_up
      for n in 1 2; do mkdir -p "$WORK/$SYS/fw$n"; nft_load $n 0; ctd_conf $n; ctd_start $n || return 1; done
      if [[ $SYS == keepalived ]]; then ka_start 1; sleep 0.3; ka_start 2
      else uc_start 1; sleep 0.3; uc_start 2; fi
      wait_master 1 15000 ;;
    kernel)
      topo_up || return 1
      common_up
      ip -n "${P}fw1" addr add 198.51.100.131/29 dev em0
      ip -n "${P}fw1" addr add 203.0.113.195/26 dev em1 ;;
  esac
}
sys_down() { topo_down "$P"; [[ $SYS == hapf ]] && rm -rf "$LAB_RUN"; }

# fail_sigkill / fail_linkdown / restore_*: the failure injected on fw1 and its repair.
fail_sigkill() {
  case $SYS in
    hapf) kill -KILL "$(hapf_pid 1)" ;;
    keepalived) kill -KILL $(ka_pids 1) "$(cat "$WORK/$SYS/fw1/conntrackd.pid")" 2>/dev/null ;;
    ucarp) kill -KILL $(uc_pids 1) "$(cat "$WORK/$SYS/fw1/conntrackd.pid")" 2>/dev/null ;;
  esac
}
restore_sigkill() {
  case $SYS in
    hapf) hapf_start 1 ;;
    keepalived|ucarp)
      # fw1 comes back clean (as after a reboot): the VIPs its killed daemon left behind are gone.
      ip -n "${P}fw1" addr del 198.51.100.131/29 dev em0 2>/dev/null
      ip -n "${P}fw1" addr del 203.0.113.195/26 dev em1 2>/dev/null
      ctd_start 1
      if [[ $SYS == keepalived ]]; then ka_start 1; else uc_start 1; fi ;;
  esac
}
fail_linkdown() { ip -n "${P}fw1" link set em1 down; }
restore_linkdown() {
  ip -n "${P}fw1" link set em1 up
  # ucarp exits when its interface loses carrier and does not come back (quirks.md 3): restart it as a
  # service manager would.
  if [[ $SYS == ucarp ]]; then
    local pid; pid=$(cat "$WORK/$SYS/fw1/ucarp-em1.pid")
    kill -0 "$pid" 2>/dev/null || UC_ONLY=em1 uc_start 1
  fi
}
set_timers() {  # set_timers default|fast
  local n
  case $SYS in
    hapf) hapf_timers "$1" ;;
    keepalived)
      KA_TIMERS=$1
      for n in 2 1; do kill -TERM $(ka_pids $n) 2>/dev/null; for _ in $(seq 50); do [[ -z $(ka_pids $n) ]] && break; sleep 0.1; done; ka_start $n; done
      wait_master 1 15000 ;;
    ucarp)
      UC_TIMERS=$1
      for n in 2 1; do kill -TERM $(uc_pids $n) 2>/dev/null; for _ in $(seq 50); do [[ -z $(uc_pids $n) ]] && break; sleep 0.1; done; uc_start $n; done
      wait_master 1 15000 ;;
  esac
}

# ---------------------------------------------------------------- 1. failover and failback gaps
gap_test() {  # gap_test EVENT TIMERS PROBE_SECONDS
  local ev=$1 timers=$2 secs=$3 t0 out inject_at restore_at
  flush_states
  wait_master 1 60000 || { log "fw1 not MASTER before $ev"; return 1; }
  sleep 0.5
  t0=$(now_ms)
  in_ns client "$TOOL" probe 203.0.113.196 7 --seconds "$secs" --interval-us 1000 >"$WORK/$SYS.probe.out" 2>&1 &
  local probe=$!
  sleep 1
  inject_at=$(($(now_ms) - t0))
  fail_$ev
  local unrecovered=0 takeover_limit=6000
  [[ $timers == fast ]] && takeover_limit=3000
  LEFTOVER_OK=1 wait_master 2 $takeover_limit || { log "fw2 did not take both VIPs after $ev"; unrecovered=1; }
  # Restore once traffic is stable through fw2 (default timers: master-down is about 3.4-4.2 s).
  local restore_due=$((inject_at + 5000)); [[ $timers == fast ]] && restore_due=$((inject_at + 1500))
  while (($(now_ms) - t0 < restore_due)); do sleep 0.05; done
  restore_at=$(($(now_ms) - t0))
  restore_$ev
  wait $probe
  out=$(cat "$WORK/$SYS.probe.out")
  wait_master 1 15000 || log "fw1 did not return to MASTER after $ev"
  log "probe ($ev, $timers, inject ${inject_at} ms, restore ${restore_at} ms): $out"
  # Times on the probe's own clock: it prints its start (epoch ms), so injection and repair map exactly.
  local start=${out##*start=}; start=${start%% *}
  if [[ $start =~ ^[0-9]+$ ]]; then inject_at=$((t0 + inject_at - start)); restore_at=$((t0 + restore_at - start)); fi
  local gaps=${out##*gaps=}
  local fo=0 fb=0 g s l
  [[ $gaps == none ]] && gaps=
  for g in ${gaps//,/ }; do
    s=${g%+*} l=${g#*+}
    if ((s >= inject_at - 100 && s < restore_at)); then ((l > fo)) && fo=$l
    elif ((s >= restore_at)); then ((l > fb)) && fb=$l; fi
  done
  record "failover_${ev}_$timers" "$fo"
  # Traffic never recovered before the repair (ucarp: no VIP grouping): the gap is bounded by the repair.
  ((unrecovered)) && record "failover_${ev}_${timers}_unrecovered" 1
  record "failback_${ev}_$timers" "$fb"
}

# ---------------------------------------------------------------- 2. session survival
session_test() {
  flush_states
  wait_master 1 15000 || return 1
  local out
  in_ns client "$TOOL" hold 203.0.113.196 7 --conns "$SESSIONS" --seconds "$HOLD_AFTER" --interval-ms 200 \
    --tail-ms 3000 --source 198.51.100.43 --sources 8 >"$WORK/$SYS.hold.out" 2>&1 &
  local hold=$!
  for _ in $(seq 300); do grep -q established "$WORK/$SYS.hold.out" && break; sleep 0.1; done
  sleep 2  # data flowing, states replicated
  fail_sigkill
  LEFTOVER_OK=1 wait_master 2 15000 || log "fw2 did not take over"
  wait $hold
  out=$(cat "$WORK/$SYS.hold.out")
  log "sessions: ${out//$'\n'/ }"
  local alive; alive=$(sed -n 's/.* alive=\([0-9]*\).*/\1/p' <<<"$out")
  record sessions_survived "${alive:-0}"
  flush_states  # (hapf: the returning master bulk-syncs before it preempts; the table is not this test's)
  restore_sigkill
  wait_master 1 90000 || log "fw1 did not return after the session test"
  sleep 1
}

# ---------------------------------------------------------------- 3. state replication, 5. memory
flush_states() {
  case $SYS in
    hapf) hapf_ctl 1 -F states >/dev/null 2>&1; hapf_ctl 2 -F states >/dev/null 2>&1 ;;
    *) local k; for k in 1 2; do ctd $k -f >/dev/null 2>&1; in_ns fw$k conntrack -F >/dev/null 2>&1; done ;;
  esac
  sleep 1
}
master_count() {  # flows (hapf: pf states / 2) on fw1
  case $SYS in
    hapf) echo $(( $(hapf_states 1 || echo 0) / 2 )) ;;
    *) in_ns fw1 conntrack -C 2>/dev/null ;;
  esac
}
backup_count() {
  case $SYS in
    hapf) local s; s=$(hapf_states 2); echo $(( ${s:-0} / 2 )) ;;
    *) ctd_external 2 ;;
  esac
}
sync_bytes() { echo $(( $(in_ns fw2 cat /sys/class/net/em2/statistics/rx_bytes) + $(in_ns fw2 cat /sys/class/net/em2/statistics/tx_bytes) )); }
slab_bytes() { awk '$1 == "nf_conntrack" {print $2 * $4}' /proc/slabinfo; }  # active objects x object size
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null; }
FLOW_BASE=2  # source addresses of generated flows: 198.51.100.FLOW_BASE.. (inside the user net, not used otherwise)
# follow_backup M0 K0 LIMIT_MS STABLE_MS: follows the backup's count until it holds what the master created
# (99.9%: the master also counts a few entries never synced) or stops growing for STABLE_MS, or LIMIT_MS.
# Sets CREATED, HELD (above the starting counts), LAST_MS (time of the last growth since T0) and DONE (0/1).
follow_backup() {
  local m0=$1 k0=$2 limit=$3 stable=$4 m=0 k=0 prev=-1 since first=1
  since=$(now_ms); DONE=0 LAST_MS=0
  while ((first || $(now_ms) - T0 < limit)); do  # (at least one look, however long the restart took)
    first=0
    m=$(( $(master_count) - m0 )); k=$(( $(backup_count) - k0 ))
    # Only growth counts: states that expire meanwhile make the count fall, and a fall is no progress.
    if ((k > prev)); then prev=$k; since=$(now_ms); LAST_MS=$((since - T0)); fi
    if ((m > 0 && k >= m - m / 1000 - 10)); then DONE=1; break; fi
    (($(now_ms) - since >= stable)) && break
    sleep 0.05
  done
  CREATED=$m HELD=$k
}
insert_test() {  # N new flows through the master: inserts/s until the backup holds all, bytes per flow
  local count=$INSERTS b0 s0 out bytes m0 k0 r0=0
  flush_states
  m0=$(master_count); k0=$(backup_count)
  b0=$(sync_bytes); s0=$(slab_bytes)
  [[ $SYS == hapf ]] && r0=$(rss_kb "$(hapf_pid 1)")
  T0=$(now_ms)
  out=$(in_ns client "$TOOL" flows 198.51.100.$FLOW_BASE 8 203.0.113.196 9 --count "$count" --pps "$FLOW_PPS")
  follow_backup "$m0" "$k0" 120000 "$STABLE"
  log "flows: $out; the master created $CREATED flows, the backup holds $HELD (last growth at $LAST_MS ms, complete: $DONE)"
  ((CREATED > 0)) || { record insert_rate 0; return 1; }
  record insert_rate $((HELD * 1000 / (LAST_MS > 0 ? LAST_MS : 1)))
  record insert_held_pct $((HELD * 100 / CREATED))
  bytes=$(($(sync_bytes) - b0))
  record sync_bytes_per_flow $((bytes / (HELD > 0 ? HELD : 1)))
  case $SYS in
    # The RSS of a process does not shrink when states go: only the first run (fresh hapfd) counts.
    hapf) ((INSERT_RUNS++ == 0)) && record mem_master_per_flow $(( ($(rss_kb "$(hapf_pid 1)") - r0) * 1024 / CREATED )) ;;
    *) record mem_master_per_flow $(( ($(slab_bytes) - s0) / CREATED )) ;;
  esac
}
ceiling_test() {  # the same N flows created on the master without the packet path, all at once: the replication
  # machinery's own ceiling (hapf: `hapfctl debug flows` judges synthetic first packets inside hapfd; conntrack:
  # entries written over ctnetlink, which conntrackd hears as it hears packet-made ones)
  local count=$INSERTS out m0 k0 pids ticks0 tool_ms=0
  flush_states
  m0=$(master_count); k0=$(backup_count)
  # CPU of both sync daemons (hapfd does the filter's work too; the kernel's conntrack inserts are in
  # ct-insert's own time, added below; hapfctl's is a few JSON requests, left out).
  case $SYS in
    hapf) pids="$(hapf_pid 1) $(hapf_pid 2)" ;;
    *) pids="$(cat "$WORK/$SYS/fw1/conntrackd.pid") $(cat "$WORK/$SYS/fw2/conntrackd.pid")" ;;
  esac
  ticks0=$(cpu_ticks $pids)
  T0=$(now_ms)
  case $SYS in
    hapf) out=$(hapf_ctl 1 debug flows count "$count" from 198.51.100.$FLOW_BASE sources 8 to 203.0.113.196 port 9 \
                  in em0 out em1 2>&1) ;;
    *) out=$(in_ns fw1 "$TOOL" ct-insert 198.51.100.$FLOW_BASE 8 203.0.113.196 9 --count "$count" 2>&1) ;;
  esac
  local made=$(($(now_ms) - T0))
  follow_backup "$m0" "$k0" 120000 "$STABLE"
  log "ceiling: $out (${made} ms); the master created $CREATED flows, the backup holds $HELD (last growth at $LAST_MS ms, complete: $DONE)"
  ((CREATED > 0)) || { record ceiling_rate 0; return 1; }
  record ceiling_create_rate $((CREATED * 1000 / (made > 0 ? made : 1)))
  record ceiling_rate $((HELD * 1000 / (LAST_MS > 0 ? LAST_MS : 1)))
  # follow_backup stops at 99.9 %; the last partial pfsync packet leaves within its 1 s flush delay (OpenBSD's).
  sleep 1.5
  local held=$(($(backup_count) - k0))
  record ceiling_held_pct $((held * 100 / CREATED))
  [[ $out =~ cpu_ms=([0-9]+) ]] && tool_ms=${BASH_REMATCH[1]}
  local cpu_us=$(( ($(cpu_ticks $pids) - ticks0) * 1000000 / $(getconf CLK_TCK) + tool_ms * 1000 ))
  log "ceiling: CPU $((cpu_us / 1000)) ms (daemons + ${tool_ms} ms of the injector) for $held flows"
  record ceiling_cpu_us_per_flow $(awk -v c="$cpu_us" -v h="$held" 'BEGIN { printf "%.2f", c / (h > 0 ? h : 1) }')
}
cpu_ticks() {  # cpu_ticks PID...: user + system clock ticks of these processes
  local p t=0
  for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done
  echo "$t"
}
bulk_test() {  # a restarted backup's time to hold the full table (bounded by BULK_LIMIT ms)
  local target=$1 out full rss0
  if ((${BULK_READY:-0} != target)); then
    flush_states
    out=$(in_ns client "$TOOL" flows 198.51.100.$FLOW_BASE 9 203.0.113.196 9 --count "$target" --pps "$FLOW_PPS")
    T0=$(now_ms); follow_backup 0 0 120000 "$STABLE"
    log "bulk table: $out; the master holds $CREATED flows, the backup $HELD"
    BULK_READY=$target
  fi
  full=$(master_count)
  case $SYS in
    hapf)
      kill -TERM "$(hapf_pid 2)"; for _ in $(seq 200); do kill -0 "$(hapf_pid 2)" 2>/dev/null || break; sleep 0.05; done
      T0=$(now_ms); hapf_start 2; rss0=$(rss_kb "$(hapf_pid 2)") ;;
    *)
      local old; old=$(cat "$WORK/$SYS/fw2/conntrackd.pid"); kill -TERM "$old"
      for _ in $(seq 200); do kill -0 "$old" 2>/dev/null || break; sleep 0.05; done
      T0=$(now_ms); ctd_start 2; rss0=$(rss_kb "$(cat "$WORK/$SYS/fw2/conntrackd.pid")"); ctd 2 -n ;;
  esac
  # Memory: the restarted process's growth from its empty start (taken as soon as it answers) to the end.
  follow_backup 0 0 "$BULK_LIMIT" $((STABLE * 2))
  local elapsed=$(($(now_ms) - T0))
  log "bulk: the backup holds $HELD of $full flows after $elapsed ms (the master $CREATED at the end; last growth at $LAST_MS ms, complete: $DONE)"
  record bulk_flows "$full"
  local rate=$((HELD * 1000 / (LAST_MS > 0 ? LAST_MS : 1)))
  record bulk_rate "$rate"
  if ((DONE)); then record bulk_ms "$LAST_MS"
  else  # not complete within the bound: the time the measured rate needs for the whole table
    record bulk_ms $(( rate > 0 ? full * 1000 / rate : 99999999 )); record bulk_extrapolated 1
  fi
  ((HELD >= 1000)) || [[ $SIZE == tiny ]] || return 0  # (RSS moves in pages: too few flows say nothing)
  case $SYS in
    hapf) record mem_backup_per_flow $(( ($(rss_kb "$(hapf_pid 2)") - rss0) * 1024 / (HELD > 0 ? HELD : 1) )) ;;
    *) record mem_backup_per_flow $(( ($(rss_kb "$(cat "$WORK/$SYS/fw2/conntrackd.pid")") - rss0) * 1024 / (HELD > 0 ? HELD : 1) )) ;;
  esac
}

# ---------------------------------------------------------------- 4. forwarding
pps_test() {  # pps_test ROW: 64-byte UDP frames, 256 flows, through the master
  local row=$1 before after out sent secs
  before=$(in_ns srv cat /sys/class/net/em0/statistics/rx_packets)
  out=$(in_ns client timeout $((PPS_SECONDS + 10)) "$BUILD/bench/nfq_udpflood" 203.0.113.196 9 \
    --flows 256 --seconds "$PPS_SECONDS" --source 198.51.100.43 --sources 8)
  sleep 0.3
  after=$(in_ns srv cat /sys/class/net/em0/statistics/rx_packets)
  read -r _ sent secs <<<"$out"
  record "$row" "$(awk -v r=$((after - before)) -v t="$secs" 'BEGIN { printf "%d", r / t }')"
}
setups_test() {
  local out
  out=$(in_ns client "$TOOL" setups 203.0.113.196 7 --seconds "$SETUP_SECONDS" --inflight 64 \
    --source 198.51.100.43 --sources 8)
  log "setups: $out"
  record tcp_setups "$(sed -n 's/.*rate=\([0-9]*\).*/\1/p' <<<"$out")"
}
rules_1000() {  # rules_1000 on|off: 1 000 non-matching rules ahead of the matching one
  local n
  local extra=0; [[ $1 == on ]] && extra=1000
  case $SYS in
    hapf)
      for n in 1 2; do
        pf_conf "$WORK/lab-pf.conf" "$extra" >"$LAB_RUN/fw$n/etc/pf.conf"
        hapf_ctl $n -f "$LAB_RUN/fw$n/etc/pf.conf" >/dev/null || log "reload failed"
      done ;;
    keepalived|ucarp) nft_load 1 "$extra"; nft_load 2 "$extra" ;;
    kernel) ;;
  esac
}

# ---------------------------------------------------------------- per system
sys_letter() { case $SYS in hapf) echo a ;; keepalived) echo b ;; ucarp) echo c ;; *) echo d ;; esac; }
run_system() {
  SYS=$1
  local i
  log "up"
  sys_up "$(sys_letter)" || { log "could not start"; sys_down; return 1; }
  [[ $SYS == hapf ]] && { grep -v -e '^set limit' -e '^set timeout' -e 'port discard' "$LAB_RUN/fw1/etc/pf.conf" >"$WORK/lab-pf.conf"; }
  # 4. forwarding
  if step fwd; then
    for ((i = 0; i < RUNS; i++)); do pps_test pps_small; done
    if [[ $SYS != kernel ]]; then
      rules_1000 on
      for ((i = 0; i < RUNS; i++)); do pps_test pps_1000rules; done
      rules_1000 off
    fi
    for ((i = 0; i < RUNS; i++)); do setups_test; done
  fi
  if [[ $SYS == kernel ]]; then sys_down; return 0; fi
  # 2. sessions, 1. gaps at default timers
  if step sessions; then for ((i = 0; i < RUNS; i++)); do session_test; done; fi
  if step gaps; then
    for ((i = 0; i < RUNS; i++)); do gap_test sigkill default "$PROBE_DEFAULT"; gap_test linkdown default "$PROBE_DEFAULT"; done
  fi
  # 3. state replication and memory (default timers)
  if step states; then
    INSERT_RUNS=0
    for ((i = 0; i < RUNS; i++)); do insert_test; done
    BULK_READY=0
    local bulk=$BULK; [[ $SYS != hapf ]] && bulk=$CT_BULK
    # One bulk run per system: the table takes minutes to build and the bound is a minute.
    bulk_test "$bulk"
    flush_states
  fi
  if step ceiling; then for ((i = 0; i < RUNS; i++)); do ceiling_test; done; flush_states; fi
  # 1. gaps at the fastest timers
  if step fast; then
    set_timers fast
    for ((i = 0; i < RUNS; i++)); do gap_test sigkill fast "$PROBE_FAST"; gap_test linkdown fast "$PROBE_FAST"; done
  fi
  sys_down
}

cleanup() {
  local s
  for s in a b c d; do topo_down "$TAG$s-"; done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

T_START=$(now_ms)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
if ((PARALLEL)); then
  pids=()
  for s in $SYSTEMS; do run_system "$s" & pids+=($!); done
  wait "${pids[@]}"
else
  for s in $SYSTEMS; do run_system "$s"; done
fi
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED=$(( ($(now_ms) - T_START) / 1000 ))

# ---------------------------------------------------------------- summary
VERSIONS="hapf $(git -C "$SRC" rev-parse --short HEAD 2>/dev/null); $(keepalived --version 2>&1 | head -1 | cut -d' ' -f1-2); conntrack-tools $(conntrackd -v 2>&1 | head -1 | sed 's/.* v\([0-9.]*\)\..*/\1/'); $(ucarp --help 2>&1 | grep -m1 -o 'ucarp [0-9.]*'); nftables $(nft --version | cut -d' ' -f2); kernel $(uname -r)"
/usr/bin/python3 "$SRC/bench/peers/summary.py" "$RESULTS" --size "$SIZE" --runs "$RUNS" --command "$COMMAND" \
  --versions "$VERSIONS" --load "$LOAD0 -> $LOAD1 (2 cores shared with other builds), ${ELAPSED} s" \
  --sessions "$SESSIONS" --inserts "$INSERTS" --bulk "$BULK" --ct-bulk "$CT_BULK" >"$WORK/summary.md"
cat "$WORK/summary.md"
if ((WRITE_README)); then
  /usr/bin/python3 "$SRC/bench/peers/summary.py" --splice "$SRC/bench/README.md" "$WORK/summary.md"
  echo "bench/README.md updated" >&2
fi
