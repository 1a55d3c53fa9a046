#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A fleet lab, as shell functions: one lab (client -- gateway -- server,
# tools/lab/netns.sh) per gateway, every gateway joined by a management
# network (198.19.0.0/24, its veth m0) to a namespace of its own that
# runs etcd at $ETCD_IP.  Source netns.sh first; set GWS (gateway names,
# which are also the labs'), MG (the etcd namespace), ETCD_IP, T_DIR,
# DAEMON and CLI.  A gateway's config is $T_DIR/NAME.yaml, its API
# socket $T_DIR/NAME.sock, its log $T_DIR/NAME.log.

declare -A PID IP
ETCD_PID=

ms() { date +%s%3N; }
mg_in() { nsenter --net="/var/run/netns/$MG" "$@"; }
gcli() { local g=$1; shift; "$CLI" --api "unix:$T_DIR/$g.sock" "$@"; }

fleet_up() {
	local i=1
	ip netns del "$MG" 2>/dev/null
	ip netns add "$MG" || return 1
	ip -n "$MG" link set lo up
	ip -n "$MG" link add br0 type bridge
	ip -n "$MG" addr add "$ETCD_IP/24" dev br0
	ip -n "$MG" link set br0 up
	for g in $GWS; do
		LAB=$g lab_up || return 1
		ip link add m0 netns "$g-gw" type veth peer name "m$i" netns "$MG" || return 1
		ip -n "$MG" link set "m$i" master br0 up
		IP[$g]=198.19.0.$i
		ip -n "$g-gw" addr add "${IP[$g]}/24" dev m0
		ip -n "$g-gw" link set m0 up
		i=$((i + 1))
	done
}

fleet_down() {
	for g in $GWS; do LAB=$g lab_down; done
	ip netns pids "$MG" 2>/dev/null | xargs -r kill -9 2>/dev/null
	ip netns del "$MG" 2>/dev/null
}

etcd_start() {
	# nsenter itself, not a function: $! must be etcd
	nsenter --net="/var/run/netns/$MG" etcd --name pcf --data-dir "$T_DIR/etcd" \
		--listen-client-urls "http://$ETCD_IP:2379" \
		--advertise-client-urls "http://$ETCD_IP:2379" \
		--listen-peer-urls http://127.0.0.1:2380 \
		--initial-advertise-peer-urls http://127.0.0.1:2380 \
		--initial-cluster pcf=http://127.0.0.1:2380 \
		>>"$T_DIR/etcd.log" 2>&1 &
	ETCD_PID=$!
	for _ in $(seq 100); do
		mg_in curl -s -m 1 "http://$ETCD_IP:2379/health" | grep -q true && return 0
		sleep 0.1
	done
	echo "# etcd did not come up:"
	tail -20 "$T_DIR/etcd.log" | sed 's/^/#   /'
	return 1
}

etcd_stop() {
	[ -n "$ETCD_PID" ] && kill "$ETCD_PID" 2>/dev/null && wait "$ETCD_PID" 2>/dev/null
	ETCD_PID=
}

gw_start() {
	local g=$1
	nsenter --net="/var/run/netns/$g-gw" \
		"$DAEMON" -c "$T_DIR/$g.yaml" >>"$T_DIR/$g.log" 2>&1 &
	PID[$g]=$!
	for _ in $(seq 50); do
		gcli "$g" status 2>&1 | grep -q '^gateway' && return 0
		sleep 0.1
	done
	echo "# $g did not come up:"
	sed 's/^/#   /' "$T_DIR/$g.log"
	return 1
}

gw_kill() {
	local g=$1
	[ -n "${PID[$g]:-}" ] && kill "-${2:-TERM}" "${PID[$g]}" 2>/dev/null && wait "${PID[$g]}" 2>/dev/null
	PID[$g]=
}

# wait_for SECONDS CMD...: until the command succeeds
wait_for() {
	local until=$(($(ms) + $1 * 1000))
	shift
	while [ "$(ms)" -lt "$until" ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	return 1
}
