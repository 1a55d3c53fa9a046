#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Test the API over TCP with TLS, with certificates this test makes: the
# handshake (TLS 1.2+, AEAD suites only), client certificates mapped to
# roles, certificates from a stranger CA refused, tokens over TLS, plain
# TCP refused off loopback, max_connections, and certificate rotation on
# SIGHUP.
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${BUILD:-$SRC/build}
LAB=pt$$
export LAB_TRUST_ROOT=true
. "$SRC/tests/netns/lib.sh"
trap t_cleanup EXIT

PORT=9443
URL=https://127.0.0.1:$PORT
P=$T_DIR/pki

# new_ca NAME; new_cert CA NAME CN [SAN]: EC P-256, valid one day.
new_ca() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$P/$1.key" -out "$P/$1.crt" -days 1 -subj "/CN=$1" \
		>/dev/null 2>&1
}
new_cert() {
	local ca=$1 name=$2 cn=$3 san=$4 ext="$P/$name.ext"
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$P/$name.key" -out "$P/$name.csr" -subj "/CN=$cn" \
		>/dev/null 2>&1 || return 1
	if [ -n "$san" ]; then
		printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$san" >"$ext"
	else
		printf 'extendedKeyUsage=clientAuth\n' >"$ext"
	fi
	openssl x509 -req -in "$P/$name.csr" -CA "$P/$ca.crt" -CAkey "$P/$ca.key" \
		-CAcreateserial -days 1 -extfile "$ext" -out "$P/$name.crt" \
		>/dev/null 2>&1
	chmod 600 "$P/$name.key"
}

# gw_cli ARGS: the CLI inside the gateway's namespace, over TLS.
gw_cli() { lab_in gw "$CLI" --api "$URL" --cacert "$P/ca.crt" "$@"; }
gw_curl() { lab_in gw curl -s --cacert "$P/ca.crt" "$@"; }

t_setup
mkdir -p "$P"
new_ca ca && new_ca rogue &&
	new_cert ca server gw "IP:127.0.0.1" &&
	new_cert ca server2 gw "IP:127.0.0.1" &&
	new_cert ca grafana grafana && new_cert ca deploy deploy &&
	new_cert ca stranger stranger && new_cert rogue fake deploy ||
	{ echo "Bail out! openssl cannot make certificates"; exit 1; }
cp "$P/server.crt" "$P/live.crt"
cp "$P/server.key" "$P/live.key"

# plain TCP off loopback: refused at load, with where
sed -i "s|    listen: unix:$T_DIR/api.sock|    listen: [unix:$T_DIR/api.sock, 0.0.0.0:$PORT]|" "$T_DIR/gateway.yaml"
expect 1 "plain TCP on a non-loopback address is refused at start" \
	"$DAEMON" -c "$T_DIR/gateway.yaml" --check
expect_match 'gateway.yaml:[0-9]+:[0-9]+: .*without TLS: plain TCP is for loopback only; set api.tls' \
	"with file:line:col and what to do"

sed -i "/trust_local_root/a\\
    max_connections: 8\\
    tls:\\
      cert: $P/live.crt\\
      key: $P/live.key\\
      client_ca: $P/ca.crt\\
      client_roles: { grafana: viewer, deploy: operator }" "$T_DIR/gateway.yaml"
daemon_start || { not_ok "daemon starts"; t_done; exit 1; }
ok "daemon starts with TLS on 0.0.0.0:$PORT"
expect 0 "the daemon says where it listens" grep -q "listening on 0.0.0.0:$PORT (TLS)" "$T_DIR/daemon.log"

# the handshake itself
expect 0 "TLS 1.2 with an AEAD suite is accepted" \
	lab_in gw openssl s_client -connect 127.0.0.1:$PORT -tls1_2 -CAfile "$P/ca.crt" \
	-verify_return_error -brief </dev/null
expect_match 'Protocol version: TLSv1.2' "TLS 1.2 negotiated"
expect_match 'Ciphersuite: ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)' \
	"with forward secrecy and an AEAD cipher"
expect 1 "TLS 1.1 is refused" \
	lab_in gw openssl s_client -connect 127.0.0.1:$PORT -tls1_1 -brief </dev/null
expect 1 "a CBC suite is refused" \
	lab_in gw openssl s_client -connect 127.0.0.1:$PORT -tls1_2 \
	-cipher ECDHE-ECDSA-AES128-SHA256 -brief </dev/null

# who gets in
expect 0 "health over TLS needs nothing" gw_curl -f "$URL/healthz"
expect 1 "status over TLS without a token or certificate is refused" gw_cli status
expect_match 'HTTP 401: authentication required' "with 401"
expect 0 "a grafana client certificate reads status" \
	gw_cli --cert "$P/grafana.crt" --key "$P/grafana.key" status
expect 1 "but is only a viewer" \
	gw_cli --cert "$P/grafana.crt" --key "$P/grafana.key" policy push "$SRC/policies/example.yaml"
expect_match 'HTTP 403: role viewer may not PUT /v1/policy' "403"
expect 0 "a deploy certificate (operator) pushes" \
	gw_cli --cert "$P/deploy.crt" --key "$P/deploy.key" policy push "$SRC/policies/example.yaml"
expect 0 "the push is audited by certificate and address" cli audit --limit 1
expect_match 'policy\.push +certificate deploy \(127\.0\.0\.1\)' "who and from where"
expect 1 "a valid certificate with no role mapped needs a token" \
	gw_cli --cert "$P/stranger.crt" --key "$P/stranger.key" status
expect_match 'HTTP 401' "401"
expect 1 "a certificate from another CA (same CN) fails the handshake or is refused" \
	gw_cli --cert "$P/fake.crt" --key "$P/fake.key" status
expect_match 'cannot reach the daemon|HTTP 401' "and gets no role"
expect 0 "status over the unix socket" cli --json status
expect_json api.tcp.client_certs_rejected -eq 1 "counts the stranger CA's certificate as rejected"
expect_json api.tcp.tls_handshake_failures -eq 2 "and the TLS 1.1 and CBC handshakes as failed"
expect 0 "root makes an admin token over the unix socket" \
	cli token create --name remote --role admin
TOKEN=$(cat "$T_DIR/last.out")
expect 0 "a token works over TLS" gw_cli --token "$TOKEN" token list
expect_match '^remote +admin' "the admin lists tokens"
expect 1 "a client that does not trust the gateway's CA stops" \
	lab_in gw "$CLI" --api "$URL" --token "$TOKEN" status
expect_match 'cannot reach the daemon at https://127.0.0.1:9443' "and says why"

expect 0 "the event stream flows over TLS" \
	gw_cli --cert "$P/grafana.crt" --key "$P/grafana.key" events --duration 2
expect 0 "status JSON arrives whole through TLS" \
	gw_curl --cert "$P/grafana.crt" --key "$P/grafana.key" "$URL/v1/status"
expect_json api.tcp.max_connections -eq 8 "status reports the connection limit"
python3 -c 'print("x" * (1 << 20))' >"$T_DIR/big.yaml"
expect 0 "a 1 MiB policy body goes through the relay and is answered" \
	gw_curl -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/yaml' \
	-X PUT --data-binary @"$T_DIR/big.yaml" "$URL/v1/policy?filename=big.yaml"
expect_match '"error"' "with a JSON error about the policy"
expect 0 "a request with Connection: close still gets its whole answer" \
	gw_curl -f -H 'Connection: close' --http1.0 "$URL/healthz"
expect_match 'ok' "the body arrived before the close"

# max_connections: 8 idle TLS connections fill it, the 9th is closed
IDLE=
for i in $(seq 8); do
	lab_in gw python3 -c 'import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
time.sleep(8)' "$PORT" &
	IDLE="$IDLE $!"
done
# (all 8 in, as the daemon counts them: a busy machine starts them slowly)
open_conns() {
	cli --json status >"$T_DIR/conns.json" 2>/dev/null &&
		python3 -c 'import json, sys
sys.exit(json.load(open(sys.argv[1]))["api"]["tcp"]["connections"] < 8)' "$T_DIR/conns.json"
}
for _ in $(seq 50); do open_conns && break; sleep 0.1; done
expect 35 "over max_connections a client is turned away (curl: SSL connect error)" \
	gw_curl -f "$URL/healthz"
expect 0 "and it is logged" grep -q 'refused a connection from 127.0.0.1: 8 connections open (max_connections)' "$T_DIR/daemon.log"
wait $IDLE
expect 0 "when they close, clients get in again" gw_curl -f "$URL/healthz"
expect 0 "the unix socket was never limited" cli status

# a handshake has a deadline: trickling a byte every half second does not
# hold a connection (or a max_connections slot) past 10 s
expect 0 "a client trickling its handshake is cut off" lab_in gw python3 -c '
import select, socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
t0 = time.time()
for b in b"\x16\x03\x01\x02\x00" + b"\x01" * 60:
    if select.select([s], [], [], 0.5)[0] and not s.recv(100):
        print("closed after %.1f s" % (time.time() - t0))
        sys.exit(0)
    s.send(bytes([b]))
print("still open after %.1f s" % (time.time() - t0))
sys.exit(1)' "$PORT"
expect_match 'closed after (9\.[5-9]|1[0-2]\.[0-9]) s' "at the 10 s deadline"

# certificate rotation: SIGHUP re-reads the files in place
SERIAL1=$(lab_in gw openssl s_client -connect 127.0.0.1:$PORT -CAfile "$P/ca.crt" </dev/null 2>/dev/null |
	openssl x509 -noout -serial)
cp "$P/server2.crt" "$P/live.crt"
cp "$P/server2.key" "$P/live.key"
kill -HUP "$DAEMON_PID"
sleep 0.5
SERIAL2=$(lab_in gw openssl s_client -connect 127.0.0.1:$PORT -CAfile "$P/ca.crt" </dev/null 2>/dev/null |
	openssl x509 -noout -serial)
if [ -n "$SERIAL1" ] && [ -n "$SERIAL2" ] && [ "$SERIAL1" != "$SERIAL2" ] &&
	[ "$SERIAL2" = "$(openssl x509 -noout -serial -in "$P/server2.crt")" ]; then
	ok "SIGHUP serves the renewed certificate"
else
	not_ok "SIGHUP serves the renewed certificate ($SERIAL1 -> $SERIAL2)"
fi
echo garbage >"$P/live.key"
kill -HUP "$DAEMON_PID"
sleep 0.5
expect 0 "a broken key on reload is refused, with the file" \
	grep -q "failed to load TLS key '$P/live.key'" "$T_DIR/daemon.log"
expect 0 "and the old certificate keeps serving" \
	gw_cli --cert "$P/grafana.crt" --key "$P/grafana.key" status

daemon_kill
t_done
