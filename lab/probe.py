#!/usr/bin/env python3
"""Bounded UDP echo probe for the lab: one datagram every INTERVAL ms for
DURATION s to HOST:PORT; prints the longest run of lost probes in ms.

  probe.py HOST PORT DURATION_S [INTERVAL_MS]

Output (one line): lost_ms=L sent=N received=M
lost_ms is measured on the sender's clock from the first lost send to the next
answered send, so its resolution is INTERVAL_MS. A probe counts as answered if
its echo arrives at any time before the run ends plus one second.
"""
import select
import socket
import struct
import sys
import time

from conns import longest_loss  # lab/conns.py, same folder


def main():
    host, port, duration = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    interval = (float(sys.argv[4]) if len(sys.argv) > 4 else 10.0) / 1000.0
    if not 0 < duration <= 60 or interval < 0.001:
        sys.exit("probe.py: duration must be in (0, 60] s and interval >= 1 ms")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect((host, port))
    sock.setblocking(False)
    magic = 0x68617066  # "hapf"
    sent_at = []
    answered = set()
    start = time.monotonic()
    end = start + duration
    next_send = start
    while True:
        now = time.monotonic()
        if now >= end + 1.0:
            break
        if now >= next_send and now < end:
            sent_at.append(now)
            try:
                sock.send(struct.pack("!IIQ", magic, len(sent_at) - 1, 0))
            except OSError:
                pass  # no route / unreachable: counted as lost
            next_send += interval
        wait = max(0.0, min(next_send, end + 1.0) - time.monotonic()) if now < end else 0.05
        r, _, _ = select.select([sock], [], [], wait)
        if r:
            while True:
                try:
                    data = sock.recv(64)
                except OSError:
                    break
                if len(data) >= 8:
                    m, seq = struct.unpack("!II", data[:8])
                    if m == magic and seq < len(sent_at):
                        answered.add(seq)
    longest = longest_loss(sent_at, answered, end)
    print(f"lost_ms={int(longest * 1000)} sent={len(sent_at)} received={len(answered)}")


if __name__ == "__main__":
    main()
