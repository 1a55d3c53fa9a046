#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Test what `meson install` installs: the binaries, examples, dashboards,
# the systemd unit (systemd-analyze verify finds nothing to say), man
# pages (groff warns of nothing), bash completion (it completes); then
# the installed daemon, with no capability beyond the unit's bounding
# set, enforces the example policy in the lab.
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${BUILD:-$SRC/build}
LAB=pi$$
export LAB_TRUST_ROOT=true
. "$SRC/tests/netns/lib.sh"
trap t_cleanup EXIT

ROOT=$T_DIR/root
expect 0 "meson install into a staging root" \
	env DESTDIR="$ROOT" meson install -C "$BUILD" --no-rebuild --quiet
PREFIX=$(meson introspect "$BUILD" --buildoptions |
	python3 -c 'import json, sys; print([o["value"] for o in json.load(sys.stdin) if o["name"] == "prefix"][0])')
P=$ROOT$PREFIX
missing=
for f in bin/portcullis sbin/portcullisd lib/systemd/system/portcullisd@.service \
	share/man/man1/portcullis.1 share/man/man8/portcullisd.8 \
	share/bash-completion/completions/portcullis \
	share/bash-completion/completions/portcullisd \
	share/portcullis/examples/gw1.yaml share/portcullis/examples/example.yaml \
	share/portcullis/grafana/overview.json share/portcullis/grafana/policy.json \
	share/portcullis/grafana/flows.json share/portcullis/grafana/backends.json \
	share/portcullis/grafana/wireguard.json \
	share/portcullis/grafana/provisioning/dashboards.yaml \
	share/portcullis/grafana/provisioning/datasource.yaml \
	share/portcullis/console/index.html share/portcullis/console/js/app.js \
	share/portcullis/console/console.css; do
	[ -e "$P/$f" ] || missing="$missing $f"
done
expect 0 "every file is there ($PREFIX)" test -z "$missing"
[ -n "$missing" ] && echo "# missing:$missing"
expect 0 "the console is installed whole" diff -r "$SRC/console" "$P/share/portcullis/console"
expect 0 "the installed binaries run" "$P/sbin/portcullisd" --version

# the unit: systemd's own checker, on a copy that points into the root
UNIT=$P/lib/systemd/system/portcullisd@.service
mkdir -p "$T_DIR/unit"
sed "s|$PREFIX/|$P/|g" "$UNIT" >"$T_DIR/unit/portcullisd@.service"
expect 0 "systemd-analyze verify runs and has nothing to say" sh -c \
	"systemd-analyze verify --man=no '$T_DIR/unit/portcullisd@.service' 2>&1 | grep . && exit 1 || exit 0"
cp "$UNIT" "$T_DIR/last.out"
expect_match "^ExecStart=$PREFIX/sbin/portcullisd -c .*/portcullis/%i.yaml$" \
	"ExecStart runs the installed daemon on the instance's config"
CAPS=$(sed -n 's/^CapabilityBoundingSet=//p' "$UNIT")
expect 0 "the unit bounds the capabilities ($CAPS)" test -n "$CAPS"

# man pages
for m in man1/portcullis.1 man8/portcullisd.8; do
	expect 0 "$m: groff has no warning" sh -c \
		"groff -ww -z -man '$P/share/man/$m' 2>&1 | grep . && exit 1 || exit 0"
done
expect 0 "portcullisd(8) renders" env MANWIDTH=80 man -l "$P/share/man/man8/portcullisd.8"
expect_match "CAP_NET_ADMIN" "and says which capabilities it needs"

# bash completion: what the functions offer
complete_words() { # the words offered for the command line "$@" (last: the word being typed)
	bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		compopt() { :; }
		f=$(complete -p "$1" | sed "s/.*-F \([^ ]*\).*/\1/"); "$f"
		printf "%s\n" "${COMPREPLY[@]}"' _ \
		"$P/share/bash-completion/completions/portcullis" "$@"
}
expect 0 "completion: the verbs" complete_words portcullis ""
expect_match "^policy$" "policy is one"
expect_match "^flows$" "flows is one"
expect_match "^gateways$" "gateways is one"
expect 0 "completion: policy's sub-verbs" complete_words portcullis policy ""
expect_match "^rollback$" "rollback is one"
expect 0 "completion: after a global option" complete_words portcullis --json flows --id
expect_match "^--identity$" "flows --identity"
expect 0 "completion: roles" complete_words portcullis token create --role op
expect_match "^operator$" "--role operator"
expect 0 "completion: the daemon's options" complete_words portcullisd --tea
expect_match "^--teardown$" "portcullisd --teardown"

# the example config checks, once it names a policy that exists
sed "s|/etc/portcullis/policy.yaml|$SRC/policies/example.yaml|" \
	"$P/share/portcullis/examples/gw1.yaml" >"$T_DIR/gw1.yaml"
expect 0 "the installed example config passes --check" "$P/sbin/portcullisd" -c "$T_DIR/gw1.yaml" --check

# the installed daemon with the unit's capabilities only, in the lab,
# serving the installed console
t_setup
sed -i "s|^    trust_local_root:|    console: $P/share/portcullis/console\n&|" "$T_DIR/gateway.yaml"
set_caps=$(echo "$CAPS" | tr 'A-Z' 'a-z' | sed 's/cap_/+/g; s/ /,/g')
cat >"$T_DIR/capd" <<EOC
#!/bin/sh
exec setpriv --bounding-set -all,$set_caps --no-new-privs -- "$P/sbin/portcullisd" "\$@"
EOC
chmod +x "$T_DIR/capd"
DAEMON=$T_DIR/capd
want=$(echo "$CAPS" | tr 'A-Z ' 'a-z\n' | sort | tr '\n' ' ')
got=$(capsh --decode="$(setpriv --bounding-set -all,$set_caps -- \
	sed -n 's/CapEff:\t//p' /proc/self/status)" | sed 's/.*=//' | tr ',' '\n' | sort | tr '\n' ' ')
expect 0 "the wrapper's capabilities are the unit's ($got)" test "$got" = "$want"
daemon_start || { not_ok "daemon starts with the unit's capabilities"; t_done; exit 1; }
ok "daemon starts with the unit's capabilities ($set_caps)"
expect 0 "its effective capabilities are those" grep -q "CapEff:.*$(
	setpriv --bounding-set -all,$set_caps -- sed -n 's/CapEff:\t//p' /proc/self/status)" \
	"/proc/$DAEMON_PID/status"
expect 0 "status" cli --json status
expect_json policy.rules -ge 1 "a policy is in force"
expect 0 "the installed console is served" \
	curl -sSf --unix-socket "$T_DIR/api.sock" http://gw/ui/
expect_match '<script type="module" src="js/app.js"></script>' "it is the console's page"
expect 0 "allowed TCP connects" lab_in client $PROBE tcp 198.18.2.2 8080
expect 1 "denied port times out" lab_in client $PROBE tcp 198.18.2.2 22 --timeout 1
expect 0 "status after traffic" cli --json status
expect_json counters.deny_default.packets -ge 1 "the deny is counted"
expect 0 "the daemon logged no error" sh -c "! grep -i ' error ' '$T_DIR/daemon.log'"
t_done
