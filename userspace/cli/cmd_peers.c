// SPDX-License-Identifier: Apache-2.0
/* portcullis peers: the gateway's WireGuard peers (list, show, add, remove). */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

/* "3m ago", "never" */
static void ago(json_t *p, char *buf, size_t len)
{
	json_int_t t =
		json_integer_value(json_object_get(p, "latest_handshake"));
	long d = (long)(time(NULL) - t);

	if (!t)
		snprintf(buf, len, "never");
	else if (d < 120)
		snprintf(buf, len, "%lds ago", d);
	else if (d < 7200)
		snprintf(buf, len, "%ldm ago", d / 60);
	else
		snprintf(buf, len, "%ldh ago", d / 3600);
}

static void ips_text(json_t *p, char *buf, size_t len)
{
	json_t *v;
	size_t i, n = 0;

	buf[0] = '\0';
	json_array_foreach (json_object_get(p, "allowed_ips"), i, v)
		n += (size_t)snprintf(buf + n, n < len ? len - n : 0, "%s%s",
				      i ? "," : "", json_string_value(v));
}

static int peers_list(const struct pc_cli *cli, const char *only)
{
	json_t *reply, *p;
	char hs[32], ips[256];
	size_t i, shown = 0;

	if (pc_client_get(cli, "peers", "/v1/peers", &reply))
		return PC_EXIT_REFUSED;
	if (!only && pc_client_json_done(cli, reply))
		return PC_EXIT_OK;
	json_array_foreach (json_object_get(reply, "peers"), i, p) {
		if (only && strcmp(pc_jstr(p, "name"), only))
			continue;
		shown++;
		if (only && cli->json) {
			pc_print_json(p);
			continue;
		}
		ago(p, hs, sizeof(hs));
		ips_text(p, ips, sizeof(ips));
		if (only) {
			printf("peer        %s (%s)\ninterface   %s\npublic "
			       "key  "
			       "%s\nallowed IPs %s\nidentity    %s\nendpoint   "
			       " "
			       "%s\nhandshake   %s\ntransfer    %lld B in, "
			       "%lld "
			       "B out\n",
			       pc_jstr(p, "name"), pc_jstr(p, "source"),
			       pc_jstr(p, "interface"),
			       pc_jstr(p, "public_key"), ips,
			       *pc_jstr(p, "identity") ? pc_jstr(p, "identity")
						       : "-",
			       *pc_jstr(p, "current_endpoint")
				       ? pc_jstr(p, "current_endpoint")
				       : "-",
			       hs,
			       (long long)json_integer_value(
				       json_object_get(p, "rx_bytes")),
			       (long long)json_integer_value(
				       json_object_get(p, "tx_bytes")));
			continue;
		}
		if (shown == 1)
			printf("%-16s %-8s %-6s %-24s %-12s %s\n", "NAME",
			       "IFACE", "SOURCE", "ALLOWED IPS", "HANDSHAKE",
			       "KEY");
		printf("%-16s %-8s %-6s %-24s %-12s %.12s...%s\n",
		       pc_jstr(p, "name"), pc_jstr(p, "interface"),
		       pc_jstr(p, "source"), ips, hs, pc_jstr(p, "public_key"),
		       json_is_false(json_object_get(p, "present"))
			       ? "  (NOT ON THE INTERFACE)"
			       : "");
	}
	json_decref(reply);
	if (only && !shown) {
		fprintf(stderr, "portcullis: no peer named \"%s\"\n", only);
		return PC_EXIT_REFUSED;
	}
	return PC_EXIT_OK;
}

/* --keepalive: seconds, 0 (off) to 65535 as WireGuard takes them */
static int parse_keepalive(const char *s, json_int_t *out)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (!isdigit((unsigned char)*s) || *end || errno || v > 65535) {
		fprintf(stderr,
			"portcullis: --keepalive: seconds from 0 to 65535, "
			"not '%s'\n",
			s);
		return -1;
	}
	*out = (json_int_t)v;
	return 0;
}

static int peers_add(const struct pc_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"interface", required_argument, NULL, 'i'},
		{"name", required_argument, NULL, 'n'},
		{"public-key", required_argument, NULL, 'k'},
		{"allowed-ips", required_argument, NULL, 'a'},
		{"endpoint", required_argument, NULL, 'e'},
		{"keepalive", required_argument, NULL, 'p'},
		{"identity", required_argument, NULL, 'd'},
		{0},
	};
	json_t *req = json_object(), *ips = json_array(), *reply;
	char err[512], *body, *save = NULL;
	json_int_t keepalive;
	int c, status;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		const char *key = c == 'i'   ? "interface"
				  : c == 'n' ? "name"
				  : c == 'k' ? "public_key"
				  : c == 'e' ? "endpoint"
				  : c == 'd' ? "identity"
					     : NULL;

		if (key)
			json_object_set_new(req, key, json_string(optarg));
		else if (c == 'a')
			for (char *t = strtok_r(optarg, ",", &save); t;
			     t = strtok_r(NULL, ",", &save))
				json_array_append_new(ips, json_string(t));
		else if (c == 'p' && !parse_keepalive(optarg, &keepalive))
			json_object_set_new(req, "persistent_keepalive",
					    json_integer(keepalive));
		else if (c == 'p')
			goto bad;
		else
			goto usage;
	}
	if (optind != argc || !json_object_get(req, "name"))
		goto usage;
	json_object_set_new(req, "allowed_ips", ips);
	body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	status = pc_client_call(cli, "POST", "/v1/peers", body,
				body ? strlen(body) : 0, "application/json",
				&reply, err, sizeof(err));
	free(body);
	if (status != 201) {
		pc_client_fail("peers add", status, reply, err);
		json_decref(reply);
		return PC_EXIT_REFUSED;
	}
	if (!pc_client_json_done(cli, reply)) {
		printf("added peer %s on %s\n", pc_jstr(reply, "name"),
		       pc_jstr(reply, "interface"));
		json_decref(reply);
	}
	return PC_EXIT_OK;
usage:
	fprintf(stderr, "usage: portcullis peers add --interface IF --name N "
			"--public-key KEY --allowed-ips PREFIX[,...] "
			"[--endpoint ADDR:PORT] [--keepalive S] [--identity "
			"NAME]\n");
bad: /* said what is wrong */
	json_decref(req);
	json_decref(ips);
	return PC_EXIT_USAGE;
}

static int peers_remove(const struct pc_cli *cli, const char *name)
{
	char path[256], err[512];
	json_t *reply;
	int status;

	snprintf(path, sizeof(path), "/v1/peers/%s", name);
	status = pc_client_call(cli, "DELETE", path, NULL, 0, NULL, &reply, err,
				sizeof(err));
	if (status != 200) {
		pc_client_fail("peers remove", status, reply, err);
		json_decref(reply);
		return PC_EXIT_REFUSED;
	}
	json_decref(reply);
	printf("removed peer %s\n", name);
	return PC_EXIT_OK;
}

int pc_cmd_peers(const struct pc_cli *cli, int argc, char **argv)
{
	if (argc == 1 && !strcmp(argv[0], "list"))
		return peers_list(cli, NULL);
	if (argc == 2 && !strcmp(argv[0], "show"))
		return peers_list(cli, argv[1]);
	if (argc >= 1 && !strcmp(argv[0], "add"))
		return peers_add(cli, argc, argv);
	if (argc == 2 && !strcmp(argv[0], "remove"))
		return peers_remove(cli, argv[1]);
	fprintf(stderr, "usage: portcullis peers list | show NAME | add ... | "
			"remove NAME\n");
	return PC_EXIT_USAGE;
}
