#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Test interfaces removed and re-added under a running daemon: it logs
# the loss and reports itself not ready, re-attaches XDP to the new
# interface of the same name (a new ifindex) and logs that, and the
# policy enforces through it again; an interface missing at start is
# attached when it appears.
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${BUILD:-$SRC/build}
LAB=pi$$
export LAB_TRUST_ROOT=true
. "$SRC/tests/netns/lib.sh"
trap t_cleanup EXIT

allowed() { lab_in client $PROBE tcp 198.18.2.2 8080 --timeout 1; }
denied() { lab_in client $PROBE tcp 198.18.2.2 22 --timeout 1; }
ready() { curl -s -o /dev/null -w '%{http_code}' --unix-socket "$T_DIR/api.sock" http://x/readyz; }
xdp_on_c0() { ip -n "$(lab_ns gw)" link show c0 2>/dev/null | grep -q 'xdp'; }
# wait_log REGEX: up to 3 s for the daemon to log it
wait_log() {
	for _ in $(seq 30); do
		grep -Eq "$1" "$T_DIR/daemon.log" && return 0
		sleep 0.1
	done
	return 1
}

t_setup
daemon_start || { not_ok "daemon starts"; t_done; exit 1; }
ok "daemon starts"
expect 0 "the allowed flow passes" allowed
expect 1 "the denied flow does not" denied
expect_eq "ready" "$(ready)" 200
old=$(ip -n "$(lab_ns gw)" -o link show c0 | cut -d: -f1)

ip -n "$(lab_ns gw)" link del c0
expect 0 "c0 deleted: the daemon logs that it no longer enforces there" \
	wait_log 'interface c0 is gone: not enforcing on it until it is back'
expect_eq "and is not ready" "$(ready)" 503
expect 0 "status says c0 is not attached" cli --json status
expect_json interfaces.0.attached == False "interfaces[c0].attached"

lab_client_link
new=$(ip -n "$(lab_ns gw)" -o link show c0 | cut -d: -f1)
expect 0 "c0 back (ifindex $old, now $new): the daemon logs that it re-attached" \
	wait_log "enforcing on c0 again \(ifindex $new, (native|generic) XDP\)"
expect 0 "XDP is on the new c0" xdp_on_c0
expect_eq "ready again" "$(ready)" 200
expect 0 "the allowed flow passes again" allowed
expect 1 "and the denied one is still denied" denied
expect 0 "status says c0 is attached" cli --json status
expect_json interfaces.0.attached == True "interfaces[c0].attached"

# a change that is not a new interface (down, up) re-attaches nothing
n=$(grep -c 'enforcing on c0' "$T_DIR/daemon.log")
ip -n "$(lab_ns gw)" link set c0 down
ip -n "$(lab_ns gw)" link set c0 up
sleep 0.5
expect_eq "c0 down and up: no re-attach" "$(grep -c 'enforcing on c0' "$T_DIR/daemon.log")" "$n"
expect 0 "XDP is still on c0" xdp_on_c0

# an interface missing when the daemon starts is attached when it comes
daemon_kill TERM
"$DAEMON" -c "$T_DIR/gateway.yaml" --teardown >/dev/null 2>&1
ip -n "$(lab_ns gw)" link del c0
nsenter --net="/var/run/netns/$(lab_ns gw)" \
	"$DAEMON" -c "$T_DIR/gateway.yaml" >>"$T_DIR/daemon.log" 2>&1 &
DAEMON_PID=$!
expect 0 "the daemon starts without c0 and says so" \
	wait_log "failed to attach to interface 'c0'"
for _ in $(seq 30); do [ -S "$T_DIR/api.sock" ] && break; sleep 0.1; done
expect_eq "and is not ready" "$(ready)" 503
lab_client_link
new=$(ip -n "$(lab_ns gw)" -o link show c0 | cut -d: -f1)
expect 0 "c0 created (ifindex $new): attached" \
	wait_log "enforcing on c0 again \(ifindex $new,"
expect_eq "ready" "$(ready)" 200
expect 0 "the allowed flow passes" allowed
expect 1 "the denied one does not" denied
t_done
