#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The fleet's numbers, on a real etcd and three gateways (tools/lab/fleet.sh):
#   - etcd alone: a put until a watch sees it (the floor of any fleet
#     that follows etcd by watching);
#   - a push through one gateway until all three enforce it, by the
#     time each gateway says it put the version in force;
#   - kill -9 of a gateway until its clients are placed on others, by
#     the placement's own time; the lease TTL is that floor;
#   - the same for the gateway that places (the leader).
#
#   tools/bench/fleet.sh [--json FILE] [--pushes N] [--deaths N]
#
# Prints (or writes) one JSON object of every sample, in ms.  run.py
# runs it as its fleet section.  Needs root, etcd, bpffs.
set -u
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${BUILD:-$SRC/build}
OUT=
PUSHES=20
DEATHS=3
while [ $# -gt 0 ]; do
	case $1 in
	--json) OUT=$2; shift 2 ;;
	--pushes) PUSHES=$2; shift 2 ;;
	--deaths) DEATHS=$2; shift 2 ;;
	*) echo "usage: $0 [--json FILE] [--pushes N] [--deaths N]" >&2; exit 2 ;;
	esac
done
[ "$(id -u)" = 0 ] || { echo "fleet.sh: needs root" >&2; exit 2; }
command -v etcd >/dev/null || { echo "fleet.sh: etcd not found (ci/setup.sh installs etcd-server)" >&2; exit 2; }

. "$SRC/tools/lab/netns.sh"
GWS="pcbfa pcbfb pcbfc"
MG=pcbf-etcd
ETCD_IP=198.19.0.254
T_DIR=$(mktemp -d /tmp/pc-fleet-bench.XXXXXX)
DAEMON=$BUILD/userspace/portcullisd
CLI=$BUILD/userspace/portcullis
. "$SRC/tools/lab/fleet.sh"
TTL=3
log() { echo "fleet.sh: $*" >&2; }

cleanup() {
	for g in $GWS; do
		gw_kill "$g" KILL
		"$DAEMON" -c "$T_DIR/$g.yaml" --teardown >/dev/null 2>&1
	done
	etcd_stop
	fleet_down
	[ -n "${PC_KEEP:-}" ] && log "kept $T_DIR" || rm -rf "$T_DIR"
}
trap cleanup EXIT

config() {
	cat >"$T_DIR/$1.yaml" <<EOC
gateway:
  name: $1
  interfaces:
    - { name: c0, mode: native }
    - { name: s0, mode: native }
  api:
    listen: unix:$T_DIR/$1.sock
    trust_local_root: true
  state: $T_DIR/$1.db
  store: etcd://$ETCD_IP:2379/pcbench
  fleet: { region: $2, address: ${IP[$1]}, lease_ttl: $TTL, heartbeat_ms: 300, timeout_ms: 500 }
  policy: $SRC/policies/example.yaml
EOC
}

fleet_up || { log "cannot build the labs"; exit 1; }
etcd_start >&2 || exit 1
i=0
for g in $GWS; do
	config "$g" "r$i"
	i=$((i + 1))
	gw_start "$g" >&2 || exit 1
done
A=${GWS%% *}

# 1. etcd alone: put, then the watch's event (in etcd's namespace)
log "etcd: $PUSHES puts seen by a watch"
etcd_ms=$(mg_in python3 - "$ETCD_IP" "$PUSHES" <<'PY'
import base64, http.client, json, sys, threading, time
host, n = sys.argv[1], int(sys.argv[2])
b64 = lambda s: base64.b64encode(s.encode()).decode()
w = http.client.HTTPConnection(host, 2379)
w.request("POST", "/v3/watch", json.dumps({"create_request": {"key": b64("/bench/x")}}))
r = w.getresponse()
r.readline()  # created
out = []
for i in range(n):
    c = http.client.HTTPConnection(host, 2379)
    t0 = time.monotonic()
    c.request("POST", "/v3/kv/put", json.dumps({"key": b64("/bench/x"), "value": b64(str(i))}))
    c.getresponse().read()
    while b'"events"' not in r.readline():
        pass
    out.append(round((time.monotonic() - t0) * 1000, 3))
    time.sleep(0.05)
print(json.dumps(out))
PY
)

# 2. pushes through the first gateway, until all three enforce each
sed 's/ports: \[8080\/tcp,/ports: [8080\/tcp, 22\/tcp,/; /22\/tcp, expect: deny/d' \
	"$SRC/policies/example.yaml" >"$T_DIR/open22.yaml"
log "$PUSHES pushes through $A"
conv=() push=()
for i in $(seq "$PUSHES"); do
	f=$SRC/policies/example.yaml
	[ $((i % 2)) = 1 ] && f=$T_DIR/open22.yaml
	t0=$(ms)
	gcli "$A" --json policy push "$f" >"$T_DIR/push.json" || exit 1
	t1=$(ms) # (python's start-up, some 300 ms here, is not the push's)
	v=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$T_DIR/push.json")
	done_ms=
	for _ in $(seq 200); do
		done_ms=$(gcli "$A" --json gateways | python3 -c 'import json,sys
r = json.load(sys.stdin); v = int(sys.argv[1])
g = [g for g in r["gateways"] if g["state"] == "up"]
print(max(x["policy_applied_ms"] for x in g) if len(g) == 3 and all(x["policy_version"] == v for x in g) else "")' "$v")
		[ -n "$done_ms" ] && break
		sleep 0.02
	done
	[ -n "$done_ms" ] || { log "push $i: version $v did not converge"; exit 1; }
	conv+=($((done_ms - t0)))
	push+=($((t1 - t0)))
	sleep 0.2
done

# 3. deaths: clients on every gateway (new ones before each kill: a
# returning gateway takes none back); kill -9 one and read when its
# clients were placed again; bring it back
placed_all() { gcli "$A" --json placements >"$T_DIR/pl.json" && python3 -c 'import json,sys
sys.exit(0 if all(c["state"] == "placed" for c in json.load(open(sys.argv[1]))["clients"]) else 1)' "$T_DIR/pl.json"; }
leader() { gcli "$1" --json placements >"$T_DIR/ld.json" && python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["leader"])' "$T_DIR/ld.json"; }
n=0
more_clients() {
	for _ in 1 2 3 4 5 6; do
		n=$((n + 1))
		gcli "$1" placements add "c$n" --strategy least-connections >/dev/null || return 1
	done
	wait_for 10 placed_all
}
# GATEWAY ASKED: DEATH_MS, from kill -9 to its clients' new placement (not
# in a subshell: gw_start must record the new daemon's PID here)
death() {
	local g=$1 ask=$2 t0 at=
	t0=$(ms)
	gw_kill "$g" KILL
	for _ in $(seq 200); do
		gcli "$ask" --json placements >"$T_DIR/dp.json" 2>/dev/null
		at=$(python3 -c 'import json,sys
r = json.load(open(sys.argv[1])); g, t0 = sys.argv[2], int(sys.argv[3])
on = [c for c in r["clients"] if c.get("gateway") == g]
moved = [m["at_ms"] for m in r["moves"] if m["from"] == g and m["at_ms"] >= t0]
print(max(moved) if moved and not on else "")' "$T_DIR/dp.json" "$g" "$t0" 2>/dev/null)
		[ -n "$at" ] && break
		sleep 0.05
	done
	[ -n "$at" ] || { log "$g's clients were not placed again"; return 1; }
	DEATH_MS=$((at - t0))
	gw_start "$g" >&2 || return 1
	sleep 1
}
repl=() repl_leader=()
for i in $(seq "$DEATHS"); do
	l=$(leader "$A")
	for g in $GWS; do [ "$g" != "$l" ] && victim=$g && break; done
	more_clients "$l" || { log "clients not placed"; exit 1; }
	log "death $i: $victim (the leader is $l)"
	death "$victim" "$l" || exit 1
	repl+=("$DEATH_MS")
	more_clients "$l" || { log "clients not placed"; exit 1; }
	log "death $i: the leader $l"
	death "$l" "$victim" || exit 1
	repl_leader+=("$DEATH_MS")
done

json=$(python3 - "$etcd_ms" "${conv[*]}" "${push[*]}" "${repl[*]}" "${repl_leader[*]}" "$TTL" <<'PY'
import json, sys
ints = lambda s: [int(x) for x in s.split()]
print(json.dumps({"etcd_watch_ms": json.loads(sys.argv[1]),
                  "converge_ms": ints(sys.argv[2]), "push_ms": ints(sys.argv[3]),
                  "replace_ms": ints(sys.argv[4]), "replace_leader_ms": ints(sys.argv[5]),
                  "lease_ttl_s": int(sys.argv[6]), "gateways": 3}))
PY
)
if [ -n "$OUT" ]; then echo "$json" >"$OUT"; else echo "$json"; fi
