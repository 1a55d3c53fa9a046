#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Test steering on real traffic in the namespace lab: allowed frames are
# forwarded in XDP (the gateway's kernel does not see them), what the fast
# path cannot do goes to the kernel, counted, and forwarding: kernel turns
# the fast path off.  Load balancing: a virtual address in front of three
# backend servers, each in its own namespace behind its own gateway
# interface (s0, s1, s2): spread by weight, sticky, drained, IPv4 and IPv6.
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${BUILD:-$SRC/build}
LAB=ps$$
. "$SRC/tests/netns/lib.sh"
trap 'backends_down; t_cleanup' EXIT

# Two more backends: b2 (198.18.3.2, fd00:3::2) behind s1, b3 (198.18.4.2,
# fd00:4::2) behind s2.  The lab's server (198.18.2.2) is the first.
backends_up() {
	local i ns gw=$(lab_ns gw)
	for i in 2 3; do
		ns=$(lab_ns b$i)
		ip netns add "$ns" || return 1
		ip -n "$ns" link set lo up
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 \
			net.ipv6.conf.default.accept_dad=0
		ip link add eth0 netns "$ns" type veth peer name "s$((i - 1))" netns "$gw" || return 1
		ip -n "$gw" addr add "198.18.$((i + 1)).1/24" dev "s$((i - 1))"
		ip -n "$gw" addr add "fd00:$((i + 1))::1/64" dev "s$((i - 1))" nodad
		ip -n "$ns" addr add "198.18.$((i + 1)).2/24" dev eth0
		ip -n "$ns" addr add "fd00:$((i + 1))::2/64" dev eth0 nodad
		ip -n "$gw" link set "s$((i - 1))" up
		ip -n "$ns" link set eth0 up
		ip netns exec "$ns" ethtool -K eth0 gro on tx off >/dev/null || return 1
		ip -n "$ns" route add default via "198.18.$((i + 1)).1"
		ip -n "$ns" -6 route add default via "fd00:$((i + 1))::1"
	done
}
backends_down() {
	local i
	for i in 2 3; do
		ip netns pids "$(lab_ns b$i)" 2>/dev/null | xargs -r kill -9 2>/dev/null
		ip netns del "$(lab_ns b$i)" 2>/dev/null
	done
	return 0
}

# Datagrams the gateway's kernel forwarded (IPv4, IPv6).
kernel_fwd4() { lab_in gw awk '/^Ip: [0-9]/ { print $7 }' /proc/net/snmp; }
kernel_fwd6() { lab_in gw awk '$1 == "Ip6OutForwDatagrams" { print $2 }' /proc/net/snmp6; }
status_get() { cli --json status >"$T_DIR/last.out" && jget "$1"; }

t_setup
backends_up || { echo "Bail out! cannot add the backends"; exit 1; }
# HTTP health: b2 answers /ok with 200, b3 with 404 (no such file); b1
# serves no HTTP at all
mkdir -p "$T_DIR/www2" "$T_DIR/www3" && echo ok >"$T_DIR/www2/ok"
(cd "$T_DIR/www2" && exec nsenter --net=/var/run/netns/$(lab_ns b2) python3 -m http.server 8090 >/dev/null 2>&1) &
(cd "$T_DIR/www3" && exec nsenter --net=/var/run/netns/$(lab_ns b3) python3 -m http.server 8090 >/dev/null 2>&1) &
# b1 is the lab's server, which serves 8080 already (without a name): one
# more server there on 8081 says its name
lab_in server $PROBE serve --name b1 --tcp 8081 --udp 8081 --lifetime 300 >/dev/null 2>&1 &
lab_in b2 $PROBE serve --name b2 --tcp 8081 --udp 8081 --lifetime 300 >/dev/null 2>&1 &
lab_in b3 $PROBE serve --name b3 --tcp 8081 --udp 8081 --lifetime 300 >/dev/null 2>&1 &
write_policy() { # the lb service's backends
	cat >"$T_DIR/steer.yaml" <<EOP
apiVersion: portcullis/v1
kind: Policy
identities:
  clients: { cidrs: [198.18.1.0/24, "fd00:1::/64"] }
services:
  web:
    cidrs: [198.18.2.2/32, 198.18.2.5/32, "fd00:2::2/128"]
    ports: [8080/tcp, 53/udp, icmp, icmpv6]
  gateway: { cidrs: [198.18.1.1/32], ports: [icmp] }
  lb:
    cidrs: [198.18.0.100/32, "fd00:100::100/128"]
    ports: [80/tcp, 53/udp]
    health: { type: tcp, interval: 100ms, rise: 2, fall: 2 }
    backends:
$1
  # one service per probe type (their backends are probed, not used)
  by-udp:
    cidrs: [198.18.0.101/32]
    ports: [53/udp]
    health: { type: udp, interval: 100ms, send: hello }
    backends: ["198.18.2.2:8081", "198.18.3.2:8082"]
  by-icmp:
    cidrs: [198.18.0.102/32]
    ports: [80/tcp]
    balance: least-connections # (so the daemon counts flows every second)
    health: { type: icmp, interval: 100ms }
    backends: ["198.18.2.2:8081", "198.18.9.9:8081"]
  by-http:
    cidrs: [198.18.0.103/32]
    ports: [80/tcp]
    health: { type: http, interval: 100ms, port: 8090, path: /ok }
    backends: ["198.18.3.2:8081", "198.18.4.2:8081", "198.18.2.2:8081"]
rules:
  - { name: clients-to-web, from: [clients], to: [web, gateway, lb], action: allow }
EOP
}
write_policy '      - { address: 198.18.2.2, port: 8081, weight: 1 }
      - { address: 198.18.3.2, port: 8081, weight: 2 }
      - { address: 198.18.4.2, port: 8081, weight: 1 }
      - "[fd00:2::2]:8081"
      - "[fd00:3::2]:8081"'
sed -i "s|^  policy: .*|  policy: $T_DIR/steer.yaml|; s|^    - { name: s0, mode: native }|&\n    - { name: s1, mode: native }\n    - { name: s2, mode: native }|" "$T_DIR/gateway.yaml"
# (a flow log too: it and the flow counts share the daemon's walk)
echo "  flow_log: { path: $T_DIR/flows.jsonl }" >>"$T_DIR/gateway.yaml"
daemon_start || { not_ok "daemon starts"; t_done; exit 1; }
ok "daemon starts"

expect 0 "status" cli --json status
expect_json forwarding.mode == xdp "XDP forwarding is the default"
expect 0 "first ping resolves the neighbours" lab_in client ping -c2 -W2 198.18.2.2
expect 0 "and over IPv6" lab_in client ping -6 -c2 -W2 fd00:2::2

k4=$(kernel_fwd4) k6=$(kernel_fwd6) f=$(status_get forwarding.forwarded.packets)
expect 0 "300 pings through the gateway, none lost" \
	sh -c "nsenter --net=/var/run/netns/$(lab_ns client) ping -q -i 0.002 -c 300 -W 2 198.18.2.2 | grep -q ' 0% packet loss'"
expect 0 "100 IPv6 pings, none lost" \
	sh -c "nsenter --net=/var/run/netns/$(lab_ns client) ping -6 -q -i 0.002 -c 100 -W 2 fd00:2::2 | grep -q ' 0% packet loss'"
expect 0 "TCP connects through the fast path" lab_in client $PROBE tcp 198.18.2.2 8080
k4b=$(kernel_fwd4) k6b=$(kernel_fwd6) fb=$(status_get forwarding.forwarded.packets)
expect 0 "XDP forwarded every echo and reply ($((fb - f)) frames)" test $((fb - f)) -ge 800
expect 0 "the gateway's kernel forwarded almost none of them ($((k4b - k4)) IPv4, $((k6b - k6)) IPv6)" \
	test $((k4b - k4 + k6b - k6)) -lt 20
expect 1 "denied traffic is still denied" lab_in client $PROBE tcp 198.18.2.2 22 --timeout 1

# No neighbour entry: the kernel forwards (and resolves it), counted.
# (198.18.2.5: an address of the server's that no health probe keeps
# resolved.)
lab_in server ip addr add 198.18.2.5/24 dev eth0
n=$(status_get forwarding.to_kernel.no_neighbour.packets)
lab_in gw ip neigh del 198.18.2.5 dev s0 2>/dev/null
expect 0 "a ping to a host without a neighbour entry gets its reply" \
	lab_in client ping -c1 -W2 198.18.2.5
expect 0 "status" cli --json status
expect_json forwarding.to_kernel.no_neighbour.packets -gt "$n" "it went to the kernel as no_neighbour"
# Addressed to the gateway itself: local.
expect 0 "a ping to the gateway" lab_in client ping -c1 -W2 198.18.1.1
expect 0 "status" cli --json status
expect_json forwarding.to_kernel.local.packets -ge 1 "counted as local"
expect 0 "status shows the forwarding line" cli status
expect_match '^forward  xdp: [0-9]+ forwarded.*no_neighbour [0-9]+' "with the fallbacks"

# The pinned program keeps forwarding without the daemon, and a new
# daemon takes over without sending the traffic to the kernel.
daemon_kill KILL
k4=$(kernel_fwd4)
expect 0 "after kill -9, 100 pings, none lost" \
	sh -c "nsenter --net=/var/run/netns/$(lab_ns client) ping -q -i 0.002 -c 100 -W 2 198.18.2.2 | grep -q ' 0% packet loss'"
expect 0 "still forwarded in XDP ($(($(kernel_fwd4) - k4)) by the kernel)" test $(($(kernel_fwd4) - k4)) -lt 10
daemon_start || not_ok "daemon restarts"
k4=$(kernel_fwd4) f=$(status_get forwarding.forwarded.packets)
expect 0 "after the restart, 100 pings, none lost" \
	sh -c "nsenter --net=/var/run/netns/$(lab_ns client) ping -q -i 0.002 -c 100 -W 2 198.18.2.2 | grep -q ' 0% packet loss'"
fb=$(status_get forwarding.forwarded.packets)
expect 0 "the adopted links forward in XDP ($((fb - f)) frames)" test $((fb - f)) -ge 200
expect 0 "not the kernel ($(($(kernel_fwd4) - k4)))" test $(($(kernel_fwd4) - k4)) -lt 10

# Every probe type: up where the backend answers as it should, down (with
# why) where it does not.
sleep 0.5
expect 0 "services" cli --json services
probe_state() { # SERVICE-INDEX BACKEND-INDEX
	python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
b = d["services"][int(sys.argv[2])]["backends"][int(sys.argv[3])]
print(b["health"], b.get("last_error") or "")' "$T_DIR/last.out" "$1" "$2"
}
cp "$T_DIR/last.out" "$T_DIR/services.json"
st() { cp "$T_DIR/services.json" "$T_DIR/last.out"; probe_state "$@"; }
# tables: lb v4 0, lb v6 1, by-udp 2, by-icmp 3, by-http 4
expect_eq "udp probe: an echo server is up" "$(st 2 0)" "up "
expect_eq "udp probe: a closed port is down (its ICMP error is policy's to decide)" "$(st 2 1)" "down timed out"
expect_eq "icmp probe: a host that answers ping is up" "$(st 3 0)" "up "
expect_eq "icmp probe: a host nobody answers for is down" "$(st 3 1 | cut -d' ' -f1)" "down"
expect_eq "http probe: 200 on /ok is up" "$(st 4 0)" "up "
expect_eq "http probe: 404 is down" "$(st 4 1)" "down HTTP status 404"
expect_eq "http probe: no server is down" "$(st 4 2)" "down connect: Connection refused"

# Load balancing: 400 connections to the virtual address spread over the
# three backends by weight (1:2:1), each answered through reverse NAT.
who() { lab_in client $PROBE who "$@" >"$T_DIR/last.out"; }
expect 0 "400 connections to the virtual address, every one answered" \
	who 198.18.0.100 80 --count 400
took="b1:$(jget names.b1):100 b2:$(jget names.b2):200 b3:$(jget names.b3):100"
for t in $took; do
	IFS=: read -r b n want <<<"$t"
	expect 0 "$b took $n of 400 (its weight: $want)" \
		test "$n" -ge $((want * 7 / 10)) -a "$n" -le $((want * 13 / 10))
done
expect 0 "UDP to the virtual address is answered from it" lab_in client $PROBE udp 198.18.0.100 53
expect 0 "IPv6: 50 connections to the IPv6 virtual address" \
	who fd00:100::100 80 --count 50
expect_json names.b1 -ge 10 "b1 answers over IPv6"
expect_json names.b2 -ge 10 "and b2"
expect 0 "status" cli --json status
expect_json counters.deny_nat_failed.packets -eq 0 "no rewrite failed"
# The daemon sets lb_conns from conntrack once a second: a count the
# data plane got wrong is put right, one for a stranger removed.
LBC=/sys/fs/bpf/portcullis/$LAB/lb_conns
B1KEY="0 0 0 0 0 0 0 0 0 0 0xff 0xff 198 18 2 2 0x91 0x1f 0 0" # :8081
XKEY="0 0 0 0 0 0 0 0 0 0 0xff 0xff 198 18 9 8 9 0 0 0" # no backend
bpftool map update pinned "$LBC" key $B1KEY value 0xe8 3 0 0 0 0 0 0 # 1000
bpftool map update pinned "$LBC" key $XKEY value 5 0 0 0 0 0 0 0
sleep 1.5
expect 0 "b1's count" bpftool -j map lookup pinned "$LBC" key $B1KEY
B1N=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["formatted"]["value"])' "$T_DIR/last.out")
# b1's live balanced flows (the UDP one above, if it went there)
B1LIVE=$(bpftool -j map dump pinned "/sys/fs/bpf/portcullis/$LAB/conntrack" |
	python3 -c 'import json, sys
n = 0
for e in json.load(sys.stdin):
    k, v = e["formatted"]["key"], e["formatted"]["value"]
    if (v["nat"] == 1 and v["nat_port"] == 8081 and
            [int(x, 0) if isinstance(x, str) else x for x in v["nat_addr"]][12:] == [198, 18, 2, 2] and
            (k["proto"] == 17 or v["state"] < 3)):
        n += 1
print(n)')
expect 0 "is set from conntrack within a second (1000 -> $B1N; $B1LIVE open)" test "$B1N" = "$B1LIVE"
absent() { ! bpftool map lookup pinned "$LBC" key $XKEY >/dev/null 2>&1; }
expect 0 "the stranger's count is gone" absent
expect 0 "the flow log, on the same walk, has the balanced connections" python3 -c '
import json, sys
n = sum(1 for l in open(sys.argv[1])
        if (r := json.loads(l))["event"] == "flow" and r["dst"] == "198.18.0.100")
assert n >= 10, n' "$T_DIR/flows.jsonl"

# A connection stays with its backend for its whole life.
lab_in client $PROBE hold 198.18.0.100 80 --duration 3 --interval 0.05 >"$T_DIR/hold.out" 2>&1 &
HOLD=$!
sleep 0.3
# drain: b2 gets no new connections; the open one goes on
write_policy '      - { address: 198.18.2.2, port: 8081, weight: 1 }
      - { address: 198.18.3.2, port: 8081, weight: 2, drain: true }
      - { address: 198.18.4.2, port: 8081, weight: 1 }
      - "[fd00:2::2]:8081"
      - "[fd00:3::2]:8081"'
expect 0 "a push drains b2" cli policy push "$T_DIR/steer.yaml"
expect 0 "200 connections after the drain" who 198.18.0.100 80 --count 200
expect_json names.b1 -ge 60 "b1 takes half"
expect_json names.b3 -ge 60 "b3 takes half"
B2=$(jget names.b2 2>/dev/null)
expect 0 "b2 takes none (${B2:-0})" test -z "$B2"
wait $HOLD
expect 0 "a connection open across the push and the drain survived ($(tail -1 "$T_DIR/hold.out"))" \
	grep -q survived "$T_DIR/hold.out"

# Health and failover: b3's server dies under a steady stream of new
# connections; probes every 100 ms (fall 2) take it out of the table.
write_policy '      - { address: 198.18.2.2, port: 8081, weight: 1 }
      - { address: 198.18.3.2, port: 8081, weight: 2 }
      - { address: 198.18.4.2, port: 8081, weight: 1 }
      - "[fd00:2::2]:8081"
      - "[fd00:3::2]:8081"'
expect 0 "b2 back in" cli policy push "$T_DIR/steer.yaml"
sleep 0.5
expect 0 "services" cli --json services
expect_json services.0.backends.2.health == up "b3 is up"
expect_json services.0.backends.2.checks -ge 2 "and has been probed"
expect 0 "services, as a table" cli services
expect_match '^  198\.18\.4\.2:8081 +1 up +yes ' "shows b3 up and taking flows"
cli events --duration 4 >"$T_DIR/events.out" 2>&1 &
EVENTS=$!
# connections that must not move (those on b1 and b2)
HOLDS=
for h in 1 2 3 4 5 6; do
	lab_in client $PROBE hold 198.18.0.100 80 --named --duration 2.5 --interval 0.05 \
		>"$T_DIR/hold_$h.out" 2>&1 &
	HOLDS="$HOLDS $!"
done
lab_in client $PROBE who 198.18.0.100 80 --count 500 --interval 0.004 --timeout 0.5 --log \
	>"$T_DIR/stream.out" 2>/dev/null &
STREAM=$!
sleep 1
KILL_AT=$(date +%s.%N)
ip netns pids "$(lab_ns b3)" | xargs -r kill -9 # b3's server, all it runs
DEAD_AT=$(date +%s.%N)
wait "$STREAM"
# failover: from the kill to the last connection that failed (b3's: the
# others are alive), and how many failed
read -r FAILED WINDOW_MS AFTER_B3 TOTAL <<<"$(python3 -c '
import json, sys
d = json.load(open(sys.argv[1])); kill = float(sys.argv[2])
fails = [e[0] for e in d["log"] if e[1] is None and e[0] >= kill - 0.5]
dead = float(sys.argv[3])
late_b3 = [e[0] for e in d["log"] if e[1] == "b3" and e[0] > dead]
window = (max(fails) - kill) * 1000 if fails else 0
print(len(fails), round(window), len(late_b3), len(d["log"]))
' "$T_DIR/stream.out" "$KILL_AT" "$DEAD_AT")"
echo "# failover: $FAILED of $TOTAL connections failed, the last ${WINDOW_MS} ms after the kill"
[ -n "$STEERING_FIGURES" ] && echo "failover_ms=$WINDOW_MS failed=$FAILED total=$TOTAL" >>"$STEERING_FIGURES"
expect 0 "after b3 died, new connections stopped failing within 300 ms (${WINDOW_MS} ms, $FAILED failed)" \
	test "$WINDOW_MS" -lt 300
expect 0 "no connection reached b3 after it died" test "$AFTER_B3" -eq 0
expect 0 "the stream carried on ($TOTAL connections)" test "$TOTAL" -ge 300
wait $HOLDS
live=0 moved=0
for h in 1 2 3 4 5 6; do
	grep -q 'connected to b3' "$T_DIR/hold_$h.out" && continue
	live=$((live + 1))
	grep -q survived "$T_DIR/hold_$h.out" || moved=$((moved + 1))
done
expect 0 "the $live connections to live backends were not moved ($moved broke)" \
	test "$live" -ge 1 -a "$moved" -eq 0
wait "$EVENTS"
expect 0 "services" cli --json services
expect_json services.0.backends.2.health == down "b3 is down"
expect_json services.0.backends.2.active == False "and takes no new flows"
expect_match '"last_error": "connect: Connection refused"' "with why"
expect_json transitions.-1.state == down "the transition is listed"
expect 0 "the event stream carried it" grep -q '^backend_down .*service=lb backend=198.18.4.2:8081 why=' "$T_DIR/events.out"
expect 0 "audit log" cli audit --limit 5
expect_match 'backend down.*198\.18\.4\.2:8081' "the audit log has it"
# and in the metrics
curl -sf --unix-socket "$T_DIR/api.sock" -o "$T_DIR/metrics" http://x/metrics
m() { python3 "$SRC/tests/netns/prom.py" "$T_DIR/metrics" "$1" || echo missing; }
B3='service="lb",backend="198.18.4.2:8081"'
B1='service="lb",backend="198.18.2.2:8081"'
expect_eq "metrics: b3 is down" "$(m "portcullis_backend_up{$B3}")" 0
expect_eq "and not active" "$(m "portcullis_backend_active{$B3}")" 0
expect_eq "one failover" "$(m "portcullis_backend_failovers_total{$B3}")" 1
expect_eq "b1 is up and active" "$(m "portcullis_backend_up{$B1}") $(m "portcullis_backend_active{$B1}")" "1 1"
expect 0 "b1's probe round trip is under a second ($(m "portcullis_backend_probe_rtt_seconds{$B1}") s)" \
	python3 -c 'import sys; sys.exit(not 0 < float(sys.argv[1]) < 1)' "$(m "portcullis_backend_probe_rtt_seconds{$B1}")"
expect_eq "IPv6 backends are bracketed" \
	"$(m 'portcullis_backend_weight{service="lb",backend="[fd00:2::2]:8081"}')" 1
expect 0 "promtool passes on a gateway with backends" promtool check metrics <"$T_DIR/metrics"
# b3 comes back: after rise (2) probes it takes flows again
lab_in b3 $PROBE serve --name b3 --tcp 8081 --udp 8081 --lifetime 300 >/dev/null 2>&1 &
sleep 0.8
expect 0 "services" cli --json services
expect_json services.0.backends.2.health == up "b3 is up again"
expect 0 "200 connections" who 198.18.0.100 80 --count 200
expect_json names.b3 -ge 20 "b3 takes its share again"

# health probes end with a reset: nothing of theirs comes back after the
# probe's conntrack entry is gone, so they make no deny events (the
# console's live denies would fill with them)
expect 1 "the backends' health probes cause no deny" \
	grep -E 'verdict deny[a-z_]* (tcp|udp) [^ ]+ -> 198\.18\.[234]\.1:' "$T_DIR/daemon.log"

# forwarding: kernel, on a reload: the kernel forwards everything again.
sed -i 's/^  state:/  forwarding: kernel\n  state:/' "$T_DIR/gateway.yaml"
kill -HUP "$DAEMON_PID"
sleep 0.5
expect 0 "status after reload" cli --json status
expect_json forwarding.mode == kernel "forwarding: kernel is in force"
k4=$(kernel_fwd4) f=$(status_get forwarding.forwarded.packets)
expect 0 "100 pings with kernel forwarding" \
	sh -c "nsenter --net=/var/run/netns/$(lab_ns client) ping -q -i 0.002 -c 100 -W 2 198.18.2.2 | grep -q ' 0% packet loss'"
k4b=$(kernel_fwd4) fb=$(status_get forwarding.forwarded.packets)
expect 0 "the kernel forwarded them ($((k4b - k4)))" test $((k4b - k4)) -ge 200
expect 0 "XDP forwarded none" test "$fb" = "$f"
expect 1 "denied traffic is still denied" lab_in client $PROBE tcp 198.18.2.2 22 --timeout 1
expect 0 "balancing works with kernel forwarding too" who 198.18.0.100 80 --count 80
expect_json names.b1 -ge 5 "b1 answers"
expect_json names.b3 -ge 5 "b3 answers"

t_done
