#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Test API authentication on a live daemon that does not trust local root:
# bootstrap token, roles (401/403), token create/list/revoke, failed
# attempts rate-limited, tokens stored hashed.
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${BUILD:-$SRC/build}
LAB=pa$$
export LAB_TRUST_ROOT=false
. "$SRC/tests/netns/lib.sh"
trap t_cleanup EXIT

t_setup
expect 0 "a first admin token is created offline" \
	"$DAEMON" -c "$T_DIR/gateway.yaml" --token-create boot --role admin
ADMIN=$(grep "^pct_" "$T_DIR/last.out")
expect_match '^pct_[0-9a-f]{8}_[A-Za-z0-9_-]{44}$' "and printed once (stdout), in its format"
daemon_start || { not_ok "daemon starts"; t_done; exit 1; }
ok "daemon starts"

expect 1 "without a token even root is refused" cli status
expect_match 'HTTP 401: authentication required' "with 401 and what to send"
expect 0 "health needs no token" curl -sf --unix-socket "$T_DIR/api.sock" http://x/healthz
expect 1 "the event stream needs a token too" cli events --duration 1
expect_match 'HTTP 401' "401"
expect 0 "the admin token reads status" cli --token "$ADMIN" status
expect 0 "the admin creates a viewer token" \
	cli --token "$ADMIN" token create --name grafana --role viewer
VIEWER=$(cat "$T_DIR/last.out")
expect 0 "and an operator token" \
	env PORTCULLIS_TOKEN="$ADMIN" "$CLI" --api "unix:$T_DIR/api.sock" \
	token create --name ci --role operator
OPERATOR=$(cat "$T_DIR/last.out")
expect 1 "a second live token of the same name is refused" \
	cli --token "$ADMIN" token create --name ci --role viewer
expect_match 'HTTP 409: a live token already has that name' "with 409"

expect 0 "the viewer reads status" cli --token "$VIEWER" status
expect 1 "the viewer may not push" cli --token "$VIEWER" policy push "$SRC/policies/example.yaml"
expect_match 'HTTP 403: role viewer may not PUT /v1/policy \(needs operator\)' "403 says why"
expect 0 "the operator pushes" cli --token "$OPERATOR" policy push "$SRC/policies/example.yaml"
sed 's/8080\/tcp,/8080\/tcp, 8443\/tcp,/' "$SRC/policies/example.yaml" >"$T_DIR/wider.yaml"
expect 0 "and a wider policy" cli --token "$OPERATOR" policy push "$T_DIR/wider.yaml"
expect 1 "the operator may not manage tokens" cli --token "$OPERATOR" token list
expect_match 'HTTP 403' "403"
expect 0 "the admin lists tokens" cli --token "$ADMIN" token list
expect_match '^grafana +viewer ' "names and roles, no secrets"
expect 1 "no secret in the list" grep -qF -- "$VIEWER" "$T_DIR/last.out"
expect 1 "no secret in the state database (or its WAL)" grep -qF -- "${VIEWER#pct_*_}" "$T_DIR"/state.db*

expect 0 "the admin revokes the viewer token" cli --token "$ADMIN" token revoke grafana
expect 1 "a revoked token is refused" cli --token "$VIEWER" status
expect_match 'HTTP 401: invalid or revoked token' "with 401"
# the same token with its last character changed (to x, or y if it was x)
WRONG=${OPERATOR%?}x
[ "$WRONG" = "$OPERATOR" ] && WRONG=${OPERATOR%?}y
expect 1 "a token with a wrong secret is refused" cli --token "$WRONG" status

# the audit log: who changed what, from where, with the access it changed
expect 0 "another viewer token" cli --token "$ADMIN" token create --name v2 --role viewer
V2=$(cat "$T_DIR/last.out")
expect 1 "a viewer may not read the audit log" cli --token "$V2" audit
expect_match 'HTTP 403: role viewer may not GET /v1/audit \(needs operator\)' "403"
expect 0 "the admin reads the audit log" cli --token "$ADMIN" audit
expect_match 'token\.revoke +token boot \(uid:0\)  grafana$' "the revocation, by whom"
expect_match 'policy\.push +token ci \(uid:0\)  version 3 from wider\.yaml$' "the push, by whom"
expect_match '^    \+ clients -> web 8443/tcp: allow \(was default-deny\)$' "with what it changed in access"
expect_match '^    0 access changes$' "and a push that changed nothing says so"
expect_match 'token\.create +portcullisd --token-create \(local\)  boot$' "the offline bootstrap too"

# ten failures in a minute from one peer: 429 until the minute is over
for _ in $(seq 8); do cli --token pct_00000000_nope status >/dev/null 2>&1; done
expect 1 "after ten failures the peer's next bad token is turned away" \
	cli --token pct_00000000_again status
expect_match 'HTTP 429: too many failed authentications' "with 429"
expect 0 "while a good token from the same peer still gets in" cli --token "$ADMIN" status
expect 2 "a token with a header in it is refused by the CLI" \
	cli --token "$(printf 'pct_0_x\r\nX-Evil: 1')" status
expect 0 "failures are logged with the peer" grep -q 'rejected credentials from uid:0' "$T_DIR/daemon.log"

# metrics: viewer, Prometheus text
api_curl() { curl -s --unix-socket "$T_DIR/api.sock" "$@"; }
expect 0 "metrics without a token" api_curl -o /dev/null -w '%{http_code}\n' http://x/metrics
expect_match '^401$' "are refused with 401"
expect 0 "metrics with a viewer token" \
	api_curl -D "$T_DIR/headers" -H "Authorization: Bearer $V2" http://x/metrics
expect_match '^portcullis_build_info\{version="[0-9.]+",gateway="pa[0-9]+"\} 1$' "carry build info"
expect_match '^portcullis_policy_version 3$' "and the policy version in force"
expect_match '^# TYPE portcullis_policy_generation gauge$' "with their types"
expect 0 "as Prometheus text" grep -qi '^Content-Type: text/plain; version=0.0.4' "$T_DIR/headers"
expect 0 "metrics again" api_curl -H "Authorization: Bearer $V2" http://x/metrics
expect_match '^portcullis_api_requests_total\{method="GET",route="-",code="401"\} [1-9][0-9]*$' \
	"requests refused for their credential are counted without a route"
expect_match '^portcullis_api_requests_total\{method="GET",route="/metrics",code="200"\} [1-9][0-9]*$' \
	"the viewer's scrape under its route"

# unknown methods and paths: JSON errors, not evhttp's HTML
expect 0 "PATCH on a known path" \
	api_curl -X PATCH -H "Authorization: Bearer $ADMIN" -w '\n%{http_code}\n' http://x/v1/policy
expect_match '"error": "method not allowed"' "is a JSON error"
expect_match '^405$' "with 405"
expect 0 "an unknown path" api_curl -H "Authorization: Bearer $ADMIN" -w '\n%{http_code}\n' http://x/v1/nope
expect_match '"field": "path"' "is a JSON error naming the path"
expect_match '^404$' "with 404"

t_done
