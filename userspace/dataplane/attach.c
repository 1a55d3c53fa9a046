// SPDX-License-Identifier: Apache-2.0
/*
 * XDP attachment through pinned BPF links.  A link pinned as
 * <pin dir>/xdp_<ifname> outlives the daemon; a new daemon swaps its
 * program in place with one link update, so enforcement has no gap.
 */
#include <dirent.h>
#include <errno.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "dp_internal.h"

static void link_path(const char *dir, const char *ifname, char *buf,
		      size_t len)
{
	snprintf(buf, len, "%s/xdp_%s", dir, ifname);
}

/* Reuse our pinned link if it still points at this interface. */
static int adopt_link(const char *path, unsigned int ifindex, int prog_fd)
{
	struct bpf_link_info info;
	__u32 len = sizeof(info);
	int fd, err;

	fd = bpf_obj_get(path);
	if (fd < 0)
		return -ENOENT;
	memset(&info, 0, sizeof(info));
	err = bpf_obj_get_info_by_fd(fd, &info, &len);
	if (err || info.type != BPF_LINK_TYPE_XDP ||
	    info.xdp.ifindex != ifindex) {
		/* interface gone or renumbered: the link is dead */
		close(fd);
		unlink(path);
		return -ENOENT;
	}
	err = bpf_link_update(fd, prog_fd, NULL);
	err = err ? -errno : 0;
	close(fd);
	return err;
}

static int create_link(const char *path, unsigned int ifindex, int prog_fd,
		       __u32 flags)
{
	LIBBPF_OPTS(bpf_link_create_opts, o, .flags = flags);
	int fd, err = 0;

	fd = bpf_link_create(prog_fd, (int)ifindex, BPF_XDP, &o);
	if (fd < 0)
		return -errno;
	if (bpf_obj_pin(fd, path))
		err = -errno;
	close(fd); /* on a pin error this detaches again */
	return err;
}

/* XDP may forward to every interface it is attached to, and forwards
 * what arrives there addressed to its MAC. */
static int add_tx_port(struct pc_dp *dp, const char *ifname,
		       unsigned int ifindex)
{
	__u32 k = ifindex, v = ifindex;
	struct pc_if_mac mac = {0};
	struct ifreq ifr = {0};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (fd >= 0 && !ioctl(fd, SIOCGIFHWADDR, &ifr))
		memcpy(mac.mac, ifr.ifr_hwaddr.sa_data, 6);
	if (fd >= 0)
		close(fd);
	if (bpf_map_update_elem(pc_dp_map_fd(dp, "if_macs"), &k, &mac,
				BPF_ANY)) {
		pc_error("failed to record the MAC of %s: %s", ifname,
			 strerror(errno));
		return -errno;
	}

	if (bpf_map_update_elem(pc_dp_map_fd(dp, "tx_ports"), &k, &v,
				BPF_ANY)) {
		pc_error("failed to add %s to the forwarding targets: %s",
			 ifname, strerror(errno));
		return -errno;
	}
	return 0;
}

static int attach_xdp(struct pc_dp *dp, const char *ifname,
		      unsigned int ifindex, enum pc_xdp_mode want,
		      enum pc_xdp_mode *got);

int pc_dp_attach(struct pc_dp *dp, const char *ifname, enum pc_xdp_mode want,
		 enum pc_xdp_mode *got)
{
	unsigned int ifindex = if_nametoindex(ifname);
	int err;
	__u32 k = ifindex;

	if (!ifindex) {
		pc_error("failed to attach to interface '%s': %s", ifname,
			 strerror(errno));
		return -ENODEV;
	}
	/* a target before the program runs there: an adopted link swaps to
	 * the new program (and its new tx_ports) at once */
	if ((err = add_tx_port(dp, ifname, ifindex)))
		return err;
	err = attach_xdp(dp, ifname, ifindex, want, got);
	if (err)
		bpf_map_delete_elem(pc_dp_map_fd(dp, "tx_ports"), &k);
	return err;
}

static int attach_xdp(struct pc_dp *dp, const char *ifname,
		      unsigned int ifindex, enum pc_xdp_mode want,
		      enum pc_xdp_mode *got)
{
	int prog_fd = pc_dp_xdp_prog_fd(dp), err;
	char path[PATH_MAX];

	link_path(dp->dir, ifname, path, sizeof(path));
	err = adopt_link(path, ifindex, prog_fd);
	if (!err) {
		*got = want; /* the link keeps the mode it was made with */
		pc_info("adopted XDP link on %s", ifname);
		return 0;
	}
	if (err != -ENOENT)
		pc_warn("failed to update XDP link on %s: %s; re-attaching",
			ifname, strerror(-err));
	if (want == PC_XDP_NATIVE) {
		err = create_link(path, ifindex, prog_fd, XDP_FLAGS_DRV_MODE);
		if (!err) {
			*got = PC_XDP_NATIVE;
			return 0;
		}
		pc_warn("native XDP failed on %s (%s); falling back to generic",
			ifname, strerror(-err));
	}
	err = create_link(path, ifindex, prog_fd, XDP_FLAGS_SKB_MODE);
	if (err) {
		pc_error("failed to attach XDP to '%s': %s", ifname,
			 strerror(-err));
		return err;
	}
	*got = PC_XDP_GENERIC;
	return 0;
}

/* Our filter's place in the clsact ingress: fixed, so a restart replaces. */
#define PC_TC_HANDLE 0x70c
#define PC_TC_PRIORITY 1

int pc_dp_attach_tc(struct pc_dp *dp, const char *ifname)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = pc_dp_tc_prog_fd(dp),
		    .handle = PC_TC_HANDLE, .priority = PC_TC_PRIORITY,
		    .flags = BPF_TC_F_REPLACE);
	int err;

	hook.ifindex = (int)if_nametoindex(ifname);
	if (!hook.ifindex) {
		pc_error("failed to attach TC to interface '%s': %s", ifname,
			 strerror(errno));
		return -ENODEV;
	}
	/* replace ours in place if clsact is there (creating it again would
	 * fail, and libbpf would log the kernel's complaint) */
	pc_dp_libbpf_quiet = 1;
	err = bpf_tc_attach(&hook, &opts);
	pc_dp_libbpf_quiet = 0;
	if (!err)
		return 0;
	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST) {
		pc_error("failed to create clsact on '%s': %s", ifname,
			 strerror(-err));
		return err;
	}
	opts.prog_id = 0; /* bpf_tc_attach fills it in, even on failure */
	err = bpf_tc_attach(&hook, &opts);
	if (err)
		pc_error("failed to attach TC program to '%s': %s", ifname,
			 strerror(-err));
	return err;
}

static int kept(const char *name, char *const *keep, size_t nkeep)
{
	for (size_t i = 0; i < nkeep; i++)
		if (!strcmp(name, keep[i]))
			return 1;
	return 0;
}

static void detach_pin(const char *path)
{
	int fd = bpf_obj_get(path);

	if (fd >= 0) {
		bpf_link_detach(fd);
		close(fd);
	}
	unlink(path);
}

/* Forward only to interfaces still attached (and still there). */
static void prune_tx_ports(struct pc_dp *dp, char *const *keep, size_t nkeep)
{
	int fd = pc_dp_map_fd(dp, "tx_ports");
	__u32 key, next, *prev = NULL;
	char name[IF_NAMESIZE];

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		if (if_indextoname(key, name) && kept(name, keep, nkeep))
			continue;
		bpf_map_delete_elem(pc_dp_map_fd(dp, "if_macs"), &key);
		/* deleting the current key restarts the walk at the top */
		if (!bpf_map_delete_elem(fd, &key))
			prev = NULL;
	}
}

int pc_dp_prune(struct pc_dp *dp, char *const *keep, size_t nkeep)
{
	DIR *d = opendir(dp->dir);
	struct dirent *de;
	char path[PATH_MAX];

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "xdp_", 4) ||
		    kept(de->d_name + 4, keep, nkeep))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dp->dir, de->d_name);
		pc_info("detaching XDP from %s: no longer configured",
			de->d_name + 4);
		detach_pin(path);
	}
	closedir(d);
	prune_tx_ports(dp, keep, nkeep);
	return 0;
}

int pc_dp_teardown(const struct pc_dp_opts *o)
{
	char dir[PATH_MAX / 2], path[PATH_MAX];
	struct dirent *de;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/%s",
		 o->pin_root ? o->pin_root : PC_PIN_ROOT, o->gateway);
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (!strncmp(de->d_name, "xdp_", 4))
			detach_pin(path);
		else
			unlink(path);
	}
	closedir(d);
	if (rmdir(dir))
		return -errno;
	return 0;
}
