#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Test the web console end to end: a live daemon in the lab serves it on
# TCP loopback inside the gateway's namespace, and Debian's headless
# Chromium, driven by playwright-core (tests/e2e/console.mjs), logs in
# with a token, watches the overview and sees a blocked connection's deny
# arrive live.  Screenshots of each page, in light and dark, are kept in
# $BUILD/console-screenshots.
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${BUILD:-$SRC/build}
LAB=pw$$
export LAB_TRUST_ROOT=false
. "$SRC/tests/netns/lib.sh"
trap t_cleanup EXIT

E2E=$SRC/tests/e2e
if [ ! -x /usr/bin/chromium ] || [ ! -d "$E2E/node_modules/playwright-core" ]; then
	not_ok "chromium and playwright-core are installed (ci/setup.sh installs them)"
	t_done
	exit 1
fi
PORT=9447
t_setup
sed -i "s|    listen: unix:$T_DIR/api.sock|    listen: [unix:$T_DIR/api.sock, 127.0.0.1:$PORT]\n    console: $SRC/console|" \
	"$T_DIR/gateway.yaml"
admin_and_start
cli --token "$ADMIN" token create --name alice --role viewer >"$T_DIR/v" &&
	cli --token "$ADMIN" token create --name bob --role operator >"$T_DIR/o" ||
	{ not_ok "tokens are made"; t_done; exit 1; }

SHOTS=$BUILD/console-screenshots
rm -rf "$SHOTS"
# the browser in the gateway's namespace, its steps numbered here; when it
# is ready for a deny, the client makes a blocked connection
coproc E2E_RUN {
	cd "$E2E" && exec nsenter --net="/var/run/netns/$(lab_ns gw)" \
		env PC_URL="http://127.0.0.1:$PORT" PC_VIEWER="$(cat "$T_DIR/v")" \
		PC_OPERATOR="$(cat "$T_DIR/o")" PC_BLOCKED_FROM=198.18.1.2 \
		PC_SHOTS="$SHOTS" HOME="$T_DIR" timeout 180 node console.mjs 2>&1
}
E2E_PID=$E2E_RUN_PID
while IFS= read -r line <&"${E2E_RUN[0]}"; do
	case $line in
	"ok - "*) ok "${line#ok - }" ;;
	"not ok - "*) not_ok "${line#not ok - }" ;;
	"ready: blocked connection")
		lab_in client $PROBE tcp 198.18.2.2 22 --timeout 1 >/dev/null 2>&1
		echo go >&"${E2E_RUN[1]}" ;;
	*) echo "# $line" ;;
	esac
done
wait "$E2E_PID"
expect_eq "the browser's run ends well" "$?" 0
for p in login-light login-dark overview-light overview-dark; do
	expect 0 "screenshot $p.png is kept" test -s "$SHOTS/$p.png"
done
t_done
