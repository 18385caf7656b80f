#!/usr/bin/python3
"""Independent oracle for src/net's parser: builds packets with scapy, writes
them to pcaps and writes what scapy's own dissection says about each one.

Usage: /usr/bin/python3 gen_packets.py OUTDIR
       /usr/bin/python3 gen_packets.py --describe FILE.pcap...   (JSON to stdout)
Writes OUTDIR/eth.pcap (DLT_EN10MB), OUTDIR/raw.pcap (raw IP) and
OUTDIR/expected.json: a list of {"name", "pcap", "index", and either
"error": <ParseError name> for malformed input, or "fields": {...}}.

Field values come from scapy's dissection of the written bytes (not from the
values used to build them), and "checksums_ok" from scapy recomputing every
checksum. The C++ side (packet_scapy_test.cc) produces the same keys from
ParsedPacket and demands equality key by key, both ways.
"""
import json
import os
import struct
import sys

# Only the layers needed: importing scapy.all costs a second more per run.
from scapy.config import conf
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPOption_RR, IPOption_Router_Alert, fragment, in4_chksum
from scapy.layers.inet6 import (ICMPv6DestUnreach, ICMPv6EchoReply, ICMPv6EchoRequest, ICMPv6PacketTooBig,
                                ICMPv6ParamProblem, ICMPv6TimeExceeded, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment,
                                IPv6ExtHdrHopByHop, IPv6ExtHdrRouting, IPv6ExtHdrSegmentRouting, fragment6,
                                in6_chksum)
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.packet import NoPayload, Padding, Raw
from scapy.utils import checksum
from scapy.layers.ipsec import AH

conf.verb = 0

MAC_A = "02:00:00:00:00:0a"
MAC_B = "02:00:00:00:00:0b"
V4 = dict(src="192.0.2.1", dst="198.51.100.2")
V6 = dict(src="2001:db8::1", dst="2001:db8:1::2")
EXT_BITS = {IPv6ExtHdrHopByHop: 0x01, IPv6ExtHdrRouting: 0x02, IPv6ExtHdrSegmentRouting: 0x02,
            IPv6ExtHdrFragment: 0x04, IPv6ExtHdrDestOpt: 0x08, AH: 0x10}


# scapy leaves what follows an AH header undissected (Raw); these classes let
# it dissect the rest, by the next-header value.
FOLLOW = {0: IPv6ExtHdrHopByHop, 43: IPv6ExtHdrRouting, 44: IPv6ExtHdrFragment, 60: IPv6ExtHdrDestOpt, 51: AH,
          6: TCP, 17: UDP, 1: ICMP}


def redissect(chain, j, nh, raw, start, end):
    """The layer chain with a Raw layer at j replaced by scapy's dissection."""
    if j >= len(chain) or not isinstance(chain[j], Raw) or nh not in FOLLOW or start >= end:
        return chain
    if nh == 1 and isinstance(chain[0], IPv6) or nh == 0 and isinstance(chain[0], IP):
        return chain
    fresh = FOLLOW[nh](raw[start:end])
    fresh.underlayer = chain[j - 1]
    return chain[:j] + layers(fresh)


def layers(p):
    out = []
    while p is not None and not isinstance(p, (NoPayload, Padding)):
        out.append(p)
        p = p.payload
    return out


def ext_len(layer):
    """Bytes an extension header occupies, from scapy's own fields."""
    if isinstance(layer, IPv6ExtHdrFragment):
        return 8
    if isinstance(layer, AH):
        return (layer.payloadlen + 2) * 4
    return (layer.len + 1) * 8


def dissect(raw, link):
    if link == "eth":
        return Ether(raw)
    return IP(raw) if raw[0] >> 4 == 4 else IPv6(raw)


def checksums_ok(raw, d, ip, up, nh):
    """Scapy's own checksum routines over the bytes as sent."""
    l3, l4, end = d["l3_offset"], d["l4_offset"], d["l3_offset"] + d["l3_length"]
    if d["family"] == 4 and checksum(raw[l3:l3 + ip.ihl * 4]) != 0:
        return False
    if not d["l4_present"] or d["fragment"]:
        return True
    body = raw[l4:end]
    if nh == 17:
        body = body[:up.len]
        if d["family"] == 4 and up.chksum == 0:
            return True  # RFC 768: no checksum
    if nh == 1:
        return checksum(body) == 0
    if d["family"] == 4:
        ip = ip.copy()
        ip.len = None  # the pseudo-header length is the upper layer's, not past any AH
        return in4_chksum(nh, ip, body) == 0
    return in6_chksum(nh, up, body) == 0


def describe_quote(d, raw, family, start, end):
    """The packet quoted in an ICMP error: scapy's IPerror/IPerror6 chain."""
    q = {}
    inner = (IP if family == 4 else IPv6)(raw[start:end])
    chain = layers(inner)
    ip = chain[0]
    q["family"] = family
    q["src"] = ip.src
    q["dst"] = ip.dst
    j = 1
    later = False
    if family == 4:
        nh = ip.proto
        l4 = start + ip.ihl * 4
        later = ip.frag != 0
        while not later and j < len(chain) and isinstance(chain[j], AH):
            nh = chain[j].nh
            l4 += ext_len(chain[j])
            j += 1
    else:
        nh = ip.nh
        l4 = start + 40
        while j < len(chain) and type(chain[j]) in EXT_BITS:
            nh = chain[j].nh
            l4 += ext_len(chain[j])
            if isinstance(chain[j], IPv6ExtHdrFragment) and chain[j].offset != 0:
                later = True
                j += 1
                break
            j += 1
    q["proto"] = nh
    # Bytes of the quoted upper layer actually present (scapy fills missing
    # fields with defaults, so presence comes from the length).
    avail = end - l4
    up = chain[j] if j < len(chain) else None
    q["has_ports"] = (not later) and nh in (6, 17) and avail >= 4
    if q["has_ports"]:
        q["src_port"] = up.sport
        q["dst_port"] = up.dport
    if not later and nh == 6 and avail >= 8:
        q["tcp_seq"] = up.seq
    icmp = 1 if family == 4 else 58
    q["has_icmp"] = (not later) and nh == icmp and avail >= 8
    if q["has_icmp"]:
        q["icmp_type"] = up.type
        q["icmp_code"] = up.code
        q["icmp_id"] = up.id
    d["inner"] = q


def describe(raw, link):
    p = dissect(raw, link)
    chain = layers(p)
    d = {}
    i = 0
    l3 = 0
    if link == "eth":
        eth = chain[0]
        d["eth_src"] = eth.src
        d["eth_dst"] = eth.dst
        et = eth.type
        i = 1
        l3 = 14
        if isinstance(chain[1], Dot1Q):
            d["vlan_id"] = chain[1].vlan
            d["vlan_pcp"] = chain[1].prio
            et = chain[1].type
            i = 2
            l3 = 18
        d["ethertype"] = et
        if et == 0x0806:
            a = chain[i]
            d.update(arp_op=a.op, arp_sender_mac=a.hwsrc, arp_sender_ip=a.psrc, arp_target_mac=a.hwdst,
                     arp_target_ip=a.pdst)
            return d
        if et not in (0x0800, 0x86DD):
            return d
    ip = chain[i]
    d["l3_offset"] = l3
    d["src"] = ip.src
    d["dst"] = ip.dst
    mask = 0
    j = i + 1
    if isinstance(ip, IP):
        family = 4
        d.update(family=4, ttl=ip.ttl, tos=ip.tos, l3_length=ip.len, dont_fragment=bool(ip.flags.DF),
                 more_fragments=bool(ip.flags.MF), fragment_offset=ip.frag * 8, fragment_id=ip.id,
                 ipv4_options=ip.ihl > 5)
        d["fragment"] = bool(ip.flags.MF) or ip.frag != 0
        later = ip.frag != 0
        nh = ip.proto
        l4 = l3 + ip.ihl * 4
        while not later:
            chain = redissect(chain, j, nh, raw, l4, l3 + ip.len)
            if j >= len(chain) or not isinstance(chain[j], AH):
                break
            mask |= 0x10
            nh = chain[j].nh
            l4 += ext_len(chain[j])
            j += 1
    else:
        family = 6
        d.update(family=6, ttl=ip.hlim, tos=ip.tc, flow_label=ip.fl, l3_length=40 + ip.plen)
        nh = ip.nh
        l4 = l3 + 40
        frag = None
        later = False
        while True:
            chain = redissect(chain, j, nh, raw, l4, l3 + 40 + ip.plen)
            if j >= len(chain) or type(chain[j]) not in EXT_BITS:
                break
            h = chain[j]
            mask |= EXT_BITS[type(h)]
            if isinstance(h, (IPv6ExtHdrRouting, IPv6ExtHdrSegmentRouting)) and "routing_type" not in d:
                d["routing_type"] = h.type
            if isinstance(h, IPv6ExtHdrFragment):
                frag = h
            nh = h.nh
            l4 += ext_len(h)
            j += 1
            if frag is not None and frag.offset != 0:
                later = True
                break
        d["has_fragment_header"] = frag is not None
        d["fragment"] = frag is not None and (frag.m == 1 or frag.offset != 0)
        d["more_fragments"] = frag is not None and frag.m == 1
        d["fragment_offset"] = frag.offset * 8 if frag is not None else 0
        if frag is not None:
            d["fragment_id"] = frag.id
    d["ext_headers"] = mask
    d["proto"] = nh
    l3_end = l3 + d["l3_length"]
    up = chain[j] if j < len(chain) else None
    d["l4_offset"] = l4
    icmp = 1 if family == 4 else 58
    present = not later and nh in (6, 17, icmp)
    d["l4_present"] = present
    if not present:
        d["payload_offset"] = l4
        d["payload_length"] = l3_end - l4
    elif nh == 6:
        d.update(src_port=up.sport, dst_port=up.dport, tcp_seq=up.seq, tcp_ack=up.ack, tcp_flags=int(up.flags),
                 tcp_window=up.window, tcp_header_len=up.dataofs * 4, l4_checksum=up.chksum)
        d["payload_offset"] = l4 + up.dataofs * 4
        d["payload_length"] = l3_end - d["payload_offset"]
        d["tcp_sack_permitted"] = False
        d["tcp_sack_blocks"] = 0
        for name, value in up.options:
            if name == "MSS":
                d["tcp_mss"] = value
            elif name == "WScale":
                d["tcp_wscale"] = value
            elif name == "SAckOK":
                d["tcp_sack_permitted"] = True
            elif name == "SAck":
                d["tcp_sack_blocks"] = len(value) // 2
            elif name == "Timestamp":
                d["tcp_ts_val"], d["tcp_ts_ecr"] = value
    elif nh == 17:
        d.update(src_port=up.sport, dst_port=up.dport, udp_length=up.len, l4_checksum=up.chksum)
        d["payload_offset"] = l4 + 8
        d["payload_length"] = (l3_end - l4 - 8) if d["fragment"] else up.len - 8
    else:
        d.update(icmp_type=up.type, icmp_code=up.code,
                 l4_checksum=up.chksum if family == 4 else up.cksum)
        d["payload_offset"] = l4 + 8
        d["payload_length"] = l3_end - l4 - 8
        error = up.type in (3, 4, 5, 11, 12) if family == 4 else up.type < 128
        d["icmp_error"] = error
        if up.type in ((0, 8, 13, 14, 15, 16, 17, 18) if family == 4 else (128, 129)):
            d["icmp_id"] = up.id
            d["icmp_seq"] = up.seq
        if error:
            describe_quote(d, raw, family, l4 + 8, l3_end)
    d["checksums_ok"] = checksums_ok(raw, d, ip, up, nh)
    return d


def cases():
    """(name, link, scapy packet or bytes, expected error or None)."""
    eth = lambda: Ether(src=MAC_A, dst=MAC_B)
    tcp_opts = [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (123456, 654321)), ("NOP", None), ("WScale", 7)]
    quote_tcp4 = bytes(IP(dst="203.0.113.9", **{"src": V4["dst"]}) / TCP(sport=443, dport=50000, seq=0x11223344,
                                                                        flags="A"))
    quote_udp6 = bytes(IPv6(src=V6["dst"], dst="2001:db8:2::9") / UDP(sport=7000, dport=8000) / (b"q" * 40))
    yield "tcp4_syn_options", "eth", eth() / IP(ttl=61, id=77, flags="DF", **V4) / TCP(
        sport=40000, dport=80, seq=1000, ack=0, flags="S", window=29200, options=tcp_opts), None
    yield "tcp4_data", "eth", eth() / IP(tos=0x10, **V4) / TCP(sport=40000, dport=80, seq=4000000000, ack=5,
                                                                flags="PA", window=501) / (b"d" * 100), None
    yield "vlan_udp4", "eth", eth() / Dot1Q(vlan=100, prio=5) / IP(**V4) / UDP(sport=5000, dport=6000) / b"hello", None
    yield "vlan_tcp6_sack", "eth", eth() / Dot1Q(vlan=4094, prio=0) / IPv6(tc=0xb8, fl=0x12345, hlim=7, **V6) / TCP(
        sport=22, dport=51000, flags="A", options=[("NOP", None), ("NOP", None), ("SAck", (100, 200, 300, 400)),
                                                   ("NOP", None), ("NOP", None),
                                                   ("Timestamp", (1, 2))]) / b"x", None
    # Ethernet's 60-byte minimum: the trailer is not part of the datagram.
    yield "udp4_eth_padding", "eth", eth() / IP(**V4) / UDP(sport=7, dport=7) / b"ab" / Padding(b"\0" * 16), None
    yield "arp_request", "eth", Ether(src=MAC_A, dst="ff:ff:ff:ff:ff:ff") / ARP(
        op=1, hwsrc=MAC_A, psrc="192.0.2.1", pdst="192.0.2.2"), None
    yield "arp_reply", "eth", eth() / ARP(op=2, hwsrc=MAC_B, psrc="192.0.2.2", hwdst=MAC_A, pdst="192.0.2.1"), None
    yield "not_ip", "eth", Ether(src=MAC_A, dst=MAC_B, type=0x88cc) / (b"\x02" * 30), None
    yield "ipv4_options", "eth", eth() / IP(options=[IPOption_RR(routers=["192.0.2.7"]), IPOption_Router_Alert()],
                                            **V4) / UDP(sport=1, dport=2) / b"opt", None
    yield "icmp4_echo", "eth", eth() / IP(**V4) / ICMP(type=8, id=0x4242, seq=3) / b"ping", None
    yield "icmp4_timestamp", "raw", IP(**V4) / ICMP(type=13, id=0x99, seq=4, ts_ori=1, ts_rx=2, ts_tx=3), None
    yield "icmp6_echo_reply", "raw", IPv6(**V6) / ICMPv6EchoReply(id=9, seq=10, data=b"pong"), None
    yield "udp4_no_checksum", "raw", IP(**V4) / UDP(sport=9, dport=9, chksum=0) / b"zero", None
    # scapy computes no TCP checksum under AH: take it from a plain IPv4/TCP.
    tcp_for_ah = bytes(IP(**V4) / TCP(sport=1, dport=2))[20:]
    yield "ah4_tcp", "raw", IP(proto=51, **V4) / AH(nh=6, payloadlen=4, spi=7, icv=b"\x01" * 12) / tcp_for_ah, None
    for k, frag in enumerate(fragment(IP(id=999, **V4) / UDP(sport=4000, dport=5000) / (b"f" * 2500), 1000)):
        yield "frag4_%d" % k, "raw", frag, None
    for k, frag in enumerate(fragment6(IPv6(**V6) / IPv6ExtHdrFragment(id=0xabcdef) / UDP(sport=4000, dport=5000) /
                                       (b"g" * 2500), 1280)):
        yield "frag6_%d" % k, "raw", frag, None
    yield "ext6_all", "raw", IPv6(**V6) / IPv6ExtHdrHopByHop() / \
        IPv6ExtHdrDestOpt() / IPv6ExtHdrRouting(addresses=["2001:db8::9"]) / IPv6ExtHdrFragment(id=5) / \
        AH(nh=60, payloadlen=4, spi=1, icv=b"\0" * 12) / IPv6ExtHdrDestOpt() / TCP(sport=3, dport=4), None
    yield "ext6_segment_routing", "raw", IPv6(**V6) / IPv6ExtHdrSegmentRouting(addresses=["2001:db8::7"], segleft=1) / \
        UDP(sport=5, dport=6), None
    yield "ext6_no_next", "raw", IPv6(nh=59, **V6) / b"", None
    # ICMP errors: quotes cut the way routers cut them.
    yield "icmp4_unreach_tcp8", "raw", IP(**V4) / ICMP(type=3, code=3) / quote_tcp4[:28], None
    yield "icmp4_unreach_udp_full", "eth", eth() / IP(**V4) / ICMP(type=3, code=1) / IP(
        src=V4["dst"], dst="203.0.113.9") / UDP(sport=1234, dport=53) / b"query", None
    yield "icmp4_timex_echo", "raw", IP(**V4) / ICMP(type=11, code=0) / IP(src=V4["dst"], dst="203.0.113.9") / ICMP(
        type=8, id=0x77, seq=1) / b"abcd", None
    yield "icmp4_unreach_ip_only", "raw", IP(**V4) / ICMP(type=3, code=13) / quote_tcp4[:20], None
    yield "icmp4_unreach_ports_only", "raw", IP(**V4) / ICMP(type=3, code=13) / quote_tcp4[:24], None
    yield "icmp6_unreach_udp", "raw", IPv6(**V6) / ICMPv6DestUnreach(code=4) / quote_udp6[:60], None
    yield "icmp6_too_big_tcp", "raw", IPv6(**V6) / ICMPv6PacketTooBig(mtu=1280) / bytes(
        IPv6(src=V6["dst"], dst="2001:db8:2::9") / TCP(sport=443, dport=40000, seq=42) / (b"p" * 100)), None
    yield "icmp6_timex_ext", "raw", IPv6(**V6) / ICMPv6TimeExceeded() / bytes(
        IPv6(src=V6["dst"], dst="2001:db8:2::9") / IPv6ExtHdrDestOpt() / UDP(sport=33434, dport=33435))[:56], None
    yield "icmp6_param_echo", "raw", IPv6(**V6) / ICMPv6ParamProblem(ptr=6) / IPv6(
        src=V6["dst"], dst="2001:db8:2::9") / ICMPv6EchoRequest(id=0x1234, seq=5), None
    # Checksums scapy computes differently from what the packet carries.
    yield "bad_ip_checksum", "raw", IP(chksum=0x1234, **V4) / UDP(sport=1, dport=2), None
    yield "bad_tcp_checksum", "raw", IP(**V4) / TCP(sport=1, dport=2, chksum=0xbeef), None
    yield "bad_icmp6_checksum", "raw", IPv6(**V6) / ICMPv6EchoRequest(cksum=1), None
    # Malformed input, with the error the parser must report.
    good4 = bytes(IP(**V4) / TCP(sport=1, dport=2))
    yield "bad_version", "raw", b"\x55" + good4[1:], "kBadVersion"
    yield "eth_v4_carries_v6", "eth", bytes(Ether(src=MAC_A, dst=MAC_B, type=0x0800)) + bytes(
        IPv6(**V6) / UDP()), "kBadVersion"
    yield "ihl_4", "raw", b"\x44" + good4[1:], "kBadHeaderLength"
    yield "total_len_short", "raw", good4[:2] + b"\x00\x10" + good4[4:], "kBadLength"
    yield "total_len_long", "raw", good4[:2] + b"\x00\x50" + good4[4:], "kTruncated"
    yield "tcp_doff_3", "raw", good4[:32] + b"\x30" + good4[33:], "kBadHeaderLength"
    yield "tcp_mss_len_3", "raw", IP(**V4) / TCP(sport=1, dport=2, options=[(2, b"\x05")]), "kBadOption"
    # Kind 99 claims 9 bytes where 2 remain.
    yield "tcp_option_overrun", "raw", IP(**V4) / TCP(sport=1, dport=2, dataofs=6) / b"\x01\x01\x63\x09", \
        "kBadOption"
    yield "ipv4_option_rr_empty", "raw", IP(options=[IPOption_RR()], **V4) / UDP(), None
    bad_opt = bytearray(bytes(IP(options=[IPOption_RR(routers=["1.2.3.4"])], **V4) / UDP()))
    bad_opt[21] = 40  # record-route length past the header
    yield "ipv4_option_bad_len", "raw", bytes(bad_opt), "kBadOption"
    yield "udp_len_4", "raw", IP(**V4) / UDP(sport=1, dport=2, len=4), "kBadLength"
    yield "udp_len_long", "raw", IP(**V4) / UDP(sport=1, dport=2, len=100) / b"abc", "kBadLength"
    yield "hbh_not_first", "raw", IPv6(**V6) / IPv6ExtHdrDestOpt() / IPv6ExtHdrHopByHop() / UDP(), \
        "kBadExtensionHeader"
    yield "two_fragment_headers", "raw", IPv6(**V6) / IPv6ExtHdrFragment(m=1) / IPv6ExtHdrFragment() / UDP(), \
        "kBadExtensionHeader"
    yield "ext_len_overrun", "raw", bytes(IPv6(**V6) / IPv6ExtHdrDestOpt(len=3) / (b"\x11" * 8)), "kTruncated"
    yield "frag4_past_64k", "raw", IP(frag=8190, **V4) / (b"z" * 100), "kBadFragment"
    yield "icmp_quote_too_short", "raw", IP(**V4) / ICMP(type=3, code=3) / quote_tcp4[:12], "kBadQuotedPacket"
    yield "icmp6_quote_is_v4", "raw", IPv6(**V6) / ICMPv6DestUnreach() / quote_tcp4, "kBadQuotedPacket"
    arp = bytearray(bytes(eth() / ARP(op=1, hwsrc=MAC_A, psrc="192.0.2.1", pdst="192.0.2.2")))
    arp[14 + 4] = 8  # hardware address length: not Ethernet's
    yield "arp_not_ethernet_ipv4", "eth", bytes(arp), "kBadHeaderLength"


def read_pcap(path):
    """(link, [bytes]) of a classic little- or big-endian pcap file."""
    with open(path, "rb") as f:
        data = f.read()
    endian = "<" if data[:4] == b"\xd4\xc3\xb2\xa1" else ">"
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    link = "eth" if linktype == 1 else "raw"
    out = []
    pos = 24
    while pos + 16 <= len(data):
        caplen = struct.unpack(endian + "I", data[pos + 8:pos + 12])[0]
        out.append(data[pos + 16:pos + 16 + caplen])
        pos += 16 + caplen
    return link, out


def main():
    if sys.argv[1] == "--describe":
        # What scapy sees in packets someone else wrote (builders, rewrites):
        # one list per file.
        result = []
        for path in sys.argv[2:]:
            link, packets = read_pcap(path)
            result.append([describe(r, link) for r in packets])
        json.dump(result, sys.stdout, indent=1)
        return
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    pcaps = {"eth": [], "raw": []}
    expected = []
    for name, link, pkt, error in cases():
        raw = bytes(pkt)
        entry = {"name": name, "pcap": link, "index": len(pcaps[link])}
        if error:
            entry["error"] = error
        else:
            try:
                entry["fields"] = describe(raw, link)
            except Exception as e:
                raise RuntimeError("case %s" % name) from e
        pcaps[link].append(raw)
        expected.append(entry)
    # Written by hand so that scapy cannot re-dissect, rebuild or pad anything.
    for link, linktype in (("eth", 1), ("raw", 101)):
        with open(os.path.join(out, link + ".pcap"), "wb") as f:
            f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype))
            for r in pcaps[link]:
                f.write(struct.pack("<IIII", 0, 0, len(r), len(r)) + r)
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)


if __name__ == "__main__":
    main()
