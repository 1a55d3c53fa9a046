// SPDX-License-Identifier: Apache-2.0
/* portcullis gateways: the fleet; and waiting for it to converge. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int is_up(json_t *g)
{
	return !strcmp(pc_jstr(g, "state"), "up");
}

/*
 * fleet etcd://10.0.0.5:2379/portcullis: connected; newest policy 7
 * NAME  SITE  REGION  ADDRESS  VERSION  STATE  HEALTH  POLICY  FLOWS  PPS
 */
static void print_fleet(json_t *r)
{
	json_t *g;
	size_t i;

	printf("fleet %s: %s; newest policy version %lld\n",
	       pc_jstr(r, "store"),
	       json_is_true(json_object_get(r, "connected"))
		       ? "connected"
		       : "NOT CONNECTED, enforcing the last policy",
	       pc_jint(r, "policy_version"));
	if (!json_is_true(json_object_get(r, "connected")))
		printf("  %s\n", pc_jstr(r, "error"));
	printf("%-16s %-10s %-10s %-18s %-8s %-5s %-9s %-8s %8s %10s\n", "NAME",
	       "SITE", "REGION", "ADDRESS", "VERSION", "STATE", "HEALTH",
	       "POLICY", "FLOWS", "PPS");
	json_array_foreach (json_object_get(r, "gateways"), i, g) {
		char pol[32], flows[24] = "-", pps[24] = "-";
		int up = is_up(g);

		snprintf(pol, sizeof(pol), "%lld%s",
			 pc_jint(g, "policy_version"),
			 up && !json_is_true(json_object_get(g, "in_sync"))
				 ? " (old)"
				 : "");
		if (up) {
			snprintf(flows, sizeof(flows), "%lld",
				 pc_jint(g, "flows"));
			snprintf(pps, sizeof(pps), "%.1f",
				 json_number_value(json_object_get(g, "pps")));
		}
		printf("%-16s %-10s %-10s %-18s %-8s %-5s %-9s %-8s %8s %10s\n",
		       pc_jstr(g, "name"),
		       *pc_jstr(g, "site") ? pc_jstr(g, "site") : "-",
		       *pc_jstr(g, "region") ? pc_jstr(g, "region") : "-",
		       *pc_jstr(g, "address") ? pc_jstr(g, "address") : "-",
		       *pc_jstr(g, "version") ? pc_jstr(g, "version") : "-",
		       pc_jstr(g, "state"), pc_jstr(g, "health"),
		       up ? pol : "-", flows, pps);
		if (*pc_jstr(g, "error"))
			printf("  %s: %s\n", pc_jstr(g, "name"),
			       pc_jstr(g, "error"));
		if (!up && pc_jint(g, "lost_at")) {
			char when[32];
			time_t at = (time_t)pc_jint(g, "lost_at");
			struct tm tm;

			gmtime_r(&at, &tm);
			if (!strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ",
				      &tm))
				when[0] = '\0';
			printf("  %s: lease ended at %s\n", pc_jstr(g, "name"),
			       when);
		}
	}
}

int pc_fleet_wait(const struct pc_cli *cli, long long version, double timeout)
{
	double t0 = now_s(), t;
	size_t behind = 0, up = 0, down = 0;
	json_t *r = NULL, *g;
	size_t i;

	for (;;) {
		char err[512];
		int status;

		json_decref(r);
		status = pc_client_call(cli, "GET", "/v1/gateways", NULL, 0,
					NULL, &r, err, sizeof(err));
		t = now_s() - t0;
		if (status != 200) {
			pc_client_fail("gateways", status, r, err);
			json_decref(r);
			return PC_EXIT_REFUSED;
		}
		if (json_is_false(json_object_get(r, "connected"))) {
			fprintf(stderr,
				"portcullis: gateways: the gateway asked is "
				"not connected to the fleet's store (%s); its "
				"view is stale\n",
				pc_jstr(r, "error"));
			json_decref(r);
			return PC_EXIT_REFUSED;
		}
		behind = up = down = 0;
		json_array_foreach (json_object_get(r, "gateways"), i, g) {
			if (!is_up(g))
				down++;
			else if (up++, pc_jint(g, "policy_version") != version)
				behind++;
		}
		if (!behind || t >= timeout)
			break;
		nanosleep(&(struct timespec){0, 20L * 1000 * 1000}, NULL);
	}
	if (behind) {
		printf("version %lld: %zu of %zu gateways up enforce it after "
		       "%.1f s; behind:\n",
		       version, up - behind, up, t);
		json_array_foreach (json_object_get(r, "gateways"), i, g)
			if (is_up(g) && pc_jint(g, "policy_version") != version)
				printf("  %s: version %lld%s%s\n",
				       pc_jstr(g, "name"),
				       pc_jint(g, "policy_version"),
				       *pc_jstr(g, "error") ? ": " : "",
				       pc_jstr(g, "error"));
	} else {
		printf("version %lld in force on %zu of %zu gateways up after "
		       "%.3f s\n",
		       version, up, up, t);
	}
	json_array_foreach (json_object_get(r, "gateways"), i, g)
		if (!is_up(g))
			printf("  %s is down: it takes the newest version when "
			       "it returns\n",
			       pc_jstr(g, "name"));
	json_decref(r);
	return behind ? PC_EXIT_REFUSED : PC_EXIT_OK;
}

int pc_cmd_gateways(const struct pc_cli *cli, int argc, char **argv)
{
	json_t *reply;

	if (argc >= 1 && !strcmp(argv[0], "wait")) {
		long long version = 0;
		double timeout = 10;
		char *end = "";

		for (int i = 1; i < argc; i++) {
			if (!strcmp(argv[i], "--version") && i + 1 < argc)
				version = strtoll(argv[++i], &end, 10);
			else if (!strcmp(argv[i], "--timeout") && i + 1 < argc)
				timeout = strtod(argv[++i], &end);
			else
				end = "x";
			if (*end)
				break;
		}
		if (*end || timeout <= 0 || version < 0) {
			fprintf(stderr, "usage: portcullis gateways wait "
					"[--version N] [--timeout S]\n");
			return PC_EXIT_USAGE;
		}
		if (!version) {
			if (pc_client_get(cli, "gateways", "/v1/gateways",
					  &reply))
				return PC_EXIT_REFUSED;
			version = pc_jint(reply, "policy_version");
			json_decref(reply);
		}
		return pc_fleet_wait(cli, version, timeout);
	}
	if (argc == 2 && !strcmp(argv[0], "remove")) {
		char path[160], err[512];
		int status;

		snprintf(path, sizeof(path), "/v1/gateways/%s", argv[1]);
		status = pc_client_call(cli, "DELETE", path, NULL, 0, NULL,
					&reply, err, sizeof(err));
		if (status != 200) {
			pc_client_fail("gateways remove", status, reply, err);
			json_decref(reply);
			return PC_EXIT_REFUSED;
		}
		json_decref(reply);
		printf("removed gateway %s from the fleet\n", argv[1]);
		return PC_EXIT_OK;
	}
	if (argc > 1 || (argc == 1 && strcmp(argv[0], "list"))) {
		fprintf(stderr,
			"usage: portcullis gateways [list | remove NAME "
			"| wait [--version N] [--timeout S]]\n");
		return PC_EXIT_USAGE;
	}
	if (pc_client_get(cli, "gateways", "/v1/gateways", &reply))
		return PC_EXIT_REFUSED;
	if (pc_client_json_done(cli, reply))
		return PC_EXIT_OK;
	print_fleet(reply);
	json_decref(reply);
	return PC_EXIT_OK;
}
