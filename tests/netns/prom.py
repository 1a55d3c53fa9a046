#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Read Prometheus text exposition for the tests.

  prom.py FILE 'name{k="v",...}'   print the sample's value (exit 1: none)
  prom.py FILE --sum name           the sum over every series of name
  prom.py FILE --names              every metric name, one per line
"""
import re
import sys

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def samples(path):
    for line in open(path):
        line = line.rstrip("\n")
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if not m:
            raise SystemExit("not a sample: %r" % line)
        labels = dict(LABEL.findall(m.group(3) or ""))
        yield m.group(1), labels, float(m.group(4))


def fmt(v):
    return str(int(v)) if v.is_integer() else repr(v)


def main():
    path, what = sys.argv[1], sys.argv[2]
    if what == "--names":
        for n in sorted({n for n, _, _ in samples(path)}):
            print(n)
        return 0
    if what == "--sum":
        total = [v for n, _, v in samples(path) if n == sys.argv[3]]
        if not total:
            return 1
        print(fmt(sum(total)))
        return 0
    m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?$', what)
    want = dict(LABEL.findall(m.group(2) or ""))
    for n, labels, v in samples(path):
        if n == m.group(1) and labels == want:
            print(fmt(v))
            return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
