// SPDX-License-Identifier: Apache-2.0
/* Load the BPF objects, pin their maps, adopt what a previous run left. */
#include <errno.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "dp_internal.h"
#include "tc_gate.skel.h"
#include "xdp_gate.skel.h"

/* Set around a call whose failure is expected and handled (the kernel's
 * complaint would only mislead the log). */
int pc_dp_libbpf_quiet;

static int libbpf_log(enum libbpf_print_level level, const char *fmt,
		      va_list ap)
{
	if (level == LIBBPF_DEBUG || pc_dp_libbpf_quiet)
		return 0;
	pc_vlog(level == LIBBPF_WARN ? PC_LOG_WARN : PC_LOG_INFO, fmt, ap);
	return 0;
}

static int ensure_bpffs(const char *root)
{
	struct statfs st;
	char base[] = "/sys/fs/bpf";

	if (strncmp(root, base, strlen(base)))
		return 0; /* a caller-chosen bpffs elsewhere */
	if (!statfs(base, &st) && st.f_type == BPF_FS_MAGIC)
		return 0;
	if (mount("bpf", base, "bpf", 0, "mode=0700")) {
		pc_error("failed to mount bpffs at %s: %s", base,
			 strerror(errno));
		return -errno;
	}
	return 0;
}

static void set_pins(struct bpf_object *obj, const char *dir)
{
	struct bpf_map *m;
	char path[PATH_MAX];

	bpf_object__for_each_map (m, obj) {
		if (bpf_map__is_internal(m))
			continue; /* .rodata and friends stay private */
		/* the kernel flags a devmap read-only to programs once made,
		 * so libbpf could never reuse its pin; every attach fills
		 * the new one, and the old program keeps its own */
		if (bpf_map__type(m) == BPF_MAP_TYPE_DEVMAP_HASH)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, bpf_map__name(m));
		bpf_map__set_pin_path(m, path);
	}
}

/* A map-in-map whose update makes the kernel wait for running programs. */
static int make_sync_map(struct pc_dp *dp)
{
	LIBBPF_OPTS(bpf_map_create_opts, o);

	dp->sync_inner_fd =
		bpf_map_create(BPF_MAP_TYPE_ARRAY, "pc_sync_in", 4, 4, 1, NULL);
	if (dp->sync_inner_fd < 0)
		return -errno;
	o.inner_map_fd = dp->sync_inner_fd;
	dp->sync_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "pc_sync", 4,
				     4, 1, &o);
	if (dp->sync_fd < 0)
		return -errno;
	return 0;
}

static int map_config(struct pc_dp *dp)
{
	int fd = bpf_map__fd(dp->xdp->maps.config);
	void *p = mmap(NULL, (size_t)sysconf(_SC_PAGESIZE),
		       PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	if (p == MAP_FAILED)
		return -errno;
	dp->cfg = p;
	return 0;
}

static int load_objects(struct pc_dp *dp, const struct pc_dp_opts *o)
{
	int err;

	dp->xdp = xdp_gate_bpf__open();
	dp->tc = tc_gate_bpf__open();
	if (!dp->xdp || !dp->tc)
		return -errno ? -errno : -EINVAL;
	dp->tc->rodata->tc_ethernet = o->tc_ethernet ? 1 : 0;
	set_pins(dp->xdp->obj, dp->dir);
	set_pins(dp->tc->obj, dp->dir);
	err = xdp_gate_bpf__load(dp->xdp);
	if (err) {
		pc_error("failed to load XDP program into '%s': %s (pins from "
			 "another version? try --teardown)",
			 dp->dir, strerror(-err));
		return err;
	}
	err = tc_gate_bpf__load(dp->tc);
	if (err) {
		pc_error("failed to load TC program into '%s': %s", dp->dir,
			 strerror(-err));
		return err;
	}
	return 0;
}

int pc_dp_open(const struct pc_dp_opts *o, struct pc_dp **out)
{
	struct pc_dp *dp = pc_xcalloc(1, sizeof(*dp));
	char probe[PATH_MAX];
	int err;

	*out = NULL;
	dp->sync_fd = dp->sync_inner_fd = -1;
	libbpf_set_print(libbpf_log);
	snprintf(dp->dir, sizeof(dp->dir), "%s/%s",
		 o->pin_root ? o->pin_root : PC_PIN_ROOT, o->gateway);
	if ((err = ensure_bpffs(dp->dir)) ||
	    (err = pc_mkdir_p(dp->dir, 0700))) {
		pc_error("failed to create pin directory '%s': %s", dp->dir,
			 strerror(-err));
		goto fail;
	}
	snprintf(probe, sizeof(probe), "%s/config", dp->dir);
	dp->adopted = access(probe, F_OK) == 0;
	/* new maps: both slots' tries are empty (adopted: unknown, walked) */
	dp->trie_known[0] = dp->trie_known[1] = !dp->adopted;
	if ((err = load_objects(dp, o)) || (err = map_config(dp)) ||
	    (err = make_sync_map(dp)))
		goto fail;
	dp->ncpus = libbpf_num_possible_cpus();
	*out = dp;
	return 0;
fail:
	pc_dp_close(dp);
	return err;
}

void pc_dp_close(struct pc_dp *dp)
{
	if (!dp)
		return;
	if (dp->rb)
		ring_buffer__free(dp->rb);
	if (dp->cfg)
		munmap(dp->cfg, (size_t)sysconf(_SC_PAGESIZE));
	if (dp->sync_fd >= 0)
		close(dp->sync_fd);
	if (dp->sync_inner_fd >= 0)
		close(dp->sync_inner_fd);
	xdp_gate_bpf__destroy(dp->xdp);
	tc_gate_bpf__destroy(dp->tc);
	for (size_t i = 0; i < dp->nwg; i++)
		free(dp->wg[i].ips);
	free(dp->wg);
	free(dp);
}

int pc_dp_adopted(const struct pc_dp *dp)
{
	return dp->adopted;
}

const char *pc_dp_pin_dir(const struct pc_dp *dp)
{
	return dp->dir;
}

uint64_t pc_dp_generation(const struct pc_dp *dp)
{
	return __atomic_load_n(&dp->cfg->generation, __ATOMIC_ACQUIRE);
}

int pc_dp_set_flags(struct pc_dp *dp, uint32_t flags)
{
	uint32_t old = __atomic_load_n(&dp->cfg->flags, __ATOMIC_ACQUIRE);

	/* only the config's knobs: the policy bits belong to apply, the
	 * WireGuard shield's to pc_dp_set_wg_ports */
	while (!__atomic_compare_exchange_n(
		&dp->cfg->flags, &old,
		(old & ~PC_CFG_KNOBS) | (flags & PC_CFG_KNOBS), 0,
		__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		;
	return 0;
}

void pc_dp_set_deny_events(struct pc_dp *dp, uint32_t per_sec)
{
	__atomic_store_n(&dp->cfg->deny_events, per_sec, __ATOMIC_RELEASE);
}

int pc_dp_map_fd(const struct pc_dp *dp, const char *name)
{
	struct bpf_map *m = bpf_object__find_map_by_name(dp->xdp->obj, name);

	return m ? bpf_map__fd(m) : -ENOENT;
}

struct bpf_object *pc_dp_xdp_obj(const struct pc_dp *dp)
{
	return dp->xdp->obj;
}

int pc_dp_xdp_prog_fd(const struct pc_dp *dp)
{
	return bpf_program__fd(dp->xdp->progs.xdp_gate);
}

int pc_dp_tc_prog_fd(const struct pc_dp *dp)
{
	return bpf_program__fd(dp->tc->progs.tc_gate);
}
