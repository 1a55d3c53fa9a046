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
    cidrs: [198.18.2.2/32, "fd00:2::2/128"]
    ports: [8080/tcp, 53/udp, icmp, icmpv6]
  gateway: { cidrs: [198.18.1.1/32], ports: [icmp] }
  lb:
    cidrs: [198.18.0.100/32, "fd00:100::100/128"]
    ports: [80/tcp, 53/udp]
    backends:
$1
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
n=$(status_get forwarding.to_kernel.no_neighbour.packets)
lab_in gw ip neigh flush dev s0
expect 0 "a ping after the neighbour is gone still gets its reply" \
	lab_in client ping -c1 -W2 198.18.2.2
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
expect 1 "b2 takes none" sh -c "grep -q '\"b2\"' $T_DIR/last.out"
wait $HOLD
expect 0 "a connection open across the push and the drain survived" grep -q survived "$T_DIR/hold.out"

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
expect 0 "balancing works with kernel forwarding too" who 198.18.0.100 80 --count 40
expect_json names.b1 -ge 5 "b1 answers"
expect_json names.b3 -ge 5 "b3 answers"

t_done
