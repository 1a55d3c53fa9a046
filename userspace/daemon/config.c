// SPDX-License-Identifier: Apache-2.0
/* gateway.yaml -> struct pc_gw_config, with FILE:LINE:COL errors. */
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "daemon.h"
#include "etcd.h"
#include "portcullis/maps.h"
#include "front.h"

struct cctx {
	yaml_document_t doc;
	const char *file;
	char *err;
};

__attribute__((format(printf, 3, 4))) static int
fail(struct cctx *c, const yaml_node_t *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pc_loc_error(c->err, PC_ERR_LEN, c->file,
		     n ? n->start_mark.line + 1 : 1,
		     n ? n->start_mark.column + 1 : 1, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static yaml_node_t *node(struct cctx *c, int id)
{
	return yaml_document_get_node(&c->doc, id);
}

static const char *scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE
		       ? (const char *)n->data.scalar.value
		       : NULL;
}

static int want_string(struct cctx *c, yaml_node_t *v, const char *key,
		       char **out)
{
	const char *s = scalar(v);

	if (!s || !*s)
		return fail(c, v, "\"%s\" must be a non-empty string", key);
	free(*out);
	*out = pc_strdup(s);
	return 0;
}

static int want_bool(struct cctx *c, yaml_node_t *v, const char *key, int *out)
{
	const char *s = scalar(v);

	if (s && !strcmp(s, "true"))
		*out = 1;
	else if (s && !strcmp(s, "false"))
		*out = 0;
	else
		return fail(c, v, "\"%s\" must be true or false", key);
	return 0;
}

/* A whole number from min to max, else the error says which. */
static int want_range(struct cctx *c, yaml_node_t *v, const char *key,
		      unsigned int min, unsigned int max, unsigned int *out)
{
	const char *s = scalar(v);
	unsigned long n;
	char *end;

	errno = 0;
	n = s && *s >= '0' && *s <= '9' ? strtoul(s, &end, 10) : ULONG_MAX;
	if (n == ULONG_MAX || errno || *end || n < min || n > max)
		return fail(c, v, "\"%s\" must be a number from %u to %u", key,
			    min, max);
	*out = (unsigned int)n;
	return 0;
}

static int want_uint(struct cctx *c, yaml_node_t *v, const char *key,
		     unsigned int max, unsigned int *out)
{
	return want_range(c, v, key, 0, max, out);
}

static int parse_iface(struct cctx *c, yaml_node_t *n, struct pc_gw_config *g)
{
	struct pc_iface_config *ifc;
	int err = 0;

	if (n->type != YAML_MAPPING_NODE)
		return fail(c, n,
			    "an interface must be { name: IF, mode: "
			    "native|generic }");
	g->ifaces = realloc(g->ifaces, (g->nifaces + 1) * sizeof(*ifc));
	if (!g->ifaces)
		return -ENOMEM;
	ifc = &g->ifaces[g->nifaces++];
	memset(ifc, 0, sizeof(*ifc));
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
	     p < n->data.mapping.pairs.top && !err; p++) {
		yaml_node_t *k = node(c, p->key), *v = node(c, p->value);
		const char *ks = scalar(k), *vs = scalar(v);

		if (ks && !strcmp(ks, "name"))
			err = want_string(c, v, "name", &ifc->name);
		else if (ks && !strcmp(ks, "mode") && vs &&
			 (!strcmp(vs, "native") || !strcmp(vs, "generic")))
			ifc->mode = strcmp(vs, "native") ? PC_XDP_GENERIC
							 : PC_XDP_NATIVE;
		else if (ks && !strcmp(ks, "mode"))
			err = fail(c, v, "mode must be native or generic");
		else
			err = fail(c, k, "unknown key \"%s\" in interface",
				   ks ? ks : "");
	}
	if (err)
		return err;
	if (!ifc->name)
		return fail(c, n, "interface has no name");
	/* what the kernel takes as a device name (dev_valid_name) */
	if (!*ifc->name || strlen(ifc->name) >= IF_NAMESIZE ||
	    !strcmp(ifc->name, ".") || !strcmp(ifc->name, "..") ||
	    strpbrk(ifc->name, "/: \t\n\r\v\f"))
		return fail(c, n,
			    "interface name \"%s\": 1 to 15 characters, no "
			    "'/', ':' or space",
			    ifc->name);
	for (size_t i = 0; i + 1 < g->nifaces; i++)
		if (!strcmp(g->ifaces[i].name, ifc->name))
			return fail(c, n, "interface \"%s\" is listed twice",
				    ifc->name);
	return 0;
}

static int parse_listen_one(struct cctx *c, yaml_node_t *v,
			    struct pc_gw_config *g)
{
	const char *s = scalar(v);
	struct sockaddr_storage ss;
	socklen_t len;
	int loopback;

	if (!s || !*s)
		return fail(c, v, "listen addresses must be strings");
	if (g->nlisten == PC_API_MAX_LISTEN)
		return fail(c, v, "at most %d listen addresses",
			    PC_API_MAX_LISTEN);
	if (!strncmp(s, "unix:", 5)) {
		if (s[5] != '/')
			return fail(c, v,
				    "\"%s\": a unix socket needs an absolute "
				    "path (unix:/run/portcullis/GW.sock)",
				    s);
		for (size_t i = 0; i < g->nlisten; i++)
			if (!strncmp(g->listen[i], "unix:", 5))
				return fail(c, v, "only one unix socket");
	} else if (pc_front_parse_addr(s, &ss, &len, &loopback)) {
		return fail(c, v,
			    "\"%s\" is not unix:/PATH, IPV4:PORT or "
			    "[IPV6]:PORT",
			    s);
	}
	g->listen[g->nlisten++] = pc_strdup(s);
	return 0;
}

static int parse_listen(struct cctx *c, yaml_node_t *v, struct pc_gw_config *g)
{
	for (size_t i = 0; i < g->nlisten; i++)
		free(g->listen[i]);
	g->nlisten = 0;
	if (v->type != YAML_SEQUENCE_NODE)
		return parse_listen_one(c, v, g);
	if (v->data.sequence.items.start == v->data.sequence.items.top)
		return fail(c, v, "listen is an empty list");
	for (yaml_node_item_t *it = v->data.sequence.items.start;
	     it < v->data.sequence.items.top; it++)
		if (parse_listen_one(c, node(c, *it), g))
			return -EINVAL;
	return 0;
}

static int parse_client_roles(struct cctx *c, yaml_node_t *v,
			      struct pc_gw_tls *t)
{
	struct pc_cert_role *more;

	if (v->type != YAML_MAPPING_NODE)
		return fail(c, v,
			    "client_roles must map certificate names to "
			    "roles ({ grafana: viewer })");
	for (yaml_node_pair_t *p = v->data.mapping.pairs.start;
	     p < v->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node(c, p->key), *r = node(c, p->value);
		const char *cn = scalar(k);
		enum pc_role role = pc_role_parse(scalar(r) ? scalar(r) : "");

		if (!cn || !*cn || strlen(cn) >= 72)
			return fail(c, k,
				    "a certificate name (CN), up to 71 "
				    "characters");
		if (role == PC_ROLE_NONE)
			return fail(c, r,
				    "role must be viewer, operator or "
				    "admin");
		more = realloc(t->roles, (t->nroles + 1) * sizeof(*more));
		if (!more)
			return -ENOMEM;
		t->roles = more;
		t->roles[t->nroles].cn = pc_strdup(cn);
		t->roles[t->nroles++].role = role;
	}
	return 0;
}

static int parse_tls(struct cctx *c, yaml_node_t *v, struct pc_gw_config *g)
{
	struct pc_gw_tls *t = &g->tls;
	int auth_set = 0;

	if (v->type != YAML_MAPPING_NODE)
		return fail(c, v,
			    "tls must be { cert: FILE, key: FILE, "
			    "client_ca: FILE, client_auth: "
			    "none|optional|required, client_roles: {...} }");
	t->set = 1;
	for (yaml_node_pair_t *p = v->data.mapping.pairs.start;
	     p < v->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node(c, p->key), *tv = node(c, p->value);
		const char *ks = scalar(k), *vs = scalar(tv);
		int err;

		if (ks && !strcmp(ks, "cert"))
			err = want_string(c, tv, "cert", &t->cert);
		else if (ks && !strcmp(ks, "key"))
			err = want_string(c, tv, "key", &t->key);
		else if (ks && !strcmp(ks, "client_ca"))
			err = want_string(c, tv, "client_ca", &t->client_ca);
		else if (ks && !strcmp(ks, "client_roles"))
			err = parse_client_roles(c, tv, t);
		else if (ks && !strcmp(ks, "client_auth")) {
			static const char *const names[] = {"none", "optional",
							    "required"};

			err = fail(c, tv,
				   "client_auth must be none, optional or "
				   "required");
			for (int i = 0; i < 3; i++)
				if (vs && !strcmp(vs, names[i])) {
					t->client_auth = (enum pc_client_auth)i;
					auth_set = 1;
					err = 0;
				}
		} else
			err = fail(c, k,
				   "unknown key \"%s\" in tls (cert, key, "
				   "client_ca, client_auth, client_roles)",
				   ks ? ks : "");
		if (err)
			return err;
	}
	if (!t->cert || !t->key)
		return fail(c, v, "tls needs cert and key");
	if (!auth_set && t->client_ca)
		t->client_auth = PC_CLIENT_AUTH_OPTIONAL;
	if (t->client_auth != PC_CLIENT_AUTH_NONE && !t->client_ca)
		return fail(c, v, "client_auth %s needs client_ca",
			    t->client_auth == PC_CLIENT_AUTH_REQUIRED
				    ? "required"
				    : "optional");
	if (t->nroles && t->client_auth == PC_CLIENT_AUTH_NONE)
		return fail(c, v,
			    "client_roles needs client certificates "
			    "(client_ca, client_auth)");
	return 0;
}

/* TCP listeners: TLS, or loopback only. */
static int check_api(struct cctx *c, yaml_node_t *v, struct pc_gw_config *g)
{
	size_t tcp = 0;

	for (size_t i = 0; i < g->nlisten; i++) {
		struct sockaddr_storage ss;
		socklen_t len;
		int loopback;

		if (!strncmp(g->listen[i], "unix:", 5))
			continue;
		tcp++;
		pc_front_parse_addr(g->listen[i], &ss, &len, &loopback);
		if (!loopback && !g->tls.set)
			return fail(c, v,
				    "api listens on \"%s\" without TLS: "
				    "plain TCP is for loopback only; set "
				    "api.tls",
				    g->listen[i]);
	}
	if (g->tls.set && !tcp)
		return fail(c, v,
			    "api.tls is set but api.listen has no TCP "
			    "address");
	return 0;
}

/* api.console: a directory, or false for none.  The default, set later,
 * is the installed console where there is one. */
static int parse_console(struct cctx *c, yaml_node_t *v, struct pc_gw_config *g)
{
	const char *s = scalar(v);

	g->console_set = 1;
	if (s && !strcmp(s, "false")) {
		free(g->console);
		g->console = NULL;
		return 0;
	}
	if (!s || !*s || !strcmp(s, "true"))
		return fail(c, v, "\"console\" must be a directory or false");
	return want_string(c, v, "console", &g->console);
}

static int parse_api(struct cctx *c, yaml_node_t *v, struct pc_gw_config *g)
{
	if (v->type != YAML_MAPPING_NODE)
		return fail(c, v,
			    "api must be { listen: ADDR or [ADDR, ...], "
			    "trust_local_root: BOOL, max_connections: N, "
			    "max_connections_per_address: N, "
			    "request_timeout: SECONDS, tls: {...}, "
			    "console: DIR or false }");
	for (yaml_node_pair_t *p = v->data.mapping.pairs.start;
	     p < v->data.mapping.pairs.top; p++) {
		const char *aks = scalar(node(c, p->key));
		yaml_node_t *av = node(c, p->value);
		int err;

		if (aks && !strcmp(aks, "listen"))
			err = parse_listen(c, av, g);
		else if (aks && !strcmp(aks, "trust_local_root"))
			err = want_bool(c, av, aks, &g->trust_local_root);
		else if (aks && !strcmp(aks, "max_connections"))
			err = want_range(c, av, aks, 1, 65536,
					 &g->max_connections);
		else if (aks && !strcmp(aks, "max_connections_per_address"))
			err = want_range(c, av, aks, 1, 65536,
					 &g->max_per_address);
		else if (aks && !strcmp(aks, "request_timeout"))
			err = want_range(c, av, aks, 1, 3600,
					 &g->request_timeout_s);
		else if (aks && !strcmp(aks, "tls"))
			err = parse_tls(c, av, g);
		else if (aks && !strcmp(aks, "console"))
			err = parse_console(c, av, g);
		else
			err = fail(c, node(c, p->key),
				   "unknown key \"%s\" in api (listen, "
				   "trust_local_root, max_connections, "
				   "max_connections_per_address, "
				   "request_timeout, tls, console)",
				   aks ? aks : "");
		if (err)
			return err;
	}
	return check_api(c, v, g);
}

/* flow_log: { path: FILE, max_size_mb: N, keep: N } */
static int parse_flow_log(struct cctx *c, yaml_node_t *v,
			  struct pc_gw_config *g)
{
	if (v->type != YAML_MAPPING_NODE)
		return fail(c, v,
			    "flow_log must be { path: FILE, max_size_mb: N, "
			    "keep: N }");
	g->flow_log_max_mb = PC_DEFAULT_FLOW_LOG_MB;
	g->flow_log_keep = PC_DEFAULT_FLOW_LOG_KEEP;
	for (yaml_node_pair_t *p = v->data.mapping.pairs.start;
	     p < v->data.mapping.pairs.top; p++) {
		const char *ks = scalar(node(c, p->key));
		yaml_node_t *fv = node(c, p->value);
		int err;

		if (ks && !strcmp(ks, "path"))
			err = want_string(c, fv, ks, &g->flow_log);
		else if (ks && !strcmp(ks, "max_size_mb"))
			err = want_range(c, fv, ks, 1, 1048576,
					 &g->flow_log_max_mb);
		else if (ks && !strcmp(ks, "keep"))
			err = want_uint(c, fv, ks, 1000, &g->flow_log_keep);
		else
			err = fail(c, node(c, p->key),
				   "unknown key \"%s\" in flow_log (path, "
				   "max_size_mb, keep)",
				   ks ? ks : "");
		if (err)
			return err;
	}
	if (!g->flow_log)
		return fail(c, v, "flow_log needs a path");
	return 0;
}

/* store: sqlite:///PATH (the default, at state:) or etcd://HOST:PORT/PREFIX */
static int parse_store(struct cctx *c, yaml_node_t *v, struct pc_gw_config *g)
{
	const char *s = scalar(v);
	char host[128], prefix[256], why[128];
	unsigned int port;

	if (s && !strncmp(s, "sqlite://", 9)) {
		if (s[9] != '/')
			return fail(c, v,
				    "store: sqlite:// takes an absolute path "
				    "(sqlite:///var/lib/portcullis/gw1.db)");
		if (g->state && strcmp(g->state, s + 9))
			return fail(c, v,
				    "store: names %s but state: names %s; give "
				    "one of them",
				    s + 9, g->state);
		free(g->state);
		g->state = pc_strdup(s + 9);
		free(g->store_etcd);
		g->store_etcd = NULL;
		return 0;
	}
	if (s && !strncmp(s, "etcd://", 7)) {
		if (pc_etcd_parse_uri(s, host, sizeof(host), &port, prefix,
				      sizeof(prefix), why, sizeof(why)))
			return fail(c, v, "store: %s", why);
		free(g->store_etcd);
		g->store_etcd = pc_strdup(s);
		return 0;
	}
	return fail(c, v,
		    "store must be sqlite:///PATH or etcd://HOST:PORT/PREFIX");
}

/* fleet: { site, region, address, weight, lease_ttl, heartbeat_ms,
 * timeout_ms } */
static int parse_fleet(struct cctx *c, yaml_node_t *v, struct pc_gw_config *g)
{
	struct pc_fleet_config *f = &g->fleet;

	g->fleet_set = 1;
	if (v->type != YAML_MAPPING_NODE)
		return fail(c, v,
			    "fleet must be a mapping (site, region, address, "
			    "weight, lease_ttl, heartbeat_ms, timeout_ms)");
	for (yaml_node_pair_t *p = v->data.mapping.pairs.start;
	     p < v->data.mapping.pairs.top; p++) {
		const char *ks = scalar(node(c, p->key));
		yaml_node_t *fv = node(c, p->value);
		int err;

		if (!ks)
			return fail(c, node(c, p->key), "expected a key");
		if (!strcmp(ks, "site"))
			err = want_string(c, fv, ks, &f->site);
		else if (!strcmp(ks, "region"))
			err = want_string(c, fv, ks, &f->region);
		else if (!strcmp(ks, "address"))
			err = want_string(c, fv, ks, &f->address);
		else if (!strcmp(ks, "weight"))
			err = want_range(c, fv, ks, 1, 1000, &f->weight);
		else if (!strcmp(ks, "lease_ttl"))
			err = want_range(c, fv, ks, 2, 3600, &f->lease_ttl_s);
		else if (!strcmp(ks, "heartbeat_ms"))
			err = want_range(c, fv, ks, 100, 600000,
					 &f->heartbeat_ms);
		else if (!strcmp(ks, "timeout_ms"))
			err = want_range(c, fv, ks, 50, 60000, &f->timeout_ms);
		else
			err = fail(c, node(c, p->key),
				   "unknown key \"%s\" in fleet (site, "
				   "region, address, weight, lease_ttl, "
				   "heartbeat_ms, timeout_ms)",
				   ks);
		if (err)
			return err;
	}
	return 0;
}

/* ---- wireguard ----------------------------------------------------------- */

static int want_ips(struct cctx *c, yaml_node_t *v, const char *key,
		    int host_bits, struct pc_wg_allowedip **out, size_t *n)
{
	if (v->type != YAML_SEQUENCE_NODE)
		return fail(c, v, "\"%s\" must be a list of addresses", key);
	for (yaml_node_item_t *it = v->data.sequence.items.start;
	     it < v->data.sequence.items.top; it++) {
		yaml_node_t *a = node(c, *it);
		struct pc_wg_allowedip ip;

		if (!scalar(a) || pc_wg_parse_ip(scalar(a), host_bits, &ip))
			return fail(c, a, "\"%s\" is not an address%s in %s",
				    scalar(a) ? scalar(a) : "",
				    host_bits ? "/length" : " or prefix", key);
		*out = realloc(*out, (*n + 1) * sizeof(**out));
		if (!*out)
			abort();
		(*out)[(*n)++] = ip;
	}
	return 0;
}

static int parse_endpoint(struct cctx *c, yaml_node_t *v,
			  struct pc_wg_peer_config *p)
{
	const char *s = scalar(v);

	if (!s || pc_wg_parse_endpoint(s, &p->endpoint))
		return fail(c, v,
			    "endpoint must be IPV4:PORT or [IPV6]:PORT, not "
			    "\"%s\"",
			    s ? s : "");
	p->endpoint.flags = PC_WG_PEER_HAS_ENDPOINT;
	return 0;
}

static int parse_wg_peer(struct cctx *c, yaml_node_t *n,
			 struct pc_wg_iface_config *w)
{
	struct pc_wg_peer_config *p;
	int has_key = 0, err = 0;

	if (n->type != YAML_MAPPING_NODE)
		return fail(c, n,
			    "a peer must be { name: N, public_key: KEY, "
			    "allowed_ips: [...], ... }");
	w->peers = realloc(w->peers, (w->npeers + 1) * sizeof(*p));
	if (!w->peers)
		abort();
	p = &w->peers[w->npeers++];
	memset(p, 0, sizeof(*p));
	for (yaml_node_pair_t *kv = n->data.mapping.pairs.start;
	     kv < n->data.mapping.pairs.top && !err; kv++) {
		yaml_node_t *k = node(c, kv->key), *v = node(c, kv->value);
		const char *ks = scalar(k) ? scalar(k) : "";

		if (!strcmp(ks, "name"))
			err = want_string(c, v, ks, &p->name);
		else if (!strcmp(ks, "public_key")) {
			has_key = 1;
			if (!scalar(v) ||
			    pc_wg_key_from_base64(scalar(v), p->public_key))
				err = fail(c, v,
					   "public_key must be a WireGuard key "
					   "(44 characters of base64, as `wg "
					   "pubkey` prints)");
		} else if (!strcmp(ks, "allowed_ips"))
			err = want_ips(c, v, ks, 0, &p->ips, &p->nips);
		else if (!strcmp(ks, "endpoint"))
			err = parse_endpoint(c, v, p);
		else if (!strcmp(ks, "persistent_keepalive"))
			err = want_uint(c, v, ks, 65535, &p->keepalive);
		else if (!strcmp(ks, "identity")) {
			err = want_string(c, v, ks, &p->identity);
			if (!err && !pc_token_name_valid(p->identity))
				err = fail(c, v,
					   "identity: letters, digits, "
					   "'-', '_', '.'");
		} else
			err = fail(c, k,
				   "unknown key \"%s\" in peer (name, "
				   "public_key, allowed_ips, endpoint, "
				   "persistent_keepalive, identity)",
				   ks);
	}
	if (err)
		return err;
	if (!p->name || !has_key)
		return fail(c, n, "a peer needs a name and a public_key");
	if (p->nips > PC_WG_MAX_PEER_IPS)
		err = fail(c, n, "peer %s has more than %d allowed IPs",
			   p->name, PC_WG_MAX_PEER_IPS);
	/* WireGuard gives a prefix to one peer only: the last one set */
	for (size_t i = 0; !err && i < w->npeers; i++)
		for (size_t a = 0; !err && a < w->peers[i].nips; a++)
			for (size_t b = 0; !err && b < p->nips; b++) {
				char ip[64];

				if ((i + 1 == w->npeers && a >= b) ||
				    !pc_wg_same_ip(&w->peers[i].ips[a],
						   &p->ips[b]))
					continue;
				pc_wg_format_ip(&p->ips[b], ip, sizeof(ip));
				err = fail(c, n,
					   "allowed IP %s of peer %s is listed "
					   "twice on %s",
					   ip, p->name,
					   w->name ? w->name : "it");
			}
	for (size_t i = 0; !err && i + 1 < w->npeers; i++)
		if (!strcmp(w->peers[i].name, p->name) ||
		    !memcmp(w->peers[i].public_key, p->public_key,
			    PC_WG_KEY_LEN))
			err = fail(c, n,
				   "peer \"%s\" is listed twice (by "
				   "name or key) on %s",
				   p->name, w->name ? w->name : "it");
	return err;
}

static int parse_wg_iface(struct cctx *c, yaml_node_t *n,
			  struct pc_gw_config *g)
{
	struct pc_wg_iface_config *w;
	int err = 0;

	if (n->type != YAML_MAPPING_NODE)
		return fail(c, n,
			    "a WireGuard interface must be { name: wg0, "
			    "private_key_file: FILE, listen_port: N, "
			    "address: [...], peers: [...] }");
	g->wg = realloc(g->wg, (g->nwg + 1) * sizeof(*w));
	if (!g->wg)
		abort();
	w = &g->wg[g->nwg++];
	memset(w, 0, sizeof(*w));
	for (yaml_node_pair_t *kv = n->data.mapping.pairs.start;
	     kv < n->data.mapping.pairs.top && !err; kv++) {
		yaml_node_t *k = node(c, kv->key), *v = node(c, kv->value);
		const char *ks = scalar(k) ? scalar(k) : "";

		if (!strcmp(ks, "name"))
			err = want_string(c, v, ks, &w->name);
		else if (!strcmp(ks, "private_key_file"))
			err = want_string(c, v, ks, &w->private_key_file);
		else if (!strcmp(ks, "listen_port"))
			err = want_uint(c, v, ks, 65535, &w->listen_port);
		else if (!strcmp(ks, "address"))
			err = want_ips(c, v, ks, 1, &w->addrs, &w->naddrs);
		else if (!strcmp(ks, "peers")) {
			if (v->type != YAML_SEQUENCE_NODE)
				err = fail(c, v, "peers must be a list");
			for (yaml_node_item_t *it =
				     v->type == YAML_SEQUENCE_NODE
					     ? v->data.sequence.items.start
					     : NULL;
			     it && it < v->data.sequence.items.top && !err;
			     it++)
				err = parse_wg_peer(c, node(c, *it), w);
		} else
			err = fail(c, k,
				   "unknown key \"%s\" in WireGuard interface "
				   "(name, private_key_file, listen_port, "
				   "address, peers)",
				   ks);
	}
	if (err)
		return err;
	if (!w->name || !*w->name || strlen(w->name) >= PC_WG_NAME_LEN ||
	    !strcmp(w->name, ".") || !strcmp(w->name, "..") ||
	    strspn(w->name, "abcdefghijklmnopqrstuvwxyz0123456789-_.") !=
		    strlen(w->name))
		return fail(c, n,
			    "a WireGuard interface needs a name of up to 15 "
			    "letters, digits, '-', '_', '.'");
	if (!w->private_key_file)
		return fail(c, n,
			    "WireGuard interface %s needs "
			    "private_key_file",
			    w->name);
	for (size_t i = 0; i + 1 < g->nwg; i++) {
		if (!strcmp(g->wg[i].name, w->name))
			return fail(c, n,
				    "WireGuard interface %s is listed "
				    "twice",
				    w->name);
		if (w->listen_port && g->wg[i].listen_port == w->listen_port)
			return fail(c, n,
				    "WireGuard interfaces %s and %s both "
				    "listen on %u",
				    g->wg[i].name, w->name, w->listen_port);
	}
	if (g->nwg > PC_MAX_WG_IFACES)
		return fail(c, n, "at most %d WireGuard interfaces",
			    PC_MAX_WG_IFACES);
	return 0;
}

static int parse_wireguard(struct cctx *c, yaml_node_t *v,
			   struct pc_gw_config *g)
{
	if (v->type != YAML_MAPPING_NODE)
		return fail(c, v,
			    "wireguard must be { interfaces: [...], "
			    "userspace: wireguard-go }");
	for (yaml_node_pair_t *kv = v->data.mapping.pairs.start;
	     kv < v->data.mapping.pairs.top; kv++) {
		yaml_node_t *k = node(c, kv->key), *wv = node(c, kv->value);
		const char *ks = scalar(k) ? scalar(k) : "";

		if (!strcmp(ks, "userspace")) {
			if (want_string(c, wv, ks, &g->wg_userspace))
				return -EINVAL;
		} else if (!strcmp(ks, "backend")) {
			const char *vs = scalar(wv);

			if (!vs ||
			    (strcmp(vs, "auto") && strcmp(vs, "kernel") &&
			     strcmp(vs, "userspace")))
				return fail(c, wv,
					    "backend must be auto, kernel "
					    "or userspace");
			g->wg_backend = !strcmp(vs, "kernel") ? PC_WG_CFG_KERNEL
					: !strcmp(vs, "userspace")
						? PC_WG_CFG_USERSPACE
						: PC_WG_CFG_AUTO;
		} else if (!strcmp(ks, "handshakes_per_second")) {
			if (want_uint(c, wv, ks, 1000000, &g->wg_hs_rate))
				return -EINVAL;
		} else if (!strcmp(ks, "interfaces")) {
			if (wv->type != YAML_SEQUENCE_NODE)
				return fail(c, wv, "interfaces must be a list");
			for (yaml_node_item_t *it =
				     wv->data.sequence.items.start;
			     it < wv->data.sequence.items.top; it++)
				if (parse_wg_iface(c, node(c, *it), g))
					return -EINVAL;
		} else {
			return fail(c, k,
				    "unknown key \"%s\" in wireguard "
				    "(interfaces, backend, userspace, "
				    "handshakes_per_second)",
				    ks);
		}
	}
	return 0;
}

static int parse_gateway_key(struct cctx *c, const char *ks, yaml_node_t *k,
			     yaml_node_t *v, struct pc_gw_config *g)
{
	if (!strcmp(ks, "name"))
		return want_string(c, v, ks, &g->name);
	if (!strcmp(ks, "state")) {
		char *old = g->state ? pc_strdup(g->state) : NULL;
		int err = want_string(c, v, ks, &g->state);

		if (!err && old && strcmp(old, g->state))
			err = fail(c, v,
				   "state: names %s but store: names %s; give "
				   "one of them",
				   g->state, old);
		free(old);
		return err;
	}
	if (!strcmp(ks, "store"))
		return parse_store(c, v, g);
	if (!strcmp(ks, "fleet"))
		return parse_fleet(c, v, g);
	if (!strcmp(ks, "policy"))
		return want_string(c, v, ks, &g->policy);
	if (!strcmp(ks, "pin_root"))
		return want_string(c, v, ks, &g->pin_root);
	if (!strcmp(ks, "log_flows"))
		return want_bool(c, v, ks, &g->log_flows);
	if (!strcmp(ks, "deny_events"))
		return want_uint(c, v, ks, 1000000, &g->deny_events);
	if (!strcmp(ks, "deny_retention"))
		return want_uint(c, v, ks, 100000000, &g->deny_retention);
	if (!strcmp(ks, "log_format")) {
		const char *vs = scalar(v);

		if (!vs || (strcmp(vs, "text") && strcmp(vs, "json")))
			return fail(c, v, "log_format must be text or json");
		g->log_json = !strcmp(vs, "json");
		return 0;
	}
	if (!strcmp(ks, "non_ip")) {
		const char *vs = scalar(v);

		if (!vs || (strcmp(vs, "pass") && strcmp(vs, "drop")))
			return fail(c, v, "non_ip must be pass or drop");
		g->non_ip_pass = !strcmp(vs, "pass");
		return 0;
	}
	if (!strcmp(ks, "forwarding")) {
		const char *vs = scalar(v);

		if (!vs || (strcmp(vs, "xdp") && strcmp(vs, "kernel")))
			return fail(c, v, "forwarding must be xdp or kernel");
		g->forward_kernel = !strcmp(vs, "kernel");
		return 0;
	}
	if (!strcmp(ks, "api"))
		return parse_api(c, v, g);
	if (!strcmp(ks, "wireguard"))
		return parse_wireguard(c, v, g);
	if (!strcmp(ks, "flow_log"))
		return parse_flow_log(c, v, g);
	if (!strcmp(ks, "interfaces")) {
		if (v->type != YAML_SEQUENCE_NODE)
			return fail(c, v, "interfaces must be a list");
		for (yaml_node_item_t *it = v->data.sequence.items.start;
		     it < v->data.sequence.items.top; it++)
			if (parse_iface(c, node(c, *it), g))
				return -EINVAL;
		return 0;
	}
	return fail(c, k, "unknown key \"%s\" in gateway", ks);
}

static int valid_gw_name(const char *s)
{
	if (!*s || strlen(s) > 64)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
			return 0;
	return 1;
}

struct key_at {
	const char *key;
	const yaml_node_t *node;
};

static int by_key_then_place(const void *a, const void *b)
{
	const struct key_at *x = a, *y = b;
	int d = strcmp(x->key, y->key);

	return d ? d : (x->node > y->node) - (x->node < y->node);
}

/* A key twice in one mapping is a mistake YAML would let pass (the last
 * one winning): refuse it, at the second.  Every mapping of the document,
 * without recursion (nodes are one array). */
static int no_duplicate_keys(struct cctx *c)
{
	struct key_at *keys = NULL;
	size_t cap = 0;
	int rc = 0;

	for (yaml_node_t *m = c->doc.nodes.start; m < c->doc.nodes.top && !rc;
	     m++) {
		size_t n = 0;

		if (m->type != YAML_MAPPING_NODE)
			continue;
		for (yaml_node_pair_t *p = m->data.mapping.pairs.start;
		     p < m->data.mapping.pairs.top; p++) {
			yaml_node_t *k = node(c, p->key);

			if (!scalar(k))
				continue;
			pc_xgrow(&keys, &cap, n, sizeof(*keys));
			keys[n].key = scalar(k);
			keys[n++].node = k;
		}
		if (n < 2) /* (and keys may still be NULL) */
			continue;
		qsort(keys, n, sizeof(*keys), by_key_then_place);
		for (size_t i = 1; i < n && !rc; i++)
			if (!strcmp(keys[i - 1].key, keys[i].key))
				rc = fail(c, keys[i].node,
					  "duplicate key \"%s\"", keys[i].key);
	}
	free(keys);
	return rc;
}

static int parse_root(struct cctx *c, yaml_node_t *root, struct pc_gw_config *g)
{
	yaml_node_t *gw = NULL;

	if (!root || root->type != YAML_MAPPING_NODE)
		return fail(c, root, "expected a mapping with \"gateway:\"");
	if (no_duplicate_keys(c))
		return -EINVAL;
	for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
	     p < root->data.mapping.pairs.top; p++) {
		const char *ks = scalar(node(c, p->key));

		if (!ks || strcmp(ks, "gateway"))
			return fail(c, node(c, p->key), "unknown key \"%s\"",
				    ks ? ks : "");
		gw = node(c, p->value);
	}
	if (!gw || gw->type != YAML_MAPPING_NODE)
		return fail(c, gw ? gw : root, "\"gateway\" must be a mapping");
	for (yaml_node_pair_t *p = gw->data.mapping.pairs.start;
	     p < gw->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node(c, p->key);

		if (!scalar(k))
			return fail(c, k, "expected a key");
		if (parse_gateway_key(c, scalar(k), k, node(c, p->value), g))
			return -EINVAL;
	}
	if (!g->name)
		return fail(c, gw, "gateway has no name");
	{
		/* a lease must outlive a missed heartbeat, or a busy moment
		 * takes the gateway out of the fleet */
		unsigned int ttl =
			g->fleet.lease_ttl_s ? g->fleet.lease_ttl_s : 10;
		unsigned int hb =
			g->fleet.heartbeat_ms ? g->fleet.heartbeat_ms : 1000;

		unsigned int to =
			g->fleet.timeout_ms ? g->fleet.timeout_ms : 2000;

		if ((unsigned long)hb * 2 > (unsigned long)ttl * 1000)
			return fail(c, gw,
				    "fleet: heartbeat_ms (%u) must be at most "
				    "half of lease_ttl (%u s)",
				    hb, ttl);
		/* a renewal that hangs must not outlive the lease */
		if ((unsigned long)to * 2 > (unsigned long)ttl * 1000)
			return fail(c, gw,
				    "fleet: timeout_ms (%u) must be at most "
				    "half of lease_ttl (%u s)",
				    to, ttl);
		if (g->fleet_set && !g->store_etcd)
			return fail(
				c, gw,
				"fleet: needs store: etcd://HOST:PORT/PREFIX "
				"(a gateway on sqlite is a fleet of one)");
	}
	if (!valid_gw_name(g->name))
		return fail(c, gw,
			    "bad gateway name \"%s\" (letters, digits, "
			    "'-', '_')",
			    g->name);
	return 0;
}

static void apply_defaults(struct pc_gw_config *g)
{
	char buf[256];

	if (!g->nlisten) {
		snprintf(buf, sizeof(buf), "unix:/run/portcullis/%s.sock",
			 g->name);
		g->listen[g->nlisten++] = pc_strdup(buf);
	}
	if (!g->max_connections)
		g->max_connections = PC_API_DEFAULT_MAX_CONNECTIONS;
	if (!g->max_per_address)
		g->max_per_address = PC_API_DEFAULT_MAX_PER_ADDRESS;
	if (!g->request_timeout_s)
		g->request_timeout_s = PC_API_TIMEOUT_S;
	if (!g->console_set && !access(PC_CONSOLE_DIR "/index.html", R_OK))
		g->console = pc_strdup(PC_CONSOLE_DIR);
	if (!g->state) {
		snprintf(buf, sizeof(buf), "/var/lib/portcullis/%s.db",
			 g->name);
		g->state = pc_strdup(buf);
	}
	if (!g->fleet.weight)
		g->fleet.weight = 100;
	if (!g->fleet.lease_ttl_s)
		g->fleet.lease_ttl_s = 10;
	if (!g->fleet.heartbeat_ms)
		g->fleet.heartbeat_ms = 1000;
	if (!g->fleet.timeout_ms)
		g->fleet.timeout_ms = 2000;
}

int pc_gw_config_parse(const char *text, size_t len, const char *path,
		       struct pc_gw_config *g, char err[PC_ERR_LEN])
{
	struct cctx c = {.file = path, .err = err};
	yaml_parser_t parser;
	int rc;

	memset(g, 0, sizeof(*g));
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &c.doc)) {
		snprintf(err, PC_ERR_LEN, "%s:%zu:%zu: %s", path,
			 parser.problem_mark.line + 1,
			 parser.problem_mark.column + 1,
			 parser.problem ? parser.problem : "malformed YAML");
		rc = -EINVAL;
	} else {
		g->deny_events = PC_DEFAULT_DENY_EVENTS;
		g->wg_hs_rate = PC_DEFAULT_WG_HANDSHAKES;
		g->deny_retention = PC_DEFAULT_DENY_RETENTION;
		rc = parse_root(&c, yaml_document_get_root_node(&c.doc), g);
		yaml_document_delete(&c.doc);
	}
	yaml_parser_delete(&parser);
	if (rc)
		pc_gw_config_free(g);
	else
		apply_defaults(g);
	return rc;
}

int pc_gw_config_load(const char *path, struct pc_gw_config *g,
		      char err[PC_ERR_LEN])
{
	struct pc_buf text = {0};
	int rc;

	memset(g, 0, sizeof(*g));
	rc = pc_read_file(path, 1 << 20, &text);
	if (rc) {
		snprintf(err, PC_ERR_LEN, "%s: %s", path, strerror(-rc));
		return rc;
	}
	rc = pc_gw_config_parse(text.data, text.len, path, g, err);
	pc_buf_free(&text);
	return rc;
}

void pc_gw_config_free(struct pc_gw_config *g)
{
	for (size_t i = 0; i < g->nifaces; i++)
		free(g->ifaces[i].name);
	free(g->ifaces);
	free(g->name);
	for (size_t i = 0; i < g->nlisten; i++)
		free(g->listen[i]);
	free(g->tls.cert);
	free(g->tls.key);
	free(g->tls.client_ca);
	for (size_t i = 0; i < g->tls.nroles; i++)
		free(g->tls.roles[i].cn);
	free(g->tls.roles);
	for (size_t i = 0; i < g->nwg; i++) {
		struct pc_wg_iface_config *w = &g->wg[i];

		for (size_t j = 0; j < w->npeers; j++) {
			free(w->peers[j].name);
			free(w->peers[j].ips);
			free(w->peers[j].identity);
		}
		free(w->peers);
		free(w->name);
		free(w->private_key_file);
		free(w->addrs);
	}
	free(g->wg);
	free(g->wg_userspace);
	free(g->state);
	free(g->store_etcd);
	free(g->fleet.site);
	free(g->fleet.region);
	free(g->fleet.address);
	free(g->policy);
	free(g->flow_log);
	free(g->console);
	free(g->pin_root);
	memset(g, 0, sizeof(*g));
}
