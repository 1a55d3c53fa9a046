#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Build, check formatting, run every suite (unit, bpf, netns) and the unit
# suite again under ASan/UBSan; end with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."

status=0
ci/build.sh || exit 1

echo "== clang-format"
if ! clang-format --dry-run --Werror $(git ls-files '*.c' '*.h' 2>/dev/null) 2>/tmp/pc-format.log; then
	head -20 /tmp/pc-format.log
	echo "clang-format: files need formatting"
	status=1
fi

echo "== meson test (unit, bpf, netns)"
meson test -C build --print-errorlogs || status=1

echo "== sanitizers (unit suite under ASan/UBSan)"
if [ ! -f build-asan/build.ninja ]; then
	meson setup build-asan -Db_sanitize=address,undefined \
		-Db_lundef=false >/dev/null || status=1
fi
ninja -C build-asan tests/test_policy tests/test_api tests/test_language tests/test_store tests/test_etcd tests/test_placement tests/test_config tests/test_server tests/test_wg tests/test_wg_netlink tests/test_lb tests/test_prom \
	tests/fuzz/replay_policy tests/fuzz/replay_config tests/fuzz/replay_uapi \
	tests/fuzz/replay_api tests/fuzz/replay_http >/dev/null || status=1
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	meson test -C build-asan --suite unit --no-rebuild --print-errorlogs || status=1

echo "== fuzzing (libFuzzer + ASan/UBSan, ${FUZZ_SECONDS:=45} s per target)"
if [ ! -f build-fuzz/build.ninja ]; then
	CC=clang meson setup build-fuzz -Dfuzz=true -Dtests=disabled \
		-Dfuzz_seconds="$FUZZ_SECONDS" -Db_sanitize=address,undefined \
		-Db_lundef=false >/dev/null || status=1
fi
ninja -C build-fuzz tests/fuzz/fuzz_policy tests/fuzz/fuzz_config \
	tests/fuzz/fuzz_uapi tests/fuzz/fuzz_api tests/fuzz/fuzz_http \
	>/dev/null || status=1
meson test -C build-fuzz --suite fuzz --no-rebuild --print-errorlogs || status=1
# what a target found, in the log: copy it into tests/fuzz/corpus/TARGET/
for f in build-fuzz/tests/fuzz/crash-* build-fuzz/tests/fuzz/timeout-* \
	build-fuzz/tests/fuzz/oom-* build-fuzz/tests/fuzz/leak-*; do
	[ -f "$f" ] || continue
	echo "== $f (base64)"
	base64 -w 76 "$f" | head -200
done

python3 ci/summary.py build/meson-logs/testlog.json \
	build-asan/meson-logs/testlog.json build-fuzz/meson-logs/testlog.json || status=1
exit $status
