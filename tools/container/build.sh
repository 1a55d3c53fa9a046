#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Build the Portcullis container image with podman, without a registry:
# the build stage's base (localhost/portcullis-build:bookworm) is a
# Debian root made here by debootstrap from the Debian mirror, imported
# once; then the Containerfile builds the binaries in it and copies them,
# with what they load, into an image FROM scratch.
#   tools/container/build.sh [TAG]        (default: localhost/portcullis:latest)
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
TAG=${1:-localhost/portcullis:latest}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
# what the build stage needs: the build dependencies of ci/setup.sh, and
# what the runtime image takes from it (wireguard-go, the CA bundle)
DEPS=clang,llvm,gcc,libc6-dev,meson,ninja-build,pkg-config,bpftool,binutils
DEPS=$DEPS,libbpf-dev,libelf-dev,zlib1g-dev,libyaml-dev,libjansson-dev
DEPS=$DEPS,libevent-dev,libcurl4-openssl-dev,libsqlite3-dev,libmbedtls-dev
DEPS=$DEPS,libmnl-dev,wireguard-go,ca-certificates
# the base is named by what is in it: a changed list makes a new one
BASE=localhost/portcullis-build:bookworm-$(echo "$DEPS" | sha256sum | cut -c1-12)

if ! podman image exists "$BASE"; then
	root=$(mktemp -d /var/tmp/pc-base.XXXXXX)
	trap 'rm -rf "$root"' EXIT
	echo "== debootstrap bookworm (minbase) into $root"
	debootstrap --variant=minbase --include="$DEPS" bookworm "$root" "$MIRROR" \
		>"$root.log" 2>&1 || { tail -20 "$root.log"; exit 1; }
	rm -f "$root.log"
	echo "== import it as $BASE"
	tar -C "$root" -c . | podman import - "$BASE" >/dev/null
fi
# an interrupted build leaves buildah's working containers behind, and
# they hold its images (the prune below would then fail): remove those
# of ours, and only buildah's (listed with --external, not without), so
# a container someone runs from the build image is left alone
ours_running=$(podman ps -a -q --no-trunc 2>/dev/null || true)
podman ps -a --external --no-trunc --format '{{.ID}} {{.ImageID}}' 2>/dev/null |
	while read -r id img; do
		case $ours_running in *"$id"*) continue ;; esac
		stage=$(podman image inspect --format \
			'{{index .Labels "org.portcullis.stage"}}' "$img" 2>/dev/null || true)
		names=$(podman image inspect --format '{{.RepoTags}}' "$img" 2>/dev/null || true)
		if [ "$stage" = build ] || [[ $names == *portcullis-build:* ]]; then
			echo "== removing a working container of an interrupted build (${id:0:12})"
			podman rm -f "$id" >/dev/null || true
		fi
	done
echo "== podman build $TAG"
# chroot isolation: RUN steps need no OCI runtime (crun fails on some
# hosts' cgroups)
podman build --isolation chroot --build-arg "BASE=$BASE" -t "$TAG" \
	-f "$SRC/Containerfile" "$SRC"
podman image prune -f --filter label=org.portcullis.stage=build >/dev/null
podman image inspect "$TAG" --format '== {{.Id}} {{.Size}} bytes'
