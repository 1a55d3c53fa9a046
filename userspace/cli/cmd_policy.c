// SPDX-License-Identifier: Apache-2.0
/* portcullis policy validate|push|show */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "cli.h"
#include "portcullis/maps.h"
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
	if (cli->fleet) {
		long long v =
			json_integer_value(json_object_get(reply, "version"));

		json_decref(reply);
		return pc_fleet_wait(cli, v, 10);
	}
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

static int policy_versions(const struct pc_cli *cli, int argc, char **argv)
{
	json_t *reply, *v;
	size_t i;

	(void)argv;
	if (argc != 0) {
		fprintf(stderr, "usage: portcullis policy versions\n");
		return PC_EXIT_USAGE;
	}
	if (pc_client_get(cli, "policy versions",
			  "/v1/policy/versions?limit=1000", &reply))
		return PC_EXIT_REFUSED;
	if (pc_client_json_done(cli, reply))
		return PC_EXIT_OK;
	printf("%-8s %-20s %-10s %s\n", "VERSION", "PUSHED (UTC)", "GENERATION",
	       "FILE");
	json_array_foreach (json_object_get(reply, "versions"), i, v) {
		json_t *rb = json_object_get(v, "rollback_of");

		printf("%-8lld %-20s %-10lld %s",
		       (long long)json_integer_value(
			       json_object_get(v, "version")),
		       json_string_value(json_object_get(v, "pushed_at")),
		       (long long)json_integer_value(
			       json_object_get(v, "generation")),
		       json_string_value(json_object_get(v, "filename")));
		if (rb)
			printf(" (rollback to %lld)",
			       (long long)json_integer_value(rb));
		if (json_is_true(json_object_get(v, "in_force")))
			printf("  <- in force");
		putchar('\n');
	}
	json_decref(reply);
	return PC_EXIT_OK;
}

static int policy_rollback(const struct pc_cli *cli, int argc, char **argv)
{
	char err[512], body[64] = "", *end;
	json_t *reply;
	long long v = 0;
	int status;

	if (argc > 1 ||
	    (argc == 1 && ((v = strtoll(argv[0], &end, 10)) < 1 || *end))) {
		fprintf(stderr,
			"usage: portcullis policy rollback [VERSION]\n");
		return PC_EXIT_USAGE;
	}
	if (v)
		snprintf(body, sizeof(body), "{\"version\": %lld}", v);
	status = pc_client_call(cli, "POST", "/v1/policy/rollback", body,
				strlen(body), v ? "application/json" : NULL,
				&reply, err, sizeof(err));
	if (status == 422 && !cli->json) {
		print_reply_diags(reply, "errors");
		json_decref(reply);
		return PC_EXIT_REFUSED;
	}
	if (status != 200) {
		pc_client_fail("policy rollback", status, reply, err);
		json_decref(reply);
		return PC_EXIT_REFUSED;
	}
	if (cli->json)
		pc_print_json(reply);
	else
		printf("rolled back to version %lld: now version %lld in "
		       "force (generation %lld)\n",
		       (long long)json_integer_value(
			       json_object_get(reply, "rollback_of")),
		       (long long)json_integer_value(
			       json_object_get(reply, "version")),
		       (long long)json_integer_value(
			       json_object_get(reply, "generation")));
	if (cli->fleet) {
		long long v =
			json_integer_value(json_object_get(reply, "version"));

		json_decref(reply);
		return pc_fleet_wait(cli, v, 10);
	}
	json_decref(reply);
	return PC_EXIT_OK;
}

/* Load a policy file, printing its diagnostics when it does not load. */
static int load_file(const char *file, struct pc_policy **pol,
		     struct pc_compiled **c)
{
	struct pc_buf text = {0};
	struct pc_diags d = {0};
	int rc;

	if (read_policy(file, &text))
		return -1;
	rc = pc_policy_load(text.data, text.len, file, pol, c, &d);
	if (rc)
		print_diags(&d);
	pc_diags_free(&d);
	pc_buf_free(&text);
	return rc;
}

/* The policy in force, fetched from the daemon and compiled here. */
static int load_live(const struct pc_cli *cli, struct pc_policy **pol,
		     struct pc_compiled **c)
{
	static const char none[] = "apiVersion: portcullis/v1\nkind: Policy\n";
	struct pc_diags d = {0};
	char err[512];
	const char *src, *fname;
	json_t *reply;
	int status, rc;

	status = pc_client_call(cli, "GET", "/v1/policy", NULL, 0, NULL, &reply,
				err, sizeof(err));
	if (status != 200 && status != 404) {
		pc_client_fail("policy show", status, reply, err);
		json_decref(reply);
		return -1;
	}
	src = status == 200
		      ? json_string_value(json_object_get(reply, "source"))
		      : none;
	fname = status == 200
			? json_string_value(json_object_get(reply, "filename"))
			: "(no policy)";
	rc = pc_policy_load(src ? src : none, strlen(src ? src : none),
			    fname ? fname : "live", pol, c, &d);
	if (rc) {
		fprintf(stderr, "portcullis: the policy in force does not load "
				"here:\n");
		print_diags(&d);
	}
	pc_diags_free(&d);
	json_decref(reply);
	return rc;
}

static int policy_diff(const struct pc_cli *cli, int argc, char **argv)
{
	struct pc_compiled *live = NULL, *next = NULL;
	struct pc_diff diff = {0};
	int rc = PC_EXIT_REFUSED;

	if (argc != 1) {
		fprintf(stderr, "usage: portcullis policy diff FILE\n");
		return PC_EXIT_USAGE;
	}
	if (load_file(argv[0], NULL, &next) || load_live(cli, NULL, &live))
		goto out;
	pc_policy_diff(live, next, &diff);
	if (cli->json) {
		json_t *arr = pc_api_diff_json(&diff);

		pc_print_json(arr);
		json_decref(arr);
	} else {
		for (size_t i = 0; i < diff.n; i++) {
			const struct pc_diff_line *l = &diff.v[i];

			printf("%c %s -> %s %s: ", pc_diff_sign(l), l->from,
			       l->to, l->ports);
			printf("%s", pc_action_verb(l->new_action));
			if (l->new_rule)
				printf(" by rule \"%s\"", l->new_rule);
			printf(", was %s", pc_action_verb(l->old_action));
			if (l->old_rule)
				printf(" by rule \"%s\"", l->old_rule);
			putchar('\n');
		}
		if (!diff.n)
			printf("no change in access\n");
		else
			printf("%zu change%s in access\n", diff.n,
			       diff.n == 1 ? "" : "s");
	}
	pc_diff_free(&diff);
	rc = PC_EXIT_OK;
out:
	pc_compiled_free(live);
	pc_compiled_free(next);
	return rc;
}

static void names_line(const char *what, const struct pc_policy *p,
		       const size_t *v, size_t n, int services)
{
	printf("  %s: ", what);
	for (size_t i = 0; i < n; i++)
		printf("%s%s", i ? ", " : "",
		       services ? p->services[v[i]].name
				: p->identities[v[i]].name);
	printf("%s\n", n ? "" : "none (only \"any\")");
}

static int policy_explain(const struct pc_cli *cli, int argc, char **argv)
{
	const char *from = NULL, *to = NULL, *port = NULL, *file = NULL;
	struct pc_policy *pol = NULL;
	struct pc_compiled *c = NULL;
	struct pc_explanation x;
	uint8_t src[16], dst[16], proto;
	uint16_t pnum;
	int loaded;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--from") && i + 1 < argc)
			from = argv[++i];
		else if (!strcmp(argv[i], "--to") && i + 1 < argc)
			to = argv[++i];
		else if (!strcmp(argv[i], "--port") && i + 1 < argc)
			port = argv[++i];
		else if (argv[i][0] != '-' && !file)
			file = argv[i];
		else
			from = NULL, i = argc; /* usage */
	}
	if (!from || !to || !port) {
		fprintf(stderr, "usage: portcullis policy explain --from ADDR "
				"--to ADDR --port PORT [FILE]\n");
		return PC_EXIT_USAGE;
	}
	if (pc_addr_parse(from, src) || pc_addr_parse(to, dst)) {
		fprintf(stderr, "portcullis: bad address \"%s\"\n",
			pc_addr_parse(from, src) ? from : to);
		return PC_EXIT_USAGE;
	}
	if (pc_port_parse_one(port, &proto, &pnum)) {
		fprintf(stderr,
			"portcullis: bad port \"%s\" (443/tcp, 53/udp, icmp, "
			"icmp/TYPE, gre)\n",
			port);
		return PC_EXIT_USAGE;
	}
	loaded = file ? load_file(file, &pol, &c) : load_live(cli, &pol, &c);
	if (loaded)
		return PC_EXIT_REFUSED;
	pc_policy_explain(pol, c, src, dst, proto, pnum, &x);
	if (cli->json) {
		json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s}", "from",
				      from, "to", to, "port", port, "decision",
				      pc_action_verb(x.action), "rule",
				      x.rule_id ? pol->rules[x.rule_id - 1].name
						: NULL,
				      "mode", pol->mode ? "audit" : "enforce");
		json_t *m = json_array();

		for (size_t i = 0; i < x.nmatching; i++)
			json_array_append_new(
				m, json_string(pol->rules[x.matching[i]].name));
		json_object_set_new(j, "matching", m);
		pc_print_json(j);
		json_decref(j);
	} else {
		const struct pc_rule *r =
			x.rule_id ? &pol->rules[x.rule_id - 1] : NULL;

		printf("%s -> %s %s: %s", from, to, port,
		       pc_action_verb(x.action));
		if (r)
			printf(" by rule \"%s\" (%s:%d:%d)", r->name,
			       pol->filename, r->loc.line, r->loc.col);
		putchar('\n');
		names_line("source is in", pol, x.identities, x.nidentities, 0);
		names_line("destination is in", pol, x.services_addr,
			   x.nservices_addr, 1);
		names_line("of which the port is in", pol, x.services,
			   x.nservices, 1);
		printf("  rules that match:");
		for (size_t i = 0; i < x.nmatching; i++)
			printf("%s %s (%s)", i ? "," : "",
			       pol->rules[x.matching[i]].name,
			       pc_action_name(
				       pol->rules[x.matching[i]].action));
		printf("%s\n", x.nmatching ? "" : " none: default deny");
		if (x.nmatching > 1)
			printf("  why: deny beats audit beats allow; among "
			       "equals the earliest rule decides\n");
		if (pol->mode == PC_MODE_AUDIT &&
		    (x.action == PC_ACT_NONE || x.action == PC_ACT_DENY))
			printf("  mode audit: it passes, reported as a "
			       "would-be deny\n");
		if (!x.agrees)
			printf("  WARNING: the compiled policy decides "
			       "differently; please report this\n");
	}
	pc_explanation_free(&x);
	pc_compiled_free(c);
	pc_policy_free(pol);
	return PC_EXIT_OK;
}

static const struct pc_cmd policy_cmds[] = {
	{"validate", "FILE", policy_validate},
	{"push", "FILE", policy_push},
	{"show", "", policy_show},
	{"versions", "", policy_versions},
	{"rollback", "[VERSION]", policy_rollback},
	{"diff", "FILE", policy_diff},
	{"explain", "--from ADDR --to ADDR --port PORT [FILE]", policy_explain},
};

int pc_cmd_policy(const struct pc_cli *cli, int argc, char **argv)
{
	for (size_t i = 0; argc > 0 && i < PC_ARRAY_SIZE(policy_cmds); i++)
		if (!strcmp(argv[0], policy_cmds[i].name))
			return policy_cmds[i].fn(cli, argc - 1, argv + 1);
	fprintf(stderr, "usage: portcullis policy VERB\n");
	for (size_t i = 0; i < PC_ARRAY_SIZE(policy_cmds); i++)
		fprintf(stderr, "  policy %s %s\n", policy_cmds[i].name,
			policy_cmds[i].usage);
	return PC_EXIT_USAGE;
}
