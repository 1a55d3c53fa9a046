// SPDX-License-Identifier: Apache-2.0
/* gateway.yaml -> struct pc_gw_config, with FILE:LINE:COL errors. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "daemon.h"

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

static int want_uint(struct cctx *c, yaml_node_t *v, const char *key,
		     unsigned int max, unsigned int *out)
{
	const char *s = scalar(v);
	unsigned long n;
	char *end;

	errno = 0;
	n = s && *s >= '0' && *s <= '9' ? strtoul(s, &end, 10) : ULONG_MAX;
	if (n == ULONG_MAX || errno || *end || n > max)
		return fail(c, v, "\"%s\" must be a number from 0 to %u", key,
			    max);
	*out = (unsigned int)n;
	return 0;
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
	if (!err && !ifc->name)
		err = fail(c, n, "interface has no name");
	return err;
}

static int parse_gateway_key(struct cctx *c, const char *ks, yaml_node_t *k,
			     yaml_node_t *v, struct pc_gw_config *g)
{
	if (!strcmp(ks, "name"))
		return want_string(c, v, ks, &g->name);
	if (!strcmp(ks, "state"))
		return want_string(c, v, ks, &g->state);
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
	if (!strcmp(ks, "api")) {
		if (v->type != YAML_MAPPING_NODE)
			return fail(c, v,
				    "api must be { listen: ADDR, "
				    "trust_local_root: BOOL }");
		for (yaml_node_pair_t *p = v->data.mapping.pairs.start;
		     p < v->data.mapping.pairs.top; p++) {
			const char *aks = scalar(node(c, p->key));
			yaml_node_t *av = node(c, p->value);

			if (aks && !strcmp(aks, "listen")) {
				if (want_string(c, av, "listen", &g->listen))
					return -EINVAL;
			} else if (aks && !strcmp(aks, "trust_local_root")) {
				if (want_bool(c, av, "trust_local_root",
					      &g->trust_local_root))
					return -EINVAL;
			} else {
				return fail(c, node(c, p->key),
					    "unknown key \"%s\" in api "
					    "(listen, trust_local_root)",
					    aks ? aks : "");
			}
		}
		return 0;
	}
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

static int parse_root(struct cctx *c, yaml_node_t *root, struct pc_gw_config *g)
{
	yaml_node_t *gw = NULL;

	if (!root || root->type != YAML_MAPPING_NODE)
		return fail(c, root, "expected a mapping with \"gateway:\"");
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

	if (!g->listen) {
		snprintf(buf, sizeof(buf), "unix:/run/portcullis/%s.sock",
			 g->name);
		g->listen = pc_strdup(buf);
	}
	if (!g->state) {
		snprintf(buf, sizeof(buf), "/var/lib/portcullis/%s.db",
			 g->name);
		g->state = pc_strdup(buf);
	}
}

int pc_gw_config_load(const char *path, struct pc_gw_config *g,
		      char err[PC_ERR_LEN])
{
	struct cctx c = {.file = path, .err = err};
	struct pc_buf text = {0};
	yaml_parser_t parser;
	int rc;

	memset(g, 0, sizeof(*g));
	rc = pc_read_file(path, 1 << 20, &text);
	if (rc) {
		snprintf(err, PC_ERR_LEN, "%s: %s", path, strerror(-rc));
		return rc;
	}
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_string(&parser, (unsigned char *)text.data,
				     text.len);
	if (!yaml_parser_load(&parser, &c.doc)) {
		snprintf(err, PC_ERR_LEN, "%s:%zu:%zu: %s", path,
			 parser.problem_mark.line + 1,
			 parser.problem_mark.column + 1,
			 parser.problem ? parser.problem : "malformed YAML");
		rc = -EINVAL;
	} else {
		g->deny_events = PC_DEFAULT_DENY_EVENTS;
		g->deny_retention = PC_DEFAULT_DENY_RETENTION;
		rc = parse_root(&c, yaml_document_get_root_node(&c.doc), g);
		yaml_document_delete(&c.doc);
	}
	yaml_parser_delete(&parser);
	pc_buf_free(&text);
	if (rc)
		pc_gw_config_free(g);
	else
		apply_defaults(g);
	return rc;
}

void pc_gw_config_free(struct pc_gw_config *g)
{
	for (size_t i = 0; i < g->nifaces; i++)
		free(g->ifaces[i].name);
	free(g->ifaces);
	free(g->name);
	free(g->listen);
	free(g->state);
	free(g->policy);
	free(g->pin_root);
	memset(g, 0, sizeof(*g));
}
