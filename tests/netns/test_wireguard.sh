#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Test the gateway's WireGuard interface with real wireguard-go tunnels:
# the daemon starts and configures it, a client's tunnel carries traffic
# that the TC program decides, drift is put right (a peer removed by hand
# comes back, a stranger is removed), and the tunnel outlives a restart.
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${BUILD:-$SRC/build}
LAB=pw$$
export LAB_TRUST_ROOT=true
. "$SRC/tests/netns/lib.sh"
trap t_cleanup EXIT

command -v wireguard-go >/dev/null && command -v wg >/dev/null ||
	{ echo "1..0 # SKIP wireguard-go or wg missing (ci/setup.sh installs them)"; exit 0; }

WG=wg$$ # the gateway's interface: unique, as wireguard-go is per name
CWG=cw$$
gw_wg() { lab_in gw wg "$@"; }

t_setup
K=$T_DIR/keys
mkdir -p "$K"
expect 0 "a key pair for the gateway" "$CLI" keys generate --out "$K/gw.key"
GWPUB=$(cat "$T_DIR/last.out")
(umask 077; wg genkey >"$K/client.key")
CPUB=$(wg pubkey <"$K/client.key")
(umask 077; wg genkey >"$K/guest.key")
GPUB=$(wg pubkey <"$K/guest.key")

# the policy: peer alice (identity eng, by her key) may reach the web
# server on 8080; clients may reach the gateway's WireGuard port.  Her
# tunnel address as such is nobody.
policy() { # $1: eng's peers
	cat <<EOF
apiVersion: portcullis/v1
kind: Policy
identities:
  clients: { cidrs: [198.18.1.0/24] }
  eng: { peers: [$1] }
  guest: { peers: [$GPUB] }
services:
  web: { cidrs: [198.18.2.2/32], ports: [8080/tcp, icmp] }
  gw-wireguard: { cidrs: [198.18.1.1/32], ports: [51820/udp] }
  # virtual addresses, balanced to the web server: the TC program
  # rewrites a tunnel client's packets to the backend, XDP the replies
  web-vip: { cidrs: [198.18.0.80/32], ports: [80/tcp], backends: [198.18.2.2:8080] }
  dns-vip: { cidrs: [198.18.0.53/32], ports: [53/udp], backends: [198.18.2.2] }
rules:
  - { name: eng-to-web, from: [eng], to: [web, web-vip, dns-vip], action: allow }
  - { name: wireguard-in, from: [clients], to: [gw-wireguard], action: allow }
EOF
}
policy "$CPUB" >"$T_DIR/policy.yaml"
sed -i "s|  policy: .*|  policy: $T_DIR/policy.yaml|" "$T_DIR/gateway.yaml"
cat >>"$T_DIR/gateway.yaml" <<EOF
  wireguard:
    interfaces:
      - name: $WG
        private_key_file: $K/gw.key
        listen_port: 51820
        address: [198.18.100.1/24]
        peers:
          - { name: alice, public_key: $CPUB, allowed_ips: [198.18.100.2/32] }
          - { name: guest, public_key: $GPUB, allowed_ips: [198.18.100.4/32] }
EOF
expect 0 "the config checks" "$DAEMON" -c "$T_DIR/gateway.yaml" --check
daemon_start || { not_ok "daemon starts"; t_done; exit 1; }
ok "daemon starts"
expect 0 "without the kernel module it chose wireguard-go" grep -q "wireguard: using wireguard-go" "$T_DIR/daemon.log"
expect 0 "it started wireguard-go for $WG" grep -q "wireguard: $WG: started wireguard-go" "$T_DIR/daemon.log"
expect 0 "and configured it" gw_wg show "$WG" dump
re() { printf '%s' "$1" | sed 's/[+/]/\\&/g'; }
expect_match "^[^	]+	$(re "$GWPUB")	51820	" "with the key from private_key_file and the port"
expect_match "^$(re "$CPUB")	\(none\)	\(none\)	198\.18\.100\.2/32	" "and alice with her allowed IPs"
expect 0 "the interface has its address" lab_in gw ip -o addr show dev "$WG"
expect_match '198\.18\.100\.1/24' "198.18.100.1/24"
expect 0 "and the TC program" grep -q "wireguard: $WG: enforcing (TC)" "$T_DIR/daemon.log"

# the client's end: its own wireguard-go, configured with wg
lab_in client wireguard-go -f "$CWG" >"$T_DIR/client-wg.log" 2>&1 &
for _ in $(seq 50); do lab_in client wg show "$CWG" >/dev/null 2>&1 && break; sleep 0.1; done
lab_in client wg set "$CWG" private-key "$K/client.key" peer "$GWPUB" \
	endpoint 198.18.1.1:51820 \
	allowed-ips 198.18.100.0/24,198.18.2.2/32,198.18.0.80/32,198.18.0.53/32 \
	persistent-keepalive 1
lab_in client ip addr add 198.18.100.2/24 dev "$CWG"
lab_in client ip link set "$CWG" up
lab_in client ip route add 198.18.2.2/32 dev "$CWG"
lab_in client ip route add 198.18.0.80/32 dev "$CWG"
lab_in client ip route add 198.18.0.53/32 dev "$CWG"

expect 0 "through the tunnel the client reaches the web server" \
	lab_in client $PROBE tcp 198.18.2.2 8080 --timeout 3
# load balancing through the tunnel: nothing listens at the virtual
# addresses, and the client's stack takes answers only from them
expect 0 "through the tunnel a TCP virtual address reaches its backend" \
	lab_in client $PROBE tcp 198.18.0.80 80 --timeout 3
expect 0 "and a UDP one answers from the virtual address" \
	lab_in client $PROBE udp 198.18.0.53 53 --timeout 3
vip_flows() { # the DNAT entries' backend ports, from bpftool
	bpftool -j map dump pinned "/sys/fs/bpf/portcullis/$LAB/conntrack" |
		python3 -c 'import json, sys
dnat = [e["formatted"]["value"] for e in json.load(sys.stdin)]
ports = sorted(v["nat_port"] for v in dnat if v["nat"] == 1)
print(ports)
sys.exit(ports != [53, 8080])'
}
expect 0 "both flows are in conntrack with their backend port (bpftool)" vip_flows
# a full-MTU packet: WireGuard pads only up to the MTU, so its datagram
# is no multiple of 16 and the shield must still let it through
expect 0 "a full-size ping through the tunnel (1420 bytes inside)" \
	lab_in client ping -c2 -W2 -s 1392 -M do 198.18.2.2
# a second peer, identity guest, from the same namespace: its own
# tunnel, its address routed by policy through it
GWG=cg$$
lab_in client wireguard-go -f "$GWG" >"$T_DIR/guest-wg.log" 2>&1 &
for _ in $(seq 50); do lab_in client wg show "$GWG" >/dev/null 2>&1 && break; sleep 0.1; done
lab_in client wg set "$GWG" private-key "$K/guest.key" peer "$GWPUB" \
	endpoint 198.18.1.1:51820 allowed-ips 198.18.100.0/24,198.18.2.2/32 \
	persistent-keepalive 1
lab_in client ip addr add 198.18.100.4/32 dev "$GWG"
lab_in client ip link set "$GWG" up
lab_in client ip rule add from 198.18.100.4 table 104
lab_in client ip route add 198.18.2.2/32 dev "$GWG" table 104
guest_connect() {
	lab_in client python3 -c 'import socket
s = socket.socket()
s.settimeout(2)
s.bind(("198.18.100.4", 0))
s.connect(("198.18.2.2", 8080))'
}
expect 1 "peer guest, through its own tunnel, is denied the web server" guest_connect
expect 0 "its tunnel is up (a handshake with the gateway)" gw_wg show "$WG" latest-handshakes
expect_match "^$(re "$GPUB")	[1-9][0-9]+$" "guest's"
expect 0 "and the TC program denied it as guest" \
	grep -q "verdict deny_default tcp 198.18.100.4:[0-9]* -> 198.18.2.2:8080 identity=guest .*if=$WG" "$T_DIR/daemon.log"
expect 0 "the gateway saw a handshake" lab_in gw wg show "$WG" latest-handshakes
expect_match "	[1-9][0-9]+$" "a recent one"
expect 1 "port 22 through the tunnel is denied by the TC program" \
	lab_in client $PROBE tcp 198.18.2.2 22 --timeout 1
expect 0 "the denial names the WireGuard interface" \
	grep -q "verdict deny_default tcp 198.18.100.2:[0-9]* -> 198.18.2.2:22 identity=eng .*if=$WG" "$T_DIR/daemon.log"
# the peers in the metrics
curl -sf --unix-socket "$T_DIR/api.sock" -o "$T_DIR/metrics" http://x/metrics
m() { python3 "$SRC/tests/netns/prom.py" "$T_DIR/metrics" "$1" || echo missing; }
expect 0 "metrics: the interface is up" test "$(m "portcullis_wireguard_up{interface=\"$WG\"}")" = 1
expect 0 "with its peers ($(m "portcullis_wireguard_peers{interface=\"$WG\"}"))" \
	test "$(m "portcullis_wireguard_peers{interface=\"$WG\"}")" = 2
expect 0 "alice received bytes" python3 -c 'import sys; sys.exit(not float(sys.argv[1]) > 1000)' \
	"$(m "portcullis_wireguard_peer_receive_bytes_total{interface=\"$WG\",peer=\"alice\"}")"
expect 0 "and handshook in the last 10 minutes" python3 -c 'import sys, time; sys.exit(not time.time() - float(sys.argv[1]) < 600)' \
	"$(m "portcullis_wireguard_peer_last_handshake_seconds{interface=\"$WG\",peer=\"alice\"}")"
expect 0 "promtool passes on a gateway with WireGuard" promtool check metrics <"$T_DIR/metrics"
expect 0 "status lists the interface and its peer" cli --json status
expect_json wireguard.interfaces.0.public_key == "$GWPUB" "with the gateway's key"
expect_json wireguard.interfaces.0.peers.0.name == alice "and alice"
expect_json wireguard.interfaces.0.peers.0.rx_bytes -gt 0 "who sent bytes"

# the shield: garbage at the WireGuard port is dropped in XDP while the
# tunnel keeps working; handshake initiations beyond the rate are dropped
lab_in client python3 -c '
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
end = time.time() + 3
while time.time() < end:
    for _ in range(200):
        s.sendto(b"\x05garbage" * 8, ("198.18.1.1", 51820))
    time.sleep(0.01)' &
FLOOD=$!
sleep 0.5
expect 0 "under a garbage flood at its port the tunnel still works" \
	lab_in client $PROBE tcp 198.18.2.2 8080 --timeout 3
wait $FLOOD
expect 0 "initiation-shaped datagrams, 200 from one source" lab_in client python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(200):
    s.sendto(b"\x01\x00\x00\x00" + b"\x00" * 144, ("198.18.1.1", 51820))'
expect 0 "status after the floods" cli --json status
expect_json counters.deny_wireguard_shield.packets -gt 10000 "the garbage was dropped by the shield"
expect_json counters.deny_wireguard_handshake_rate.packets -gt 100 "initiations beyond 20 a second were dropped"
expect 0 "the tunnel still works" lab_in client $PROBE tcp 198.18.2.2 8080 --timeout 3

# drift: a peer removed by hand comes back, a stranger goes
gw_wg set "$WG" peer "$CPUB" remove
STRANGER=$(wg genkey | wg pubkey)
gw_wg set "$WG" peer "$STRANGER" allowed-ips 198.18.100.9/32
sleep 6
expect 0 "after a reconcile" gw_wg show "$WG" peers
expect_match "^$(re "$CPUB")$" "alice is back"
expect 1 "the stranger is gone" grep -qF -- "$STRANGER" "$T_DIR/last.out"
expect 0 "both were logged" grep -q "peer alice was missing; put back" "$T_DIR/daemon.log"
expect 0 "with the stranger's key" grep -qF "removed unknown peer $STRANGER" "$T_DIR/daemon.log"
# alice's session went with her: her side handshakes again once its
# packets go unanswered (WireGuard's rekey timeout, about 15 s)
for _ in $(seq 25); do
	lab_in client $PROBE tcp 198.18.2.2 8080 --timeout 1 >/dev/null 2>&1 && break
done
expect 0 "the tunnel works again after alice's new handshake" \
	lab_in client $PROBE tcp 198.18.2.2 8080 --timeout 3

# revocation: a push that takes alice out of eng stops her open flow
lab_in client $PROBE hold 198.18.2.2 8080 --duration 6 --timeout 1 >"$T_DIR/hold.out" 2>&1 &
HOLD=$!
sleep 1.5
policy "$STRANGER" >"$T_DIR/revoked.yaml"
expect 0 "a push takes alice out of eng" cli policy push "$T_DIR/revoked.yaml"
wait $HOLD
expect 0 "her open connection stops at the next packet" grep -q "broke after" "$T_DIR/hold.out"
expect 0 "as revoked" grep -q "verdict deny_revoked tcp 198.18.100.2:.* if=$WG" "$T_DIR/daemon.log"
expect 1 "and she cannot connect again" lab_in client $PROBE tcp 198.18.2.2 8080 --timeout 1
# the gateway config can put a peer in an identity too (its policy file
# now the one in force, so that a reload pushes nothing)
sed -i "s|  policy: .*|  policy: $T_DIR/revoked.yaml|" "$T_DIR/gateway.yaml"
sed -i "s|allowed_ips: \[198.18.100.2/32\] }|allowed_ips: [198.18.100.2/32], identity: eng }|" "$T_DIR/gateway.yaml"
kill -HUP "$DAEMON_PID"
sleep 1
expect 0 "with identity: eng in her config entry and a reload she is in again" \
	lab_in client $PROBE tcp 198.18.2.2 8080 --timeout 3
sed -i "s|, identity: eng }| }|" "$T_DIR/gateway.yaml"
kill -HUP "$DAEMON_PID"
sleep 1
expect 1 "without it, out again" lab_in client $PROBE tcp 198.18.2.2 8080 --timeout 1
expect 0 "putting her back" cli policy push "$T_DIR/policy.yaml"
expect 0 "lets her in again" lab_in client $PROBE tcp 198.18.2.2 8080 --timeout 3

# peers through the API: added, listed, audited, kept across restarts
BOB=$(wg genkey | wg pubkey)
expect 0 "an operator adds peer bob" cli peers add --interface "$WG" --name bob \
	--public-key "$BOB" --allowed-ips 198.18.100.3/32 --keepalive 25 --identity eng
expect_match "^added peer bob on $WG$" "it says so"
expect 0 "bob is on the interface" gw_wg show "$WG" allowed-ips
expect_match "^$(re "$BOB")	198\.18\.100\.3/32$" "with his allowed IPs"
expect 0 "peers list" cli peers list
expect_match "^alice +$WG +config +198\.18\.100\.2/32 " "alice from the config"
expect_match "^bob +$WG +api +198\.18\.100\.3/32 +never " "bob from the API, no handshake yet"
expect 1 "a second bob is refused" cli peers add --interface "$WG" --name bob \
	--public-key "$STRANGER" --allowed-ips 198.18.100.4/32
expect_match "HTTP 409" "409"
expect 1 "a bad prefix is refused with the field" cli peers add --interface "$WG" \
	--name carol --public-key "$STRANGER" --allowed-ips 198.18.100.4/24
expect_match "^allowed_ips: each an address or a prefix without host bits$" "with what is wrong"
expect 1 "a peer of the config cannot be removed through the API" cli peers remove alice
expect_match "HTTP 409: that peer comes from the gateway config" "409"
expect 0 "the audit log has the addition" cli audit --limit 1
expect_match "peer\.add +local root \(uid:0\)  bob on $WG" "by whom"

# the tunnel outlives the daemon, which adopts it again
daemon_kill
expect 0 "with the daemon stopped the tunnel still carries traffic" \
	lab_in client $PROBE tcp 198.18.2.2 8080 --timeout 3
expect 1 "and the TC program still denies" lab_in client $PROBE tcp 198.18.2.2 22 --timeout 1
: >"$T_DIR/daemon.log"
daemon_start || not_ok "daemon starts again"
expect 1 "on restart it adopts wireguard-go instead of starting another" \
	grep -q "started wireguard-go" "$T_DIR/daemon.log"
expect 0 "and still has one wireguard-go for $WG" \
	test "$(pgrep -fc "wireguard-go -f $WG\$")" -eq 1
expect 0 "bob was kept in the state database" cli peers show bob
expect_match "^peer +bob \(api\)$" "and is shown"
expect 0 "an operator removes bob" cli peers remove bob
expect 0 "he is off the interface" gw_wg show "$WG" peers
expect 1 "at once" grep -qF -- "$BOB" "$T_DIR/last.out"
expect 1 "without being called a stranger" grep -qF "removed unknown peer $BOB" "$T_DIR/daemon.log"
# an interface taken out of the config goes, on reload
sed -i '/^  wireguard:/,$d' "$T_DIR/gateway.yaml"
kill -HUP "$DAEMON_PID"
sleep 1
expect 0 "a reload without the WireGuard interface removes it" \
	grep -q "wireguard: $WG: removed (no longer configured)" "$T_DIR/daemon.log"
expect 1 "the link is gone" lab_in gw ip link show "$WG"
daemon_kill
t_done
