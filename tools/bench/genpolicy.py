#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Write a benchmark policy with N rules to stdout.

Rule i allows one client address to the sink service:
  client i = 198.18.64.0 + i (IPv4, i < 100000 stays inside 198.18.0.0/15)
  sink     = 198.18.1.2 and fd00:b1::2, udp and tcp port 5201
One more identity, clients6 (fd00:b0::/64), is allowed too, so IPv6 traffic
has a rule to hit.  Everything else is denied by default.
"""
import ipaddress
import sys

BASE = ipaddress.IPv4Address("198.18.64.0")


def client(i):
    return BASE + i


def main():
    n = int(sys.argv[1])
    if not 1 <= n <= 100000:
        sys.exit("genpolicy: rules must be 1..100000")
    out = sys.stdout
    out.write("apiVersion: portcullis/v1\nkind: Policy\nidentities:\n")
    out.write("  clients6: {cidrs: [fd00:b0::/64]}\n")
    for i in range(n - 1):
        out.write(f"  c{i}: {{cidrs: [{client(i)}/32]}}\n")
    out.write("services:\n  sink:\n    cidrs: [198.18.1.2/32, fd00:b1::2/128]\n"
              "    ports: [5201/udp, 5201/tcp]\n")
    out.write("rules:\n")
    out.write("  - {name: clients6, from: [clients6], to: [sink], action: allow}\n")
    for i in range(n - 1):
        out.write(f"  - {{name: r{i}, from: [c{i}], to: [sink], action: allow}}\n")


if __name__ == "__main__":
    main()
