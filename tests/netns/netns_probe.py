#!/usr/bin/env python3
"""Bounded traffic probes for namespace tests (plain sockets, no scapy).

  netns_probe.py serve --tcp 22,80 --udp 7001 --seconds 30
      TCP: accept, send b"hello\\n", close.  UDP: echo each datagram back.
  netns_probe.py tcp HOST PORT [--timeout S]
      prints "open" (got the greeting), "refused" (RST) or "timeout"
  netns_probe.py udp HOST PORT [--timeout S]
      sends one datagram; prints "reply PORT DATA", "refused" (ICMP) or "timeout"
  netns_probe.py bulk HOST PORT BYTES [--timeout S]
      sends BYTES over TCP to a --sink port; prints the count the sink read
  (serve --sink PORT: read a connection to EOF, answer with the byte count)
Every command ends within its time bound.
"""
import argparse
import selectors
import socket
import sys
import time


def family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def serve(args):
    sel = selectors.DefaultSelector()
    for port in [int(p) for p in args.tcp.split(",") if p]:
        for fam, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
            s = socket.socket(fam, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if fam == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.bind((addr, port))
            s.listen(64)
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ, "tcp")
    for port in [int(p) for p in args.sink.split(",") if p]:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.bind(("::", port))
        s.listen(8)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, "sink")
    for port in [int(p) for p in args.udp.split(",") if p]:
        for fam, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
            s = socket.socket(fam, socket.SOCK_DGRAM)
            if fam == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.bind((addr, port))
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ, "udp")
    print("serving", flush=True)
    end = time.monotonic() + args.seconds
    while time.monotonic() < end:
        for key, _ in sel.select(timeout=0.2):
            s = key.fileobj
            try:
                if key.data == "sink":
                    conn, _ = s.accept()
                    conn.settimeout(5)
                    total = 0
                    while True:
                        chunk = conn.recv(1 << 16)
                        if not chunk:
                            break
                        total += len(chunk)
                    conn.sendall(str(total).encode())
                    conn.close()
                elif key.data == "tcp":
                    conn, _ = s.accept()
                    conn.settimeout(1)
                    conn.sendall(b"hello\n")
                    conn.close()
                else:
                    data, peer = s.recvfrom(65535)
                    s.sendto(data, peer)
            except OSError:
                pass


def tcp(args):
    s = socket.socket(family(args.host), socket.SOCK_STREAM)
    s.settimeout(args.timeout)
    try:
        s.connect((args.host, args.port))
        data = s.recv(64)
        print("open" if data.startswith(b"hello") else "closed")
    except ConnectionRefusedError:
        print("refused")
    except (socket.timeout, TimeoutError):
        print("timeout")
    except OSError as e:
        print("error", e.errno)


def udp(args):
    s = socket.socket(family(args.host), socket.SOCK_DGRAM)
    s.settimeout(args.timeout)
    # Connected, so that an ICMP port unreachable surfaces as ECONNREFUSED;
    # a reply from another port would be filtered by connect(), hence a
    # second, unconnected socket for --any-port.
    if args.any_port:
        s.sendto(b"probe", (args.host, args.port))
    else:
        s.connect((args.host, args.port))
        s.send(b"probe")
    try:
        data, peer = s.recvfrom(65535)
        print("reply", peer[1], data.decode(errors="replace"))
    except ConnectionRefusedError:
        print("refused")
    except (socket.timeout, TimeoutError):
        print("timeout")


def bulk(args):
    s = socket.create_connection((args.host, args.port), timeout=args.timeout)
    block = b"z" * (1 << 16)
    left = args.bytes
    while left > 0:
        n = s.send(block[:min(left, len(block))])
        left -= n
    s.shutdown(socket.SHUT_WR)
    print(s.recv(64).decode())


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("serve")
    a.add_argument("--tcp", default="")
    a.add_argument("--udp", default="")
    a.add_argument("--sink", default="")
    a.add_argument("--seconds", type=float, default=30)
    for name in ("tcp", "udp"):
        a = sub.add_parser(name)
        a.add_argument("host")
        a.add_argument("port", type=int)
        a.add_argument("--timeout", type=float, default=2)
        if name == "udp":
            a.add_argument("--any-port", action="store_true")
    a = sub.add_parser("bulk")
    a.add_argument("host")
    a.add_argument("port", type=int)
    a.add_argument("bytes", type=int)
    a.add_argument("--timeout", type=float, default=5)
    args = p.parse_args()
    {"serve": serve, "tcp": tcp, "udp": udp, "bulk": bulk}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
