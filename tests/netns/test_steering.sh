#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Test steering on real traffic in the namespace lab: allowed frames are
# forwarded in XDP (the gateway's kernel does not see them), what the fast
# path cannot do goes to the kernel, counted, and forwarding: kernel turns
# the fast path off.
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${BUILD:-$SRC/build}
LAB=ps$$
. "$SRC/tests/netns/lib.sh"
trap t_cleanup EXIT

# Datagrams the gateway's kernel forwarded (IPv4, IPv6).
kernel_fwd4() { lab_in gw awk '/^Ip: [0-9]/ { print $7 }' /proc/net/snmp; }
kernel_fwd6() { lab_in gw awk '$1 == "Ip6OutForwDatagrams" { print $2 }' /proc/net/snmp6; }
status_get() { cli --json status >"$T_DIR/last.out" && jget "$1"; }

t_setup
cat >"$T_DIR/steer.yaml" <<'EOP'
apiVersion: portcullis/v1
kind: Policy
identities:
  clients: { cidrs: [198.18.1.0/24, "fd00:1::/64"] }
services:
  web:
    cidrs: [198.18.2.2/32, "fd00:2::2/128"]
    ports: [8080/tcp, 53/udp, icmp, icmpv6]
  gateway: { cidrs: [198.18.1.1/32], ports: [icmp] }
rules:
  - { name: clients-to-web, from: [clients], to: [web, gateway], action: allow }
EOP
sed -i "s|^  policy: .*|  policy: $T_DIR/steer.yaml|" "$T_DIR/gateway.yaml"
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

t_done
