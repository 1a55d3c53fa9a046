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

#include "daemon.h"

#define RECONCILE_S 5

struct pc_wgm {
	struct event_base *base;
	const struct pc_gw_config *cfg;
	struct event *timer;
	struct pc_dp *dp;
	unsigned long drift_fixes; /* peers put back, strangers removed */
	/* per interface, the last failure logged, so it is logged once */
	char (*last_error)[320];
	int *tc; /* per interface: our TC program attached */
};

static const char *userspace_bin(const struct pc_gw_config *cfg)
{
	return cfg->wg_userspace ? cfg->wg_userspace : "wireguard-go";
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

/* Log a failure once until it changes or clears. */
static void iface_failed(struct pc_wgm *m, size_t i, const char *msg)
{
	if (strcmp(m->last_error[i], msg))
		pc_error("wireguard: %s: %s", m->cfg->wg[i].name, msg);
	snprintf(m->last_error[i], sizeof(m->last_error[i]), "%s", msg);
}

static int reconcile_one(struct pc_wgm *m, size_t i)
{
	const struct pc_wg_iface_config *w = &m->cfg->wg[i];
	struct pc_wg_device have = {0}, set = {0};
	uint8_t priv[PC_WG_KEY_LEN];
	char sock[128], msg[320], log[64];
	int fresh = 0, rc;

	if (read_private_key(w, priv, msg, sizeof(msg))) {
		iface_failed(m, i, msg);
		return -EINVAL;
	}
	pc_wg_uapi_path(w->name, sock, sizeof(sock));
	if (pc_wg_uapi_get(sock, &have)) {
		snprintf(log, sizeof(log), "/run/portcullis/%.16s.log",
			 w->name);
		pc_mkdir_p("/run/portcullis", 0755);
		rc = pc_wg_userspace_start(userspace_bin(m->cfg), w->name, log);
		if (rc || pc_wg_uapi_get(sock, &have)) {
			snprintf(msg, sizeof(msg),
				 "failed to start %s: %s (its output is in "
				 "%s)",
				 userspace_bin(m->cfg),
				 strerror(rc ? -rc : EIO), log);
			iface_failed(m, i, msg);
			memset(priv, 0, sizeof(priv));
			return rc ? rc : -EIO;
		}
		pc_info("wireguard: %s: started %s", w->name,
			userspace_bin(m->cfg));
		fresh = 1;
	}
	m->drift_fixes += diff_device(w, priv, &have, fresh, &set);
	rc = 0;
	if (set.flags || set.npeers) {
		rc = pc_wg_uapi_set(sock, &set);
		if (rc) {
			snprintf(msg, sizeof(msg), "failed to configure: %s",
				 strerror(-rc));
			iface_failed(m, i, msg);
		} else if (fresh) {
			pc_info("wireguard: %s: configured, %zu peers, port "
				"%u",
				w->name, w->npeers, w->listen_port);
		}
	}
	for (size_t a = 0; !rc && a < w->naddrs; a++)
		rc = pc_link_add_addr(w->name, &w->addrs[a]);
	if (!rc)
		rc = pc_link_up(w->name);
	/* the TC program decides by peer on this interface from now on,
	 * before it is attached (a new start has a new ifindex) */
	if (!rc && m->dp && i < PC_MAX_WG_IFACES)
		rc = pc_dp_set_wg_iface(m->dp, if_nametoindex(w->name),
					(uint8_t)(i + 1));
	if (!rc && (fresh || !m->tc[i]) && m->dp) {
		rc = pc_dp_attach_tc(m->dp, w->name);
		m->tc[i] = !rc;
		if (!rc)
			pc_info("wireguard: %s: enforcing (TC)", w->name);
	}
	if (!rc)
		m->last_error[i][0] = '\0';
	else if (!m->last_error[i][0])
		iface_failed(m, i, strerror(-rc));
	pc_wg_device_free(&have);
	pc_wg_device_free(&set);
	memset(priv, 0, sizeof(priv));
	return rc;
}

/* The configured peers and their allowed IPs, as the data plane takes
 * them (wg_id: the interface's place in the config, from 1). */
void pc_wgm_set_peers(const struct pc_gw_config *cfg, struct pc_dp *dp)
{
	struct pc_dp_wg_peer *v = NULL;
	size_t n = 0, cap = 0;

	for (size_t i = 0; i < cfg->nwg && i < PC_MAX_WG_IFACES; i++)
		for (size_t j = 0; j < cfg->wg[i].npeers; j++) {
			const struct pc_wg_peer_config *pc =
				&cfg->wg[i].peers[j];
			struct pc_dp_wg_peer *w;

			pc_xgrow(&v, &cap, n, sizeof(*v));
			w = &v[n++];
			w->wg_id = (uint8_t)(i + 1);
			memcpy(w->key, pc->public_key, PC_WG_KEY_LEN);
			w->nips = pc->nips;
			w->ips = pc_xcalloc(pc->nips + 1, sizeof(*w->ips));
			for (size_t k = 0; k < pc->nips; k++)
				pc_wg_ip_prefix(&pc->ips[k], &w->ips[k]);
		}
	pc_dp_set_wg_peers(dp, v, n);
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
	free(m->tc);
	m->last_error = pc_xcalloc(m->cfg->nwg + 1, sizeof(*m->last_error));
	m->tc = pc_xcalloc(m->cfg->nwg + 1, sizeof(*m->tc));
}

int pc_wgm_start(struct event_base *base, const struct pc_gw_config *cfg,
		 struct pc_dp *dp, struct pc_wgm **out)
{
	struct pc_wgm *m = pc_xcalloc(1, sizeof(*m));
	struct timeval tv = {RECONCILE_S, 0};

	m->base = base;
	m->cfg = cfg;
	m->dp = dp;
	size_errors(m);
	*out = m;
	shield_ports(m); /* none configured: clear what a last run left */
	if (!cfg->nwg)
		return 0;
	m->timer = event_new(base, -1, EV_PERSIST, on_timer, m);
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

	m->cfg = cfg;
	size_errors(m);
	if (cfg->nwg && !m->timer) {
		m->timer = event_new(m->base, -1, EV_PERSIST, on_timer, m);
		if (m->timer)
			event_add(m->timer, &tv);
	}
	pc_wgm_reconcile(m);
}

/* {"interfaces": [{name, public_key, listen_port, peers: [...]}]} read
 * from the devices now. */
json_t *pc_wgm_status(const struct pc_wgm *m)
{
	json_t *arr = json_array();

	for (size_t i = 0; m && i < m->cfg->nwg; i++) {
		const struct pc_wg_iface_config *w = &m->cfg->wg[i];
		struct pc_wg_device d = {0};
		char sock[128], key[PC_WG_KEY_B64];
		json_t *j, *peers = json_array();

		pc_wg_uapi_path(w->name, sock, sizeof(sock));
		j = json_pack("{s:s}", "name", w->name);
		if (m->last_error[i][0])
			json_object_set_new(j, "error",
					    json_string(m->last_error[i]));
		if (pc_wg_uapi_get(sock, &d)) {
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
		for (size_t k = 0; k < d.npeers; k++) {
			const struct pc_wg_peer *p = &d.peers[k];
			const char *name = "";
			char ip[64], ep[64] = "";
			json_t *ips = json_array();

			for (size_t c = 0; c < w->npeers; c++)
				if (!memcmp(w->peers[c].public_key,
					    p->public_key, PC_WG_KEY_LEN))
					name = w->peers[c].name;
			for (size_t a = 0; a < p->nips; a++) {
				pc_wg_format_ip(&p->ips[a], ip, sizeof(ip));
				json_array_append_new(ips, json_string(ip));
			}
			if (p->flags & PC_WG_PEER_HAS_ENDPOINT)
				pc_wg_format_endpoint(p, ep, sizeof(ep));
			pc_wg_key_to_base64(p->public_key, key);
			json_array_append_new(
				peers,
				json_pack("{s:s, s:s, s:o, s:s, s:I, s:I, s:I}",
					  "name", name, "public_key", key,
					  "allowed_ips", ips, "endpoint", ep,
					  "latest_handshake",
					  (json_int_t)p->last_handshake_sec,
					  "rx_bytes", (json_int_t)p->rx_bytes,
					  "tx_bytes", (json_int_t)p->tx_bytes));
		}
		json_object_set_new(j, "peers", peers);
		json_array_append_new(arr, j);
		pc_wg_device_free(&d);
	}
	return json_pack("{s:o, s:I}", "interfaces", arr, "drift_fixes",
			 (json_int_t)(m ? m->drift_fixes : 0));
}

void pc_wgm_stop(struct pc_wgm *m)
{
	if (!m)
		return;
	if (m->timer)
		event_free(m->timer);
	free(m->last_error);
	free(m->tc);
	free(m);
}
