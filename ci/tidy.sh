#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# clang-tidy on the project's own C (.clang-tidy, tests/.clang-tidy): the
# userspace, the tests and the bench tools, with a clang build's compile
# database.  The full clang build runs first, so its -Werror is checked
# too.  Usage: ci/tidy.sh [SRC [BUILD]]; SRC defaults to this script's
# parent, BUILD to SRC/build-clang.  Exit 1 on any finding.
set -euo pipefail
command -v run-clang-tidy >/dev/null || { echo "run-clang-tidy not found (ci/setup.sh installs clang-tidy)"; exit 77; }
SRC=$(cd "${1:-$(dirname "$0")/..}" && pwd)
BUILD=${2:-$SRC/build-clang}
cd "$SRC"
[ -f "$BUILD/build.ninja" ] || CC=clang meson setup "$BUILD" >/dev/null
ninja -C "$BUILD" >"$BUILD/ninja.log" 2>&1 || { cat "$BUILD/ninja.log"; echo "clang build failed"; exit 1; }
rc=0
run-clang-tidy -p "$BUILD" -j"$(nproc)" -quiet \
	-header-filter='/(include/portcullis|userspace/[a-z]+|tests(/[a-z]+)?|tools/bench)/[a-z0-9_]+\.h$' \
	"$SRC/(userspace|tests|tools/bench)/.*\.c\$" 2>/dev/null | sed 's/\x1b\[[0-9;]*m//g' >"$BUILD/tidy.log" || rc=$?
grep -E ': (warning|error): ' "$BUILD/tidy.log" | grep -v '\.skel\.h:' | sort -u >"$BUILD/tidy.txt" || true
[ ! -s "$BUILD/tidy.txt" ] || { cat "$BUILD/tidy.txt"; echo "clang-tidy: $(wc -l <"$BUILD/tidy.txt") findings"; exit 1; }
# no finding must mean files were checked, not that clang-tidy never ran
n=$(grep -c '^clang-tidy' "$BUILD/tidy.log" || true)
[ "$rc" -eq 0 ] && [ "$n" -gt 0 ] || { echo "clang-tidy failed to run (status $rc, $n files)"; exit 1; }
echo "clang-tidy: $n files checked"
echo "clang-tidy: clean"
