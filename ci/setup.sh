#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Install every build and test dependency (Debian, root).  Idempotent.
set -euo pipefail

PKGS=(
	# build
	clang llvm libclang-rt-14-dev gcc meson ninja-build pkg-config bpftool
	libbpf-dev libelf-dev zlib1g-dev libyaml-dev libjansson-dev
	libevent-dev libcurl4-openssl-dev libsqlite3-dev libcriterion-dev
	libmbedtls-dev libmnl-dev
	# run and test
	iproute2 iputils-ping python3 util-linux clang-format clang-tidy cppcheck curl openssl
	wireguard-tools wireguard-go
	# benchmarks (tools/bench): the baselines they compare against
	nftables xdp-tools wrk iperf3 ethtool
	# observability: promtool checks the metrics, Prometheus scrapes them
	prometheus
	# the fleet: the etcd its test runs (its own, in a namespace)
	etcd-server
	# packaging: the unit's checker, the man pages' renderers; the
	# container image (tools/container/build.sh) and its runtime
	systemd groff-base man-db libcap2-bin podman buildah runc debootstrap
	# the web console's end-to-end tests: headless Chromium, driven from
	# Node.js by playwright-core (below, from the npm registry)
	# (npm below: a nodejs that is not Debian's may bring its own)
	chromium nodejs fonts-dejavu-core
)

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! command -v npm >/dev/null; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends npm >/dev/null
fi

# playwright-core at the lockfile's version (its own browser download is
# never used: the tests launch /usr/bin/chromium)
SRC=$(cd "$(dirname "$0")/.." && pwd)
E2E=$SRC/tests/e2e
if ! cmp -s "$E2E/package-lock.json" "$E2E/node_modules/.pc-installed" 2>/dev/null; then
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix "$E2E" \
		--no-audit --no-fund --loglevel=error >/dev/null
	cp "$E2E/package-lock.json" "$E2E/node_modules/.pc-installed"
fi

# bpffs for pins (containers and minimal hosts may not have it mounted)
if ! mountpoint -q /sys/fs/bpf; then
	mount -t bpf bpf /sys/fs/bpf
fi
echo "ci/setup.sh: dependencies present"
