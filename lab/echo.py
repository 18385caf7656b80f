#!/usr/bin/env python3
"""The lab server's TCP and UDP echo service: echo.py PORT [PORT...]
Each port is served for both TCP and UDP. Bounded: exits after --max-seconds
(default 3600) so a forgotten lab does not keep it forever."""
import select
import socket
import sys
import time


def main():
    args = sys.argv[1:]
    limit = 3600.0
    if "--max-seconds" in args:
        i = args.index("--max-seconds")
        limit = float(args[i + 1])
        del args[i:i + 2]
    listeners, udps, conns = [], [], []
    for p in map(int, args):
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        t.bind(("0.0.0.0", p))
        t.listen(128)
        listeners.append(t)
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("0.0.0.0", p))
        udps.append(u)
    end = time.monotonic() + limit
    while time.monotonic() < end:
        r, _, _ = select.select(listeners + udps + conns, [], [], 1.0)
        for s in r:
            if s in listeners:
                c, _ = s.accept()
                if len(conns) < 512:
                    conns.append(c)
                else:
                    c.close()
            elif s in udps:
                try:
                    data, peer = s.recvfrom(65535)
                    s.sendto(data, peer)
                except OSError:
                    pass
            else:
                try:
                    data = s.recv(65535)
                except OSError:
                    data = b""
                if data:
                    try:
                        s.sendall(data)
                    except OSError:
                        data = b""
                if not data:
                    conns.remove(s)
                    s.close()


if __name__ == "__main__":
    main()
