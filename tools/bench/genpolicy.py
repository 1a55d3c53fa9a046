#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Write a benchmark policy with N rules to stdout.

Rule i allows one client address to the sink service:
  client i = 198.18.64.0 + i (IPv4, i < 100000 stays inside 198.18.0.0/15)
  sink     = 198.18.1.2 and fd00:b1::2: 5201/udp, 5201/tcp (the sink's
             counted traffic) and 5202/udp (the latency probe's echo)
Two rules are not per client: clients6 (fd00:b0::/64, so IPv6 traffic has a
rule to hit) and host (198.18.0.1, the generator's own address, used by the
latency probe).  Everything else is denied by default.
"""
import ipaddress
import sys

BASE = ipaddress.IPv4Address("198.18.64.0")


def client(i):
    return BASE + i


def clients(n):
    """The per-client addresses of an n-rule policy."""
    return [client(i) for i in range(n - 2)]


def main():
    n = int(sys.argv[1])
    if not 3 <= n <= 100000:
        sys.exit("genpolicy: rules must be 3..100000")
    out = sys.stdout
    out.write("apiVersion: portcullis/v1\nkind: Policy\nidentities:\n")
    out.write("  clients6: {cidrs: [fd00:b0::/64]}\n")
    out.write("  host: {cidrs: [198.18.0.1/32]}\n")
    for i in range(n - 2):
        out.write(f"  c{i}: {{cidrs: [{client(i)}/32]}}\n")
    out.write("services:\n  sink:\n    cidrs: [198.18.1.2/32, fd00:b1::2/128]\n"
              "    ports: [5201/udp, 5201/tcp, 5202/udp]\n")
    out.write("rules:\n")
    out.write("  - {name: clients6, from: [clients6], to: [sink], action: allow}\n")
    out.write("  - {name: host, from: [host], to: [sink], action: allow}\n")
    for i in range(n - 2):
        out.write(f"  - {{name: r{i}, from: [c{i}], to: [sink], action: allow}}\n")


if __name__ == "__main__":
    main()
