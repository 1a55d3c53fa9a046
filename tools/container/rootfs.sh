#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The runtime image's root, from a build dir: portcullisd, portcullis,
# wireguard-go (WireGuard where the host has no kernel module) and every
# library they load (ldd), the web console's files, the directories the
# daemon uses, nothing else.
#   tools/container/rootfs.sh BUILD_DIR ROOT
set -eu
build=$1 root=$2
bins="$build/userspace/portcullisd $build/userspace/portcullis $(command -v wireguard-go)"

mkdir -p "$root/usr/sbin" "$root/usr/bin" "$root/etc/portcullis" \
	"$root/var/lib/portcullis" "$root/run/portcullis" "$root/tmp" \
	"$root/sys/fs/bpf" "$root/proc" "$root/dev"
chmod 1777 "$root/tmp"
chmod 700 "$root/var/lib/portcullis"
cp "$build/userspace/portcullisd" "$root/usr/sbin/"
cp "$build/userspace/portcullis" "$root/usr/bin/"
cp "$(command -v wireguard-go)" "$root/usr/bin/"
strip --strip-unneeded "$root/usr/sbin/portcullisd" "$root/usr/bin/portcullis"
# the libraries and the loader, at the paths the binaries ask for
for b in $bins; do
	if ldd "$b" | grep -q 'not found'; then
		echo "rootfs.sh: $b: a library is missing:" >&2
		ldd "$b" | grep 'not found' >&2
		exit 1
	fi
done
for b in $bins; do
	ldd "$b" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'
done | sort -u | while read -r lib; do
	mkdir -p "$root$(dirname "$lib")"
	cp -L "$lib" "$root$lib"
done
# the web console, where the daemon was built to look for it
console=$(meson introspect "$build" --buildoptions | python3 -c '
import json, sys
o = {x["name"]: x["value"] for x in json.load(sys.stdin)}
print(o["prefix"] + "/" + o["datadir"] + "/portcullis/console")')
mkdir -p "$root$console"
cp -R "$(dirname "$0")/../../console/." "$root$console/"
# the CA bundle, for the CLI's https to a gateway (--cacert overrides)
mkdir -p "$root/etc/ssl/certs"
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
# name lookups of the C library (getaddrinfo for endpoints, user names)
printf 'root:x:0:0:root:/:/usr/sbin/portcullisd\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"
printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
