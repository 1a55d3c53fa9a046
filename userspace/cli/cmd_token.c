// SPDX-License-Identifier: Apache-2.0
/* portcullis token create|list|revoke */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "cli.h"
#include "pclib.h"

static int token_create(const struct pc_cli *cli, int argc, char **argv)
{
	const char *name = NULL, *role = NULL;
	char err[512], *body;
	json_t *req, *reply;
	int status;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--name") && i + 1 < argc)
			name = argv[++i];
		else if (!strcmp(argv[i], "--role") && i + 1 < argc)
			role = argv[++i];
		else
			name = NULL, i = argc;
	}
	if (!name || !role) {
		fprintf(stderr, "usage: portcullis token create --name NAME "
				"--role admin|operator|viewer\n");
		return PC_EXIT_USAGE;
	}
	req = json_pack("{s:s, s:s}", "name", name, "role", role);
	body = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	if (!body) {
		fprintf(stderr, "portcullis: --name and --role must be text "
				"(UTF-8)\n");
		return PC_EXIT_USAGE;
	}
	status = pc_client_call(cli, "POST", "/v1/tokens", body, strlen(body),
				"application/json", &reply, err, sizeof(err));
	free(body);
	if (status != 201) {
		pc_client_fail("token create", status, reply, err);
		json_decref(reply);
		return PC_EXIT_REFUSED;
	}
	if (cli->json)
		pc_print_json(reply);
	else
		/* the only time it is shown: stdout, nothing else on it */
		printf("%s\n",
		       json_string_value(json_object_get(reply, "token")));
	json_decref(reply);
	return PC_EXIT_OK;
}

static int token_list(const struct pc_cli *cli, int argc, char **argv)
{
	json_t *reply, *t;
	size_t i;

	(void)argv;
	if (argc) {
		fprintf(stderr, "usage: portcullis token list\n");
		return PC_EXIT_USAGE;
	}
	if (pc_client_get(cli, "token list", "/v1/tokens", &reply))
		return PC_EXIT_REFUSED;
	if (pc_client_json_done(cli, reply))
		return PC_EXIT_OK;
	printf("%-24s %-9s %-21s %s\n", "NAME", "ROLE", "CREATED (UTC)",
	       "STATE");
	json_array_foreach (json_object_get(reply, "tokens"), i, t)
		printf("%-24s %-9s %-21s %s\n",
		       json_string_value(json_object_get(t, "name")),
		       json_string_value(json_object_get(t, "role")),
		       json_string_value(json_object_get(t, "created_at")),
		       json_is_true(json_object_get(t, "revoked")) ? "revoked"
								   : "live");
	json_decref(reply);
	return PC_EXIT_OK;
}

static int token_revoke(const struct pc_cli *cli, int argc, char **argv)
{
	char err[512], path[160];
	json_t *reply;
	int status;

	if (argc != 1 || !pc_token_name_valid(argv[0])) {
		fprintf(stderr, "usage: portcullis token revoke NAME\n");
		return PC_EXIT_USAGE;
	}
	snprintf(path, sizeof(path), "/v1/tokens/%s", argv[0]);
	status = pc_client_call(cli, "DELETE", path, NULL, 0, NULL, &reply, err,
				sizeof(err));
	if (status != 200) {
		pc_client_fail("token revoke", status, reply, err);
		json_decref(reply);
		return PC_EXIT_REFUSED;
	}
	if (cli->json)
		pc_print_json(reply);
	else
		printf("token \"%s\" revoked\n", argv[0]);
	json_decref(reply);
	return PC_EXIT_OK;
}

/* portcullis audit [--limit N]: the newest changes first */
int pc_cmd_audit(const struct pc_cli *cli, int argc, char **argv)
{
	char path[64];
	json_t *reply, *e;
	long limit;
	size_t i;

	if (pc_cli_limit(argc, argv, &limit)) {
		fprintf(stderr, "usage: portcullis audit [--limit 1..1000]\n");
		return PC_EXIT_USAGE;
	}
	snprintf(path, sizeof(path), "/v1/audit?limit=%ld", limit);
	if (pc_client_get(cli, "audit", path, &reply))
		return PC_EXIT_REFUSED;
	if (pc_client_json_done(cli, reply))
		return PC_EXIT_OK;
	json_array_foreach (json_object_get(reply, "entries"), i, e) {
		const char *detail =
			json_string_value(json_object_get(e, "detail"));

		printf("%s  %-16s %s (%s)  %s\n",
		       json_string_value(json_object_get(e, "at")),
		       json_string_value(json_object_get(e, "action")),
		       json_string_value(json_object_get(e, "who")),
		       json_string_value(json_object_get(e, "peer")),
		       json_string_value(json_object_get(e, "target")));
		/* the detail (a diff) indented under its entry */
		for (const char *p = detail; p && *p;) {
			size_t n = strcspn(p, "\n");

			printf("    %.*s\n", (int)n, p);
			p += n + (p[n] == '\n');
		}
	}
	json_decref(reply);
	return PC_EXIT_OK;
}

static const struct pc_cmd token_cmds[] = {
	{"create", "--name NAME --role admin|operator|viewer", token_create},
	{"list", "", token_list},
	{"revoke", "NAME", token_revoke},
};

int pc_cmd_token(const struct pc_cli *cli, int argc, char **argv)
{
	for (size_t i = 0; argc > 0 && i < PC_ARRAY_SIZE(token_cmds); i++)
		if (!strcmp(argv[0], token_cmds[i].name))
			return token_cmds[i].fn(cli, argc - 1, argv + 1);
	fprintf(stderr, "usage: portcullis token VERB\n");
	for (size_t i = 0; i < PC_ARRAY_SIZE(token_cmds); i++)
		fprintf(stderr, "  token %s %s\n", token_cmds[i].name,
			token_cmds[i].usage);
	return PC_EXIT_USAGE;
}
