#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Write the Grafana dashboards (tools/grafana/*.json) from one place.

Every panel's PromQL is here once; tests/netns/test_dashboards.sh runs
each against a real Prometheus scraping a lab gateway.  Run this after
changing a panel and commit the JSON it writes (`gen.py --check` fails
when the committed JSON is not what it would write).
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
# every query is scoped to the chosen job and gateways
SEL = 'job=~"$job",instance=~"$instance"'


def q(expr, legend=""):
    return {"expr": expr, "legendFormat": legend}


def panel(title, targets, kind="timeseries", unit="short", w=12, h=8,
          desc=""):
    return {"title": title, "kind": kind, "description": desc,
            "targets": targets, "unit": unit, "w": w, "h": h}


DASHBOARDS = {
    "overview": ("Portcullis / Overview", [
        panel("Gateways up", [q(f'up{{{SEL}}}', "{{instance}}")],
              "stat", w=6, h=4),
        panel("Policy version", [q(f'portcullis_policy_version{{{SEL}}}',
                                   "{{instance}}")], "stat", w=6, h=4),
        panel("Rules in force", [q(f'portcullis_policy_rules{{{SEL}}}',
                                   "{{instance}}")], "stat", w=6, h=4),
        panel("Conntrack use", [q(
            f'portcullis_conntrack_entries{{{SEL}}} / '
            f'portcullis_conntrack_capacity{{{SEL}}}', "{{instance}}")],
            "gauge", unit="percentunit", w=6, h=4),
        panel("Packets per second by verdict", [q(
            f'sum by (verdict) (rate(portcullis_packets_total{{{SEL}}}'
            f'[$__rate_interval]))', "{{verdict}}")], unit="pps"),
        panel("Bits per second by verdict", [q(
            f'sum by (verdict) (rate(portcullis_bytes_total{{{SEL}}}'
            f'[$__rate_interval])) * 8', "{{verdict}}")], unit="bps"),
        panel("Denied packets per second by reason", [q(
            f'sum by (reason) (rate(portcullis_packets_total{{verdict="deny",'
            f'{SEL}}}[$__rate_interval]))', "{{reason}}")], unit="pps"),
        panel("Forwarded in XDP vs to the kernel", [q(
            f'sum by (result) (rate(portcullis_forward_packets_total{{{SEL}}}'
            f'[$__rate_interval]))', "{{result}}")], unit="pps"),
        panel("Daemon CPU", [q(
            f'rate(process_cpu_seconds_total{{{SEL}}}'
            f'[$__rate_interval])', "{{instance}}")], unit="percentunit",
            w=8),
        panel("Daemon memory", [q(
            f'process_resident_memory_bytes{{{SEL}}}',
            "{{instance}}")], unit="bytes", w=8),
        panel("API requests per second by status", [q(
            f'sum by (code) (rate(portcullis_api_requests_total{{{SEL}}}'
            f'[$__rate_interval]))', "{{code}}")], unit="reqps", w=8),
    ]),
    "policy": ("Portcullis / Policy and denies", [
        panel("Policy generation", [q(
            f'portcullis_policy_generation{{{SEL}}}', "{{instance}}")],
            "stat", w=6, h=4),
        panel("Last push", [q(
            f'portcullis_policy_last_push_timestamp_seconds{{{SEL}}} * 1000',
            "{{instance}}")], "stat", unit="dateTimeFromNow", w=6, h=4),
        panel("Pushes in the last hour by result", [q(
            f'sum by (kind, result) (increase(portcullis_policy_pushes_total'
            f'{{{SEL}}}[1h]))', "{{kind}} {{result}}")], "stat", w=6, h=4),
        panel("State database writable", [q(
            f'portcullis_state_writable{{{SEL}}}', "{{instance}}")], "stat",
            w=6, h=4),
        panel("Top rules by packets per second", [q(
            f'topk(10, sum by (rule) (rate(portcullis_rule_packets_total'
            f'{{{SEL}}}[$__rate_interval])))', "{{rule}}")], unit="pps"),
        panel("Top rules by bits per second", [q(
            f'topk(10, sum by (rule) (rate(portcullis_rule_bytes_total'
            f'{{{SEL}}}[$__rate_interval]))) * 8', "{{rule}}")], unit="bps"),
        panel("Top identities by packets per second", [q(
            f'topk(10, sum by (identity) (rate('
            f'portcullis_identity_packets_total{{{SEL}}}'
            f'[$__rate_interval])))', "{{identity}}")], unit="pps"),
        panel("Denies per second by identity", [q(
            f'topk(10, sum by (identity) (rate('
            f'portcullis_identity_packets_total{{verdict="deny",{SEL}}}'
            f'[$__rate_interval])))', "{{identity}}")], unit="pps"),
        panel("Top services by bits per second", [q(
            f'topk(10, sum by (service) (rate('
            f'portcullis_service_bytes_total{{{SEL}}}'
            f'[$__rate_interval]))) * 8', "{{service}}")], unit="bps"),
        panel("Denies per second by service", [q(
            f'topk(10, sum by (service) (rate('
            f'portcullis_service_packets_total{{verdict="deny",{SEL}}}'
            f'[$__rate_interval])))', "{{service}}")], unit="pps"),
        panel("Denies per second: by rule vs default", [q(
            f'sum by (reason) (rate(portcullis_packets_total{{reason=~'
            f'"deny_rule|deny_default|deny_revoked",{SEL}}}'
            f'[$__rate_interval]))', "{{reason}}")], unit="pps"),
        panel("Malformed, rate-limited and shielded", [q(
            f'sum by (reason) (rate(portcullis_packets_total{{reason=~'
            f'"deny_malformed|deny_fragment|deny_rate|deny_wireguard.*",'
            f'{SEL}}}[$__rate_interval]))', "{{reason}}")], unit="pps"),
        panel("Audit mode: would-be denies", [q(
            f'sum by (reason) (rate(portcullis_packets_total{{verdict='
            f'"audit",{SEL}}}[$__rate_interval]))', "{{reason}}")],
            unit="pps"),
        panel("Deny events suppressed or lost", [
            q(f'rate(portcullis_events_suppressed_total{{{SEL}}}'
              f'[$__rate_interval])', "suppressed {{instance}}"),
            q(f'rate(portcullis_events_lost_total{{{SEL}}}'
              f'[$__rate_interval])', "lost {{instance}}")], unit="pps"),
    ]),
    "flows": ("Portcullis / Flows and maps", [
        panel("Conntrack entries", [
            q(f'portcullis_conntrack_entries{{{SEL}}}', "in use {{instance}}"),
            q(f'portcullis_conntrack_capacity{{{SEL}}}',
              "capacity {{instance}}")]),
        panel("Conntrack evictions per second (table full)", [q(
            f'rate(portcullis_conntrack_evictions_total{{{SEL}}}'
            f'[$__rate_interval])', "{{instance}}")], unit="ops"),
        panel("New flows per second", [q(
            f'sum(rate(portcullis_packets_total{{reason="allow_new",{SEL}}}'
            f'[$__rate_interval]))', "new flows")], unit="ops"),
        panel("Map occupancy (fullest)", [q(
            f'topk(10, portcullis_map_entries{{{SEL}}} / on (instance, map, '
            f'type) portcullis_map_capacity{{{SEL}}})', "{{map}}")],
            "bargauge", unit="percentunit"),
        panel("Map entries", [q(f'portcullis_map_entries{{{SEL}}}',
                                "{{map}}")]),
        panel("Established and reply packets per second", [q(
            f'sum by (reason) (rate(portcullis_packets_total{{reason=~'
            f'"allow_established|allow_reply",{SEL}}}[$__rate_interval]))',
            "{{reason}}")], unit="pps"),
        panel("Open file descriptors", [q(
            f'process_open_fds{{{SEL}}} / '
            f'process_max_fds{{{SEL}}}', "{{instance}}")],
            unit="percentunit"),
    ]),
    "backends": ("Portcullis / Backends and failover", [
        panel("Backends up", [q(
            f'sum by (service) (portcullis_backend_up{{{SEL}}})',
            "{{service}}")], "stat", w=8, h=4),
        panel("Backends taking new flows", [q(
            f'sum by (service) (portcullis_backend_active{{{SEL}}})',
            "{{service}}")], "stat", w=8, h=4),
        panel("Failovers in the last hour", [q(
            f'sum by (service) (increase(portcullis_backend_failovers_total'
            f'{{{SEL}}}[1h]))', "{{service}}")], "stat", w=8, h=4),
        panel("Health by backend", [q(
            f'portcullis_backend_up{{{SEL}}}', "{{service}} {{backend}}")],
            "state-timeline"),
        panel("Flows per backend", [q(
            f'portcullis_backend_flows{{{SEL}}}', "{{service}} {{backend}}")]),
        panel("Probe round trip", [q(
            f'portcullis_backend_probe_rtt_seconds{{{SEL}}}',
            "{{service}} {{backend}}")], unit="s"),
        panel("Probe failures per second", [q(
            f'rate(portcullis_backend_probe_failures_total{{{SEL}}}'
            f'[$__rate_interval])', "{{service}} {{backend}}")], unit="ops"),
        panel("New flows with no backend", [q(
            f'sum(rate(portcullis_packets_total{{reason="deny_no_backend",'
            f'{SEL}}}[$__rate_interval]))', "no backend")], unit="pps"),
    ]),
    "wireguard": ("Portcullis / WireGuard peers", [
        panel("Interfaces up", [q(f'portcullis_wireguard_up{{{SEL}}}',
                                  "{{interface}}")], "stat", w=8, h=4),
        panel("Peers", [q(f'portcullis_wireguard_peers{{{SEL}}}',
                          "{{interface}}")], "stat", w=8, h=4),
        panel("Peers with a handshake in the last 3 minutes", [q(
            f'sum by (interface) (time() - portcullis_wireguard_peer_'
            f'last_handshake_seconds{{{SEL}}} < bool 180)', "{{interface}}")],
            "stat", w=8, h=4),
        panel("Handshake age", [q(
            f'time() - portcullis_wireguard_peer_last_handshake_seconds'
            f'{{{SEL}}}', "{{interface}} {{peer}}")], "table", unit="s"),
        panel("Received per peer", [q(
            f'rate(portcullis_wireguard_peer_receive_bytes_total{{{SEL}}}'
            f'[$__rate_interval]) * 8', "{{peer}}")], unit="bps"),
        panel("Sent per peer", [q(
            f'rate(portcullis_wireguard_peer_transmit_bytes_total{{{SEL}}}'
            f'[$__rate_interval]) * 8', "{{peer}}")], unit="bps"),
        panel("Shield drops per second", [q(
            f'sum by (reason) (rate(portcullis_packets_total{{reason=~'
            f'"deny_wireguard.*",{SEL}}}[$__rate_interval]))',
            "{{reason}}")], unit="pps"),
    ]),
}


def grafana(uid, title, panels):
    x = y = row_h = 0
    out = []
    for i, p in enumerate(panels):
        if x + p["w"] > 24:
            x, y, row_h = 0, y + row_h, 0
        g = {"id": i + 1, "title": p["title"], "type": p["kind"],
             "datasource": {"type": "prometheus", "uid": "${datasource}"},
             "gridPos": {"x": x, "y": y, "w": p["w"], "h": p["h"]},
             "fieldConfig": {"defaults": {"unit": p["unit"]},
                             "overrides": []},
             "options": {},
             "targets": [dict(t, refId=chr(65 + j),
                              datasource={"type": "prometheus",
                                          "uid": "${datasource}"})
                         for j, t in enumerate(p["targets"])]}
        if p["description"]:
            g["description"] = p["description"]
        out.append(g)
        x += p["w"]
        row_h = max(row_h, p["h"])
    var_ds = {"name": "datasource", "label": "Data source",
              "type": "datasource", "query": "prometheus", "current": {},
              "hide": 0, "refresh": 1}
    var_job = {"name": "job", "label": "Job", "type": "query",
               "datasource": {"type": "prometheus", "uid": "${datasource}"},
               "query": {"query": "label_values(portcullis_build_info, job)",
                         "refId": "job"},
               "definition": "label_values(portcullis_build_info, job)",
               "includeAll": True, "multi": True, "allValue": ".+",
               "current": {}, "refresh": 2, "hide": 0}
    var_inst = {"name": "instance", "label": "Gateway", "type": "query",
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "query": {"query": 'label_values(portcullis_build_info'
                          '{job=~"$job"}, instance)', "refId": "instance"},
                "definition": 'label_values(portcullis_build_info'
                              '{job=~"$job"}, instance)',
                "includeAll": True, "multi": True, "allValue": ".+",
                "current": {}, "refresh": 2, "hide": 0}
    return {"uid": f"portcullis-{uid}", "title": title,
            "tags": ["portcullis"], "timezone": "", "schemaVersion": 38,
            "version": 1, "editable": True, "refresh": "10s",
            "time": {"from": "now-1h", "to": "now"},
            "templating": {"list": [var_ds, var_job, var_inst]},
            "annotations": {"list": []}, "panels": out}


def render():
    return {f"{name}.json": json.dumps(grafana(name, title, panels),
                                       indent=1, sort_keys=True) + "\n"
            for name, (title, panels) in DASHBOARDS.items()}


def main():
    files = render()
    stale = []
    for name, text in files.items():
        path = os.path.join(HERE, name)
        if "--check" in sys.argv:
            if not os.path.exists(path) or open(path).read() != text:
                stale.append(name)
        else:
            with open(path, "w") as f:
                f.write(text)
    if stale:
        sys.exit("gen.py: out of date (run tools/grafana/gen.py): " +
                 ", ".join(stale))


if __name__ == "__main__":
    main()
