// SPDX-License-Identifier: Apache-2.0
/* portcullis policy validate|push|show */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "policy.h"

static int read_policy(const char *file, struct pc_buf *text)
{
	int rc = pc_read_file(file, 16u << 20, text);

	if (rc)
		fprintf(stderr, "%s: %s\n", file, strerror(-rc));
	return rc;
}

static void print_diags(const struct pc_diags *d)
{
	for (size_t i = 0; i < d->n; i++)
		fprintf(stderr, "%s\n", d->v[i].msg);
}

static int policy_validate(const struct pc_cli *cli, int argc, char **argv)
{
	struct pc_buf text = {0};
	struct pc_diags d = {0};
	struct pc_policy *pol = NULL;
	struct pc_compiled *c = NULL;
	int rc;

	if (argc != 1) {
		fprintf(stderr, "usage: portcullis policy validate FILE\n");
		return PC_EXIT_USAGE;
	}
	if (read_policy(argv[0], &text))
		return PC_EXIT_REFUSED;
	rc = pc_policy_load(text.data, text.len, argv[0], &pol, &c, &d);
	if (cli->json) {
		json_t *j =
			json_pack("{s:s, s:b}", "file", argv[0], "valid", !rc);

		if (!rc)
			json_object_update_new(
				j,
				json_pack("{s:I, s:I, s:I, s:I, s:I, s:s}",
					  "identities",
					  (json_int_t)pol->nidentities,
					  "services",
					  (json_int_t)pol->nservices, "rules",
					  (json_int_t)pol->nrules, "entries",
					  (json_int_t)c->nentries, "tests",
					  (json_int_t)pol->ntests, "mode",
					  pol->mode ? "audit" : "enforce"));
		json_object_set_new(j, "errors", json_array());
		json_object_set_new(j, "warnings", json_array());
		for (size_t i = 0; i < d.n; i++)
			json_array_append_new(
				json_object_get(j, d.v[i].warning ? "warnings"
								  : "errors"),
				json_string(d.v[i].msg));
		pc_print_json(j);
		json_decref(j);
	} else {
		print_diags(&d);
		if (!rc)
			printf("%s: valid (%zu identities, %zu services, %zu "
			       "rules -> %zu policy entries; %zu tests "
			       "passed%s%s)\n",
			       argv[0], pol->nidentities, pol->nservices,
			       pol->nrules, c->nentries, pol->ntests,
			       pol->mode == PC_MODE_AUDIT ? "; audit mode" : "",
			       d.nwarnings ? "; see warnings" : "");
		else
			fprintf(stderr, "%s: %zu error%s\n", argv[0], d.nerrors,
				d.nerrors == 1 ? "" : "s");
	}
	pc_diags_free(&d);
	pc_compiled_free(c);
	pc_policy_free(pol);
	pc_buf_free(&text);
	return rc ? PC_EXIT_REFUSED : PC_EXIT_OK;
}

/* The "errors" and "warnings" a reply carries, to stderr. */
static void print_reply_diags(json_t *reply, const char *key)
{
	json_t *v;
	size_t i;

	json_array_foreach (json_object_get(reply, key), i, v)
		fprintf(stderr, "%s\n", json_string_value(v));
}

static int policy_push(const struct pc_cli *cli, int argc, char **argv)
{
	struct pc_buf text = {0};
	char path[512], err[512];
	const char *base;
	json_t *reply;
	int status;

	if (argc != 1) {
		fprintf(stderr, "usage: portcullis policy push FILE\n");
		return PC_EXIT_USAGE;
	}
	if (read_policy(argv[0], &text))
		return PC_EXIT_REFUSED;
	base = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	snprintf(path, sizeof(path), "/v1/policy?filename=%s", base);
	status = pc_client_call(cli, "PUT", path, text.data, text.len,
				"application/yaml", &reply, err, sizeof(err));
	pc_buf_free(&text);
	if (status == 422 && !cli->json) {
		print_reply_diags(reply, "errors");
		print_reply_diags(reply, "warnings");
		fprintf(stderr,
			"%s: refused; the policy in force is unchanged\n",
			argv[0]);
		json_decref(reply);
		return PC_EXIT_REFUSED;
	}
	if (status != 200) {
		pc_client_fail("policy push", status, reply, err);
		json_decref(reply);
		return PC_EXIT_REFUSED;
	}
	if (!cli->json)
		print_reply_diags(reply, "warnings");
	if (cli->json)
		pc_print_json(reply);
	else
		printf("pushed %s: version %lld in force (generation %lld, "
		       "%lld "
		       "rules, %lld entries)\n",
		       argv[0],
		       (long long)json_integer_value(
			       json_object_get(reply, "version")),
		       (long long)json_integer_value(
			       json_object_get(reply, "generation")),
		       (long long)json_integer_value(
			       json_object_get(reply, "rules")),
		       (long long)json_integer_value(
			       json_object_get(reply, "entries")));
	json_decref(reply);
	return PC_EXIT_OK;
}

static int policy_show(const struct pc_cli *cli, int argc, char **argv)
{
	char err[512];
	json_t *reply;
	int status;

	(void)argv;
	if (argc != 0) {
		fprintf(stderr, "usage: portcullis policy show\n");
		return PC_EXIT_USAGE;
	}
	status = pc_client_call(cli, "GET", "/v1/policy", NULL, 0, NULL, &reply,
				err, sizeof(err));
	if (status != 200) {
		pc_client_fail("policy show", status, reply, err);
		json_decref(reply);
		return PC_EXIT_REFUSED;
	}
	if (cli->json) {
		pc_print_json(reply);
	} else {
		printf("# version %lld, generation %lld, from %s at %s\n",
		       (long long)json_integer_value(
			       json_object_get(reply, "version")),
		       (long long)json_integer_value(
			       json_object_get(reply, "generation")),
		       json_string_value(json_object_get(reply, "filename")),
		       json_string_value(json_object_get(reply, "pushed_at")));
		fputs(json_string_value(json_object_get(reply, "source")),
		      stdout);
	}
	json_decref(reply);
	return PC_EXIT_OK;
}

static const struct pc_cmd policy_cmds[] = {
	{"validate", "FILE", policy_validate},
	{"push", "FILE", policy_push},
	{"show", "", policy_show},
};

int pc_cmd_policy(const struct pc_cli *cli, int argc, char **argv)
{
	for (size_t i = 0; argc > 0 && i < PC_ARRAY_SIZE(policy_cmds); i++)
		if (!strcmp(argv[0], policy_cmds[i].name))
			return policy_cmds[i].fn(cli, argc - 1, argv + 1);
	fprintf(stderr, "usage: portcullis policy validate FILE | push FILE | "
			"show\n");
	return PC_EXIT_USAGE;
}
