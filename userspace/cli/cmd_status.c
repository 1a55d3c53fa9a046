// SPDX-License-Identifier: Apache-2.0
/* portcullis status */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "pclib.h"

/* forward  xdp: 1234 forwarded, no_neighbour 3, local 12 */
static void print_forwarding(json_t *f)
{
	const char *k, *mode = json_string_value(json_object_get(f, "mode"));
	json_t *v;

	if (!mode)
		return;
	printf("forward  %s", mode);
	if (!strcmp(mode, "xdp")) {
		printf(": %lld forwarded",
		       pc_jint(json_object_get(f, "forwarded"), "packets"));
		json_object_foreach (json_object_get(f, "to_kernel"), k, v)
			if (pc_jint(v, "packets"))
				printf(", %s %lld", k, pc_jint(v, "packets"));
	}
	printf("\n");
}

static void print_status(json_t *s)
{
	json_t *pol = json_object_get(s, "policy"), *v, *ct;
	const char *k;
	size_t i;

	printf("gateway %s (portcullisd %s), up %llds%s\n",
	       json_string_value(json_object_get(s, "gateway")),
	       json_string_value(json_object_get(s, "version")),
	       pc_jint(s, "uptime_seconds"),
	       json_is_true(json_object_get(s, "adopted")) ? ", adopted pinned "
							     "data plane"
							   : "");
	if (json_is_object(pol))
		printf("policy   version %lld, generation %lld, %lld rules, "
		       "%lld "
		       "entries, from %s\n",
		       pc_jint(pol, "version"), pc_jint(pol, "generation"),
		       pc_jint(pol, "rules"), pc_jint(pol, "entries"),
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
	v = json_object_get(s, "state");
	if (json_is_object(v) && !json_is_true(json_object_get(v, "writable")))
		printf("state    NOT WRITABLE: %s (the data plane keeps "
		       "enforcing; pushes are refused)\n",
		       json_string_value(json_object_get(v, "error")));
	ct = json_object_get(s, "conntrack");
	printf("flows    %lld of %lld", pc_jint(ct, "entries"),
	       pc_jint(ct, "capacity"));
	if (pc_jint(ct, "evictions"))
		printf(" (%lld evicted for room)", pc_jint(ct, "evictions"));
	printf("\n");
	json_object_foreach (json_object_get(s, "counters"), k, v)
		if (pc_jint(v, "packets"))
			printf("verdict  %-18s %12lld packets %14lld bytes\n",
			       k, pc_jint(v, "packets"), pc_jint(v, "bytes"));
	print_forwarding(json_object_get(s, "forwarding"));
	json_array_foreach (json_object_get(s, "rules"), i, v)
		printf("rule     %-18s %12lld packets %14lld bytes\n",
		       json_string_value(json_object_get(v, "name")),
		       pc_jint(v, "packets"), pc_jint(v, "bytes"));
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

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The table of a GET /v1/flows reply. */
static void print_flows(json_t *reply)
{
	json_t *f;
	size_t i;

	printf("%-6s %-40s %-40s %-12s %-16s %-14s %s\n", "PROTO", "SOURCE",
	       "DESTINATION", "STATE", "PACKETS", "IDENTITIES", "RULE");
	json_array_foreach (json_object_get(reply, "flows"), i, f) {
		char src[64], dst[64], pk[32];

		snprintf(src, sizeof(src), "%s:%lld", pc_jstr(f, "src"),
			 pc_jint(f, "sport"));
		snprintf(dst, sizeof(dst), "%s:%lld", pc_jstr(f, "dst"),
			 pc_jint(f, "dport"));
		snprintf(pk, sizeof(pk), "%lld/%lld",
			 (long long)json_integer_value(json_array_get(
				 json_object_get(f, "packets"), 0)),
			 (long long)json_integer_value(json_array_get(
				 json_object_get(f, "packets"), 1)));
		printf("%-6s %-40s %-40s %-12s %-16s %-14s %s\n",
		       pc_jstr(f, "proto"), src, dst, pc_jstr(f, "state"), pk,
		       pc_jstr(f, "identities"),
		       pc_jstr(f, "rule") ? pc_jstr(f, "rule") : "-");
	}
	printf("%lld flows matched, %lld shown\n", pc_jint(reply, "matched"),
	       pc_jint(reply, "shown"));
}

#define FLOWS_USAGE                                                   \
	"usage: portcullis flows [--identity NAME] [--service NAME] " \
	"[--verdict V] [--host ADDR]\n"                               \
	"                        [--state STATE] [--proto PROTO] "    \
	"[--limit N]\n"                                               \
	"                        [--follow [--interval S] [--duration S]]\n"

/*
 * portcullis flows [--identity N] [--service N] [--verdict V] [--host A]
 * [--state S] [--proto P]
 * [--limit N] [--follow [--interval S] [--duration S]]: the conntrack
 * table, filtered by the daemon; --follow shows it again every interval
 * (1 s), redrawn on a terminal, one JSON document per line with --json.
 */
int pc_cmd_flows(const struct pc_cli *cli, int argc, char **argv)
{
	static const char *const keys[] = {"identity", "service", "verdict",
					   "host",     "state",	  "proto",
					   "limit"};
	struct pc_buf path = {0};
	double interval = 1, duration = 0, t0;
	int follow = 0, tty = isatty(STDOUT_FILENO);
	json_t *reply;
	int status;

	pc_buf_printf(&path, "/v1/flows?");
	for (int a = 0; a < argc; a += 2) {
		size_t k;
		char *end = "";

		if (!strcmp(argv[a], "--follow")) {
			follow = 1;
			a--; /* no value */
			continue;
		}
		if (a + 1 < argc && (!strcmp(argv[a], "--interval") ||
				     !strcmp(argv[a], "--duration"))) {
			double v = strtod(argv[a + 1], &end);

			/* (so written, NaN is refused too) */
			if (*end ||
			    !(v >= (argv[a][2] == 'i' ? 0.1 : 0) && v <= 86400))
				goto usage;
			*(argv[a][2] == 'i' ? &interval : &duration) = v;
			continue;
		}
		for (k = 0; k < PC_ARRAY_SIZE(keys); k++)
			if (!strncmp(argv[a], "--", 2) &&
			    !strcmp(argv[a] + 2, keys[k]))
				break;
		if (k == PC_ARRAY_SIZE(keys) || a + 1 >= argc ||
		    strpbrk(argv[a + 1], "&?#% "))
			goto usage;
		pc_buf_printf(&path, "%s%s=%s", path.len > 10 ? "&" : "",
			      keys[k], argv[a + 1]);
	}
	t0 = now_s();
	for (;;) {
		status = pc_client_get(cli, "flows", path.data, &reply);
		if (status) {
			pc_buf_free(&path);
			return PC_EXIT_REFUSED;
		}
		if (!follow) {
			pc_buf_free(&path);
			if (pc_client_json_done(cli, reply))
				return PC_EXIT_OK;
			print_flows(reply);
			json_decref(reply);
			return PC_EXIT_OK;
		}
		if (cli->json) {
			char *line = json_dumps(reply,
						JSON_COMPACT | JSON_SORT_KEYS);

			if (line)
				puts(line);
			free(line);
		} else {
			char when[32];
			time_t now = time(NULL);

			if (!strftime(when, sizeof(when), "%H:%M:%S",
				      localtime(&now)))
				when[0] = '\0';
			if (tty)
				fputs("\033[H\033[2J", stdout);
			printf("--- %s, every %g s\n", when, interval);
			print_flows(reply);
		}
		fflush(stdout);
		json_decref(reply);
		if (duration && now_s() - t0 + interval > duration)
			break;
		{
			struct timespec ts = {
				.tv_sec = (time_t)interval,
				.tv_nsec = (long)((interval -
						   (double)(time_t)interval) *
						  1e9)};

			nanosleep(&ts, NULL);
		}
	}
	pc_buf_free(&path);
	return PC_EXIT_OK;
usage:
	fputs(FLOWS_USAGE, stderr);
	pc_buf_free(&path);
	return PC_EXIT_USAGE;
}

static void print_event(void *arg, const char *data)
{
	const struct pc_cli *cli = arg;
	json_t *e;

	if (cli->json) {
		puts(data);
		fflush(stdout);
		return;
	}
	if (!(e = json_loads(data, 0, NULL)))
		return;
	if (json_object_get(e, "backend")) { /* a health transition */
		const char *why = json_string_value(json_object_get(e, "why"));

		printf("%-20s service=%s backend=%s%s%s\n",
		       json_string_value(json_object_get(e, "reason")),
		       json_string_value(json_object_get(e, "service")),
		       json_string_value(json_object_get(e, "backend")),
		       why && *why ? " why=" : "", why && *why ? why : "");
		json_decref(e);
		fflush(stdout);
		return;
	}
	printf("%-20s %-5s %s:%lld -> %s:%lld identities=%s rule=%s if=%s\n",
	       json_string_value(json_object_get(e, "reason")),
	       json_string_value(json_object_get(e, "proto")),
	       json_string_value(json_object_get(e, "src")),
	       (long long)json_integer_value(json_object_get(e, "sport")),
	       json_string_value(json_object_get(e, "dst")),
	       (long long)json_integer_value(json_object_get(e, "dport")),
	       json_string_value(json_object_get(e, "identities")),
	       json_string_value(json_object_get(e, "rule")),
	       json_string_value(json_object_get(e, "interface")));
	fflush(stdout);
	json_decref(e);
}

/* portcullis events [--follow] [--reason R] [--duration S]: verdicts as
 * they come, until interrupted (--follow) or for S seconds */
int pc_cmd_events(const struct pc_cli *cli, int argc, char **argv)
{
	char path[96] = "/v1/events", err[512], *end = "";
	long seconds = 0;
	int status;

	for (int a = 0; a < argc; a += 2) {
		if (a + 1 < argc && !strcmp(argv[a], "--reason") &&
		    strlen(argv[a + 1]) < 32 && !strpbrk(argv[a + 1], "&?#% "))
			snprintf(path, sizeof(path), "/v1/events?reason=%s",
				 argv[a + 1]);
		else if (a + 1 < argc && !strcmp(argv[a], "--duration"))
			seconds = strtol(argv[a + 1], &end, 10);
		else if (!strcmp(argv[a], "--follow"))
			a--; /* the default: until interrupted */
		else
			end = "x";
		if (*end || seconds < 0) {
			fprintf(stderr, "usage: portcullis events [--follow] "
					"[--reason REASON] [--duration "
					"SECONDS]\n");
			return PC_EXIT_USAGE;
		}
	}
	status = pc_client_stream(cli, path, seconds, print_event, (void *)cli,
				  err, sizeof(err));
	if (status != 200) {
		if (status < 0)
			fprintf(stderr, "portcullis: %s\n", err);
		else
			fprintf(stderr, "portcullis: events failed: HTTP %d\n",
				status);
		return PC_EXIT_REFUSED;
	}
	return PC_EXIT_OK;
}

/* portcullis denies [--limit N]: the stored deny events, newest first */
int pc_cmd_denies(const struct pc_cli *cli, int argc, char **argv)
{
	char path[64];
	json_t *reply, *d;
	long limit;
	size_t i;

	if (pc_cli_limit(argc, argv, &limit)) {
		fprintf(stderr, "usage: portcullis denies [--limit 1..1000]\n");
		return PC_EXIT_USAGE;
	}
	snprintf(path, sizeof(path), "/v1/denies?limit=%ld", limit);
	if (pc_client_get(cli, "denies", path, &reply))
		return PC_EXIT_REFUSED;
	if (pc_client_json_done(cli, reply))
		return PC_EXIT_OK;
	json_array_foreach (json_object_get(reply, "denies"), i, d)
		printf("%s  %-20s %-5s %s:%lld -> %s:%lld identities=%s "
		       "rule=%s if=%s\n",
		       json_string_value(json_object_get(d, "at")),
		       json_string_value(json_object_get(d, "reason")),
		       json_string_value(json_object_get(d, "proto")),
		       json_string_value(json_object_get(d, "src")),
		       (long long)json_integer_value(
			       json_object_get(d, "sport")),
		       json_string_value(json_object_get(d, "dst")),
		       (long long)json_integer_value(
			       json_object_get(d, "dport")),
		       json_string_value(json_object_get(d, "identities")),
		       json_string_value(json_object_get(d, "rule")),
		       json_string_value(json_object_get(d, "interface")));
	json_decref(reply);
	return PC_EXIT_OK;
}
