#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The namespace lab, as shell functions: client -- gateway -- server.
#
#   client 198.18.1.2 fd00:1::2  eth0 <-> c0  gateway  s0 <-> eth0  server
#                                       198.18.1.1    198.18.2.1  198.18.2.2
#                                       fd00:1::1     fd00:2::1   fd00:2::2
#
# Source it, set LAB (a short unique prefix), then lab_up / lab_down.
# Everything lives in namespaces named ${LAB}-client, -gw, -server.

LAB=${LAB:-pc}

lab_ns() { echo "${LAB}-$1"; }
# Run in a namespace without hiding /sys/fs/bpf (unlike ip netns exec).
lab_in() { local ns=$1; shift; nsenter --net="/var/run/netns/$(lab_ns "$ns")" "$@"; }

lab_up() {
	local c g s
	c=$(lab_ns client) g=$(lab_ns gw) s=$(lab_ns server)
	lab_down 2>/dev/null
	ip netns add "$c" && ip netns add "$g" && ip netns add "$s" || return 1
	for ns in "$c" "$g" "$s"; do
		ip -n "$ns" link set lo up
		# before the links exist, so that they inherit it: no DAD delay
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 \
			net.ipv6.conf.default.accept_dad=0
	done
	lab_client_link || return 1
	ip link add eth0 netns "$s" type veth peer name s0 netns "$g" || return 1
	ip netns exec "$g" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
	ip -n "$g" addr add 198.18.2.1/24 dev s0
	ip -n "$g" addr add fd00:2::1/64 dev s0 nodad
	ip -n "$s" addr add 198.18.2.2/24 dev eth0
	ip -n "$s" addr add fd00:2::2/64 dev eth0 nodad
	for l in "$g s0" "$s eth0"; do
		set -- $l
		ip -n "$1" link set "$2" up
	done
	# The gateway forwards in XDP, into c0 and s0: a veth delivers
	# redirected frames only when its peer has NAPI, which GRO turns on.
	# And a veth hands XDP a TCP/UDP checksum its sender left to
	# "hardware" (offload) unfilled, which XDP cannot finish: the
	# senders fill in their own (tx off), as a real NIC's frames are.
	ip netns exec "$s" ethtool -K eth0 gro on tx off >/dev/null || return 1
	ip -n "$s" route add default via 198.18.2.1
	ip -n "$s" -6 route add default via fd00:2::1
}

# The client's link: eth0 in the client, c0 in the gateway (again, after a
# test deleted it).
lab_client_link() {
	local c g
	c=$(lab_ns client) g=$(lab_ns gw)
	ip link add eth0 netns "$c" type veth peer name c0 netns "$g" || return 1
	ip -n "$c" addr add 198.18.1.2/24 dev eth0
	ip -n "$c" addr add fd00:1::2/64 dev eth0 nodad
	ip -n "$g" addr add 198.18.1.1/24 dev c0
	ip -n "$g" addr add fd00:1::1/64 dev c0 nodad
	ip -n "$c" link set eth0 up
	ip -n "$g" link set c0 up
	# (see lab_up: GRO for XDP's redirects, senders' own checksums)
	ip netns exec "$c" ethtool -K eth0 gro on tx off >/dev/null || return 1
	ip -n "$c" route add default via 198.18.1.1
	ip -n "$c" -6 route add default via fd00:1::1
}

lab_down() {
	local ns
	for ns in client gw server; do
		ip netns pids "$(lab_ns $ns)" 2>/dev/null | xargs -r kill -9 2>/dev/null
		ip netns del "$(lab_ns $ns)" 2>/dev/null
	done
	return 0
}

# Write a gateway config for the lab into $1 (a directory) and print its path.
lab_gateway_config() {
	local dir=$1 policy=$2
	cat >"$dir/gateway.yaml" <<EOC
gateway:
  name: ${LAB}
  interfaces:
    - { name: c0, mode: native }
    - { name: s0, mode: native }
  api:
    listen: unix:$dir/api.sock
    trust_local_root: ${LAB_TRUST_ROOT:-true}
  state: $dir/state.db
  policy: $policy
EOC
	echo "$dir/gateway.yaml"
}
