#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Test the state database on a full disk and on a read-only file system:
# changes are refused with the reason, the policy in force keeps
# enforcing, what was stored stays readable, and changes work again once
# the disk does.
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${BUILD:-$SRC/build}
LAB=ps$$
export LAB_TRUST_ROOT=true
. "$SRC/tests/netns/lib.sh"

ST=$T_DIR/st
cleanup() {
	daemon_kill KILL
	umount "$ST" 2>/dev/null
	t_cleanup
}
trap cleanup EXIT

port22() { lab_in client $PROBE tcp 198.18.2.2 22 --timeout 1; }

t_setup
mkdir -p "$ST"
mount -t tmpfs -o size=8m pcstate "$ST" || { echo "Bail out! cannot mount a tmpfs"; exit 1; }
sed -i "s|  state: .*|  state: $ST/state.db|" "$T_DIR/gateway.yaml"
daemon_start || { not_ok "daemon starts"; t_done; exit 1; }
ok "daemon starts with its state on an 8 MiB tmpfs"

# the same policy, also allowing 22/tcp, padded to need new pages
allow22() {
	sed -e 's|ports: \[8080/tcp,|ports: [8080/tcp, 22/tcp,|' \
		-e '/port: 22\/tcp, expect: deny/d' "$SRC/policies/example.yaml"
	python3 -c 'print("".join("# padding %06d %s\n" % (i, "x" * 60) for i in range(2000)))'
}
allow22 >"$T_DIR/allow22.yaml"
expect 1 "port 22 is denied by the policy in force" port22

# a full disk
dd if=/dev/zero of="$ST/fill" bs=4k >/dev/null 2>&1
expect 1 "a push onto a full disk is refused" cli policy push "$T_DIR/allow22.yaml"
expect_match "HTTP 503: allow22.yaml: state database '$ST/state.db': failed to .*(full|No space left).*; the policy in force is unchanged" \
	"with 503, the database and the reason"
expect 1 "port 22 is still denied: the old policy enforces" port22
expect 0 "allowed traffic still passes" lab_in client $PROBE tcp 198.18.2.2 8080
expect 0 "what is stored is still readable" cli policy versions
expect_match '^ *1 ' "version 1 is listed"
expect 1 "and the refused push is not" grep -q '^ *2 ' "$T_DIR/last.out"
expect 0 "status says the state database is not writable" cli status
expect_match 'state +NOT WRITABLE: .*(full|No space left)' "and why"
rm -f "$ST/fill"
expect 0 "with room again the push goes through" cli policy push "$T_DIR/allow22.yaml"
expect 0 "and port 22 connects" port22
expect 0 "status is writable again" cli --json status
expect_json state.writable == True "state.writable"
expect 0 "the recovery is logged" grep -q "state database '$ST/state.db': writes work again" "$T_DIR/daemon.log"
expect 0 "the push is in the audit log" cli audit --limit 1
expect_match 'policy\.push .* version 2 from allow22\.yaml' "as version 2"

# a read-only file system: the daemon starts on it (say, a read-only
# mount in a container), adopts the data plane and serves what is stored
daemon_kill
mount -o remount,ro "$ST" || { not_ok "remount read-only"; t_done; exit 1; }
daemon_start || { not_ok "daemon starts on a read-only state database"; t_done; exit 1; }
ok "daemon starts on a read-only state database"
expect 0 "and says so" grep -q "state database '$ST/state.db' is on a read-only file system" "$T_DIR/daemon.log"
expect 0 "port 22 still connects: version 2 enforces" port22
expect 0 "stored versions are readable" cli policy versions
expect_match '^ *2 ' "version 2 is listed"
expect 1 "a push is refused" cli policy push "$SRC/policies/example.yaml"
expect_match "HTTP 503: .*read-only file system.*; the policy in force is unchanged" "with 503 and the reason"
expect 1 "a rollback is refused the same way" cli policy rollback
expect_match "HTTP 503: .*read-only file system" "with 503"
expect 0 "the policy in force is still version 2" cli --json policy show
expect_json version -eq 2 "version 2"
expect 0 "status says what is wrong" cli status
expect_match 'state +NOT WRITABLE: .*read-only file system' "read-only"
expect 0 "port 22 still connects after the refusals" port22
daemon_kill
mount -o remount,rw "$ST"
expect 0 "read-write again, the daemon starts" daemon_start
expect 0 "and the rollback goes through" cli policy rollback
expect 1 "port 22 is denied again" port22
expect 0 "the store and the data plane agree on version 3" cli --json policy show
expect_json version -eq 3 "version 3, the rollback"
t_done
