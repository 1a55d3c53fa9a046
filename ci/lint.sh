#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# cppcheck on the project's userspace C (the BPF programs are checked by
# the verifier): warnings, portability and the performance checks, with
# the macros it cannot see in ci/cppcheck.cfg.  Exit 1 on any finding.
set -euo pipefail
command -v cppcheck >/dev/null || { echo "cppcheck not found (ci/setup.sh installs it)"; exit 77; }
SRC=$(cd "$(dirname "$0")/.." && pwd)
cd "$SRC"
incs=()
for d in include userspace/*/; do incs+=(-I "$d"); done
cppcheck --quiet --error-exitcode=1 --std=c11 --inline-suppr \
	--enable=warning,portability,performance \
	--library="$SRC/ci/cppcheck.cfg" -D__linux__ -D__x86_64__ \
	"${incs[@]}" userspace/
