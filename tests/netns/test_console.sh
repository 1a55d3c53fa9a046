#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Test the web console end to end: a live daemon in the lab, with a
# WireGuard interface (wireguard-go) and a client tunnelled to it, serves
# it on TCP loopback inside the gateway's namespace; Debian's headless
# Chromium, driven by playwright-core (tests/e2e/console.mjs), goes
# through every page.  As a viewer: the overview, a blocked connection's
# deny arriving live, the policy, flows, peers and services, no audit log.
# As an operator: a policy with an error marked at its line, refused; the
# fix pushed; 10,000 flows listed and scrolled; a WireGuard peer added and
# removed; a rollback; the audit log of all that.  This script checks the
# gateway's side of each step (the version in force, the peers on the
# interface) when the browser hands off.  Screenshots of each page, in
# light and dark, are kept in $BUILD/console-screenshots.
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${BUILD:-$SRC/build}
LAB=pw$$
export LAB_TRUST_ROOT=false
. "$SRC/tests/netns/lib.sh"
trap t_cleanup EXIT

E2E=$SRC/tests/e2e
if [ ! -x /usr/bin/chromium ] || [ ! -d "$E2E/node_modules/playwright-core" ] ||
	! command -v wireguard-go >/dev/null || ! command -v wg >/dev/null; then
	not_ok "chromium, playwright-core, wireguard-go and wg are installed (ci/setup.sh installs them)"
	t_done
	exit 1
fi
PORT=9447
WG=cw$$ # the gateway's WireGuard interface (wireguard-go is per name)
CWG=cc$$
t_setup
K=$T_DIR/keys
mkdir -p "$K"
(umask 077 && wg genkey >"$K/gw.key" && wg genkey >"$K/alice.key" && wg genkey >"$K/carol.key")
GWPUB=$(wg pubkey <"$K/gw.key")
APUB=$(wg pubkey <"$K/alice.key")
CPUB=$(wg pubkey <"$K/carol.key")
# version 1: the lab's example, and alice (identity eng) through the tunnel
cat >"$T_DIR/policy.yaml" <<EOF
apiVersion: portcullis/v1
kind: Policy
identities:
  clients: { cidrs: [198.18.1.0/24, "fd00:1::/64"] }
  eng: { peers: [$APUB] }
services:
  web:
    cidrs: [198.18.2.2/32, "fd00:2::2/128"]
    ports: [8080/tcp, 53/udp, icmp, icmpv6]
  gw-wireguard: { cidrs: [198.18.1.1/32], ports: [51820/udp] }
  # balanced: a backend that answers and one that does not
  lb:
    cidrs: [198.18.0.100/32]
    ports: [80/tcp]
    health: { type: tcp, interval: 200ms, rise: 2, fall: 2 }
    backends: ["198.18.2.2:8080", "198.18.2.2:8081"]
rules:
  - { name: clients-to-web, from: [clients], to: [web], action: allow, log: true }
  - { name: eng-to-web, from: [eng], to: [web], action: allow }
  - { name: wireguard-in, from: [clients], to: [gw-wireguard], action: allow }
  - { name: clients-to-lb, from: [clients], to: [lb], action: allow }
EOF
sed -i "s|  policy: .*|  policy: $T_DIR/policy.yaml|" "$T_DIR/gateway.yaml"
sed -i "s|    listen: unix:$T_DIR/api.sock|    listen: [unix:$T_DIR/api.sock, 127.0.0.1:$PORT]\n    console: $SRC/console|" \
	"$T_DIR/gateway.yaml"
cat >>"$T_DIR/gateway.yaml" <<EOF
  wireguard:
    interfaces:
      - name: $WG
        private_key_file: $K/gw.key
        listen_port: 51820
        address: [198.18.100.1/24]
        peers:
          - { name: alice, public_key: $APUB, allowed_ips: [198.18.100.2/32] }
EOF
admin_and_start
cli --token "$ADMIN" token create --name alice --role viewer >"$T_DIR/v" &&
	cli --token "$ADMIN" token create --name bob --role operator >"$T_DIR/o" ||
	{ not_ok "tokens are made"; t_done; exit 1; }
status_get() { cli --token "$ADMIN" --json status >"$T_DIR/last.out" && jget "$1"; }

# alice's end of the tunnel, so that the peers page has a handshake and
# traffic to show
lab_in client wireguard-go -f "$CWG" >"$T_DIR/client-wg.log" 2>&1 &
for _ in $(seq 50); do lab_in client wg show "$CWG" >/dev/null 2>&1 && break; sleep 0.1; done
lab_in client wg set "$CWG" private-key "$K/alice.key" peer "$GWPUB" \
	endpoint 198.18.1.1:51820 allowed-ips 198.18.100.0/24,198.18.2.2/32 \
	persistent-keepalive 1
lab_in client ip addr add 198.18.100.2/24 dev "$CWG"
lab_in client ip link set "$CWG" up
lab_in client ip route add 198.18.2.2/32 dev "$CWG"
# (a lost first handshake is tried again after 5 s: the probe waits 8)
expect 0 "alice reaches the web server through the tunnel" \
	lab_in client $PROBE tcp 198.18.2.2 8080 --timeout 8
lab_in client ip route del 198.18.2.2/32 dev "$CWG" # the lab's path again

# The gateway's side of the browser's steps: ok/not ok lines of its own.
on_blocked() {
	lab_in client $PROBE tcp 198.18.2.2 22 --timeout 1 >/dev/null 2>&1
	expect 0 "an allowed UDP flow for the flows page" lab_in client $PROBE udp 198.18.2.2 53
}
on_pushed() {
	expect_eq "the pushed fix is in force as version 2" "$(status_get policy.version)" 2
	expect 0 "10,000 UDP flows through the fix" \
		lab_in client $PROBE spray 198.18.2.2 10000 --count 10000
	cli --token "$ADMIN" --json flows --service bulk --limit 1 >"$T_DIR/last.out"
	expect_json matched -ge 10000 "conntrack holds them"
}
# the peers on the gateway's interface, once KEY is on it or (with -n) is
# not, or after 3 s
wg_peers() {
	local want=0
	[ "$1" = -n ] && { want=1; shift; }
	for _ in $(seq 30); do
		lab_in gw wg show "$WG" peers >"$T_DIR/peers.out" 2>&1
		grep -qxF "$1" "$T_DIR/peers.out"
		[ $? = $want ] && break
		sleep 0.1
	done
}
on_peer_added() {
	wg_peers "$CPUB"
	expect 0 "the peer added in the console is on the interface" grep -qxF "$CPUB" "$T_DIR/peers.out" ||
		sed 's/^/#   /' "$T_DIR/peers.out"
}
on_peer_removed() {
	wg_peers -n "$CPUB"
	expect 1 "the peer removed in the console is off the interface" grep -qxF "$CPUB" "$T_DIR/peers.out"
	expect 0 "and alice is still on it" grep -qxF "$APUB" "$T_DIR/peers.out"
}
on_rolled_back() {
	expect_eq "the rollback is in force as version 3" "$(status_get policy.version)" 3
	cli --token "$ADMIN" --json policy versions >"$T_DIR/last.out"
	expect_json versions.0.rollback_of -eq 1 "a rollback to version 1"
}

SHOTS=$BUILD/console-screenshots
rm -rf "$SHOTS"
# the browser in the gateway's namespace, its steps numbered here; when it
# is ready for the gateway's part, it says so and waits for "go"
coproc E2E_RUN {
	cd "$E2E" && exec nsenter --net="/var/run/netns/$(lab_ns gw)" \
		env PC_URL="http://127.0.0.1:$PORT" PC_VIEWER="$(cat "$T_DIR/v")" \
		PC_OPERATOR="$(cat "$T_DIR/o")" PC_BLOCKED_FROM=198.18.1.2 \
		PC_WG_IFACE="$WG" PC_PEER_KEY="$CPUB" \
		PC_SHOTS="$SHOTS" HOME="$T_DIR" timeout 300 node console.mjs 2>&1
}
E2E_PID=$E2E_RUN_PID
while IFS= read -r line <&"${E2E_RUN[0]}"; do
	case $line in
	"ok - "*) ok "${line#ok - }" ;;
	"not ok - "*) not_ok "${line#not ok - }" ;;
	"ready: blocked connection") on_blocked ;;
	"ready: pushed") on_pushed ;;
	"ready: peer added") on_peer_added ;;
	"ready: peer removed") on_peer_removed ;;
	"ready: rolled back") on_rolled_back ;;
	*) echo "# $line" ;;
	esac
	case $line in "ready: "*) echo go >&"${E2E_RUN[1]}" ;; esac
done
wait "$E2E_PID"
expect_eq "the browser's run ends well" "$?" 0
for p in login overview policy flows peers services audit; do
	for s in light dark; do
		[ "$p-$s" = audit-light ] && continue # a viewer has no audit log
		expect 0 "screenshot $p-$s.png is kept" test -s "$SHOTS/$p-$s.png"
	done
done
expect 0 "and the operator's marked error" test -s "$SHOTS/policy-error-dark.png"
t_done
