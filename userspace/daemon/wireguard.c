// SPDX-License-Identifier: Apache-2.0
/*
 * The gateway's WireGuard interfaces: made to exist, configured, and kept
 * that way.  Every few seconds (and on start and reload) each configured
 * interface is read back and what drifted is put right: a missing
 * implementation is started, a peer removed by hand comes back, a peer
 * nobody configured is removed and logged.  Only what differs is set, so
 * live sessions are never torn down by a reconcile.
 */
#include <errno.h>
#include <inttypes.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api.h"
#include "daemon.h"
#include "store.h"

#define RECONCILE_S 5

/* A peer added through the API, kept in the store. */
struct api_peer {
	char *iface;
	struct pc_wg_peer_config pc;
};

struct pc_wgm {
	struct event_base *base;
	const struct pc_gw_config *cfg;
	struct event *timer;
	struct pc_dp *dp;
	struct pc_store *store;
	enum pc_wg_backend backend;
	struct api_peer *api;
	size_t napi;
	struct api_peer *fleet; /* the fleet's clients placed here */
	size_t nfleet;
	unsigned long drift_fixes; /* peers put back, strangers removed */
	/* per interface, the last failure logged, so it is logged once */
	char (*last_error)[320];
	unsigned int *tc_ifindex; /* per interface: where our TC program is */
	/* each interface's number in the data plane, by name: kept across
	 * reloads, so that reordering the config renumbers nothing */
	struct {
		char name[PC_WG_NAME_LEN];
		uint8_t id;
	} ids[PC_MAX_WG_IFACES];
};

static const char *userspace_bin(const struct pc_gw_config *cfg)
{
	return cfg->wg_userspace ? cfg->wg_userspace : "wireguard-go";
}

/* The interface is missing: the kernel makes a link, or a userspace
 * implementation is started.  0, or -errno with why in msg. */
static int make_device(struct pc_wgm *m, const char *name, char *msg,
		       size_t len)
{
	char log[64];
	int rc;

	if (m->backend == PC_WG_KERNEL) {
		rc = pc_wg_nl_create(name);
		if (rc && rc != -EEXIST)
			snprintf(msg, len,
				 "failed to create the kernel "
				 "WireGuard link: %s",
				 strerror(-rc));
		else
			pc_info("wireguard: %s: created (kernel)", name);
		return rc == -EEXIST ? 0 : rc;
	}
	snprintf(log, sizeof(log), "/run/portcullis/%.16s.log", name);
	pc_mkdir_p("/run/portcullis", 0755);
	rc = pc_wg_userspace_start(userspace_bin(m->cfg), name, log);
	if (rc)
		snprintf(msg, len,
			 "failed to start %s: %s (its output is in %s)",
			 userspace_bin(m->cfg), strerror(-rc), log);
	else
		pc_info("wireguard: %s: started %s", name,
			userspace_bin(m->cfg));
	return rc;
}

/* The interface's private key from its file (base64, as wg genkey). */
static int read_private_key(const struct pc_wg_iface_config *w,
			    uint8_t key[PC_WG_KEY_LEN], char *why, size_t len)
{
	struct pc_buf b = {0};
	struct stat st;
	int rc = pc_read_file(w->private_key_file, 4096, &b);

	if (rc) {
		snprintf(why, len, "private_key_file '%s': %s",
			 w->private_key_file, strerror(-rc));
		return rc;
	}
	b.data[strcspn(b.data, " \t\r\n")] = '\0';
	rc = pc_wg_key_from_base64(b.data, key);
	memset(b.data, 0, b.len);
	pc_buf_free(&b);
	if (rc) {
		snprintf(why, len,
			 "private_key_file '%s' does not hold a WireGuard key",
			 w->private_key_file);
		return rc;
	}
	if (!stat(w->private_key_file, &st) && (st.st_mode & 077))
		pc_warn("wireguard: %s: private_key_file '%s' is readable by "
			"others (mode %03o); chmod 600 it",
			w->name, w->private_key_file, st.st_mode & 0777);
	return 0;
}

static const struct pc_wg_peer *find_peer(const struct pc_wg_device *d,
					  const uint8_t key[PC_WG_KEY_LEN])
{
	for (size_t i = 0; i < d->npeers; i++)
		if (!memcmp(d->peers[i].public_key, key, PC_WG_KEY_LEN))
			return &d->peers[i];
	return NULL;
}

static int same_ips(const struct pc_wg_peer_config *want,
		    const struct pc_wg_peer *have)
{
	if (want->nips != have->nips)
		return 0;
	for (size_t i = 0; i < want->nips; i++) {
		size_t j;

		for (j = 0; j < have->nips; j++)
			if (want->ips[i].family == have->ips[j].family &&
			    want->ips[i].cidr == have->ips[j].cidr &&
			    !memcmp(&want->ips[i].ip6, &have->ips[j].ip6,
				    want->ips[i].family == AF_INET ? 4 : 16))
				break;
		if (j == have->nips)
			return 0;
	}
	return 1;
}

static void peer_name(const uint8_t key[PC_WG_KEY_LEN], char *buf)
{
	pc_wg_key_to_base64(key, buf);
}

/* A peer as configured, into the set request. */
static void want_peer(struct pc_wg_device *set,
		      const struct pc_wg_peer_config *pc, int with_endpoint)
{
	struct pc_wg_peer *p = pc_wg_add_peer(set);

	memcpy(p->public_key, pc->public_key, PC_WG_KEY_LEN);
	p->flags = PC_WG_PEER_REPLACE_IPS | PC_WG_PEER_HAS_KEEPALIVE;
	p->keepalive = (uint16_t)pc->keepalive;
	if (with_endpoint && (pc->endpoint.flags & PC_WG_PEER_HAS_ENDPOINT)) {
		p->flags |= PC_WG_PEER_HAS_ENDPOINT;
		p->endpoint = pc->endpoint.endpoint;
	}
	for (size_t i = 0; i < pc->nips; i++)
		*pc_wg_add_ip(p) = pc->ips[i];
}

/* What must change on have to make it w: into set; returns how many
 * peer changes were drift (not a first configuration). */
static size_t diff_device(const struct pc_wg_iface_config *w,
			  const uint8_t priv[PC_WG_KEY_LEN],
			  const struct pc_wg_device *have, int fresh,
			  struct pc_wg_device *set)
{
	char name[PC_WG_KEY_B64];
	size_t drift = 0;

	if (!(have->flags & PC_WG_DEV_HAS_PRIVATE_KEY) ||
	    memcmp(have->private_key, priv, PC_WG_KEY_LEN)) {
		set->flags |= PC_WG_DEV_HAS_PRIVATE_KEY;
		memcpy(set->private_key, priv, PC_WG_KEY_LEN);
	}
	if (w->listen_port && have->listen_port != w->listen_port) {
		set->flags |= PC_WG_DEV_HAS_LISTEN_PORT;
		set->listen_port = (uint16_t)w->listen_port;
	}
	for (size_t i = 0; i < w->npeers; i++) {
		const struct pc_wg_peer_config *pc = &w->peers[i];
		const struct pc_wg_peer *p = find_peer(have, pc->public_key);

		if (!p) {
			want_peer(set, pc, 1);
			if (!fresh) {
				pc_warn("wireguard: %s: peer %s was missing; "
					"put back",
					w->name, pc->name);
				drift++;
			}
		} else if (!same_ips(pc, p) || p->keepalive != pc->keepalive) {
			want_peer(set, pc, 0); /* endpoints roam: keep it */
			pc_warn("wireguard: %s: peer %s had other allowed IPs "
				"or keepalive; set back",
				w->name, pc->name);
			drift++;
		}
	}
	for (size_t i = 0; i < have->npeers; i++) {
		size_t j;

		for (j = 0; j < w->npeers; j++)
			if (!memcmp(w->peers[j].public_key,
				    have->peers[i].public_key, PC_WG_KEY_LEN))
				break;
		if (j < w->npeers)
			continue;
		peer_name(have->peers[i].public_key, name);
		pc_warn("wireguard: %s: removed unknown peer %s (not in the "
			"gateway config)",
			w->name, name);
		memcpy(pc_wg_add_peer(set)->public_key,
		       have->peers[i].public_key, PC_WG_KEY_LEN);
		set->peers[set->npeers - 1].flags = PC_WG_PEER_REMOVE;
		drift++;
	}
	return drift;
}

/* Interface i as configured plus the API's peers on it: a shallow copy
 * whose peers array alone is the caller's to free. */
static void iface_view(const struct pc_wgm *m, size_t i,
		       struct pc_wg_iface_config *view)
{
	const struct pc_wg_iface_config *w = &m->cfg->wg[i];

	*view = *w;
	view->peers = pc_xcalloc(w->npeers + m->napi + m->nfleet + 1,
				 sizeof(*view->peers));
	if (w->npeers)
		memcpy(view->peers, w->peers, w->npeers * sizeof(*w->peers));
	view->npeers = w->npeers;
	for (size_t k = 0; k < m->napi; k++)
		if (!strcmp(m->api[k].iface, w->name))
			view->peers[view->npeers++] = m->api[k].pc;
	for (size_t k = 0; k < m->nfleet; k++)
		if (!strcmp(m->fleet[k].iface, w->name))
			view->peers[view->npeers++] = m->fleet[k].pc;
}

/* How many of the API's peers are on interface i (they follow the
 * config's in its view, the fleet's follow them). */
static size_t api_peers_on(const struct pc_wgm *m, size_t i)
{
	size_t n = 0;

	for (size_t k = 0; k < m->napi; k++)
		n += !strcmp(m->api[k].iface, m->cfg->wg[i].name);
	return n;
}

/* The data plane's number of interface i: the one it has, else the
 * lowest free one; 0 if all are taken (config allows no more). */
static uint8_t wg_id(struct pc_wgm *m, size_t i)
{
	const char *name = m->cfg->wg[i].name;
	uint64_t used = 0;
	size_t free_slot = PC_MAX_WG_IFACES;

	for (size_t k = 0; k < PC_MAX_WG_IFACES; k++) {
		if (m->ids[k].id && !strcmp(m->ids[k].name, name))
			return m->ids[k].id;
		if (m->ids[k].id)
			used |= 1ull << (m->ids[k].id - 1);
		else if (free_slot == PC_MAX_WG_IFACES)
			free_slot = k;
	}
	for (uint8_t id = 1; id <= PC_MAX_WG_IFACES; id++)
		if (!(used & (1ull << (id - 1))) &&
		    free_slot < PC_MAX_WG_IFACES) {
			snprintf(m->ids[free_slot].name,
				 sizeof(m->ids[free_slot].name), "%s", name);
			m->ids[free_slot].id = id;
			return id;
		}
	return 0;
}

/* Numbers of interfaces no longer configured are free again. */
static void forget_ids(struct pc_wgm *m)
{
	for (size_t k = 0; k < PC_MAX_WG_IFACES; k++) {
		size_t i;

		for (i = 0; i < m->cfg->nwg; i++)
			if (!strcmp(m->cfg->wg[i].name, m->ids[k].name))
				break;
		if (i == m->cfg->nwg)
			m->ids[k].id = 0;
	}
}

/* wg_ifaces says which ifindex is which configured interface, and holds
 * nothing else (links gone, re-created with a new ifindex, removed from
 * the config): a stale number would give one interface's peers another's
 * identities. */
static void map_ifaces(struct pc_wgm *m)
{
	unsigned int keep[PC_MAX_WG_IFACES];
	size_t n = 0;

	if (!m->dp)
		return;
	for (size_t i = 0; i < m->cfg->nwg && i < PC_MAX_WG_IFACES; i++) {
		unsigned int idx = if_nametoindex(m->cfg->wg[i].name);

		if (idx && !pc_dp_set_wg_iface(m->dp, idx, wg_id(m, i)))
			keep[n++] = idx;
	}
	pc_dp_prune_wg_ifaces(m->dp, keep, n);
}

/* Interface i decides by peer: its number in wg_ifaces, our TC program
 * on its ingress (attached again when its ifindex changed). */
static int guard(struct pc_wgm *m, size_t i, const char *name)
{
	unsigned int idx = if_nametoindex(name);
	int rc;

	if (!m->dp)
		return 0;
	if (!idx)
		return -ENODEV;
	if ((rc = pc_dp_set_wg_iface(m->dp, idx, wg_id(m, i))))
		return rc;
	if (m->tc_ifindex[i] == idx)
		return 0;
	if ((rc = pc_dp_attach_tc(m->dp, name)))
		return rc;
	m->tc_ifindex[i] = idx;
	pc_info("wireguard: %s: enforcing (TC)", name);
	return 0;
}

/* Log a failure once until it changes or clears. */
static void iface_failed(struct pc_wgm *m, size_t i, const char *msg)
{
	if (strcmp(m->last_error[i], msg))
		pc_error("wireguard: %s: %s", m->cfg->wg[i].name, msg);
	snprintf(m->last_error[i], sizeof(m->last_error[i]), "%s", msg);
}

static int reconcile_one(struct pc_wgm *m, size_t i)
{
	struct pc_wg_iface_config view, *w = &view;
	struct pc_wg_device have = {0}, set = {0};
	uint8_t priv[PC_WG_KEY_LEN];
	char msg[320] = "";
	int fresh = 0, rc;

	iface_view(m, i, &view);
	if (read_private_key(w, priv, msg, sizeof(msg))) {
		iface_failed(m, i, msg);
		free(view.peers);
		return -EINVAL;
	}
	rc = pc_wg_get(m->backend, w->name, &have);
	if (rc == -ENOENT || rc == -ECONNREFUSED || rc == -ENODEV) {
		rc = make_device(m, w->name, msg, sizeof(msg));
		if (rc || (rc = pc_wg_get(m->backend, w->name, &have))) {
			if (!msg[0] || !rc)
				snprintf(msg, sizeof(msg),
					 "the new interface does not answer: "
					 "%s",
					 strerror(-rc));
			goto fail;
		}
		fresh = 1;
	} else if (rc) {
		snprintf(msg, sizeof(msg), "failed to read the interface: %s",
			 strerror(-rc));
		goto fail;
	}
	/* enforcement before anything it would carry: the TC program and
	 * its interface number, on this ifindex (a new link has a new one) */
	if ((rc = guard(m, i, w->name))) {
		snprintf(msg, sizeof(msg),
			 "failed to enforce on it: %s; kept down",
			 strerror(-rc));
		pc_link_down(w->name);
		goto fail;
	}
	snprintf(set.name, sizeof(set.name), "%s", w->name);
	m->drift_fixes += diff_device(w, priv, &have, fresh, &set);
	if ((set.flags || set.npeers) && (rc = pc_wg_set(m->backend, &set))) {
		snprintf(msg, sizeof(msg), "failed to configure: %s",
			 strerror(-rc));
		goto fail;
	}
	if (fresh)
		pc_info("wireguard: %s: configured, %zu peers, port %u",
			w->name, w->npeers, w->listen_port);
	for (size_t a = 0; !rc && a < w->naddrs; a++)
		rc = pc_link_add_addr(w->name, &w->addrs[a]);
	if (!rc)
		rc = pc_link_up(w->name);
	if (rc) {
		snprintf(msg, sizeof(msg), "failed to bring it up: %s",
			 strerror(-rc));
		goto fail;
	}
	m->last_error[i][0] = '\0';
	goto out;
fail:
	iface_failed(m, i, msg);
out:
	pc_wg_device_free(&have);
	pc_wg_device_free(&set);
	memset(priv, 0, sizeof(priv));
	free(view.peers);
	return rc;
}

/* Every peer (configured and added) with its allowed IPs, as the data
 * plane takes them (wg_id: the interface's place in the config, from 1).
 * Takes an apply to reach the packets. */
void pc_wgm_sync_peers(struct pc_wgm *m)
{
	struct pc_dp_wg_peer *v = NULL;
	size_t n = 0, cap = 0;

	for (size_t i = 0; i < m->cfg->nwg && i < PC_MAX_WG_IFACES; i++) {
		struct pc_wg_iface_config view;

		iface_view(m, i, &view);
		for (size_t j = 0; j < view.npeers; j++) {
			const struct pc_wg_peer_config *pc = &view.peers[j];
			struct pc_dp_wg_peer *w;

			pc_xgrow(&v, &cap, n, sizeof(*v));
			w = &v[n++];
			w->wg_id = wg_id(m, i);
			memcpy(w->key, pc->public_key, PC_WG_KEY_LEN);
			w->nips = pc->nips;
			w->ips = pc_xcalloc(pc->nips + 1, sizeof(*w->ips));
			for (size_t k = 0; k < pc->nips; k++)
				pc_wg_ip_prefix(&pc->ips[k], &w->ips[k]);
		}
		free(view.peers);
	}
	pc_dp_set_wg_peers(m->dp, v, n);
	for (size_t i = 0; i < n; i++)
		free(v[i].ips);
	free(v);
}

/* XDP shields every configured listen port (an interface without one
 * listens where its implementation chose, and is not shielded). */
static void shield_ports(struct pc_wgm *m)
{
	struct pc_dp_wg_port v[PC_MAX_WG_IFACES];
	size_t n = 0;

	for (size_t i = 0; i < m->cfg->nwg && n < PC_MAX_WG_IFACES; i++)
		if (m->cfg->wg[i].listen_port)
			v[n++] = (struct pc_dp_wg_port){
				.port = (uint16_t)m->cfg->wg[i].listen_port,
				.per_sec = m->cfg->wg_hs_rate,
				.burst = m->cfg->wg_hs_rate,
			};
	if (m->dp && pc_dp_set_wg_ports(m->dp, v, n))
		pc_warn("wireguard: failed to shield the listen ports");
}

int pc_wgm_reconcile(struct pc_wgm *m)
{
	int failed = 0;

	shield_ports(m);
	map_ifaces(m);
	for (size_t i = 0; i < m->cfg->nwg; i++)
		failed |= reconcile_one(m, i) != 0;
	return failed ? -EIO : 0;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	pc_wgm_reconcile(arg);
}

static void size_errors(struct pc_wgm *m)
{
	free(m->last_error);
	free(m->tc_ifindex);
	m->last_error = pc_xcalloc(m->cfg->nwg + 1, sizeof(*m->last_error));
	m->tc_ifindex = pc_xcalloc(m->cfg->nwg + 1, sizeof(*m->tc_ifindex));
}

static void api_peer_free(struct api_peer *a)
{
	free(a->iface);
	free(a->pc.name);
	free(a->pc.ips);
	free(a->pc.identity);
}

/* A stored peer as a peer config; -EINVAL if the record is not one. */
static int api_peer_of(const struct pc_wg_peer_record *r, struct api_peer *a)
{
	char *ips = pc_strdup(r->allowed_ips), *save = NULL;
	int rc = 0;

	memset(a, 0, sizeof(*a));
	a->iface = pc_strdup(r->iface);
	a->pc.name = pc_strdup(r->name);
	a->pc.keepalive = r->keepalive;
	if (r->identity[0])
		a->pc.identity = pc_strdup(r->identity);
	if (pc_wg_key_from_base64(r->public_key, a->pc.public_key))
		rc = -EINVAL;
	if (r->endpoint[0]) {
		if (pc_wg_parse_endpoint(r->endpoint, &a->pc.endpoint))
			rc = -EINVAL;
		a->pc.endpoint.flags = PC_WG_PEER_HAS_ENDPOINT;
	}
	for (char *t = strtok_r(ips, ",", &save); t && !rc;
	     t = strtok_r(NULL, ",", &save)) {
		a->pc.ips = realloc(a->pc.ips,
				    (a->pc.nips + 1) * sizeof(*a->pc.ips));
		if (!a->pc.ips)
			abort();
		if (pc_wg_parse_ip(t, 0, &a->pc.ips[a->pc.nips++]))
			rc = -EINVAL;
	}
	free(ips);
	if (rc)
		api_peer_free(a);
	return rc;
}

static int load_api_peers(struct pc_wgm *m)
{
	struct pc_wg_peer_record *v;
	size_t n;
	int rc = pc_store_wg_peer_list(m->store, &v, &n);

	if (rc)
		return rc;
	m->api = pc_xcalloc(n + 1, sizeof(*m->api));
	for (size_t i = 0; i < n; i++) {
		if (api_peer_of(&v[i], &m->api[m->napi]))
			pc_error("wireguard: stored peer %s is malformed; "
				 "ignored",
				 v[i].name);
		else
			m->napi++;
		pc_wg_peer_record_free(&v[i]);
	}
	free(v);
	return 0;
}

/* wireguard.backend: the kernel module when asked for or (auto) when it
 * is there, else the userspace implementation. */
static void choose_backend(struct pc_wgm *m)
{
	int kernel = m->cfg->nwg && m->cfg->wg_backend != PC_WG_CFG_USERSPACE &&
		     pc_wg_nl_available();

	if (m->cfg->nwg && m->cfg->wg_backend == PC_WG_CFG_KERNEL && !kernel)
		pc_error("wireguard: backend kernel, but the kernel has no "
			 "WireGuard module (modprobe wireguard, or "
			 "backend: userspace)");
	m->backend = kernel || m->cfg->wg_backend == PC_WG_CFG_KERNEL
			     ? PC_WG_KERNEL
			     : PC_WG_USERSPACE;
	if (m->cfg->nwg)
		pc_info("wireguard: using %s", m->backend == PC_WG_KERNEL
						       ? "the kernel module"
						       : userspace_bin(m->cfg));
}

/* A stored peer the config now claims (its name, or its key on its
 * interface) is set aside, said once: the config wins. */
static void drop_conflicts(struct pc_wgm *m)
{
	for (size_t k = 0; k < m->napi;) {
		const struct api_peer *a = &m->api[k];
		struct api_peer gone;
		int clash = 0;

		for (size_t i = 0; i < m->cfg->nwg && !clash; i++)
			for (size_t j = 0; j < m->cfg->wg[i].npeers; j++) {
				const struct pc_wg_peer_config *pc =
					&m->cfg->wg[i].peers[j];

				int here =
					!strcmp(m->cfg->wg[i].name, a->iface);

				if (!strcmp(pc->name, a->pc.name) ||
				    (here &&
				     !memcmp(pc->public_key, a->pc.public_key,
					     PC_WG_KEY_LEN)))
					clash = 1;
				for (size_t x = 0; here && x < pc->nips; x++)
					for (size_t y = 0; y < a->pc.nips; y++)
						clash |= pc_wg_same_ip(
							&pc->ips[x],
							&a->pc.ips[y]);
			}
		if (!clash) {
			k++;
			continue;
		}
		pc_warn("wireguard: peer %s added through the API clashes with "
			"the gateway config (name, key or an allowed IP); the "
			"config's is used and the API's removed from the state "
			"database",
			a->pc.name);
		pc_store_wg_peer_remove(m->store, a->pc.name);
		gone = m->api[k];
		m->api[k] = m->api[--m->napi];
		api_peer_free(&gone);
	}
}

int pc_wgm_new(struct event_base *base, const struct pc_gw_config *cfg,
	       struct pc_dp *dp, struct pc_store *store, struct pc_wgm **out)
{
	struct pc_wgm *m = pc_xcalloc(1, sizeof(*m));
	int rc;

	m->base = base;
	m->cfg = cfg;
	m->dp = dp;
	m->store = store;
	size_errors(m);
	*out = m;
	choose_backend(m);
	if ((rc = load_api_peers(m)))
		return rc;
	drop_conflicts(m);
	map_ifaces(m); /* a config reordered while no daemon ran */
	pc_wgm_sync_peers(m);
	return 0;
}

int pc_wgm_run(struct pc_wgm *m)
{
	struct timeval tv = {RECONCILE_S, 0};

	shield_ports(m); /* none configured: clear what a last run left */
	if (!m->cfg->nwg)
		return 0;
	m->timer = event_new(m->base, -1, EV_PERSIST, on_timer, m);
	if (!m->timer || event_add(m->timer, &tv))
		return -ENOMEM;
	/* an interface that fails now is retried by the timer */
	if (pc_wgm_reconcile(m))
		pc_warn("wireguard: not every interface is up; retrying every "
			"%d s",
			RECONCILE_S);
	return 0;
}

void pc_wgm_reload(struct pc_wgm *m, const struct pc_gw_config *cfg)
{
	struct timeval tv = {RECONCILE_S, 0};

	/* interfaces no longer configured go, with their peers */
	for (size_t i = 0; i < m->cfg->nwg; i++) {
		size_t j;

		for (j = 0; j < cfg->nwg; j++)
			if (!strcmp(m->cfg->wg[i].name, cfg->wg[j].name))
				break;
		if (j < cfg->nwg)
			continue;
		if (!pc_link_del(m->cfg->wg[i].name))
			pc_info("wireguard: %s: removed (no longer configured)",
				m->cfg->wg[i].name);
		else if (!pc_link_down(m->cfg->wg[i].name))
			pc_warn("wireguard: %s: could not be removed; it is "
				"down",
				m->cfg->wg[i].name);
	}
	m->cfg = cfg;
	size_errors(m);
	forget_ids(m);
	drop_conflicts(m);
	/* numbers first: a reordered config renumbers before the apply */
	map_ifaces(m);
	pc_wgm_sync_peers(m);
	if (cfg->nwg && !m->timer) {
		m->timer = event_new(m->base, -1, EV_PERSIST, on_timer, m);
		if (m->timer)
			event_add(m->timer, &tv);
	}
}

/* The peers (configured and added) that name an identity; their strings
 * are borrowed until the peers change.  Returns how many, *out malloc'd. */
size_t pc_wgm_members(const struct pc_wgm *m, struct pc_peer_member **out)
{
	size_t n = 0, cap = 0;

	*out = NULL;
	for (size_t i = 0; i < m->cfg->nwg; i++) {
		struct pc_wg_iface_config view;

		iface_view(m, i, &view);
		for (size_t j = 0; j < view.npeers; j++) {
			if (!view.peers[j].identity)
				continue;
			pc_xgrow(out, &cap, n, sizeof(**out));
			(*out)[n].peer = view.peers[j].name;
			(*out)[n].identity = view.peers[j].identity;
			memcpy((*out)[n++].key, view.peers[j].public_key,
			       PC_WG_KEY_LEN);
		}
		free(view.peers);
	}
	return n;
}

/* ---- /v1/peers ----------------------------------------------------------- */

static json_t *err_json(const char *msg, const char *field)
{
	return json_pack("{s:s, s:s?}", "error", msg, "field", field);
}

static json_t *peer_config_json(const char *iface,
				const struct pc_wg_peer_config *pc,
				const char *source)
{
	char key[PC_WG_KEY_B64], ip[64], ep[64] = "";
	json_t *ips = json_array();

	pc_wg_key_to_base64(pc->public_key, key);
	for (size_t a = 0; a < pc->nips; a++) {
		pc_wg_format_ip(&pc->ips[a], ip, sizeof(ip));
		json_array_append_new(ips, json_string(ip));
	}
	if (pc->endpoint.flags & PC_WG_PEER_HAS_ENDPOINT)
		pc_wg_format_endpoint(&pc->endpoint, ep, sizeof(ep));
	return json_pack("{s:s, s:s, s:s, s:o, s:s, s:I, s:s, s:s}", "name",
			 pc->name, "interface", iface, "public_key", key,
			 "allowed_ips", ips, "endpoint", ep,
			 "persistent_keepalive", (json_int_t)pc->keepalive,
			 "identity", pc->identity ? pc->identity : "", "source",
			 source);
}

/* {"peers": [...]}: every configured and added peer, with what its
 * interface says of it now (handshake, traffic, endpoint). */
/* Interface i's peers (configured, then added), each with what the
 * device d (NULL: down) says of it now, appended to arr. */
static void iface_peers_json(const struct pc_wgm *m, size_t i,
			     const struct pc_wg_device *d, json_t *arr)
{
	struct pc_wg_iface_config view;
	size_t nconf = m->cfg->wg[i].npeers, napi = api_peers_on(m, i);

	iface_view(m, i, &view);
	for (size_t j = 0; j < view.npeers; j++) {
		const struct pc_wg_peer *p =
			d ? find_peer(d, view.peers[j].public_key) : NULL;
		json_t *o = peer_config_json(view.name, &view.peers[j],
					     j < nconf		? "config"
					     : j < nconf + napi ? "api"
								: "fleet");
		char ep[64] = "";

		json_object_set_new(o, "present", json_boolean(p));
		if (p) {
			pc_wg_format_endpoint(p, ep, sizeof(ep));
			json_object_set_new(o, "current_endpoint",
					    json_string(ep));
			json_object_set_new(
				o, "latest_handshake",
				json_integer(p->last_handshake_sec));
			json_object_set_new(
				o, "rx_bytes",
				json_integer((json_int_t)p->rx_bytes));
			json_object_set_new(
				o, "tx_bytes",
				json_integer((json_int_t)p->tx_bytes));
		}
		json_array_append_new(arr, o);
	}
	free(view.peers);
}

json_t *pc_wgm_peers(const struct pc_wgm *m)
{
	json_t *arr = json_array();

	for (size_t i = 0; m && i < m->cfg->nwg; i++) {
		struct pc_wg_device d = {0};
		int up = !pc_wg_get(m->backend, m->cfg->wg[i].name, &d);

		iface_peers_json(m, i, up ? &d : NULL, arr);
		pc_wg_device_free(&d);
	}
	return json_pack("{s:o}", "peers", arr);
}

/* The interfaces' and their peers' Prometheus series (GET /metrics),
 * read from the devices now; labelled interface and peer (its name). */
void pc_wgm_metrics(const struct pc_wgm *m, struct pc_buf *b)
{
	static const char *const fam[][3] = {
		{"portcullis_wireguard_up", "gauge",
		 "1 when the WireGuard interface exists and answers."},
		{"portcullis_wireguard_peers", "gauge",
		 "Peers the gateway keeps on the interface."},
		{"portcullis_wireguard_peer_last_handshake_seconds", "gauge",
		 "When the peer's last handshake completed, in seconds since "
		 "the epoch (0: never)."},
		{"portcullis_wireguard_peer_receive_bytes_total", "counter",
		 "Bytes received from the peer."},
		{"portcullis_wireguard_peer_transmit_bytes_total", "counter",
		 "Bytes sent to the peer."},
	};
	struct pc_wg_device *d;
	int *up;
	size_t n = m ? m->cfg->nwg : 0;

	d = pc_xcalloc(n ? n : 1, sizeof(*d));
	up = pc_xcalloc(n ? n : 1, sizeof(*up));
	for (size_t i = 0; i < n; i++)
		up[i] = !pc_wg_get(m->backend, m->cfg->wg[i].name, &d[i]);
	for (size_t f = 0; f < PC_ARRAY_SIZE(fam); f++) {
		pc_prom_family(b, fam[f][0], fam[f][1], fam[f][2]);
		for (size_t i = 0; i < n; i++) {
			struct pc_wg_iface_config view;
			const char *l[] = {"interface", m->cfg->wg[i].name,
					   NULL};

			iface_view(m, i, &view);
			if (f == 0)
				pc_prom_u64(b, fam[f][0], l, (uint64_t)up[i]);
			else if (f == 1)
				pc_prom_u64(b, fam[f][0], l, view.npeers);
			for (size_t j = 0; f >= 2 && up[i] && j < view.npeers;
			     j++) {
				const struct pc_wg_peer *p = find_peer(
					&d[i], view.peers[j].public_key);
				const char *pl[] = {"interface", view.name,
						    "peer", view.peers[j].name,
						    NULL};

				if (!p)
					continue;
				pc_prom_u64(
					b, fam[f][0], pl,
					f == 2 ? (uint64_t)(p->last_handshake_sec >
									    0
								    ? p->last_handshake_sec
								    : 0)
					: f == 3 ? p->rx_bytes
						 : p->tx_bytes);
			}
			free(view.peers);
		}
	}
	for (size_t i = 0; i < n; i++)
		pc_wg_device_free(&d[i]);
	free(d);
	free(up);
}

/* {"interfaces": [{name, public_key, listen_port, peers: [...]}]} read
 * from the devices now. */
json_t *pc_wgm_status(const struct pc_wgm *m)
{
	json_t *arr = json_array();

	for (size_t i = 0; m && i < m->cfg->nwg; i++) {
		const struct pc_wg_iface_config *w = &m->cfg->wg[i];
		struct pc_wg_device d = {0};
		char key[PC_WG_KEY_B64];
		json_t *j, *peers = json_array();

		j = json_pack("{s:s, s:s}", "name", w->name, "backend",
			      m->backend == PC_WG_KERNEL
				      ? "kernel"
				      : userspace_bin(m->cfg));
		if (m->last_error[i][0])
			json_object_set_new(j, "error",
					    json_string(m->last_error[i]));
		if (pc_wg_get(m->backend, w->name, &d)) {
			json_object_set_new(j, "up", json_false());
			json_object_set_new(j, "peers", peers);
			json_array_append_new(arr, j);
			continue;
		}
		pc_wg_key_to_base64(d.public_key, key);
		json_object_set_new(j, "up", json_true());
		json_object_set_new(j, "public_key", json_string(key));
		json_object_set_new(j, "listen_port",
				    json_integer(d.listen_port));
		iface_peers_json(m, i, &d, peers);
		json_object_set_new(j, "peers", peers);
		json_array_append_new(arr, j);
		pc_wg_device_free(&d);
	}
	return json_pack("{s:o, s:I}", "interfaces", arr, "drift_fixes",
			 (json_int_t)(m ? m->drift_fixes : 0));
}

/* Which configured or added peer has this name, or this key on iface?
 * "config", "api" or NULL. */
static const char *peer_taken(const struct pc_wgm *m, const char *name,
			      const char *iface, const uint8_t *key)
{
	for (size_t i = 0; i < m->cfg->nwg; i++)
		for (size_t j = 0; j < m->cfg->wg[i].npeers; j++) {
			const struct pc_wg_peer_config *pc =
				&m->cfg->wg[i].peers[j];

			if (!strcmp(pc->name, name) ||
			    (key && !strcmp(m->cfg->wg[i].name, iface) &&
			     !memcmp(pc->public_key, key, PC_WG_KEY_LEN)))
				return "config";
		}
	for (size_t k = 0; k < m->napi; k++)
		if (!strcmp(m->api[k].pc.name, name) ||
		    (key && !strcmp(m->api[k].iface, iface) &&
		     !memcmp(m->api[k].pc.public_key, key, PC_WG_KEY_LEN)))
			return "api";
	for (size_t k = 0; k < m->nfleet; k++)
		if (!strcmp(m->fleet[k].pc.name, name) ||
		    (key && !strcmp(m->fleet[k].iface, iface) &&
		     !memcmp(m->fleet[k].pc.public_key, key, PC_WG_KEY_LEN)))
			return "fleet";
	return NULL;
}

/* The request as a store record (its strings borrowed from req, but for
 * allowed_ips, which is the caller's to free); 0, or 400 with *out. */
static int peer_request(const struct pc_wgm *m, json_t *req,
			struct pc_wg_peer_record *r, uint8_t key[PC_WG_KEY_LEN],
			json_t **out)
{
	json_t *ips = json_object_get(req, "allowed_ips"), *ka, *v;
	struct pc_buf b = {0};
	struct pc_wg_allowedip ip;
	struct pc_wg_peer ep;
	size_t i, k;

	memset(r, 0, sizeof(*r));
	r->name = (char *)json_string_value(json_object_get(req, "name"));
	r->iface = (char *)json_string_value(json_object_get(req, "interface"));
	r->public_key =
		(char *)json_string_value(json_object_get(req, "public_key"));
	r->endpoint =
		(char *)json_string_value(json_object_get(req, "endpoint"));
	r->identity =
		(char *)json_string_value(json_object_get(req, "identity"));
	ka = json_object_get(req, "persistent_keepalive");
	if (!r->name || !pc_token_name_valid(r->name))
		return *out = err_json("name: letters, digits, '-', '_', '.', "
				       "at most 63, not only dots",
				       "name"),
		       400;
	for (k = 0; r->iface && k < m->cfg->nwg; k++)
		if (!strcmp(m->cfg->wg[k].name, r->iface))
			break;
	if (!r->iface || k == m->cfg->nwg)
		return *out = err_json("interface: one of the gateway's "
				       "WireGuard interfaces",
				       "interface"),
		       400;
	if (!r->public_key || pc_wg_key_from_base64(r->public_key, key))
		return *out = err_json("public_key: a WireGuard key (44 "
				       "characters of base64)",
				       "public_key"),
		       400;
	if (r->endpoint && *r->endpoint &&
	    pc_wg_parse_endpoint(r->endpoint, &ep))
		return *out = err_json("endpoint: IPV4:PORT or [IPV6]:PORT",
				       "endpoint"),
		       400;
	if (ka && (!json_is_integer(ka) || json_integer_value(ka) < 0 ||
		   json_integer_value(ka) > 65535))
		return *out = err_json("persistent_keepalive: seconds, 0 to "
				       "65535",
				       "persistent_keepalive"),
		       400;
	r->keepalive = ka ? (unsigned int)json_integer_value(ka) : 0;
	if (r->identity && *r->identity && !pc_token_name_valid(r->identity))
		return *out = err_json("identity: letters, digits, '-', '_', "
				       "'.'",
				       "identity"),
		       400;
	if (!json_is_array(ips) || !json_array_size(ips) ||
	    json_array_size(ips) > PC_WG_MAX_PEER_IPS)
		return *out = err_json("allowed_ips: a list of 1 to 128 "
				       "prefixes",
				       "allowed_ips"),
		       400;
	json_array_foreach (ips, i, v) {
		if (!json_is_string(v) ||
		    pc_wg_parse_ip(json_string_value(v), 0, &ip)) {
			pc_buf_free(&b);
			return *out = err_json("allowed_ips: each an address "
					       "or a prefix without host bits",
					       "allowed_ips"),
			       400;
		}
		pc_buf_printf(&b, "%s%s", i ? "," : "", json_string_value(v));
	}
	r->allowed_ips = b.data;
	return 0;
}

/* Does any other peer on iface hold one of a's allowed IPs (or a twice)? */
static int ips_taken(const struct pc_wgm *m, const struct api_peer *a, char *ip,
		     size_t len)
{
	for (size_t i = 0; i < m->cfg->nwg; i++) {
		struct pc_wg_iface_config view;
		int hit = 0;

		if (strcmp(m->cfg->wg[i].name, a->iface))
			continue;
		iface_view(m, i, &view);
		for (size_t j = 0; j < view.npeers && !hit; j++)
			for (size_t x = 0; x < view.peers[j].nips && !hit; x++)
				for (size_t y = 0; y < a->pc.nips && !hit; y++)
					if (pc_wg_same_ip(&view.peers[j].ips[x],
							  &a->pc.ips[y])) {
						pc_wg_format_ip(&a->pc.ips[y],
								ip, len);
						hit = 1;
					}
		free(view.peers);
		if (hit)
			return 1;
	}
	for (size_t x = 0; x < a->pc.nips; x++)
		for (size_t y = x + 1; y < a->pc.nips; y++)
			if (pc_wg_same_ip(&a->pc.ips[x], &a->pc.ips[y])) {
				pc_wg_format_ip(&a->pc.ips[x], ip, len);
				return 1;
			}
	return 0;
}

int pc_wgm_peer_add(struct pc_wgm *m, json_t *req, char *summary, size_t len,
		    json_t **out)
{
	struct pc_wg_peer_record r;
	uint8_t key[PC_WG_KEY_LEN];
	struct api_peer a;
	const char *taken;
	char ip[64], msg[128];
	int rc = peer_request(m, req, &r, key, out);

	if (rc)
		return rc;
	if ((taken = peer_taken(m, r.name, r.iface, key))) {
		free(r.allowed_ips);
		*out = err_json(!strcmp(taken, "config")
					? "a peer in the gateway config has "
					  "that name or key"
					: "a peer has that name, or that key "
					  "on this interface",
				"name");
		return 409;
	}
	if (api_peer_of(
		    &(struct pc_wg_peer_record){
			    .name = r.name,
			    .iface = r.iface,
			    .public_key = r.public_key,
			    .allowed_ips = r.allowed_ips,
			    .endpoint = r.endpoint ? r.endpoint : "",
			    .keepalive = r.keepalive,
			    .identity = r.identity ? r.identity : "",
		    },
		    &a)) {
		free(r.allowed_ips);
		*out = err_json("the peer does not parse", "body");
		return 400;
	}
	if (ips_taken(m, &a, ip, sizeof(ip))) {
		snprintf(msg, sizeof(msg),
			 "allowed IP %s is already another peer's on %s (or "
			 "listed twice)",
			 ip, r.iface);
		api_peer_free(&a);
		free(r.allowed_ips);
		*out = err_json(msg, "allowed_ips");
		return 409;
	}
	rc = pc_store_wg_peer_add(m->store, &r);
	if (rc) {
		const char *why = pc_store_error(m->store);

		api_peer_free(&a);
		free(r.allowed_ips);
		*out = err_json(rc == -EEXIST ? "a stored peer has that name "
						"or key"
				: why	      ? why
					      : "failed to store the peer",
				rc == -EEXIST ? "name" : "state");
		return rc == -EEXIST ? 409 : 503;
	}
	m->api = realloc(m->api, (m->napi + 1) * sizeof(*m->api));
	if (!m->api)
		abort();
	m->api[m->napi++] = a;
	snprintf(summary, len, "%s on %s (%.8s..., %s)", r.name, r.iface,
		 r.public_key, r.allowed_ips);
	*out = peer_config_json(a.iface, &a.pc, "api");
	free(r.allowed_ips);
	return 201;
}

int pc_wgm_peer_remove(struct pc_wgm *m, const char *name, char *summary,
		       size_t len, json_t **out)
{
	struct pc_wg_device set = {0};
	char key[PC_WG_KEY_B64];
	size_t k;
	int rc;

	for (k = 0; k < m->napi && strcmp(m->api[k].pc.name, name); k++)
		;
	if (k == m->napi) {
		const char *from = peer_taken(m, name, "", NULL);

		*out = err_json(!from ? "no such peer"
				: !strcmp(from, "fleet")
					? "that peer is the fleet's client: "
					  "remove it with portcullis "
					  "placements remove"
					: "that peer comes from the gateway "
					  "config: remove it there",
				"name");
		return from ? 409 : 404;
	}
	rc = pc_store_wg_peer_remove(m->store, name);
	if (rc && rc != -ENOENT) {
		const char *why = pc_store_error(m->store);

		*out = err_json(why ? why : "failed to remove the peer",
				"state");
		return 503;
	}
	/* off the interface now, so the reconcile does not call it a
	 * stranger */
	snprintf(set.name, sizeof(set.name), "%s", m->api[k].iface);
	memcpy(pc_wg_add_peer(&set)->public_key, m->api[k].pc.public_key,
	       PC_WG_KEY_LEN);
	set.peers[0].flags = PC_WG_PEER_REMOVE;
	pc_wg_set(m->backend, &set);
	pc_wg_device_free(&set);
	pc_wg_key_to_base64(m->api[k].pc.public_key, key);
	snprintf(summary, len, "%s on %s (%.8s...)", name, m->api[k].iface,
		 key);
	api_peer_free(&m->api[k]);
	m->api[k] = m->api[--m->napi];
	*out = json_pack("{s:s, s:b}", "name", name, "removed", 1);
	return 200;
}

void pc_wgm_stop(struct pc_wgm *m)
{
	if (!m)
		return;
	if (m->timer)
		event_free(m->timer);
	for (size_t i = 0; i < m->napi; i++)
		api_peer_free(&m->api[i]);
	free(m->api);
	for (size_t i = 0; i < m->nfleet; i++)
		api_peer_free(&m->fleet[i]);
	free(m->fleet);
	free(m->last_error);
	free(m->tc_ifindex);
	free(m);
}

/* ---- the fleet's peers ----------------------------------------------------
 */

/* Is a (iface, key, ips) the same peer as b? */
static int same_peer(const struct api_peer *a, const struct api_peer *b)
{
	if (strcmp(a->iface, b->iface) || strcmp(a->pc.name, b->pc.name) ||
	    memcmp(a->pc.public_key, b->pc.public_key, PC_WG_KEY_LEN) ||
	    a->pc.nips != b->pc.nips || a->pc.keepalive != b->pc.keepalive ||
	    strcmp(a->pc.identity ? a->pc.identity : "",
		   b->pc.identity ? b->pc.identity : ""))
		return 0;
	for (size_t k = 0; k < a->pc.nips; k++)
		if (!pc_wg_same_ip(&a->pc.ips[k], &b->pc.ips[k]))
			return 0;
	return 1;
}

int pc_wgm_set_fleet_peers(struct pc_wgm *m, const struct pc_wg_peer_record *v,
			   size_t n)
{
	struct api_peer *next = pc_xcalloc(n + 1, sizeof(*next));
	size_t nn = 0, changed, was = m->nfleet;

	m->nfleet = 0; /* a clash is with the config's or the API's only */
	for (size_t i = 0; i < n; i++) {
		struct pc_wg_peer_record r = v[i];
		struct api_peer a;

		if (!m->cfg->nwg) {
			pc_warn("wireguard: client %s is placed here, but this "
				"gateway has no WireGuard interface",
				r.name);
			continue;
		}
		if (!r.iface || !r.iface[0])
			r.iface = m->cfg->wg[0].name;
		if (api_peer_of(&r, &a)) {
			pc_warn("wireguard: the fleet's client %s is not a "
				"peer this gateway can take",
				r.name);
			continue;
		}
		char ip[64] = "";
		int clash = peer_taken(m, a.pc.name, a.iface,
				       a.pc.public_key) != NULL ||
			    ips_taken(m, &a, ip, sizeof(ip));

		/* and the fleet's own, accepted so far */
		for (size_t k = 0; k < nn && !clash; k++) {
			clash = !strcmp(next[k].iface, a.iface) &&
				!memcmp(next[k].pc.public_key, a.pc.public_key,
					PC_WG_KEY_LEN);
			for (size_t x = 0; x < next[k].pc.nips && !clash; x++)
				for (size_t y = 0; y < a.pc.nips && !clash; y++)
					if (!strcmp(next[k].iface, a.iface) &&
					    pc_wg_same_ip(&next[k].pc.ips[x],
							  &a.pc.ips[y])) {
						pc_wg_format_ip(&a.pc.ips[y],
								ip, sizeof(ip));
						clash = 1;
					}
		}
		if (clash) {
			pc_warn("wireguard: the fleet's client %s clashes with "
				"a peer of this gateway (name, key%s%s); not "
				"added",
				a.pc.name, ip[0] ? " or allowed IP " : "", ip);
			api_peer_free(&a);
			continue;
		}
		next[nn++] = a;
	}
	m->nfleet = was;
	changed = nn != m->nfleet;
	for (size_t i = 0; i < nn && !changed; i++)
		changed = !same_peer(&next[i], &m->fleet[i]);
	if (!changed) {
		for (size_t i = 0; i < nn; i++)
			api_peer_free(&next[i]);
		free(next);
		return 0;
	}
	/* the ones that left: off their interface now, so the reconcile
	 * does not call them strangers */
	for (size_t k = 0; k < m->nfleet; k++) {
		struct pc_wg_device set = {0};
		size_t i;

		for (i = 0; i < nn; i++)
			if (!strcmp(next[i].iface, m->fleet[k].iface) &&
			    !memcmp(next[i].pc.public_key,
				    m->fleet[k].pc.public_key, PC_WG_KEY_LEN))
				break;
		if (i < nn)
			continue;
		snprintf(set.name, sizeof(set.name), "%s", m->fleet[k].iface);
		memcpy(pc_wg_add_peer(&set)->public_key,
		       m->fleet[k].pc.public_key, PC_WG_KEY_LEN);
		set.peers[0].flags = PC_WG_PEER_REMOVE;
		pc_wg_set(m->backend, &set);
		pc_wg_device_free(&set);
		pc_info("wireguard: the fleet's client %s left this gateway",
			m->fleet[k].pc.name);
	}
	for (size_t i = 0; i < nn; i++) {
		size_t k;

		for (k = 0; k < m->nfleet; k++)
			if (!strcmp(next[i].pc.name, m->fleet[k].pc.name))
				break;
		if (k == m->nfleet)
			pc_info("wireguard: the fleet's client %s is served "
				"here now (on %s)",
				next[i].pc.name, next[i].iface);
	}
	for (size_t k = 0; k < m->nfleet; k++)
		api_peer_free(&m->fleet[k]);
	free(m->fleet);
	m->fleet = next;
	m->nfleet = nn;
	return 1;
}

int pc_wgm_public_key(const struct pc_wgm *m, char key[PC_WG_KEY_B64],
		      unsigned int *port)
{
	uint8_t priv[PC_WG_KEY_LEN], pub[PC_WG_KEY_LEN];
	char why[256];
	int rc;

	if (!m || !m->cfg->nwg)
		return -ENOENT;
	rc = read_private_key(&m->cfg->wg[0], priv, why, sizeof(why));
	if (!rc)
		rc = pc_wg_pubkey(priv, pub);
	memset(priv, 0, sizeof(priv));
	if (rc)
		return rc;
	pc_wg_key_to_base64(pub, key);
	*port = m->cfg->wg[0].listen_port;
	return 0;
}
