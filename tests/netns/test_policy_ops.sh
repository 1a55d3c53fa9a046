#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Test the policy workflow on a live gateway: diff, explain, tests that
# refuse a push, audit mode on real traffic, versions and rollback.
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${BUILD:-$SRC/build}
LAB=pp$$
. "$SRC/tests/netns/lib.sh"
trap t_cleanup EXIT

t_setup
daemon_start || { not_ok "daemon starts"; t_done; exit 1; }
ok "daemon starts with the example policy (version 1)"
expect 1 "port 22 is denied in enforce mode" \
	lab_in client $PROBE tcp 198.18.2.2 22 --timeout 1

# diff and explain against the policy in force
sed 's/8080\/tcp,/8080\/tcp, 8443\/tcp,/' "$SRC/policies/example.yaml" >"$T_DIR/wider.yaml"
expect 0 "policy diff against the live policy" cli policy diff "$T_DIR/wider.yaml"
expect_match '^\+ clients -> web 8443/tcp: allow by rule "clients-to-web", was denied by default$' \
	"the diff says clients gain 8443/tcp on web"
expect_match '^1 change in access$' "and nothing else changes"
expect 0 "policy explain against the live policy" \
	cli policy explain --from 198.18.1.2 --to 198.18.2.2 --port 22/tcp
expect_match '^198.18.1.2 -> 198.18.2.2 22/tcp: denied by default$' \
	"explain says port 22 is denied by default"
expect_match 'source is in: clients' "and which identities the source is in"

# a push whose tests fail is refused and changes nothing
cat "$SRC/policies/example.yaml" >"$T_DIR/failing.yaml"
echo "  - { from: 198.18.1.7, to: web, port: 22/tcp, expect: allow }" >>"$T_DIR/failing.yaml"
expect 1 "a push whose test fails is refused" cli policy push "$T_DIR/failing.yaml"
expect_match '^failing\.yaml:[0-9]+:5: test failed: from 198\.18\.1\.7 to web 22/tcp: expected allow, got default deny \(no rule matches\)$' \
	"the refusal names the failing test and what it got"
expect 0 "status after the refused push" cli --json status
expect_json policy.version -eq 1 "version 1 is still in force"

# audit mode: what enforce would deny passes, counted and reported
sed 's/^kind: Policy$/kind: Policy\nmode: audit/' "$SRC/policies/example.yaml" >"$T_DIR/audit.yaml"
expect 0 "the example policy in audit mode is pushed" cli policy push "$T_DIR/audit.yaml"
expect 0 "in audit mode port 22 connects" lab_in client $PROBE tcp 198.18.2.2 22
expect 0 "in audit mode server-initiated traffic passes" \
	lab_in server $PROBE tcp 198.18.1.2 9000
expect 0 "allowed traffic still passes" lab_in client $PROBE tcp 198.18.2.2 8080
expect 0 "status in audit mode" cli --json status
expect_json counters.audit_deny_default.packets -ge 2 "would-be denies are counted"
DENIED=$(jget counters.deny_default.packets)
expect 0 "the would-be deny is logged with its flow" \
	grep -Eq 'verdict audit_deny_default tcp 198\.18\.1\.2:[0-9]+ -> 198\.18\.2\.2:22' "$T_DIR/daemon.log"

# versions and rollback
expect 0 "policy versions lists every push" cli policy versions
expect_match '^2 .* audit\.yaml  <- in force$' "version 2 (audit) is in force"
expect_match '^1 .*/example\.yaml$' "version 1 is listed"
lab_in client $PROBE hold 198.18.2.2 22 --duration 6 --timeout 1 >"$T_DIR/hold.out" 2>&1 &
HOLD=$!
sleep 1
expect 0 "rollback to the version before" cli policy rollback
expect_match '^rolled back to version 1: now version 3 in force' "rollback says what it did"
wait $HOLD
expect 0 "the port-22 connection audit mode let through is cut" grep -q "broke after" "$T_DIR/hold.out"
expect 1 "after rollback port 22 is denied again" \
	lab_in client $PROBE tcp 198.18.2.2 22 --timeout 1
expect 0 "status after rollback" cli --json status
expect_json counters.deny_default.packets -gt "$DENIED" "and counted as denied"
expect 0 "versions after rollback" cli policy versions
expect_match '^3 .*/example\.yaml \(rollback to 1\)  <- in force$' "version 3 says it restored 1"
expect 0 "rollback to a named version" cli policy rollback 2
expect 0 "audit mode is back: port 22 connects" lab_in client $PROBE tcp 198.18.2.2 22
expect 1 "rollback to a version that does not exist" cli policy rollback 99
expect_match 'no policy version 99' "says there is no such version"

# SIGHUP re-reads the gateway config: a bad one changes nothing ...
cp "$T_DIR/gateway.yaml" "$T_DIR/gateway.good"
echo "  bogus: [" >>"$T_DIR/gateway.yaml"
expect 0 "SIGHUP with a broken config" kill -HUP "$DAEMON_PID"
sleep 0.5
expect 0 "is refused in the log" grep -q "reload refused: .*gateway.yaml" "$T_DIR/daemon.log"
expect 0 "and the daemon keeps serving" cli --json status
VERSION=$(jget policy.version)
# ... a good one with a new policy file and one interface fewer applies
sed -e "s|policy: .*|policy: $T_DIR/wider.yaml|" -e '/name: s0/d' \
	"$T_DIR/gateway.good" >"$T_DIR/gateway.yaml"
expect 0 "SIGHUP with a new policy file and without s0" kill -HUP "$DAEMON_PID"
sleep 0.5
expect 0 "status after the reload" cli --json status
expect_json policy.version -eq $((VERSION + 1)) "the changed policy file was pushed"
expect 0 "the reload is in the log" grep -q "reload: interface s0 removed" "$T_DIR/daemon.log"
expect 0 "ip link show s0" lab_in gw ip link show s0
expect 1 "s0 has no XDP program any more" grep -q "prog/xdp" "$T_DIR/last.out"
expect 0 "ip link show c0" lab_in gw ip link show c0
expect_match 'prog/xdp' "while c0 keeps its own"
expect 0 "the push is in the audit log" cli audit --limit 1
expect_match 'policy\.push +SIGHUP \(local\)' "by SIGHUP"
cp "$T_DIR/gateway.good" "$T_DIR/gateway.yaml"
expect 0 "SIGHUP back to the first config" kill -HUP "$DAEMON_PID"
sleep 0.5
expect 0 "ip link show s0" lab_in gw ip link show s0
expect_match 'prog/xdp' "s0 is enforced again"
expect 1 "server-initiated traffic is denied again" \
	lab_in server $PROBE tcp 198.18.1.2 9000 --timeout 1
# structured logs: one JSON object per line
sed 's/^  state:/  log_format: json\n  state:/' "$T_DIR/gateway.good" >"$T_DIR/gateway.yaml"
expect 0 "SIGHUP with log_format: json" kill -HUP "$DAEMON_PID"
sleep 0.5
expect 0 "the daemon now logs JSON lines" python3 -c 'import json,sys
last = json.loads(open(sys.argv[1]).read().splitlines()[-1])
sys.exit(not (last["level"] == "info" and last["msg"] == "reloaded the gateway config" and last["ts"].endswith("Z")))' "$T_DIR/daemon.log"

# what the console asks of versions: validate (nothing pushed), a
# version's source, the access diff between two versions
api() { # METHOD PATH [curl args...]: prints the status; the body in last.out
	local m=$1 p=$2
	shift 2
	curl -s -o "$T_DIR/last.out" -w '%{http_code}' --unix-socket "$T_DIR/api.sock" \
		-X "$m" "$@" "http://gw$p"
}
yaml=(-H 'Content-Type: application/yaml')
V=$(cli --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["policy"]["version"])')
expect_eq "validate the wider policy: 200" \
	"$(api POST '/v1/policy/validate?filename=wider.yaml' "${yaml[@]}" --data-binary @"$T_DIR/wider.yaml")" 200
expect_json valid == True "it is valid"
expect_json changes.0.ports == 8443/tcp "its one change is 8443/tcp ..."
expect_json changes.0.change == + "... granted"
expect_eq "validate a broken policy: 422" \
	"$(api POST '/v1/policy/validate?filename=broken.yaml' "${yaml[@]}" --data-binary $'apiVersion: portcullis/v1\nkind: Policy\nrules: [')" 422
expect_json valid == False "it is not valid"
expect_match '"error": "broken\.yaml:[0-9]+:[0-9]+: did not find' "the error names the file, line and column"
expect 0 "status after validating" cli --json status
expect_json policy.version -eq "$V" "validating pushed nothing"
expect 0 "push the wider policy" cli policy push "$T_DIR/wider.yaml"
W=$((V + 1))
expect_eq "GET /v1/policy/versions/$W: 200" "$(api GET "/v1/policy/versions/$W")" 200
expect_match '8080/tcp, 8443/tcp' "it holds the version's source"
expect_json in_force == True "and says it is in force"
expect_eq "GET /v1/policy/diff?from=1&to=$W: 200" "$(api GET "/v1/policy/diff?from=1&to=$W")" 200
expect_json changes.0.to == web "the diff names web ..."
expect_json changes.0.now == allow "... now allowed ..."
expect_json changes.0.ports == 8443/tcp "... on 8443/tcp"
expect_eq "a version that is not there: 404" "$(api GET /v1/policy/versions/999)" 404
expect_match 'no policy version 999' "says so"
expect_eq "a version that is not a number: 400" "$(api GET /v1/policy/versions/1x)" 400
expect_eq "a diff without to=: 400" "$(api GET '/v1/policy/diff?from=1')" 400

t_done
