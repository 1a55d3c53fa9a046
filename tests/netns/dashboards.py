#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Run every PromQL expression of every dashboard against Prometheus.

  dashboards.py PROMETHEUS_URL DASHBOARD.json...

Grafana's variables become what "All" selects ($job, $instance: .+) and
a rate window ($__rate_interval: 30s).  Prints one line per panel,
"ok<TAB>what" or "not ok<TAB>what: why"; exit 1 if any failed.  A query
passes when Prometheus parses it and returns at least one series.
"""
import json
import re
import sys
import urllib.parse
import urllib.request

SUBST = {"$__rate_interval": "30s", "$__interval": "30s", "$job": ".+",
         "$instance": ".+"}


def query(base, expr):
    url = base + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:  # a 400 carries the parse error
        return json.load(e)


def main():
    base, bad = sys.argv[1], 0
    for path in sys.argv[2:]:
        d = json.load(open(path))
        name = path.rsplit("/", 1)[-1]
        vars_ = [v["name"] for v in d["templating"]["list"]]
        if "datasource" not in vars_:
            print(f"not ok\t{name}: no datasource variable")
            bad += 1
        for v in d["templating"]["list"]:
            m = re.match(r"^label_values\((.+), *(\w+)\)$",
                         v.get("definition", ""))
            if v["type"] != "query":
                continue
            what = f"{name}: variable {v['name']}"
            if not m:
                print(f"not ok\t{what}: not label_values(...)")
                bad += 1
                continue
            sel, label = m.group(1), m.group(2)
            for k, val in SUBST.items():
                sel = sel.replace(k, val)
            url = (base + f"/api/v1/label/{label}/values?" +
                   urllib.parse.urlencode({"match[]": sel}))
            with urllib.request.urlopen(url, timeout=10) as r:
                vals = json.load(r)["data"]
            if vals:
                print(f"ok\t{what}: {', '.join(vals)}")
            else:
                print(f"not ok\t{what}: no values ({sel}, {label})")
                bad += 1
        for p in d["panels"]:
            if p["datasource"]["uid"] != "${datasource}":
                print(f"not ok\t{name}: {p['title']}: fixed data source")
                bad += 1
            for t in p["targets"]:
                expr = t["expr"]
                for k, v in SUBST.items():
                    expr = expr.replace(k, v)
                r = query(base, expr)
                what = f"{name}: {p['title']} [{t['refId']}]"
                if r.get("status") != "success":
                    print(f"not ok\t{what}: {r.get('error')} ({expr})")
                    bad += 1
                elif not r["data"]["result"]:
                    print(f"not ok\t{what}: no data ({expr})")
                    bad += 1
                else:
                    print(f"ok\t{what} ({len(r['data']['result'])} series)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
