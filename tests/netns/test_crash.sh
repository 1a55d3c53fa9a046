#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Test the daemon killed (-9) in the middle of policy pushes, again and
# again: the data plane, which does not need the daemon, enforces one of
# the two policies entirely (never a mix), and once the daemon is back,
# the store and the data plane agree on which.  Then a corrupted state
# database: the daemon refuses to start with a clear error, the pinned
# data plane keeps enforcing, and the documented recovery works.
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${BUILD:-$SRC/build}
LAB=pk$$
export LAB_TRUST_ROOT=true
. "$SRC/tests/netns/lib.sh"
trap t_cleanup EXIT

# policy A allows 8080/tcp, policy B 22/tcp: which one enforces shows in
# two probes, and a mix of them (both or neither) would too
mkpol() { # $1 port allowed, $2 port denied
	sed -e "s|ports: \[8080/tcp,|ports: [$1/tcp,|" \
		-e "s|port: 22/tcp, expect: deny|port: $2/tcp, expect: deny|" \
		"$SRC/policies/example.yaml"
}
t_setup
mkpol 8080 22 >"$T_DIR/a.yaml"
mkpol 22 8080 >"$T_DIR/b.yaml"
cp "$T_DIR/a.yaml" "$T_DIR/policy.yaml"
sed -i "s|^  policy: .*|  policy: $T_DIR/policy.yaml|" "$T_DIR/gateway.yaml"
daemon_start || { not_ok "daemon starts"; t_done; exit 1; }
ok "daemon starts enforcing policy A"

probe() { lab_in client $PROBE tcp 198.18.2.2 "$1" --timeout 1 >/dev/null 2>&1 && echo 1 || echo 0; }
# which policy the data plane enforces: A, B, or MIX
enforced() {
	case "$(probe 8080)$(probe 22)" in
	10) echo A ;; 01) echo B ;; *) echo MIX ;;
	esac
}
# which the daemon says is in force, by the file it came from
in_force() {
	cli policy versions 2>/dev/null | awk '/<- in force/ { for (i = 1; i <= NF; i++) if ($i ~ /^[ab]\.yaml$/ || $i ~ /^policy\.yaml$/) print $i }' |
		sed 's/^a\.yaml$/A/; s/^policy\.yaml$/A/; s/^b\.yaml$/B/'
}

expect_eq "the data plane enforces A" "$(enforced)" A
bad=0 rounds=8 seen=""
for round in $(seq $rounds); do
	# pushes back to back, A and B, until the kill
	(while :; do
		cli policy push "$T_DIR/b.yaml" >/dev/null 2>&1
		cli policy push "$T_DIR/a.yaml" >/dev/null 2>&1
	done) &
	PUSHER=$!
	sleep "0.$((RANDOM % 9 + 1))"
	kill -9 "$DAEMON_PID"
	wait "$DAEMON_PID" 2>/dev/null
	DAEMON_PID=
	kill "$PUSHER" 2>/dev/null
	wait "$PUSHER" 2>/dev/null
	dead=$(enforced)
	daemon_start || { not_ok "daemon restarts after kill -9 (round $round)"; break; }
	store=$(in_force)
	alive=$(enforced)
	seen="$seen $dead/$store/$alive"
	if [ "$dead" = MIX ] || [ "$alive" = MIX ] || [ "$store" != "$alive" ]; then
		bad=$((bad + 1))
		echo "# round $round: killed: data plane $dead; restarted: store $store, data plane $alive"
	fi
done
expect 0 "$rounds kill -9 during pushes: the data plane enforces A or B entirely, dead or alive, and the store agrees (killed/store/restarted:$seen)" \
	test "$bad" -eq 0
# (the pushes went through: B, which only a push brings, was seen)
expect 0 "the pushes took effect between the kills" grep -q B <<<"$seen"
expect 0 "the restarted daemon says it adopted or applied what is stored" \
	grep -Eq 'policy version [0-9]+ .*in force|adopted' "$T_DIR/daemon.log"

# a policy larger than the maps: refused before anything changes
python3 - "$T_DIR/huge.yaml" <<'EOP'
import sys
# 131,073 host identities: one more than half the identity maps (a push
# fills one slot while the other enforces)
with open(sys.argv[1], "w") as f:
    f.write("apiVersion: portcullis/v1\nkind: Policy\nidentities:\n")
    f.write("  many:\n    cidrs:\n")
    for i in range(131073):
        f.write("      - 10.%d.%d.%d/32\n" % (i >> 16, (i >> 8) & 255, i & 255))
    f.write("services:\n  web: { cidrs: [198.18.2.2/32], ports: [22/tcp, 8080/tcp] }\n")
    f.write("rules:\n  - { name: r, from: [many], to: [web], action: allow }\n")
EOP
versions() { cli policy versions 2>/dev/null | grep -c '^ *[0-9]'; }
n=$(versions)
was=$(enforced)
expect 1 "a policy of 131,073 identity prefixes is refused by the CLI" \
	cli policy push "$T_DIR/huge.yaml"
expect_match '^huge.yaml: policy compiles to 131074 identity prefixes, at most 131072 fit$' \
	"saying how many it compiles to and how many fit"
expect 0 "and by the daemon, pushed past the CLI" \
	curl -s --unix-socket "$T_DIR/api.sock" -X PUT -H 'Content-Type: application/yaml' \
	--data-binary @"$T_DIR/huge.yaml" -w '\n%{http_code}\n' "http://x/v1/policy?filename=huge.yaml"
expect_match '^422$' "with 422"
expect_match '"error": "huge.yaml: policy compiles to 131074 identity prefixes, at most 131072 fit"' \
	"and the same reason"
expect_eq "no version is recorded" "$(versions)" "$n"
expect_eq "and the data plane enforces what it did" "$(enforced)" "$was"

# a corrupted state database
daemon_kill KILL
before=$(enforced)
python3 - "$T_DIR/state.db" <<'EOP'
import sqlite3, sys
# the policy versions' table, not the schema: the daemon must look
# inside the database to find it (quick_check), not just open it
db = sqlite3.connect(sys.argv[1])
db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
page = db.execute("SELECT rootpage FROM sqlite_master "
                  "WHERE name = 'policy_versions'").fetchone()[0]
size = db.execute("PRAGMA page_size").fetchone()[0]
db.close()
with open(sys.argv[1], "r+b") as f:
    f.seek((page - 1) * size)
    f.write(b"\xa5" * size)
EOP
rm -f "$T_DIR/state.db-wal" "$T_DIR/state.db-shm"
expect 1 "the daemon refuses to start on a corrupted state database" \
	nsenter --net="/var/run/netns/$(lab_ns gw)" "$DAEMON" -c "$T_DIR/gateway.yaml"
expect_match "state database '$T_DIR/state.db'.*(malformed|not a database|corrupt)" \
	"naming the database and sqlite's reason"
expect_match "the data plane enforces what it did; to recover, see \"A corrupted state database\" in docs/operations.md" "saying the data plane is untouched and pointing at the recovery"
expect_eq "the pinned data plane keeps enforcing what it enforced" "$(enforced)" "$before"
mv "$T_DIR/state.db" "$T_DIR/state.db.corrupt"
daemon_start || not_ok "with the database moved aside, the daemon starts"
expect_eq "and enforces the seed policy again (A), from a new database" "$(enforced)" A
t_done
