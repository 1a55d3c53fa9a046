// SPDX-License-Identifier: Apache-2.0
/* portcullis status */
#include <stdio.h>

#include "cli.h"

static long long jint(json_t *o, const char *k)
{
	return (long long)json_integer_value(json_object_get(o, k));
}

static void print_status(json_t *s)
{
	json_t *pol = json_object_get(s, "policy"), *v, *ct;
	const char *k;
	size_t i;

	printf("gateway %s (portcullisd %s), up %llds%s\n",
	       json_string_value(json_object_get(s, "gateway")),
	       json_string_value(json_object_get(s, "version")),
	       jint(s, "uptime_seconds"),
	       json_is_true(json_object_get(s, "adopted")) ? ", adopted pinned "
							     "data plane"
							   : "");
	if (json_is_object(pol))
		printf("policy   version %lld, generation %lld, %lld rules, "
		       "%lld "
		       "entries, from %s\n",
		       jint(pol, "version"), jint(pol, "generation"),
		       jint(pol, "rules"), jint(pol, "entries"),
		       json_string_value(json_object_get(pol, "filename")));
	else
		printf("policy   none (all IP traffic denied)\n");
	json_array_foreach (json_object_get(s, "interfaces"), i, v)
		printf("iface    %s: %s XDP%s\n",
		       json_string_value(json_object_get(v, "name")),
		       json_string_value(json_object_get(v, "mode")),
		       json_is_true(json_object_get(v, "attached"))
			       ? ""
			       : " (NOT ATTACHED)");
	ct = json_object_get(s, "conntrack");
	printf("flows    %lld of %lld\n", jint(ct, "entries"),
	       jint(ct, "capacity"));
	json_object_foreach (json_object_get(s, "counters"), k, v)
		if (jint(v, "packets"))
			printf("verdict  %-18s %12lld packets %14lld bytes\n",
			       k, jint(v, "packets"), jint(v, "bytes"));
	json_array_foreach (json_object_get(s, "rules"), i, v)
		printf("rule     %-18s %12lld packets %14lld bytes\n",
		       json_string_value(json_object_get(v, "name")),
		       jint(v, "packets"), jint(v, "bytes"));
}

int pc_cmd_status(const struct pc_cli *cli, int argc, char **argv)
{
	char err[512];
	json_t *reply;
	int status;

	(void)argv;
	if (argc) {
		fprintf(stderr, "usage: portcullis status\n");
		return PC_EXIT_USAGE;
	}
	status = pc_client_call(cli, "GET", "/v1/status", NULL, 0, NULL, &reply,
				err, sizeof(err));
	if (status != 200) {
		pc_client_fail("status", status, reply, err);
		json_decref(reply);
		return PC_EXIT_REFUSED;
	}
	if (cli->json)
		pc_print_json(reply);
	else
		print_status(reply);
	json_decref(reply);
	return PC_EXIT_OK;
}
