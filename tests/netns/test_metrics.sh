#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Test GET /metrics on a gateway enforcing policy on real traffic: the
# exposition passes promtool, and its numbers are the traffic's: packets
# by verdict and reason, per rule, conntrack and map occupancy, pushes,
# API requests, the process.  Then the flow log (a record per ended flow
# and per denied packet, rotated by size) and flows --follow.
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${BUILD:-$SRC/build}
LAB=pm$$
export LAB_TRUST_ROOT=true
. "$SRC/tests/netns/lib.sh"
trap t_cleanup EXIT

command -v promtool >/dev/null ||
	{ echo "1..0 # SKIP promtool missing (ci/setup.sh installs prometheus)"; exit 0; }

t_setup
cat >"$T_DIR/policy.yaml" <<'EOP'
apiVersion: portcullis/v1
kind: Policy
identities:
  clients: { cidrs: [198.18.1.0/24, "fd00:1::/64"] }
services:
  web: { cidrs: [198.18.2.2/32], ports: [8080/tcp, icmp] }
  ssh: { cidrs: [198.18.2.2/32], ports: [22/tcp] }
rules:
  - { name: no-ssh, from: [clients], to: [ssh], action: deny }
  - { name: clients-to-web, from: [clients], to: [web], action: allow }
EOP
sed -i "s|^  policy: .*|  policy: $T_DIR/policy.yaml|" "$T_DIR/gateway.yaml"
cat >>"$T_DIR/gateway.yaml" <<EOC
  flow_log: { path: $T_DIR/flows.jsonl, max_size_mb: 1, keep: 2 }
  deny_events: 100000
EOC
daemon_start || { not_ok "daemon starts"; t_done; exit 1; }
ok "daemon starts"

PROM="python3 $SRC/tests/netns/prom.py"
scrape() { # $1: file
	curl -sf --unix-socket "$T_DIR/api.sock" -o "$1" http://x/metrics
}
val() { $PROM "$@" 2>/dev/null || echo missing; }
delta() { # name{labels}: after - before
	python3 -c 'import sys; print("%g" % (float(sys.argv[2]) - float(sys.argv[1])))' \
		"$(val "$T_DIR/m0" "$1")" "$(val "$T_DIR/m1" "$1")" 2>/dev/null || echo missing
}
expect_ge() { if python3 -c 'import sys; sys.exit(not float(sys.argv[1]) >= float(sys.argv[2]))' "$2" "$3" 2>/dev/null; then
	ok "$1 ($2)"; else not_ok "$1 (got '$2', wanted at least $3)"; fi; }

expect 0 "a scrape" scrape "$T_DIR/m0"
# traffic: 5 allowed connections, 3 to the denied port, 4 pings
for _ in 1 2 3 4 5; do lab_in client $PROBE tcp 198.18.2.2 8080 >/dev/null; done
for _ in 1 2 3; do lab_in client $PROBE tcp 198.18.2.2 22 --timeout 0.5 >/dev/null; done
lab_in client ping -c4 -i0.2 -W1 198.18.2.2 >/dev/null
expect 0 "another scrape" scrape "$T_DIR/m1"
expect 0 "promtool check metrics passes on it" promtool check metrics <"$T_DIR/m1"

expect_eq "3 SYNs to the denied port: deny/deny_rule" \
	"$(delta 'portcullis_packets_total{verdict="deny",reason="deny_rule"}')" 3
expect_eq "and counted for rule no-ssh" \
	"$(delta 'portcullis_rule_packets_total{rule="no-ssh"}')" 3
expect_eq "5 connections and a ping flow: allow/allow_new" \
	"$(delta 'portcullis_packets_total{verdict="allow",reason="allow_new"}')" 6
expect_ge "their other packets: allow_established" \
	"$(delta 'portcullis_packets_total{verdict="allow",reason="allow_established"}')" 13
expect_ge "bytes too (3 SYNs of at least 54 bytes)" \
	"$(delta 'portcullis_bytes_total{verdict="deny",reason="deny_rule"}')" 162
expect_ge "and the allowed ones for rule clients-to-web" \
	"$(delta 'portcullis_rule_packets_total{rule="clients-to-web"}')" 20
# by identity and service: every packet of these flows, both ways, is
# the clients' (replies count for the flow's initiator), and web's or
# ssh's (the service the deciding rule matched through)
allowed=$(python3 -c 'import sys; print("%g" % sum(float(x) for x in sys.argv[1:]))' \
	"$(delta 'portcullis_packets_total{verdict="allow",reason="allow_new"}')" \
	"$(delta 'portcullis_packets_total{verdict="allow",reason="allow_established"}')" \
	"$(delta 'portcullis_packets_total{verdict="allow",reason="allow_reply"}')")
expect_eq "identity clients: every allowed packet" \
	"$(delta 'portcullis_identity_packets_total{identity="clients",verdict="allow"}')" "$allowed"
expect_eq "identity clients: the 3 denied SYNs" \
	"$(delta 'portcullis_identity_packets_total{identity="clients",verdict="deny"}')" 3
expect_eq "service web: the same allowed packets" \
	"$(delta 'portcullis_service_packets_total{service="web",verdict="allow"}')" "$allowed"
expect_eq "service ssh: the 3 denied SYNs, none allowed" \
	"$(delta 'portcullis_service_packets_total{service="ssh",verdict="deny"}') $(val "$T_DIR/m1" 'portcullis_service_packets_total{service="ssh",verdict="allow"}')" "3 0"
# (bytes here are IP bytes, as per rule and in the flow log)
expect_eq "identity bytes: those of the one rule that allowed" \
	"$(delta 'portcullis_identity_bytes_total{identity="clients",verdict="allow"}')" \
	"$(delta 'portcullis_rule_bytes_total{rule="clients-to-web"}')"
expect_eq "service bytes: those of the rule that denied" \
	"$(delta 'portcullis_service_bytes_total{service="ssh",verdict="deny"}')" \
	"$(delta 'portcullis_rule_bytes_total{rule="no-ssh"}')"
expect_eq "no evictions below capacity" "$(val "$T_DIR/m1" portcullis_conntrack_evictions_total)" 0
expect_eq "conntrack capacity" "$(val "$T_DIR/m1" portcullis_conntrack_capacity)" 262144
expect_ge "conntrack entries: the flows" "$(val "$T_DIR/m1" portcullis_conntrack_entries)" 6
expect_eq "map capacity of conntrack" \
	"$(val "$T_DIR/m1" 'portcullis_map_capacity{map="conntrack",type="lru_hash"}')" 262144
expect_ge "map entries of conntrack" \
	"$(val "$T_DIR/m1" 'portcullis_map_entries{map="conntrack",type="lru_hash"}')" 6
expect_ge "identities trie: the client prefixes" \
	"$(val "$T_DIR/m1" 'portcullis_map_entries{map="identities",type="lpm_trie"}')" 2
expect_eq "one push applied (the policy file at start)" \
	"$(val "$T_DIR/m1" 'portcullis_policy_pushes_total{kind="push",result="applied"}')" 1
expect_ge "the last push's time" \
	"$(val "$T_DIR/m1" portcullis_policy_last_push_timestamp_seconds)" "$(($(date +%s) - 600))"
expect_eq "the rules in force" "$(val "$T_DIR/m1" portcullis_policy_rules)" 2
expect_ge "the first scrape is counted" \
	"$(val "$T_DIR/m1" 'portcullis_api_requests_total{method="GET",route="/metrics",code="200"}')" 1
expect_ge "resident memory" "$(val "$T_DIR/m1" process_resident_memory_bytes)" 1000000
expect_ge "open descriptors" "$(val "$T_DIR/m1" process_open_fds)" 5
expect_ge "CPU time" "$(val "$T_DIR/m1" process_cpu_seconds_total)" 0.0001
expect 0 "every name is portcullis_ or process_" sh -c \
	"$PROM '$T_DIR/m1' --names | grep -v '^portcullis_\|^process_' | (! grep .)"

# a refused push and a rollback are counted; an unknown path by route
printf 'apiVersion: portcullis/v1\nkind: Policy\nrules: [\n' >"$T_DIR/bad.yaml"
expect 1 "a malformed policy is refused" cli policy push "$T_DIR/bad.yaml"
sed 's/name: no-ssh/name: no-ssh-2/' "$T_DIR/policy.yaml" >"$T_DIR/v2.yaml"
expect 0 "a second version" cli policy push "$T_DIR/v2.yaml"
expect 0 "a rollback" cli policy rollback
curl -s --unix-socket "$T_DIR/api.sock" -o /dev/null http://x/v1/nothing
curl -s --unix-socket "$T_DIR/api.sock" -o /dev/null http://x/v1/peers/someone
expect 0 "a scrape" scrape "$T_DIR/m2"
expect_eq "refused: 1" "$(val "$T_DIR/m2" 'portcullis_policy_pushes_total{kind="push",result="refused"}')" 1
expect_eq "applied: 2" "$(val "$T_DIR/m2" 'portcullis_policy_pushes_total{kind="push",result="applied"}')" 2
expect_eq "rollbacks applied: 1" "$(val "$T_DIR/m2" 'portcullis_policy_pushes_total{kind="rollback",result="applied"}')" 1
expect_eq "the unknown path is route other" \
	"$(val "$T_DIR/m2" 'portcullis_api_requests_total{method="GET",route="other",code="404"}')" 1
expect_eq "a named resource counts under its pattern" \
	"$(val "$T_DIR/m2" 'portcullis_api_requests_total{method="GET",route="/v1/peers/*",code="405"}')" 1
expect_eq "the per-rule series follow the policy in force (no-ssh-2 went with the rollback)" \
	"$(val "$T_DIR/m2" 'portcullis_rule_packets_total{rule="no-ssh-2"}')" missing
expect_eq "and no-ssh is back, from zero" \
	"$(val "$T_DIR/m2" 'portcullis_rule_packets_total{rule="no-ssh"}')" 0
expect 0 "promtool passes again" promtool check metrics <"$T_DIR/m2"


# the flow log: the 5 connections closed (records 2 s after the close, at
# the next walk), the 3 denied SYNs as they came
sleep 3.5
expect 0 "the flow log has the five closed connections" python3 -c '
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
flows = [r for r in recs if r["event"] == "flow" and r["proto"] == "tcp"
         and r["dport"] == 8080 and r["end"] == "closed"]
assert len(flows) == 5, [r for r in recs if r["event"] == "flow"]
for r in flows:
    assert r["gateway"] == sys.argv[2] and r["src"] == "198.18.1.2", r
    # (the service the rule matched through, as in GET /v1/flows)
    assert r["identity"] == "clients" and r["service"] == "web", r
    assert r["rule"] == "clients-to-web" and r["verdict"] == "allow", r
    assert r["packets"] >= 6 and r["bytes"] > 300, r
    assert r["packets"] == sum(r["packets_dir"]), r
    assert r["time"].endswith("Z"), r
' "$T_DIR/flows.jsonl" "$LAB"
expect 0 "and a record per denied SYN, with rule and reason" python3 -c '
import json, sys
d = [json.loads(l) for l in open(sys.argv[1])]
d = [r for r in d if r["event"] == "deny" and r["dport"] == 22]
assert len(d) == 3, d
assert all(r["rule"] == "no-ssh" and r["reason"] == "deny_rule" and
           # (a denied packet: every service at its destination)
           r["verdict"] == "deny" and r["service"] == "web+ssh" and
           r["identity"] == "clients" and r["packets"] == 1 for r in d), d
' "$T_DIR/flows.jsonl"
# rotation: 1 MiB, so some 5000 denied datagrams fill it
lab_in client python3 -c '
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(6000):
    s.sendto(b"x", ("198.18.2.2", 22000 + i % 1000))
    if i % 500 == 499:
        time.sleep(0.05)
'
sleep 1
expect 0 "past 1 MiB the log was rotated to flows.jsonl.1" test -s "$T_DIR/flows.jsonl.1"
expect 0 "and goes on in a fresh file" test "$(stat -c %s "$T_DIR/flows.jsonl")" -lt 1048576
expect 0 "every line of both is JSON" python3 -c '
import json, sys
for f in sys.argv[1:]:
    for l in open(f):
        json.loads(l)
' "$T_DIR/flows.jsonl.1" "$T_DIR/flows.jsonl"
expect 0 "a scrape" scrape "$T_DIR/m3"
expect_ge "the rotation is counted" "$(val "$T_DIR/m3" portcullis_flow_log_rotations_total)" 1
expect_ge "and the deny records" \
	"$(val "$T_DIR/m3" 'portcullis_flow_log_records_total{event="deny"}')" 5000
expect_eq "no write failed" "$(val "$T_DIR/m3" portcullis_flow_log_errors_total)" 0

# live flows: --follow shows the table again every interval
lab_in client $PROBE hold 198.18.2.2 8080 --duration 3 --interval 0.1 >"$T_DIR/hold.out" 2>&1 &
HOLD=$!
for _ in $(seq 30); do grep -q connected "$T_DIR/hold.out" 2>/dev/null && break; sleep 0.1; done
expect 0 "flows --follow --json, 2 s at 0.5 s" cli --json flows --follow --interval 0.5 --duration 2 --proto tcp
cp "$T_DIR/last.out" "$T_DIR/follow.out"
expect 0 "prints a document per refresh, each with the open connection" python3 -c '
import json, sys
docs = [json.loads(l) for l in open(sys.argv[1])]
assert len(docs) >= 3, len(docs)
for d in docs:
    assert any(f["dport"] == 8080 and f["state"] == "established"
               for f in d["flows"]), d
' "$T_DIR/follow.out"
expect 0 "flows --follow as a table" cli flows --follow --interval 0.5 --duration 1 --identity clients
expect_match '^--- [0-9:]+, every 0.5 s$' "with a heading per refresh"
expect 2 "--follow takes no value, --interval a number" cli flows --follow --interval x
wait $HOLD; cat "$T_DIR/hold.out" | sed "s/^/# hold: /"

t_done
