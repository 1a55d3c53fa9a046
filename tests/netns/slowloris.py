#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A slow client army for the API tests: N connections from one source
address, each sending the start of a request and then one header byte
every INTERVAL seconds, never finishing it.  Prints one JSON object:
how many connections were refused at accept (closed within
--refused-within seconds) and how many accepted; after how many seconds
the server closed each accepted one; how many were still open when
DURATION ran out."""
import argparse
import json
import socket
import time

ap = argparse.ArgumentParser()
ap.add_argument("--host", default="127.0.0.1")
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--source", default="127.0.0.1")
ap.add_argument("--conns", type=int, default=20)
ap.add_argument("--interval", type=float, default=0.5)
ap.add_argument("--duration", type=float, default=10)
ap.add_argument("--refused-within", type=float, default=1.0,
                help="closed this soon: refused at accept, never served")
a = ap.parse_args()

HEAD = b"GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Slow: "
socks, opened, closed = [], {}, {}
start = time.monotonic()
for i in range(a.conns):
    s = socket.socket(socket.AF_INET6 if ":" in a.host else socket.AF_INET,
                      socket.SOCK_STREAM)
    s.bind((a.source, 0))
    s.settimeout(2)
    try:
        s.connect((a.host, a.port))
        s.sendall(HEAD)
    except OSError:
        closed[i] = 0.0  # refused at once
        s.close()
        continue
    s.setblocking(False)
    socks.append((i, s))
    opened[i] = time.monotonic()


def gone(s):
    """Has the server closed this connection?"""
    try:
        return s.recv(4096) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


while time.monotonic() - start < a.duration and len(closed) < a.conns:
    for i, s in socks:
        if i in closed:
            continue
        # how long the server kept it, from its own connect
        if gone(s):
            closed[i] = time.monotonic() - opened[i]
            continue
        try:
            s.send(b"a")
        except OSError:
            closed[i] = time.monotonic() - opened[i]
    time.sleep(a.interval)

refused = sum(1 for t in closed.values() if t < a.refused_within)
print(json.dumps({
    "conns": a.conns,
    "refused": refused,
    "accepted": a.conns - refused,
    "closed_after": sorted(round(t, 2) for t in closed.values()
                           if t >= a.refused_within),
    "still_open": a.conns - len(closed),
}))
