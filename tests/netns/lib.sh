#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Helpers for namespace tests: TAP output, the lab, the daemon.
# Needs BUILD (meson build dir) and SRC (source dir) in the environment.

. "$SRC/tools/lab/netns.sh"

T_N=0
T_FAILED=0
T_DIR=$(mktemp -d /tmp/pc-test.XXXXXX)
PROBE="python3 $SRC/tools/lab/probe.py"
CLI="$BUILD/userspace/portcullis"
DAEMON="$BUILD/userspace/portcullisd"
DAEMON_PID=

ok() { T_N=$((T_N + 1)); echo "ok $T_N - $*"; }
not_ok() { T_N=$((T_N + 1)); T_FAILED=$((T_FAILED + 1)); echo "not ok $T_N - $*"; }

# expect RC DESCRIPTION CMD...: the command must exit with RC.
expect() {
	local want=$1 desc=$2 got
	shift 2
	"$@" >"$T_DIR/last.out" 2>&1
	got=$?
	if [ "$got" = "$want" ]; then
		ok "$desc"
	else
		not_ok "$desc (exit $got, wanted $want)"
		sed 's/^/#   /' "$T_DIR/last.out"
	fi
}

# expect_match REGEX DESCRIPTION: the last command's output matches.
expect_match() {
	if grep -Eq -- "$1" "$T_DIR/last.out"; then
		ok "$2"
	else
		not_ok "$2 (no match for /$1/)"
		sed 's/^/#   /' "$T_DIR/last.out"
	fi
}

# expect_eq DESCRIPTION GOT WANTED
expect_eq() { if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1 (got '$2', wanted '$3')"; fi; }

# jget PATH: read a value from the JSON in the last command's output,
# e.g. jget counters.deny_default.packets
jget() {
	python3 -c 'import json,sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v = v[int(k)] if isinstance(v, list) else v[k]
print(v)' "$T_DIR/last.out" "$1"
}

# expect_json PATH OP VALUE DESCRIPTION, OP one of -eq -gt -ge == !=
expect_json() {
	local got
	got=$(jget "$1" 2>/dev/null)
	if [ -n "$got" ] && [ "$got" "$2" "$3" ]; then
		ok "$4"
	else
		not_ok "$4 ($1 = '$got', wanted $2 $3)"
	fi
}

cli() { "$CLI" --api "unix:$T_DIR/api.sock" "$@"; }

daemon_start() {
	# no function or subshell in between: $! must be the daemon itself
	nsenter --net="/var/run/netns/$(lab_ns gw)" \
		"$DAEMON" -c "$T_DIR/gateway.yaml" >>"$T_DIR/daemon.log" 2>&1 &
	DAEMON_PID=$!
	for _ in $(seq 50); do
		# up: it answers, with status or with "authentication required"
		cli status 2>&1 | grep -q '^gateway\|HTTP 401' && return 0
		sleep 0.1
	done
	echo "# daemon did not come up:"
	sed 's/^/#   /' "$T_DIR/daemon.log"
	return 1
}

# An admin token made offline (in $ADMIN), then the daemon; the test
# ends here if it does not come up.
admin_and_start() {
	expect 0 "an admin token is created offline" \
		"$DAEMON" -c "$T_DIR/gateway.yaml" --token-create boot --role admin
	ADMIN=$(grep "^pct_" "$T_DIR/last.out")
	daemon_start || { not_ok "daemon starts"; t_done; exit 1; }
	ok "daemon starts"
}

daemon_kill() {
	[ -n "$DAEMON_PID" ] && kill "-${1:-TERM}" "$DAEMON_PID" 2>/dev/null
	[ -n "$DAEMON_PID" ] && wait "$DAEMON_PID" 2>/dev/null
	DAEMON_PID=
}

t_setup() {
	lab_up || { echo "Bail out! cannot build the lab"; exit 1; }
	lab_gateway_config "$T_DIR" "$SRC/policies/example.yaml" >/dev/null
	lab_in server $PROBE serve --tcp 8080 22 --udp 53 --lifetime 300 \
		>"$T_DIR/server.log" 2>&1 &
	lab_in client $PROBE serve --tcp 9000 --lifetime 300 \
		>"$T_DIR/client.log" 2>&1 &
	sleep 0.3
}

t_cleanup() {
	daemon_kill KILL
	"$DAEMON" -c "$T_DIR/gateway.yaml" --teardown >/dev/null 2>&1
	lab_down
	if [ "$T_FAILED" -ne 0 ]; then
		echo "# daemon log:"
		sed 's/^/#   /' "$T_DIR/daemon.log" 2>/dev/null | tail -40
	fi
	rm -rf "$T_DIR"
}

t_done() {
	echo "1..$T_N"
	[ "$T_FAILED" -eq 0 ]
}
