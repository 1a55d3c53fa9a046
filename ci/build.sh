#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Configure (once) and build into build/.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build
