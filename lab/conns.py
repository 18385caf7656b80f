#!/usr/bin/env python3
"""Many live TCP connections (and one UDP flow) through the lab, bounded in count and time.

  conns.py server PORT [--max-seconds S]
      TCP and UDP echo on PORT (epoll, up to 8000 connections). A UDP answer is the datagram
      followed by b"|<source ip>:<source port>" as the server saw it, so a client behind NAT
      can tell whether its translation stayed the same.
  conns.py client HOST PORT --conns N --seconds S [--interval-ms I] [--udp-interval-ms U]
                  [--ready FILE] [--grace S]
      Opens N TCP connections (64 handshakes in flight), touches FILE when all are up, then
      sends a 32-byte message on every connection every I ms (staggered) for S seconds and
      checks each echo; with --udp-interval-ms one UDP datagram every U ms as well. After S
      seconds it waits up to --grace seconds (default 20) for outstanding echoes.
      Prints one line:
        conns=N connected=C lost=L resets=R max_stall_ms=M sent=B echoed=E
        udp_sent=.. udp_received=.. udp_lost_ms=.. udp_peers=ip:port,...
      lost: connections that were reset, closed, or still missing echoed bytes after the grace;
      max_stall_ms: longest time any message waited for its echo (the failover as TCP sees it,
      retransmission back-off included). Exit status 0 only if lost == 0 and C == N.
"""
import argparse
import collections
import errno
import os
import resource
import selectors
import socket
import sys
import time

MSG = 32


def longest_loss(sent_at, answered, end):
    """The longest run of unanswered probes, in seconds, on the sender's clock: from the first lost send to
    the next answered send (or to `end`). sent_at: send times by sequence number; answered: set of numbers."""
    longest = 0.0
    run_start = None
    for i, t in enumerate(sent_at):
        if i in answered:
            if run_start is not None:
                longest = max(longest, t - run_start)
                run_start = None
        elif run_start is None:
            run_start = t
    if run_start is not None:
        longest = max(longest, end - run_start)
    return longest


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def server(args):
    raise_nofile()
    sel = selectors.DefaultSelector()
    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind(("0.0.0.0", args.port))
    lst.listen(1024)
    lst.setblocking(False)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("0.0.0.0", args.port))
    udp.setblocking(False)
    sel.register(lst, selectors.EVENT_READ, "listen")
    sel.register(udp, selectors.EVENT_READ, "udp")
    conns = 0
    end = time.monotonic() + args.max_seconds
    while time.monotonic() < end:
        for key, _ in sel.select(1.0):
            s = key.fileobj
            if key.data == "listen":
                for _ in range(64):
                    try:
                        c, _ = s.accept()
                    except OSError:
                        break
                    if conns >= 8000:
                        c.close()
                        continue
                    c.setblocking(False)
                    sel.register(c, selectors.EVENT_READ, "tcp")
                    conns += 1
            elif key.data == "udp":
                for _ in range(64):
                    try:
                        data, peer = s.recvfrom(2048)
                    except OSError:
                        break
                    try:
                        s.sendto(data + f"|{peer[0]}:{peer[1]}".encode(), peer)
                    except OSError:
                        pass
            else:
                try:
                    data = s.recv(65536)
                except OSError:
                    data = b""
                if data:
                    try:
                        s.sendall(data)  # small echoes: the send buffer has room
                    except OSError:
                        data = b""
                if not data:
                    sel.unregister(s)
                    s.close()
                    conns -= 1


class Conn:
    __slots__ = ("sock", "state", "sent", "echoed", "pending", "next_send", "error")

    def __init__(self, sock):
        self.sock = sock
        self.state = "connecting"
        self.sent = 0
        self.echoed = 0
        self.pending = collections.deque()  # (send time, byte count after this message)
        self.next_send = 0.0
        self.error = ""


def client(args):
    raise_nofile()
    sel = selectors.DefaultSelector()
    conns = []
    to_open = args.conns
    in_flight = 0
    deadline_connect = time.monotonic() + 30.0
    max_stall = 0.0
    resets = 0
    udp = None
    udp_sent_at, udp_answered, udp_peers = [], set(), collections.Counter()
    if args.udp_interval_ms:
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.connect((args.host, args.port))
        udp.setblocking(False)
        sel.register(udp, selectors.EVENT_READ, None)

    def open_more():
        nonlocal to_open, in_flight
        while to_open > 0 and in_flight < 64:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            c = Conn(s)
            err = s.connect_ex((args.host, args.port))
            if err not in (0, errno.EINPROGRESS):
                c.state, c.error = "dead", os.strerror(err)
                s.close()
            else:
                sel.register(s, selectors.EVENT_WRITE, c)
                in_flight += 1
            conns.append(c)
            to_open -= 1

    def kill(c, why):
        nonlocal resets
        if c.state == "dead":
            return
        if c.state == "up" or c.state == "connecting":
            try:
                sel.unregister(c.sock)
            except (KeyError, ValueError):
                pass
        c.sock.close()
        c.state, c.error = "dead", why
        if "reset" in why:
            resets += 1

    def handle(c, mask, now):
        nonlocal in_flight, max_stall
        if c.state == "connecting":
            err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            in_flight -= 1
            if err:
                kill(c, "connect: " + os.strerror(err))
                return
            c.state = "up"
            sel.modify(c.sock, selectors.EVENT_READ, c)
            return
        try:
            data = c.sock.recv(65536)
        except ConnectionResetError:
            kill(c, "connection reset")
            return
        except BlockingIOError:
            return
        except OSError as e:
            kill(c, str(e))
            return
        if not data:
            kill(c, "closed by peer")
            return
        c.echoed += len(data)
        while c.pending and c.pending[0][1] <= c.echoed:
            t, _ = c.pending.popleft()
            max_stall = max(max_stall, now - t)

    # Phase 1: connect everything.
    open_more()
    while (to_open > 0 or in_flight > 0) and time.monotonic() < deadline_connect:
        now = time.monotonic()
        for key, mask in sel.select(0.2):
            if key.data is not None:
                handle(key.data, mask, now)
        open_more()
    for c in conns:
        if c.state == "connecting":
            kill(c, "connect timeout")
    connected = sum(1 for c in conns if c.state == "up")
    if args.ready:
        with open(args.ready, "w") as f:
            f.write(f"{connected}\n")
    # Phase 2: traffic.
    interval = args.interval_ms / 1000.0
    start = time.monotonic()
    end = start + args.seconds
    live = [c for c in conns if c.state == "up"]
    for i, c in enumerate(live):
        c.next_send = start + interval * i / max(1, len(live))
    udp_iv = (args.udp_interval_ms or 0) / 1000.0
    udp_next = start
    payload = b"h" * MSG
    final = end + args.grace
    while True:
        now = time.monotonic()
        if now >= final:
            break
        if now >= end and all(c.state != "up" or c.echoed >= c.sent for c in live) and \
                (udp is None or now >= end + 1.0):
            break
        if now < end:
            for c in live:
                if c.state == "up" and now >= c.next_send:
                    try:
                        n = c.sock.send(payload)
                    except BlockingIOError:
                        n = 0
                    except ConnectionResetError:
                        kill(c, "connection reset")
                        continue
                    except OSError as e:
                        kill(c, str(e))
                        continue
                    if n:
                        c.sent += n
                        c.pending.append((now, c.sent))
                    c.next_send += interval
            if udp is not None and now >= udp_next:
                seq = len(udp_sent_at)
                udp_sent_at.append(now)
                try:
                    udp.send(b"%08d" % seq)
                except OSError:
                    pass
                udp_next += udp_iv
        for key, mask in sel.select(0.005):
            if key.data is None:
                for _ in range(64):
                    try:
                        data = udp.recv(2048)
                    except OSError:
                        break
                    head, _, peer = data.partition(b"|")
                    if head.isdigit():
                        udp_answered.add(int(head))
                        udp_peers[peer.decode(errors="replace")] += 1
            else:
                handle(key.data, mask, time.monotonic())
    lost = 0
    reasons = collections.Counter()
    for c in conns:
        if c.state != "up":
            lost += 1
            reasons[c.error] += 1
        elif c.echoed < c.sent:
            lost += 1
            reasons["echo missing after grace"] += 1
            max_stall = max(max_stall, time.monotonic() - c.pending[0][0])
    udp_lost = longest_loss(udp_sent_at, udp_answered, end)
    line = (f"conns={args.conns} connected={connected} lost={lost} resets={resets} "
            f"max_stall_ms={int(max_stall * 1000)} sent={sum(c.sent for c in conns)} "
            f"echoed={sum(c.echoed for c in conns)}")
    if udp is not None:
        line += (f" udp_sent={len(udp_sent_at)} udp_received={len(udp_answered)} "
                 f"udp_lost_ms={int(udp_lost * 1000)} udp_peers={','.join(sorted(udp_peers)) or '-'}")
    if reasons:
        line += " why=" + ";".join(f"{k}:{v}" for k, v in reasons.items())
    print(line, flush=True)
    for c in conns:
        try:
            c.sock.close()
        except OSError:
            pass
    return 0 if lost == 0 and connected == args.conns else 1


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("server")
    s.add_argument("port", type=int)
    s.add_argument("--max-seconds", type=float, default=600.0)
    c = sub.add_parser("client")
    c.add_argument("host")
    c.add_argument("port", type=int)
    c.add_argument("--conns", type=int, default=100)
    c.add_argument("--seconds", type=float, default=10.0)
    c.add_argument("--interval-ms", type=float, default=1000.0)
    c.add_argument("--udp-interval-ms", type=float, default=0.0)
    c.add_argument("--ready", default="")
    c.add_argument("--grace", type=float, default=20.0)
    args = p.parse_args()
    if args.mode == "server":
        if not 0 < args.max_seconds <= 3600:
            sys.exit("conns.py: --max-seconds must be in (0, 3600]")
        server(args)
        return 0
    if not (0 < args.conns <= 8000 and 0 < args.seconds <= 120 and args.interval_ms >= 10
            and 0 <= args.grace <= 60 and (args.udp_interval_ms == 0 or args.udp_interval_ms >= 1)):
        sys.exit("conns.py: conns 1..8000, seconds (0, 120], interval >= 10 ms, grace <= 60 s, udp >= 1 ms")
    return client(args)


if __name__ == "__main__":
    sys.exit(main())
