// SPDX-License-Identifier: Apache-2.0
/* portcullis placements: which gateway serves which client. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static void when(long long ms, char *out, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	if (!strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		out[0] = '\0';
}

static void print_placements(json_t *r)
{
	json_t *c;
	size_t i;

	printf("placed by %s; %zu client%s\n",
	       *pc_jstr(r, "leader") ? pc_jstr(r, "leader") : "(no leader)",
	       json_array_size(json_object_get(r, "clients")),
	       json_array_size(json_object_get(r, "clients")) == 1 ? "" : "s");
	printf("%-20s %-5s %-18s %-16s %-22s %-13s %s\n", "CLIENT", "KIND",
	       "STRATEGY", "GATEWAY", "ENDPOINT", "STATE", "SINCE");
	json_array_foreach (json_object_get(r, "clients"), i, c) {
		char since[32] = "-";

		if (pc_jint(c, "since"))
			when(pc_jint(c, "since"), since, sizeof(since));
		printf("%-20s %-5s %-18s %-16s %-22s %-13s %s\n",
		       pc_jstr(c, "name"), pc_jstr(c, "kind"),
		       pc_jstr(c, "strategy"),
		       *pc_jstr(c, "gateway") ? pc_jstr(c, "gateway") : "-",
		       *pc_jstr(c, "endpoint")	? pc_jstr(c, "endpoint")
		       : *pc_jstr(c, "address") ? pc_jstr(c, "address")
						: "-",
		       pc_jstr(c, "state"), since);
	}
	if (json_array_size(json_object_get(r, "moves")))
		printf("recent moves:\n");
	json_array_foreach (json_object_get(r, "moves"), i, c) {
		char at[32];

		when(pc_jint(c, "at_ms"), at, sizeof(at));
		printf("  %s  %s: %s -> %s (%s; %lld ms after)\n", at,
		       pc_jstr(c, "client"), pc_jstr(c, "from"),
		       pc_jstr(c, "to"), pc_jstr(c, "reason"),
		       pc_jint(c, "after_ms"));
	}
}

static int add(const struct pc_cli *cli, int argc, char **argv)
{
	json_t *req = json_object(), *reply = NULL;
	char err[512], *body;
	int status;

	if (argc < 1 || argv[0][0] == '-')
		goto usage;
	json_object_set_new(req, "name", json_string(argv[0]));
	for (int i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			goto usage;
		if (!strcmp(argv[i], "--strategy")) {
			json_object_set_new(req, "strategy",
					    json_string(argv[++i]));
		} else if (!strcmp(argv[i], "--probe")) {
			json_object_set_new(req, "probe",
					    json_string(argv[++i]));
		} else if (!strcmp(argv[i], "--kind")) {
			json_object_set_new(req, "kind",
					    json_string(argv[++i]));
		} else if (!strcmp(argv[i], "--public-key")) {
			json_object_set_new(req, "public_key",
					    json_string(argv[++i]));
		} else if (!strcmp(argv[i], "--identity")) {
			json_object_set_new(req, "identity",
					    json_string(argv[++i]));
		} else if (!strcmp(argv[i], "--keepalive")) {
			char *end;
			long v = strtol(argv[++i], &end, 10);

			if (*end || v < 0 || v > 65535)
				goto usage;
			json_object_set_new(req, "keepalive", json_integer(v));
		} else if (!strcmp(argv[i], "--allowed-ips")) {
			json_t *ips = json_array();
			char *save = NULL, *tok;

			for (tok = strtok_r(argv[++i], ",", &save); tok;
			     tok = strtok_r(NULL, ",", &save))
				json_array_append_new(ips, json_string(tok));
			json_object_set_new(req, "allowed_ips", ips);
		} else if (!strcmp(argv[i], "--regions")) {
			json_t *rs = json_array();
			char *list = argv[++i], *save = NULL, *tok;

			for (tok = strtok_r(list, ",", &save); tok;
			     tok = strtok_r(NULL, ",", &save))
				json_array_append_new(rs, json_string(tok));
			json_object_set_new(req, "regions", rs);
		} else {
			goto usage;
		}
	}
	if (!json_object_get(req, "strategy"))
		goto usage;
	body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	status = pc_client_call(cli, "POST", "/v1/placements", body,
				body ? strlen(body) : 0, "application/json",
				&reply, err, sizeof(err));
	free(body);
	if (status != 201) {
		pc_client_fail("placements add", status, reply, err);
		json_decref(reply);
		return PC_EXIT_REFUSED;
	}
	if (!pc_client_json_done(cli, reply)) {
		printf("added client %s (%s); the fleet's leader places it\n",
		       pc_jstr(reply, "name"), pc_jstr(reply, "strategy"));
		json_decref(reply);
	}
	return PC_EXIT_OK;
usage:
	json_decref(req);
	fprintf(stderr, "usage: portcullis placements add NAME --strategy S "
			"[--regions R[,R]] [--probe ADDR:PORT] [--kind "
			"peer|user]\n"
			"         [--public-key KEY --allowed-ips P[,P] "
			"[--keepalive S] [--identity I]]\n");
	return PC_EXIT_USAGE;
}

static int remove_client(const struct pc_cli *cli, const char *name)
{
	char path[160], err[512];
	json_t *reply;
	int status;

	snprintf(path, sizeof(path), "/v1/placements/%s", name);
	status = pc_client_call(cli, "DELETE", path, NULL, 0, NULL, &reply, err,
				sizeof(err));
	if (status != 200) {
		pc_client_fail("placements remove", status, reply, err);
		json_decref(reply);
		return PC_EXIT_REFUSED;
	}
	json_decref(reply);
	printf("removed client %s\n", name);
	return PC_EXIT_OK;
}

int pc_cmd_placements(const struct pc_cli *cli, int argc, char **argv)
{
	json_t *reply;

	if (argc >= 1 && !strcmp(argv[0], "add"))
		return add(cli, argc - 1, argv + 1);
	if (argc == 2 && !strcmp(argv[0], "remove"))
		return remove_client(cli, argv[1]);
	if (argc > 1 || (argc == 1 && strcmp(argv[0], "list"))) {
		fprintf(stderr, "usage: portcullis placements [list | add NAME "
				"--strategy S ... | remove NAME]\n");
		return PC_EXIT_USAGE;
	}
	if (pc_client_get(cli, "placements", "/v1/placements", &reply))
		return PC_EXIT_REFUSED;
	if (pc_client_json_done(cli, reply))
		return PC_EXIT_OK;
	print_placements(reply);
	json_decref(reply);
	return PC_EXIT_OK;
}
