#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Test that the gateway enforces policy on real traffic in a namespace lab:
# allow, deny, replies, revocation, kill -9, restart with adoption, teardown.
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${BUILD:-$SRC/build}
LAB=pc$$
. "$SRC/tests/netns/lib.sh"
trap t_cleanup EXIT

t_setup
daemon_start || { not_ok "daemon starts"; t_done; exit 1; }
ok "daemon starts and serves its API"

expect 0 "allowed TCP connects over IPv4" lab_in client $PROBE tcp 198.18.2.2 8080
expect 0 "allowed TCP connects over IPv6" lab_in client $PROBE tcp fd00:2::2 8080
expect 0 "allowed UDP gets its reply" lab_in client $PROBE udp 198.18.2.2 53
expect 0 "allowed ping gets its reply" lab_in client ping -c1 -W2 198.18.2.2
expect 1 "denied port times out" lab_in client $PROBE tcp 198.18.2.2 22 --timeout 1
expect 1 "denied IPv6 port times out" lab_in client $PROBE tcp fd00:2::2 22 --timeout 1
expect 1 "server-initiated connection is denied" \
	lab_in server $PROBE tcp 198.18.1.2 9000 --timeout 1
# the live event stream: a denied connection shows up as it happens
cli --json events --reason deny_default --duration 3 >"$T_DIR/events.out" 2>&1 &
EVENTS=$!
sleep 0.5
lab_in client $PROBE tcp 198.18.2.2 22 --timeout 1 >/dev/null 2>&1
lab_in client $PROBE tcp 198.18.2.2 8080 >/dev/null 2>&1
wait $EVENTS
EV_RC=$?
expect 0 "the event stream ran its 3 seconds and ended cleanly" test "$EV_RC" = 0
expect 0 "it carried the denied connection" \
	grep -q '"dport":22,"dst":"198.18.2.2".*"reason":"deny_default"' "$T_DIR/events.out"
expect 1 "and, filtered by reason, not the allowed one" \
	grep -q '"dport":8080' "$T_DIR/events.out"
expect 0 "stored deny events" cli --json denies --limit 5
expect_match '"dport": 22' "keep the denied connection"
expect_json denies.0.reason == deny_default "with its reason, newest first"
expect 0 "status reads counters" cli --json status
expect_json counters.deny_default.packets -ge 3 "denials are counted"
expect_json counters.allow_new.packets -ge 4 "allowed new flows are counted"
expect_match '"name": "clients-to-web"' "rules are listed with counters"
expect 0 "status shows the pinned maps" ls /sys/fs/bpf/portcullis/$LAB/policy
expect 0 "bpftool prints named fields of the policy_exact map" \
	bpftool map dump pinned /sys/fs/bpf/portcullis/$LAB/policy_exact
expect_match '"src_set":' "policy map entries carry BTF field names"

# A bad push is refused with FILE:LINE:COL and changes nothing.
sed 's/from: \[clients\]/from: [clints]/' "$SRC/policies/example.yaml" >"$T_DIR/bad.yaml"
expect 1 "a policy with an unknown identity is refused" cli policy push "$T_DIR/bad.yaml"
expect_match '^bad\.yaml:12:[0-9]+: unknown identity "clints" \(did you mean "clients"\?\)$' \
	"the refusal names file, line and column"
expect 0 "the previous policy keeps enforcing" lab_in client $PROBE tcp 198.18.2.2 8080
expect 0 "policy show still shows version 1" cli policy show
expect_match '^# version 1,' "the version in force did not change"

# A push that keeps access does not interrupt an open connection.
sed 's/8080\/tcp,/8080\/tcp, 8443\/tcp,/' "$SRC/policies/example.yaml" >"$T_DIR/wider.yaml"
lab_in client $PROBE hold 198.18.2.2 8080 --duration 3 >"$T_DIR/hold1.out" 2>&1 &
HOLD=$!
sleep 1
expect 0 "flows lists the open connection" \
	cli flows --identity clients --service web --state established --proto tcp
expect_match '^tcp +198\.18\.1\.2:[0-9]+ +198\.18\.2\.2:8080 +established +[0-9]+/[0-9]+ +clients +clients-to-web$' \
	"with its ends, state, packets, identity and rule"
expect 0 "flows as JSON" cli --json flows --service web --limit 1
expect_json shown -eq 1 "a limit bounds what is shown"
expect_json flows.0.verdict == allow "each flow says its verdict"
expect 0 "flows by verdict and host" \
	cli --json flows --verdict allow --host 198.18.2.2 --proto tcp --state established
expect_json flows.0.dst == 198.18.2.2 "the flow to that host, allowed"
expect 0 "the same by its source" cli --json flows --verdict allow --host 198.18.1.2 --service web --proto tcp
expect_json flows.0.src == 198.18.1.2 "the host is either end"
expect 0 "flows audited to that host" cli --json flows --verdict audit --host 198.18.2.2
expect_json matched -eq 0 "none: the verdict filters"
expect 0 "flows of another host" cli --json flows --host 198.18.9.9
expect_json matched -eq 0 "none: the host filters"
expect 1 "a verdict that flows do not have" cli flows --verdict deny
expect_match 'verdict: allow or audit \(a denied packet makes no flow' "the refusal says why"
expect 0 "flows of an identity with none" cli flows --identity nobody
expect_match '^0 flows matched, 0 shown$' "match nothing"
expect 0 "a wider policy is pushed" cli policy push "$T_DIR/wider.yaml"
wait $HOLD
expect 0 "an open connection that keeps access survives the push" grep -q survived "$T_DIR/hold1.out"

# A push that revokes access breaks the open connection at once.
sed 's/8080\/tcp, //' "$SRC/policies/example.yaml" >"$T_DIR/revoke.yaml"
lab_in client $PROBE hold 198.18.2.2 8080 --duration 6 --timeout 1 >"$T_DIR/hold2.out" 2>&1 &
HOLD=$!
sleep 1
expect 0 "a policy revoking 8080 is pushed" cli policy push "$T_DIR/revoke.yaml"
wait $HOLD
expect 0 "the open connection that lost access breaks" grep -q "broke after" "$T_DIR/hold2.out"
expect 1 "new connections to the revoked port time out" \
	lab_in client $PROBE tcp 198.18.2.2 8080 --timeout 1
expect 0 "revocation is counted" cli --json status
expect_json counters.deny_revoked.packets -ge 1 "deny_revoked counter moved"

# kill -9 leaves the data plane enforcing the last policy.
expect 0 "the example policy is pushed back" cli policy push "$SRC/policies/example.yaml"
lab_in client $PROBE hold 198.18.2.2 8080 --duration 5 --timeout 1 >"$T_DIR/hold3.out" 2>&1 &
HOLD=$!
sleep 0.5
daemon_kill KILL
expect 1 "after kill -9 the API is gone" cli status
expect 0 "after kill -9 allowed traffic still passes" lab_in client $PROBE tcp 198.18.2.2 8080
expect 1 "after kill -9 denied traffic is still denied" \
	lab_in client $PROBE tcp 198.18.2.2 22 --timeout 1

# A new daemon adopts the pinned data plane without a gap.
daemon_start || not_ok "daemon restarts"
wait $HOLD
expect 0 "a connection open across kill -9 and restart survives" grep -q survived "$T_DIR/hold3.out"
expect 0 "status after restart" cli --json status
expect_json adopted == True "the restarted daemon adopted the pinned data plane"
expect_json policy.version -eq 4 "the restarted daemon knows the policy version in force"
expect_json policy.generation -eq 4 "the data plane kept generation 4 (no re-apply)"
expect 0 "daemon log says it adopted" grep -q "adopted policy version 4" "$T_DIR/daemon.log"
expect 1 "denied traffic stays denied after restart" \
	lab_in client $PROBE tcp 198.18.2.2 22 --timeout 1

# The first push after adopting: the old slot is found by walking the maps
# (this daemon did not write it), and only the new slot remains.
expect 0 "a push after adoption" cli policy push "$T_DIR/revoke.yaml"
expect 1 "the pushed policy enforces (8080 revoked)" \
	lab_in client $PROBE tcp 198.18.2.2 8080 --timeout 1
one_slot() {
	for m in policy_exact ident_hosts service_hosts identities services policy; do
		bpftool -j map dump pinned "/sys/fs/bpf/portcullis/$LAB/$m" |
			python3 -c 'import json,sys
slots = {e["formatted"]["key"]["slot"] for e in json.load(sys.stdin)}
sys.exit(len(slots) > 1)' || { echo "$m holds two slots"; return 1; }
	done
}
expect 0 "after it every slotted map holds only the live slot" one_slot
expect 0 "and the example policy once more" cli policy push "$SRC/policies/example.yaml"
expect 0 "8080 is allowed again" lab_in client $PROBE tcp 198.18.2.2 8080
expect 0 "the next push removes the old slot by its keys: one slot" one_slot

# SIGTERM keeps enforcing too; --teardown removes everything.
daemon_kill TERM
expect 1 "after SIGTERM denied traffic is still denied" \
	lab_in client $PROBE tcp 198.18.2.2 22 --timeout 1
expect 0 "--teardown succeeds" lab_in gw "$DAEMON" -c "$T_DIR/gateway.yaml" --teardown
expect 1 "--teardown removed the pins" test -e /sys/fs/bpf/portcullis/$LAB
expect 0 "without the gateway the port is reachable (it was our XDP that denied it)" \
	lab_in client $PROBE tcp 198.18.2.2 22 --timeout 2

t_done
