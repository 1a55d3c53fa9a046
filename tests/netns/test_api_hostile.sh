#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Test the API against hostile clients on a live daemon that does not
# trust local root: every route without a token, with a garbage, a
# revoked and a too-weak token; oversize, malformed and nested bodies;
# path traversal; slow clients (slowloris) and one address taking every
# connection.  After all of it the daemon still serves and enforces.
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${BUILD:-$SRC/build}
LAB=ph$$
export LAB_TRUST_ROOT=false
. "$SRC/tests/netns/lib.sh"
trap t_cleanup EXIT

PORT=9445
t_setup
# IPv6 clients: two addresses of one /64, on the gateway's loopback
ip -n "$(lab_ns gw)" addr add fd00:99::2/64 dev lo nodad
ip -n "$(lab_ns gw)" addr add fd00:99::3/64 dev lo nodad
sed -i "s|    listen: unix:$T_DIR/api.sock|    listen: [unix:$T_DIR/api.sock, 127.0.0.1:$PORT, \"[::1]:$PORT\"]\n    max_connections: 64\n    max_connections_per_address: 8\n    request_timeout: 3|" \
	"$T_DIR/gateway.yaml"
admin_and_start
tok() { cli --token "$ADMIN" token create --name "$1" --role "$2" >/dev/null && cat "$T_DIR/last.out"; }
cli --token "$ADMIN" token create --name v --role viewer >"$T_DIR/v" &&
	cli --token "$ADMIN" token create --name o --role operator >"$T_DIR/o" &&
	cli --token "$ADMIN" token create --name gone --role admin >"$T_DIR/g" &&
	cli --token "$ADMIN" token revoke gone >/dev/null ||
	{ not_ok "tokens are made"; t_done; exit 1; }
VIEWER=$(cat "$T_DIR/v") OPERATOR=$(cat "$T_DIR/o") REVOKED=$(cat "$T_DIR/g")
GARBAGE=pct_00000000_$(head -c 33 /dev/urandom | base64 | tr '+/' '-_')

# code [curl args...]: the HTTP status of one request over TCP, from
# source address $SRCADDR (each refused credential from its own, so the
# per-peer limit on failures does not turn 401 into 429)
SRCADDR=127.0.0.1
code() {
	lab_in gw curl -s -o "$T_DIR/body" -w '%{http_code}' --max-time 3 \
		--interface "$SRCADDR" "$@" 2>/dev/null
}
N_SRC=10
next_src() { N_SRC=$((N_SRC + 1)); SRCADDR=127.0.$((N_SRC / 250)).$((N_SRC % 250 + 2)); }

# every route the router has, with the role it needs
ROUTES="GET /v1/status viewer
GET /v1/whoami viewer
GET /v1/policy viewer
PUT /v1/policy operator
GET /v1/policy/versions viewer
GET /v1/policy/versions/1 viewer
GET /v1/policy/diff operator
POST /v1/policy/validate operator
POST /v1/policy/rollback operator
GET /v1/tokens admin
POST /v1/tokens admin
DELETE /v1/tokens/x admin
GET /v1/audit operator
GET /v1/flows viewer
GET /v1/denies viewer
GET /v1/peers viewer
GET /v1/services viewer
GET /v1/gateways viewer
DELETE /v1/gateways/x admin
GET /v1/placements viewer
POST /v1/placements operator
DELETE /v1/placements/x operator
POST /v1/peers operator
DELETE /v1/peers/x operator
GET /healthz none
GET /readyz none
GET /v1/events viewer
GET /metrics viewer"
n_routes=$(grep -cE '^\s*\{"[A-Z]+", "/' "$SRC/userspace/api/routes.c")
n_raw=$(grep -cE '^\s*\{"/[a-z0-9/]+", [a-z_]+\}' "$SRC/userspace/api/server.c")
expect 0 "the test knows every route ($n_routes routed, $n_raw raw)" \
	test "$(echo "$ROUTES" | wc -l)" -eq $((n_routes + n_raw))

rank() { case $1 in none) echo 0 ;; viewer) echo 1 ;; operator) echo 2 ;; admin) echo 3 ;; esac; }
bad=0 checked=0
while read -r method path role; do
	url="http://127.0.0.1:$PORT$path"
	need=$(rank "$role")
	for who in none garbage revoked viewer operator admin; do
		case $who in
		none) hdr=() ;;
		garbage) hdr=(-H "Authorization: Bearer $GARBAGE") ;;
		revoked) hdr=(-H "Authorization: Bearer $REVOKED") ;;
		viewer) hdr=(-H "Authorization: Bearer $VIEWER") ;;
		operator) hdr=(-H "Authorization: Bearer $OPERATOR") ;;
		admin) hdr=(-H "Authorization: Bearer $ADMIN") ;;
		esac
		case $who in garbage | revoked) next_src ;; *) SRCADDR=127.0.0.1 ;; esac
		got=$(code -X "$method" "${hdr[@]}" "$url")
		case $who in
		garbage | revoked) want=401 ;;
		none) [ "$need" -gt 0 ] && want=401 || want=ok ;;
		*) [ "$(rank "$who")" -lt "$need" ] && want=403 || want=ok ;;
		esac
		checked=$((checked + 1))
		if [ "$want" = ok ]; then
			case $got in 401 | 403 | 000 | 5??) [ "$path$got" != /readyz503 ] && {
				bad=$((bad + 1))
				echo "# $method $path as $who: $got, wanted it let through"
			} ;;
			esac
		elif [ "$got" != "$want" ]; then
			bad=$((bad + 1))
			echo "# $method $path as $who: $got, wanted $want"
		fi
		# every refusal says why in JSON, naming the Authorization field
		if [ "$want" != ok ] && ! grep -q '"field": "Authorization"' "$T_DIR/body"; then
			bad=$((bad + 1))
			echo "# $method $path as $who: no JSON error naming Authorization"
		fi
	done
done <<<"$ROUTES"
expect 0 "every route x {no token, garbage, revoked, each role}: 401, 403 or let in as its role needs ($checked requests)" \
	test "$bad" -eq 0

# bodies: oversize, malformed, nested, NUL, a YAML alias bomb
SRCADDR=127.0.0.1
auth_o=(-H "Authorization: Bearer $OPERATOR")
auth_a=(-H "Authorization: Bearer $ADMIN")
expect 0 "a 17 MiB body announced" \
	test "$(code -X PUT "${auth_o[@]}" -H 'Content-Length: 17825792' \
		--data-binary 'x' "http://127.0.0.1:$PORT/v1/policy")" = 413
ok "is refused with 413 before it is read"
head -c 20000 /dev/zero | tr '\0' a >"$T_DIR/bighdr"
expect 0 "20 KiB of headers are refused with 400" \
	test "$(code -H "X-Big: $(cat "$T_DIR/bighdr")" "${auth_o[@]}" \
		"http://127.0.0.1:$PORT/v1/status")" = 400
for route in /v1/tokens /v1/policy/rollback /v1/placements /v1/peers; do
	auth=("${auth_o[@]}")
	[ $route = /v1/tokens ] && auth=("${auth_a[@]}")
	got=$(code -X POST "${auth[@]}" -H 'Content-Type: application/json' \
		--data-binary '{"name": "x", "role": ' "http://127.0.0.1:$PORT$route")
	if [ $route = /v1/placements ] || [ $route = /v1/peers ]; then
		# no fleet, no WireGuard here: refused before the body matters
		expect 0 "malformed JSON to $route: refused ($got)" \
			test "${got:0:1}" = 4
	else
		expect 0 "malformed JSON to $route: 400" test "$got" = 400
		cp "$T_DIR/body" "$T_DIR/last.out"
		expect_match '"error": "body is not JSON: .*\(line 1, column [0-9]+\)"' \
			"saying where it stops being JSON"
	fi
done
python3 -c 'print("[" * 200000 + "]" * 200000)' >"$T_DIR/deep.json"
expect 0 "JSON nested 200,000 deep: 400" \
	test "$(code -X POST "${auth_a[@]}" -H 'Content-Type: application/json' \
		--data-binary @"$T_DIR/deep.json" "http://127.0.0.1:$PORT/v1/tokens")" = 400
printf 'rules: []\0\n' >"$T_DIR/nul.yaml"
expect 0 "a policy with a NUL byte: 400" \
	test "$(code -X PUT "${auth_o[@]}" -H 'Content-Type: application/yaml' \
		--data-binary @"$T_DIR/nul.yaml" \
		"http://127.0.0.1:$PORT/v1/policy")" = 400
python3 - "$T_DIR/bomb.yaml" <<'EOP'
import sys
lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
for i in range(1, 20):
    lines.append("a%d: &a%d [%s]" % (i, i, ", ".join(["*a%d" % (i - 1)] * 10)))
open(sys.argv[1], "w").write("\n".join(lines) + "\n")
EOP
t0=$(date +%s%N)
got=$(code -X PUT "${auth_o[@]}" -H 'Content-Type: application/yaml' \
	--data-binary @"$T_DIR/bomb.yaml" "http://127.0.0.1:$PORT/v1/policy")
ms=$((($(date +%s%N) - t0) / 1000000))
expect 0 "a YAML alias bomb (10^20 nodes) is refused with 422 ($got) in ${ms} ms" \
	test "$got" = 422 -a "$ms" -lt 2000

# path traversal: the only name a request gives a file is ?filename=
expect 0 "a push named ../../../tmp/ph-pwned.yaml" \
	test "$(code -X PUT "${auth_o[@]}" -H 'Content-Type: application/yaml' \
		--data-binary @"$SRC/policies/example.yaml" \
		"http://127.0.0.1:$PORT/v1/policy?filename=../../../tmp/$LAB-pwned.yaml")" = 200
expect 1 "writes no file there" test -e "/tmp/$LAB-pwned.yaml"
expect 0 "and is recorded under its base name" cli --token "$ADMIN" policy versions
expect_match "$LAB-pwned\.yaml" "(the versions list shows it)"
for p in '/v1/../v1/tokens' '/%2e%2e/%2e%2e/etc/passwd' '/v1/tokens/..%2f..%2fetc%2fpasswd' '//v1//status'; do
	got=$(code --path-as-is "${auth_a[@]}" "http://127.0.0.1:$PORT$p")
	expect 0 "$p is not a route: $got" test "$got" = 404 -o "$got" = 400 -o "$got" = 405
done
expect 0 "the unix socket is the owner's only" test "$(stat -c %a "$T_DIR/api.sock")" = 600

# slow clients: one address gets max_connections_per_address; the rest
# are refused at accept; each that never finishes its request is closed
# after request_timeout; a client elsewhere is served all along
lab_in gw python3 "$SRC/tests/netns/slowloris.py" --port $PORT --source 127.0.9.9 \
	--conns 20 --interval 0.5 --duration 8 >"$T_DIR/slow.json" &
SLOW=$!
sleep 1
t0=$(date +%s%N)
got=$(SRCADDR=127.0.0.1 code -H "Authorization: Bearer $VIEWER" "http://127.0.0.1:$PORT/v1/status")
ms=$((($(date +%s%N) - t0) / 1000000))
expect 0 "during a slowloris from one address, another is served ($got in $ms ms)" \
	test "$got" = 200 -a "$ms" -lt 2000
wait $SLOW
cp "$T_DIR/slow.json" "$T_DIR/last.out"
expect_json accepted -eq 8 "the slow address got max_connections_per_address (8) connections"
expect_json refused -eq 12 "and the other 12 were refused at accept"
expect_json still_open -eq 0 "none of them is open after 8 s"
closed=$(jget closed_after)
expect 0 "each was closed after request_timeout (3 s) of trickling: $closed" \
	python3 -c 'import sys, json; v = json.loads(sys.argv[1]); sys.exit(not (len(v) == 8 and all(2.5 <= t <= 6 for t in v)))' "$closed"
# an IPv6 host has a /64: its addresses count as one
slow6=""
for a in 2 3; do
	lab_in gw python3 "$SRC/tests/netns/slowloris.py" --host ::1 --port $PORT \
		--source fd00:99::$a --conns 6 --interval 0.5 --duration 5 >"$T_DIR/slow6-$a.json" &
	slow6="$slow6 $!"
done
wait $slow6
accepted6=$(python3 -c 'import json, sys; print(sum(json.load(open(f))["accepted"] for f in sys.argv[1:]))' "$T_DIR"/slow6-*.json)
expect_eq "two addresses of one IPv6 /64 share max_connections_per_address (8 of 12)" "$accepted6" 8
expect 0 "the refusal says the /64" grep -q 'refused a connection from fd00:99::[23]: 8 connections open from its /64' "$T_DIR/daemon.log"
expect 0 "status counts what was refused" cli --json --token "$ADMIN" status
expect_json api.tcp.refused_per_address -ge 16 "refused_per_address"
expect_json api.tcp.request_timeouts -ge 16 "request_timeouts"
expect 0 "refusals are logged, rate-limited" grep -q 'refused a connection from 127.0.9.9: 8 connections open from it (max_connections_per_address)' "$T_DIR/daemon.log"

# after all of it: still serving, still enforcing
expect 0 "the daemon still answers" cli --token "$VIEWER" status
expect 0 "and still enforces: an allowed flow passes" \
	lab_in client $PROBE tcp 198.18.2.2 8080 --timeout 1
expect 1 "and a denied one does not" \
	lab_in client $PROBE tcp 198.18.2.2 22 --timeout 1
expect 0 "the daemon is the one that started" kill -0 "$DAEMON_PID"
t_done
