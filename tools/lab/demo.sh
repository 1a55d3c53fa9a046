#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The main job: a client -- gateway -- server lab with portcullisd
# enforcing policies/example.yaml, and live verdicts as traffic flows.
#   tools/lab/demo.sh [ROUNDS]     (default 3; 0 = until Ctrl-C)
set -uo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$SRC/build}
ROUNDS=${1:-3}
LAB=pcdemo
. "$SRC/tools/lab/netns.sh"

DIR=$(mktemp -d /tmp/pc-demo.XXXXXX)
PROBE="python3 $SRC/tools/lab/probe.py"
CLI="$BUILD/userspace/portcullis"
export PORTCULLIS_API="unix:$DIR/api.sock"

DAEMON=
cleanup() {
	# the log follower ends with the daemon (tail --pid); the probes die
	# with their namespaces in lab_down
	[ -n "$DAEMON" ] && kill "$DAEMON" 2>/dev/null && wait "$DAEMON" 2>/dev/null
	"$BUILD/userspace/portcullisd" -c "$DIR/gateway.yaml" --teardown >/dev/null 2>&1
	lab_down
	rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

lab_up || exit 1
lab_gateway_config "$DIR" "$SRC/policies/example.yaml" >/dev/null
lab_in server $PROBE serve --tcp 8080 22 --udp 53 >/dev/null 2>&1 &
lab_in client $PROBE serve --tcp 9000 >/dev/null 2>&1 &
nsenter --net="/var/run/netns/$(lab_ns gw)" "$BUILD/userspace/portcullisd" \
	-c "$DIR/gateway.yaml" >"$DIR/daemon.log" 2>&1 &
DAEMON=$!
for _ in $(seq 50); do "$CLI" status >/dev/null 2>&1 && break; sleep 0.1; done

echo "== policy in force (portcullis policy show)"
"$CLI" policy show
echo
echo "== live verdicts from the gateway's ring buffer, and what the client saw"
tail --pid="$DAEMON" -n0 -f "$DIR/daemon.log" | grep --line-buffered -o 'verdict .*' |
	sed -u 's/^/   gateway: /' &

try() { # DESCRIPTION NS CMD...
	local d=$1 ns=$2
	shift 2
	if lab_in "$ns" "$@" >/dev/null 2>&1; then
		printf '%-52s PASSED\n' "$d"
	else
		printf '%-52s BLOCKED\n' "$d"
	fi
	sleep 0.2
}

round=0
while [ "$ROUNDS" -eq 0 ] || [ "$round" -lt "$ROUNDS" ]; do
	round=$((round + 1))
	echo "-- round $round"
	try "client -> web 198.18.2.2:8080/tcp (allowed)" client $PROBE tcp 198.18.2.2 8080
	try "client -> web [fd00:2::2]:8080/tcp (allowed)" client $PROBE tcp fd00:2::2 8080
	try "client -> web 198.18.2.2:53/udp (allowed)" client $PROBE udp 198.18.2.2 53
	try "client -> web ping (allowed)" client ping -c1 -W1 198.18.2.2
	try "client -> web 198.18.2.2:22/tcp (denied)" client $PROBE tcp 198.18.2.2 22 --timeout 1
	try "server -> client 198.18.1.2:9000/tcp (denied)" server $PROBE tcp 198.18.1.2 9000 --timeout 1
done
sleep 0.3
echo
echo "== portcullis status"
"$CLI" status
echo
echo "== the same counters as Prometheus scrapes them (GET /metrics)"
curl -s --unix-socket "$DIR/api.sock" http://x/metrics |
	grep -E '^portcullis_(packets_total\{verdict="(allow|deny)",reason="(allow_new|deny_default)"\}|rule_packets_total\{[^}]*\}|conntrack_entries|policy_version) '
