#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Test the container image: tools/container/build.sh builds it with
# podman (no registry), then it runs in the lab's gateway namespace the
# way the docs say (--privileged, /sys/fs/bpf and the config mounted)
# and enforces the example policy; stopped, it leaves the pinned data
# plane enforcing.  The image's size is reported.
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${BUILD:-$SRC/build}
LAB=pk$$
export LAB_TRUST_ROOT=true
. "$SRC/tests/netns/lib.sh"
IMAGE=localhost/portcullis:test
CT=pc-$LAB
PODMAN=(podman --runtime runc)
# limits at or below the host's (runc refuses to raise them)
LIMITS=(--ulimit nofile=20000:20000 --ulimit nproc=32768:32768)
cleanup() {
	"${PODMAN[@]}" rm -f -t 2 "$CT" >/dev/null 2>&1
	t_cleanup
}
trap cleanup EXIT

command -v podman >/dev/null && command -v debootstrap >/dev/null ||
	{ echo "1..0 # SKIP podman or debootstrap missing (ci/setup.sh installs them)"; exit 0; }

expect 0 "the image builds" "$SRC/tools/container/build.sh" "$IMAGE"
[ "$(tail -c 2000 "$T_DIR/last.out" | grep -c '^==')" -gt 0 ] || sed 's/^/#   /' "$T_DIR/last.out" | tail -30
SIZE=$(podman image inspect "$IMAGE" --format '{{.Size}}')
echo "# image size: $SIZE bytes ($((SIZE / 1024 / 1024)) MiB)"
expect 0 "it is small (under 64 MiB: binaries and their libraries)" test "$SIZE" -lt $((64 << 20))
podman create --name "$CT-x" "$IMAGE" >/dev/null &&
	podman export "$CT-x" | tar -t | sed 's|^\./||; s|/$||' | sort >"$T_DIR/files"
podman rm -f "$CT-x" >/dev/null 2>&1
expect 0 "its files: the binaries" grep -qx usr/sbin/portcullisd "$T_DIR/files"
expect 0 "no shell, no package manager, no coreutils" sh -c \
	"! grep -E '^(bin|usr/bin)/(sh|bash|dash|apt|dpkg|ls|cat)$' '$T_DIR/files'"
echo "# $(grep -c . "$T_DIR/files") files; executables: $(grep -E 'bin/' "$T_DIR/files" | tr '\n' ' ')"
expect 0 "the CLI in it runs" "${PODMAN[@]}" run --rm "${LIMITS[@]}" \
	--entrypoint /usr/bin/portcullis "$IMAGE" --version
expect 0 "and policy validate, offline, on a mounted file" "${PODMAN[@]}" run --rm \
	"${LIMITS[@]}" -v "$SRC/policies:/p:ro" --entrypoint /usr/bin/portcullis \
	"$IMAGE" policy validate /p/example.yaml

t_setup
cp "$SRC/policies/example.yaml" "$T_DIR/policy.yaml"
sed -i "s|^  policy: .*|  policy: $T_DIR/policy.yaml|" "$T_DIR/gateway.yaml"
expect 0 "the container starts in the gateway's namespace" \
	"${PODMAN[@]}" run -d --name "$CT" --privileged \
	--network "ns:/var/run/netns/$(lab_ns gw)" \
	-v /sys/fs/bpf:/sys/fs/bpf -v "$T_DIR:$T_DIR" \
	"${LIMITS[@]}" "$IMAGE" -c "$T_DIR/gateway.yaml"
up=1
for _ in $(seq 100); do
	cli status >/dev/null 2>&1 && { up=0; break; }
	sleep 0.1
done
expect 0 "its daemon answers on the mounted socket" test "$up" = 0
[ "$up" = 0 ] || podman logs "$CT" 2>&1 | sed 's/^/#   /' | tail -20
expect 0 "status" cli --json status
expect_json policy.rules -ge 1 "the example policy is in force"
expect_json interfaces.0.mode == native "XDP attached in native mode"
expect 0 "allowed TCP connects" lab_in client $PROBE tcp 198.18.2.2 8080
expect 1 "denied port times out" lab_in client $PROBE tcp 198.18.2.2 22 --timeout 1
expect 0 "the CLI inside the container works too" \
	"${PODMAN[@]}" exec "$CT" portcullis --api "unix:$T_DIR/api.sock" status
expect_match "deny_default|deny_rule" "and shows the deny"
expect 0 "the container stops" "${PODMAN[@]}" stop -t 5 "$CT"
expect 1 "stopped, the pinned data plane still denies" \
	lab_in client $PROBE tcp 198.18.2.2 22 --timeout 1
expect 0 "and still allows" lab_in client $PROBE tcp 198.18.2.2 8080
# an upgrade (or a move out of the container) between two builds: the
# host's daemon adopts what the container's pinned
daemon_start || { not_ok "the host's daemon starts on the container's pins"; t_done; exit 1; }
ok "the host's daemon starts on the container's pins"
expect 0 "status" cli --json status
expect_json adopted == True "it adopted the pinned data plane"
expect 0 "the log says the policy was already enforcing" \
	grep -q "already enforcing" "$T_DIR/daemon.log"
expect 1 "denied stays denied" lab_in client $PROBE tcp 198.18.2.2 22 --timeout 1
t_done
