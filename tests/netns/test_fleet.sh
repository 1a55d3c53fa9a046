#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A fleet of three gateways on one etcd: each in its own lab (client --
# gateway -- server), all joined by a management network to a namespace
# that runs etcd.  Push once, all three enforce; kill one, its lease
# ends and the fleet shows it; stop etcd, enforcement goes on and pushes
# fail clearly; etcd back, the fleet converges; a partitioned gateway
# catches up.
. "$(dirname "$0")/lib.sh"

GWS="pcfa pcfb pcfc"
MG=pcf-etcd
ETCD_IP=198.19.0.254
. "$SRC/tools/lab/fleet.sh"
declare -A WGN J
for g in $GWS; do WGN[$g]=w${g#pcf}$$; done # wireguard-go: one name, one socket

gw_config() {
	local g=$1 site=$2 region=$3
	"$CLI" keys generate --out "$T_DIR/$g-wg.key" >"$T_DIR/$g-wg.pub"
	cat >"$T_DIR/$g.yaml" <<EOC
gateway:
  name: $g
  interfaces:
    - { name: c0, mode: native }
    - { name: s0, mode: native }
  api:
    listen: unix:$T_DIR/$g.sock
    trust_local_root: true
  state: $T_DIR/$g.db
  store: etcd://$ETCD_IP:2379/pctest
  fleet:
    site: $site
    region: $region
    address: ${IP[$g]}
    lease_ttl: 3
    heartbeat_ms: 300
    timeout_ms: 500
  policy: $T_DIR/base.yaml
  wireguard:
    interfaces:
      - name: ${WGN[$g]}
        private_key_file: $T_DIR/$g-wg.key
        listen_port: 51820
        address: [198.18.100.1/24]
EOC
}

# in lab g: can the client reach the server's port?
reach() { LAB=$1 lab_in client $PROBE tcp 198.18.2.2 "$2" --timeout "${3:-1}"; }

gw_state() { # gateway-asked, gateway, field
	gcli "$1" --json gateways | python3 -c 'import json,sys
r = json.load(sys.stdin)
g = [g for g in r["gateways"] if g["name"] == sys.argv[1]]
print(g[0].get(sys.argv[2], "") if g else "absent")' "$2" "$3"
}

# is_state ASKED GATEWAY STATE: ASKED's fleet view shows GATEWAY so
is_state() { [ "$(gw_state "$1" "$2" state)" = "$3" ]; }
# connected GATEWAY true|false: joined to etcd or not
connected() { gcli "$1" --json status | grep -q "\"connected\": $2"; }

cleanup() {
	for g in $GWS; do
		gw_kill "$g" KILL
		"$DAEMON" -c "$T_DIR/$g.yaml" --teardown >/dev/null 2>&1
	done
	etcd_stop
	fleet_down
	if [ "$T_FAILED" -ne 0 ]; then
		for g in $GWS; do
			echo "# $g log:"
			tail -30 "$T_DIR/$g.log" 2>/dev/null | sed 's/^/#   /'
		done
	fi
	[ -n "$PC_KEEP" ] && echo "# kept $T_DIR" || rm -rf "$T_DIR"
}
trap cleanup EXIT

command -v etcd >/dev/null && command -v wireguard-go >/dev/null ||
	{ echo "1..0 # SKIP etcd or wireguard-go missing (ci/setup.sh installs them)"; exit 0; }
fleet_up || { echo "Bail out! cannot build the labs"; exit 1; }
for g in $GWS; do
	LAB=$g lab_in server $PROBE serve --tcp 8080 22 --lifetime 300 \
		>"$T_DIR/$g-server.log" 2>&1 &
done
# the roaming client (in the management namespace: it reaches every
# gateway) and the policy every gateway starts from
(umask 077; wg genkey >"$T_DIR/roamer.key")
RPUB=$(wg pubkey <"$T_DIR/roamer.key")
{
	sed -n '/^identities:/q;p' "$SRC/policies/example.yaml"
	echo "identities:"
	echo "  roamers: { peers: [$RPUB] }"
	sed -n '/^identities:/,$p' "$SRC/policies/example.yaml" | tail -n +2 |
		sed 's/from: \[clients\]/from: [clients, roamers]/'
} >"$T_DIR/base.yaml"
gw_config pcfa ams1 eu-west
gw_config pcfb fra1 eu-central
gw_config pcfc nyc1 us-east

# --- one policy for all ----------------------------------------------------
expect 0 "the policy every gateway starts from is valid" "$CLI" policy validate "$T_DIR/base.yaml"
expect 0 "a config with an etcd store checks" "$DAEMON" -c "$T_DIR/pcfa.yaml" --check
# the first gateway starts before etcd: it denies, says why, and seeds
# the fleet once etcd answers
gw_start pcfa || { echo "Bail out! pcfa"; exit 1; }
expect 0 "readyz with no etcd and no policy" curl -s --unix-socket "$T_DIR/pcfa.sock" http://x/readyz
expect_match '"no policy in force"' "not ready: no policy in force"
expect 1 "with no fleet policy it denies" reach pcfa 8080
etcd_start || { echo "Bail out! etcd"; exit 1; }
if wait_for 10 connected pcfa true; then ok "pcfa joins once etcd answers"; else not_ok "pcfa joins once etcd answers"; fi
expect 0 "pcfa's status" gcli pcfa --json status
expect_json policy.version -eq 1 "and seeds the empty fleet with its policy file as version 1"
for g in pcfb pcfc; do gw_start "$g" || { echo "Bail out! $g"; exit 1; }; done
in_view() { [ "$(gw_state "$1" "$2" state)" = up ]; }
for a in $GWS; do
	for b in $GWS; do
		wait_for 5 in_view "$a" "$b" || not_ok "$a sees $b up"
	done
done

gcli pcfa --json gateways >"$T_DIR/view.json"
expect 0 "gateways lists the fleet" gcli pcfa gateways
expect_match "^pcfa +ams1 +eu-west +198\.19\.0\.1 " "each gateway with its site, region and address"
expect_match "^pcfc +nyc1 +us-east +198\.19\.0\.3 +[0-9.]+ +up +ok +1 " "up, healthy, on version 1"
expect 0 "the fleet view as JSON" gcli pcfb --json gateways
expect_json gateways.2.name == pcfc "every gateway sees every other"
expect_json policy_version -eq 1 "the first gateway seeded version 1 from its policy file"
for g in $GWS; do
	expect 0 "$g enforces the fleet's policy: 8080 passes" reach "$g" 8080
	expect 1 "$g enforces the fleet's policy: 22 is denied" reach "$g" 22
done

# push version 2 (opens 22) to one gateway: all three converge
sed 's/ports: \[8080\/tcp,/ports: [8080\/tcp, 22\/tcp,/; /22\/tcp, expect: deny/d' \
	"$T_DIR/base.yaml" >"$T_DIR/open22.yaml"
t0=$(ms)
expect 0 "push once, through pcfb, waiting for the fleet" gcli pcfb --fleet policy push "$T_DIR/open22.yaml"
t1=$(ms)
expect_match "version 2 in force on 3 of 3 gateways up after" "--fleet waits until all three enforce version 2"
conv=$(sed -n 's/.*gateways up after \([0-9.]*\) s/\1/p' "$T_DIR/last.out")
echo "# push to convergence of 3 gateways: ${conv} s (the push and the wait: $((t1 - t0)) ms)"
for g in $GWS; do
	expect 0 "$g enforces version 2: 22 passes" reach "$g" 22
done
expect 0 "audit on pcfc" gcli pcfc audit
expect_match "policy.apply +fleet \(pcfb\) +version 2 from open22.yaml \(pushed by local root via pcfb\)" \
	"a gateway that followed records whose push it applied"
expect 0 "versions are the fleet's" gcli pcfa --json policy versions
expect_json versions.0.version -eq 2 "any gateway lists the fleet's versions"

# --- placement ---------------------------------------------------------------
# only pcfa reaches 198.19.9.1 (its own loopback): only it can measure
ip -n pcfa-gw addr add 198.19.9.1/32 dev lo
expect 0 "place a laptop near Amsterdam" gcli pcfb placements add laptop-ams --strategy region --regions eu-west,eu-central,us-east
expect 0 "place a laptop near Frankfurt" gcli pcfb placements add laptop-fra --strategy region --regions eu-central,eu-west,us-east
for c in rr-1 rr-2 rr-3; do
	expect 0 "place $c by round-robin" gcli pcfc placements add "$c" --strategy round-robin
done
expect 0 "place a desk by latency" gcli pcfc placements add desk-lat --strategy latency --probe 198.19.9.1:9
expect 0 "place one by least-connections" gcli pcfc placements add lc-1 --strategy least-connections --kind user
expect 0 "place one by weighted-random" gcli pcfc placements add wr-1 --strategy weighted-random
expect 0 "place a WireGuard client near Frankfurt" gcli pcfa placements add roamer --strategy region \
	--regions eu-central,eu-west --public-key "$RPUB" --allowed-ips 198.18.100.2/32 --keepalive 1
expect 1 "a peer's key must be a key" gcli pcfa placements add bad --strategy round-robin --public-key nope --allowed-ips 198.18.100.9/32
expect_match "public_key: a WireGuard key" "saying so"
expect 1 "an unknown strategy is refused" gcli pcfa placements add x --strategy random
expect_match "strategy: round-robin, least-connections, weighted-random, latency or region" "naming the strategies"
expect 1 "region without regions is refused" gcli pcfa placements add x --strategy region
expect_match "the region strategy needs the client's regions" "saying what it needs"
expect 1 "latency without a probe is refused" gcli pcfa placements add x --strategy latency
expect_match "the latency strategy needs an ADDR:PORT" "saying what it needs"
expect 1 "a bad name is refused" gcli pcfa placements add "a/b" --strategy round-robin

placed_on() { # ASKED CLIENT: the gateway it is placed on
	gcli "$1" --json placements | python3 -c 'import json,sys
c = [c for c in json.load(sys.stdin)["clients"] if c["name"] == sys.argv[1]]
print(c[0].get("gateway", "") if c and c[0]["state"] == "placed" else "")' "$2"
}
all_placed() {
	for c in laptop-ams laptop-fra rr-1 rr-2 rr-3 desk-lat lc-1 wr-1 roamer; do
		[ -n "$(placed_on pcfc $c)" ] || return 1
	done
}
if wait_for 10 all_placed; then ok "every client is placed"; else not_ok "every client is placed"; fi
expect 0 "placements" gcli pcfc placements
expect_match "^placed by pcfa; 9 clients" "the first gateway up places them"
[ "$(placed_on pcfb laptop-ams)" = pcfa ] && ok "region: laptop-ams on pcfa (eu-west)" || not_ok "region: laptop-ams on pcfa ($(placed_on pcfb laptop-ams))"
[ "$(placed_on pcfb laptop-fra)" = pcfb ] && ok "region: laptop-fra on pcfb (eu-central)" || not_ok "region: laptop-fra on pcfb ($(placed_on pcfb laptop-fra))"
rr=$(for c in rr-1 rr-2 rr-3; do placed_on pcfa $c; done | sort | tr '\n' ' ')
[ "$rr" = "pcfa pcfb pcfc " ] && ok "round-robin: one on each gateway" || not_ok "round-robin: one on each gateway ($rr)"
[ "$(placed_on pcfa desk-lat)" = pcfa ] && ok "latency: desk-lat on the only gateway that measured it" || not_ok "latency: desk-lat on pcfa ($(placed_on pcfa desk-lat))"
expect 0 "the fleet view" gcli pcfa --json gateways
rtt=$(python3 -c 'import json,sys
g = {g["name"]: g for g in json.load(open(sys.argv[1]))["gateways"]}
print(g["pcfa"].get("rtt", {}).get("desk-lat", -1), g["pcfb"].get("rtt", {}).get("desk-lat", "none"))' "$T_DIR/last.out")
case $rtt in
"-1 "* | *" "[0-9]*) not_ok "pcfa measured desk-lat, pcfb could not ($rtt)" ;;
*) ok "pcfa measured desk-lat (${rtt% *} ms), pcfb could not" ;;
esac
echo "# placed: laptop-ams $(placed_on pcfa laptop-ams), laptop-fra $(placed_on pcfa laptop-fra), rr $rr, desk-lat $(placed_on pcfa desk-lat), lc-1 $(placed_on pcfa lc-1), wr-1 $(placed_on pcfa wr-1)"
rr_on_b=$(for c in rr-1 rr-2 rr-3; do [ "$(placed_on pcfa $c)" = pcfb ] && echo $c; done)

# the roaming client: WireGuard to whichever gateway placement names
[ "$(placed_on pcfa roamer)" = pcfb ] && ok "the WireGuard client is placed on pcfb" || not_ok "the WireGuard client is placed on pcfb ($(placed_on pcfa roamer))"
gw_has_peer() { nsenter --net="/var/run/netns/$1-gw" wg show "${WGN[$1]}" peers 2>/dev/null | grep -qx "$RPUB"; }
if wait_for 5 gw_has_peer pcfb; then ok "pcfb's WireGuard interface has the client"; else not_ok "pcfb's WireGuard interface has the client"; fi
if nsenter --net="/var/run/netns/pcfa-gw" wg show "${WGN[pcfa]}" >/dev/null 2>&1 && ! gw_has_peer pcfa; then
	ok "pcfa's interface is up and does not have it"
else
	not_ok "pcfa's interface is up and does not have it"
fi
expect 1 "a second client with the same key is refused" gcli pcfa placements add twin --strategy round-robin --public-key "$RPUB" --allowed-ips 198.18.100.3/32
expect_match "public_key: client roamer has it" "naming the client that has it"
RW=rw$$
nsenter --net="/var/run/netns/$MG" wireguard-go -f "$RW" >"$T_DIR/roamer-wg.log" 2>&1 &
disown $!
for _ in $(seq 50); do mg_in wg show "$RW" >/dev/null 2>&1 && break; sleep 0.1; done
mg_in wg set "$RW" private-key "$T_DIR/roamer.key"
mg_in ip addr add 198.18.100.2/32 dev "$RW"
mg_in ip link set "$RW" up
mg_in ip route add 198.18.2.2/32 dev "$RW"
roam() { # the client's agent: its gateway's endpoint and key, from placements
	local ep key k
	read -r ep key < <(gcli "$1" --json placements | python3 -c 'import json,sys
c = [c for c in json.load(sys.stdin)["clients"] if c["name"] == "roamer"][0]
print(c.get("endpoint", "-"), c.get("gateway_public_key", "-"))')
	for k in $(mg_in wg show "$RW" peers); do
		[ "$k" = "$key" ] || mg_in wg set "$RW" peer "$k" remove
	done
	mg_in wg set "$RW" peer "$key" endpoint "$ep" allowed-ips 198.18.2.2/32 persistent-keepalive 1
	echo "$ep"
}
ep=$(roam pcfc)
[ "$ep" = "198.19.0.2:51820" ] && ok "placements gives the client pcfb's endpoint and key" || not_ok "placements gives pcfb's endpoint ($ep)"
expect 0 "through its tunnel the client reaches pcfb's web server" mg_in $PROBE tcp 198.18.2.2 8080 --timeout 3
expect 0 "pcfb's flows" gcli pcfb --json flows --identity roamers
expect_json matched -ge 1 "pcfb decided it by the client's key (identity roamers)"

# --- a gateway dies --------------------------------------------------------
curl -sN --max-time 12 --unix-socket "$T_DIR/pcfc.sock" \
	"http://x/v1/events?reason=placement_move" >"$T_DIR/moves.sse" 2>/dev/null &
SSE_PID=$!
sleep 0.2
td=$(ms)
gw_kill pcfb KILL
if wait_for 10 is_state pcfa pcfb down; then
	ok "pcfb's lease ends and the fleet shows it down ($(( $(ms) - td )) ms after kill -9, lease 3 s)"
else
	not_ok "pcfb's lease ends and the fleet shows it down"
fi
echo "# death to the fleet seeing it: $(( $(ms) - td )) ms"
expect 0 "gateways on pcfc" gcli pcfc gateways
expect_match "^pcfb .* down +lost " "the dead gateway is listed down, lost"
expect_match "pcfb: lease ended at " "with when its lease ended"
expect 0 "the dead gateway's data plane still enforces (pinned)" reach pcfb 22
none_on() { # ASKED GW: ASKED answers, and places nothing on GW
	local out
	out=$(gcli "$1" --json placements) && ! grep -q "\"gateway\": \"$2\"" <<<"$out"
}
if wait_for 10 none_on pcfa pcfb; then
	ok "pcfb's clients are placed elsewhere ($(( $(ms) - td )) ms after kill -9)"
else
	not_ok "pcfb's clients are placed elsewhere"
fi
echo "# death to the test seeing every client re-placed: $(( $(ms) - td )) ms"
[ "$(placed_on pcfa laptop-fra)" = pcfa ] && ok "region failover: laptop-fra to eu-west (pcfa), the next of its regions" || not_ok "region failover: laptop-fra to pcfa ($(placed_on pcfa laptop-fra))"
case $(placed_on pcfa "$rr_on_b") in
pcfa | pcfc) ok "round-robin: $rr_on_b to a gateway up" ;;
*) not_ok "round-robin: $rr_on_b to a gateway up ($(placed_on pcfa "$rr_on_b"))" ;;
esac
if wait_for 5 gw_has_peer pcfa; then
	ok "the WireGuard client's peer is on pcfa's interface ($(( $(ms) - td )) ms after kill -9)"
else
	not_ok "the WireGuard client's peer is on pcfa's interface"
fi
served=$(sed -n "s/^\([^ ]*\) .*the fleet's client roamer is served here now.*/\1/p" "$T_DIR/pcfa.log" | tail -1)
echo "# death to the client's new gateway serving it: $(( $(date -d "$served" +%s%3N) - td )) ms (pcfa's log)"
ep=$(roam pcfc)
[ "$ep" = "198.19.0.1:51820" ] && ok "the client's agent is sent to pcfa" || not_ok "the client's agent is sent to pcfa ($ep)"
expect 0 "through its tunnel to pcfa the client reaches the web server again" mg_in $PROBE tcp 198.18.2.2 8080 --timeout 3
expect 0 "pcfa's flows" gcli pcfa --json flows --identity roamers
expect_json matched -ge 1 "pcfa now decides the client's traffic by its key"
expect 0 "placements after the death" gcli pcfc placements
expect_match "laptop-fra: pcfb -> pcfa \(pcfb's lease ended; [0-9]+ ms after\)" "the CLI shows the move and why"
grep "laptop-fra: pcfb" "$T_DIR/last.out" | sed 's/^ */# move: /'
moved_at=$(gcli pcfc --json placements | python3 -c 'import json,sys
print([m["at_ms"] for m in json.load(sys.stdin)["moves"] if m["client"] == "laptop-fra"][-1])')
echo "# death to re-placement: $((moved_at - td)) ms (the placement's own time; lease 3 s)"
wait "$SSE_PID" 2>/dev/null
if grep -q '"client":"laptop-fra".*"from":"pcfb".*"to":"pcfa"' "$T_DIR/moves.sse"; then
	ok "the event stream announced the move"
else
	not_ok "the event stream announced the move"
	sed 's/^/#   /' "$T_DIR/moves.sse"
fi

# --- etcd stops -------------------------------------------------------------
etcd_stop
if wait_for 5 connected pcfa false; then ok "pcfa notices etcd is gone"; else not_ok "pcfa notices etcd is gone"; fi
expect 0 "readyz while etcd is down" curl -s --unix-socket "$T_DIR/pcfa.sock" http://x/readyz
expect_match '"status": *"degraded"' "readyz says degraded"
expect_match 'etcd at 198.19.0.254:2379' "and why: etcd out of reach"
expect 0 "metrics while etcd is down" curl -s --unix-socket "$T_DIR/pcfa.sock" http://x/metrics
expect_match '^portcullis_fleet_store_up 0$' "metrics: fleet store down"
for g in pcfa pcfc; do
	expect 0 "$g keeps enforcing without etcd: 22 passes" reach "$g" 22
done
expect 1 "a push while etcd is down fails" gcli pcfa policy push "$T_DIR/base.yaml"
expect_match "out of reach.*nothing was stored and the policy in force is unchanged" \
	"with a clear error"
expect 0 "port 22 still open: nothing changed" reach pcfa 22
expect 1 "adding a client while etcd is down fails" gcli pcfa placements add late --strategy round-robin
expect_match "out of reach" "saying etcd is out of reach"
expect 0 "still version 2" gcli pcfa --json status
expect_json policy.version -eq 2 "the policy in force is still version 2"

# --- etcd returns ----------------------------------------------------------
etcd_start || { echo "Bail out! etcd restart"; exit 1; }
if wait_for 10 connected pcfa true && wait_for 10 connected pcfc true; then
	ok "both live gateways join again when etcd returns"
else
	not_ok "both live gateways join again when etcd returns"
fi
expect 0 "readyz after etcd returns" curl -s --unix-socket "$T_DIR/pcfa.sock" http://x/readyz
expect_match '"status": *"ready"' "ready again"
expect 0 "push version 3 (22 closed) through pcfc" gcli pcfc --fleet policy push "$T_DIR/base.yaml"
expect_match "version 3 in force on 2 of 2 gateways up" "the fleet converges on version 3"
expect_match "pcfb is down: it takes the newest version when it returns" "and names the gateway that is down"
expect 1 "pcfa enforces version 3: 22 denied again" reach pcfa 22

# a gateway cut off from etcd misses a push, then catches up
joins() { curl -s --unix-socket "$T_DIR/$1.sock" http://x/metrics | sed -n 's/^portcullis_fleet_joins_total //p'; }
j0=$(joins pcfa)
ip -n pcfa-gw link set m0 down
if wait_for 5 connected pcfa false; then ok "cut off, pcfa says so"; else not_ok "cut off, pcfa says so"; fi
expect 0 "push version 4 (22 open) through pcfc while pcfa is cut off" gcli pcfc policy push "$T_DIR/open22.yaml"
expect 1 "pcfa, cut off, still enforces version 3" reach pcfa 22
ip -n pcfa-gw link set m0 up
if wait_for 10 reach pcfa 22 0.3; then
	ok "pcfa catches up to version 4 once it reaches etcd again"
else
	not_ok "pcfa catches up to version 4 once it reaches etcd again"
fi
expect 0 "pcfa's status" gcli pcfa --json status
expect_json policy.version -eq 4 "pcfa enforces version 4"
[ "$(joins pcfa)" -gt "$j0" ] && ok "it joined again ($j0 -> $(joins pcfa) joins)" || not_ok "it joined again ($j0 -> $(joins pcfa))"

# the dead gateway returns and takes the newest version
gw_start pcfb
expect 0 "pcfb back" gcli pcfb --json status
expect_json policy.version -eq 4 "pcfb came back on the fleet's newest version"
expect 0 "the whole fleet on version 4" gcli pcfa gateways wait --version 4 --timeout 5
expect_match "version 4 in force on 3 of 3 gateways up" "all three up, all on version 4"

# a policy of some 10 KB (the watch brings it in several HTTP chunks),
# pushed through one gateway while another pushes a small one
python3 - "$T_DIR/open22.yaml" >"$T_DIR/big.yaml" <<'PY'
import sys
src = open(sys.argv[1]).read()
ids = "".join("  team%d: { cidrs: [198.18.%d.%d/32] }\n" % (i, 30 + i // 250, i % 250) for i in range(120))
rules = "".join("  - { name: team%d-web, from: [team%d], to: [web], action: allow }\n" % (i, i) for i in range(120))
src = src.replace("identities:\n", "identities:\n" + ids, 1).replace("rules:\n", "rules:\n" + rules, 1)
print(src, end="")
PY
echo "# the big policy: $(wc -c <"$T_DIR/big.yaml") bytes"
for g in $GWS; do J[$g]=$(joins "$g"); done
gcli pcfa policy push "$T_DIR/big.yaml" >"$T_DIR/push-a.out" 2>&1 &
pa=$!
gcli pcfc policy push "$T_DIR/open22.yaml" >"$T_DIR/push-c.out" 2>&1 &
pc=$!
wait $pa && wait $pc && ok "two pushes at once through two gateways both succeed" || not_ok "two pushes at once both succeed ($(cat "$T_DIR/push-a.out" "$T_DIR/push-c.out"))"
v5=$(sed -n 's/.*version \([0-9]*\) in force.*/\1/p' "$T_DIR/push-a.out")
v6=$(sed -n 's/.*version \([0-9]*\) in force.*/\1/p' "$T_DIR/push-c.out")
[ -n "$v5" ] && [ -n "$v6" ] && [ "$v5" != "$v6" ] && ok "they got two versions ($v5, $v6)" || not_ok "they got two versions ($v5, $v6)"
newest=$(( v5 > v6 ? v5 : v6 ))
expect 0 "the fleet converges on the newer" gcli pcfb gateways wait --version "$newest" --timeout 5
expect_match "version $newest in force on 3 of 3 gateways up" "all three on version $newest"
for g in $GWS; do
	[ "$(joins "$g")" = "${J[$g]}" ] && ok "$g stayed joined through the big push" || not_ok "$g stayed joined (joins ${J[$g]} -> $(joins "$g"))"
done

[ "$(placed_on pcfb laptop-fra)" = pcfa ] && ok "pcfb's return moves nobody back" || not_ok "pcfb's return moves nobody back ($(placed_on pcfb laptop-fra))"

# the leader dies: another takes over and places its clients
leader=$(gcli pcfc --json placements | python3 -c 'import json,sys; print(json.load(sys.stdin)["leader"])')
echo "# the leader: $leader"
[ -n "$leader" ] && ok "a leader places the clients ($leader)" || not_ok "a leader places the clients"
tl=$(ms)
gw_kill "$leader" KILL
ask=pcfc
[ "$leader" = pcfc ] && ask=pcfb
has_new_leader() { l=$(gcli $ask --json placements | python3 -c 'import json,sys; print(json.load(sys.stdin)["leader"])'); [ -n "$l" ] && [ "$l" != "$leader" ]; }
if wait_for 10 has_new_leader && wait_for 5 none_on "$ask" "$leader"; then
	ok "another gateway leads and re-places the dead leader's clients ($(( $(ms) - tl )) ms)"
else
	not_ok "another gateway leads and re-places the dead leader's clients"
	gcli $ask placements | sed 's/^/#   /'
fi
gw_start "$leader"
leaders() { local n=0 g v; for g in $GWS; do v=$(curl -s --unix-socket "$T_DIR/$g.sock" http://x/metrics | sed -n 's/^portcullis_fleet_leader //p'); n=$((n + ${v:-0})); done; echo $n; }
one_leader() { [ "$(leaders)" = 1 ]; }
sleep 1
if wait_for 5 one_leader; then ok "one leader in the fleet after the old one returns"; else not_ok "one leader in the fleet after the old one returns ($(leaders))"; fi

# a clean stop leaves at once (the lease revoked)
gw_kill pcfc TERM
if wait_for 2 is_state pcfa pcfc down; then
	ok "a stopped gateway leaves the fleet at once"
else
	not_ok "a stopped gateway leaves the fleet at once ($(gw_state pcfa pcfc state))"
fi

# a gateway gone for good leaves the view; one up cannot be removed
other=pcfa
[ "$leader" = pcfa ] && other=pcfb
expect 0 "remove the stopped gateway from the fleet" gcli "$other" gateways remove pcfc
forgot() { local out; out=$(gcli "$other" --json gateways) && ! grep -q '"name": "pcfc"' <<<"$out"; }
if wait_for 3 forgot; then
	ok "and the fleet forgets it"
else
	not_ok "and the fleet forgets it"
fi
expect 1 "a gateway that is up cannot be removed" gcli "$other" gateways remove "$other"
expect_match "is up: stop it first" "saying so"

# no gateway ever went back to an older version than it had enforced
if python3 - "$T_DIR"/pcf?.log <<'PY'
import re, sys
bad = 0
for path in sys.argv[1:]:
    last = 0
    for line in open(path):
        m = re.search(r"policy version (\d+) (?:\(pushed|from .* stored)", line)
        if not m:
            continue
        v = int(m.group(1))
        if v < last:
            print("# %s: version %d after %d" % (path, v, last))
            bad = 1
        last = v
sys.exit(bad)
PY
then ok "versions only ever went forward on every gateway"; else not_ok "versions only ever went forward on every gateway"; fi

t_done
