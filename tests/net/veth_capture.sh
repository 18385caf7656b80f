#!/usr/bin/env bash
# Sends UDP, TCP and ICMP through a veth pair between two fresh network
# namespaces and captures it on the receiving end, so tests can check the
# kernel's own checksums with src/net.
#   veth_capture.sh OUT.pcap
# Transmit checksum offload is turned off on both ends: with it on, veth hands
# over packets whose checksum is only partial (CHECKSUM_PARTIAL) and a capture
# would show that rather than the kernel's full checksum.
# Uses only 198.51.100.0/24 and 2001:db8:51::/64 inside its own namespaces;
# everything is torn down on exit. Every step is bounded in time.
set -euo pipefail
out=$1
tag="hnet$$"
ns_a="${tag}a"
ns_b="${tag}b"
dev_a="${tag}x"
dev_b="${tag}y"
cap_pid=""
cleanup() {
  if [[ -n $cap_pid ]]; then kill "$cap_pid" 2>/dev/null || true; fi
  ip netns del "$ns_a" 2>/dev/null || true
  ip netns del "$ns_b" 2>/dev/null || true
}
trap cleanup EXIT

ip netns add "$ns_a"
ip netns add "$ns_b"
ip link add "$dev_a" netns "$ns_a" type veth peer name "$dev_b" netns "$ns_b"
for side in a b; do
  ns_var="ns_$side"; dev_var="dev_$side"
  ns=${!ns_var}; dev=${!dev_var}
  host=$([[ $side == a ]] && echo 1 || echo 2)
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "198.51.100.$host/24" dev "$dev"
  ip -n "$ns" addr add "2001:db8:51::$host/64" dev "$dev" nodad
  ip netns exec "$ns" ethtool -K "$dev" tx off >/dev/null
  ip -n "$ns" link set "$dev" up
done

# Capture on the receiving side: both what arrives and what it answers.
ip netns exec "$ns_b" timeout 40 tcpdump -i "$dev_b" -U -n -s 0 -w "$out" 2>"$out.log" &
cap_pid=$!
# Wait for the capture to be ready (long on a loaded machine), or give up.
for _ in $(seq 150); do
  grep -q "listening on" "$out.log" 2>/dev/null && break
  sleep 0.1
done
grep -q "listening on" "$out.log" || { echo "tcpdump did not start"; cat "$out.log"; exit 1; }

# B: a TCP echo service on both families (one connection each, then exit).
ip netns exec "$ns_b" timeout 10 /usr/bin/python3 - <<'PY' &
import socket, threading
def serve(family, addr):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, 7000)); s.listen(1); s.settimeout(8)
    c, _ = s.accept(); c.settimeout(8)
    while True:
        d = c.recv(4096)
        if not d: break
        c.sendall(d)
    c.close()
ts = [threading.Thread(target=serve, args=a) for a in
      ((socket.AF_INET, "198.51.100.2"), (socket.AF_INET6, "2001:db8:51::2"))]
[t.start() for t in ts]; [t.join() for t in ts]
PY
server=$!
sleep 0.5

# A: UDP to a closed port (the kernel answers with port unreachable), odd and
# even lengths; TCP through the echo service; pings.
ip netns exec "$ns_a" timeout 10 /usr/bin/python3 - <<'PY'
import socket, time
for family, dst in ((socket.AF_INET, "198.51.100.2"), (socket.AF_INET6, "2001:db8:51::2")):
    u = socket.socket(family, socket.SOCK_DGRAM)
    for n in (1, 2, 33, 500, 1001):
        u.sendto(bytes((i * 7) & 0xff for i in range(n)), (dst, 9))
        time.sleep(0.01)
    t = socket.create_connection((dst, 7000), timeout=5)
    for n in (5, 1200, 1):
        t.sendall(b"x" * n)
        got = b""
        while len(got) < n:
            got += t.recv(4096)
    t.close()
PY
ip netns exec "$ns_a" ping -c 2 -i 0.2 -W 1 198.51.100.2 >/dev/null
ip netns exec "$ns_a" ping -6 -c 2 -i 0.2 -W 1 -s 101 2001:db8:51::2 >/dev/null
wait "$server"
# A last ping whose payload spells "hapf": once tcpdump (-U: written as
# captured) has put it in the file, everything sent before it is there too.
ip netns exec "$ns_a" ping -c 1 -W 1 -p 68617066 198.51.100.2 >/dev/null
for _ in $(seq 100); do
  grep -aq "hapfhapfhapf" "$out" && break
  sleep 0.1
done
grep -aq "hapfhapfhapf" "$out" || { echo "capture incomplete"; exit 1; }
sleep 0.5
kill -INT "$cap_pid"
wait "$cap_pid" || true
cap_pid=""
