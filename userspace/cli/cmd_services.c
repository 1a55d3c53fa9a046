// SPDX-License-Identifier: Apache-2.0
/* portcullis services: load-balanced services, backends and health. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"

/*
 * service web (ipv4, maglev; probe http every 100ms, rise 2 fall 2)
 *   198.18.0.100 80/tcp
 *   BACKEND              WEIGHT  HEALTH  NEW FLOWS  FLOWS  RTT CHECKS/FAILED
 * LAST ERROR
 */
static void print_service(json_t *s)
{
	json_t *p = json_object_get(s, "probe"), *v;
	size_t i;

	printf("service %s (%s, %s; ", pc_jstr(s, "name"), pc_jstr(s, "family"),
	       pc_jstr(s, "balance"));
	if (!strcmp(pc_jstr(p, "type"), "none"))
		printf("no health checks)\n");
	else
		printf("probe %s every %lldms, rise %lld fall %lld)\n",
		       pc_jstr(p, "type"), pc_jint(p, "interval_ms"),
		       pc_jint(p, "rise"), pc_jint(p, "fall"));
	json_array_foreach (json_object_get(s, "virtual"), i, v)
		printf("  %s %s\n", pc_jstr(v, "address"), pc_jstr(v, "port"));
	printf("  %-28s %6s %-9s %-9s %7s %9s %13s  %s\n", "BACKEND", "WEIGHT",
	       "HEALTH", "NEW-FLOWS", "FLOWS", "RTT", "CHECKS/FAILED",
	       "LAST ERROR");
	json_array_foreach (json_object_get(s, "backends"), i, v) {
		char b[96], rtt[32] = "-", cf[48] = "-";

		if (pc_jint(v, "port"))
			snprintf(b, sizeof(b),
				 strchr(pc_jstr(v, "address"), ':')
					 ? "[%s]:%lld"
					 : "%s:%lld",
				 pc_jstr(v, "address"), pc_jint(v, "port"));
		else
			snprintf(b, sizeof(b), "%s", pc_jstr(v, "address"));
		if (json_object_get(v, "rtt_us")) {
			snprintf(rtt, sizeof(rtt), "%.2fms",
				 (double)pc_jint(v, "rtt_us") / 1000.0);
			snprintf(cf, sizeof(cf), "%lld/%lld",
				 pc_jint(v, "checks"), pc_jint(v, "failures"));
		}
		printf("  %-28s %6lld %-9s %-9s %7lld %9s %13s  %s\n", b,
		       pc_jint(v, "weight"), pc_jstr(v, "health"),
		       json_is_true(json_object_get(v, "drain"))    ? "draining"
		       : json_is_true(json_object_get(v, "active")) ? "yes"
								    : "no",
		       pc_jint(v, "flows"), rtt, cf, pc_jstr(v, "last_error"));
	}
}

int pc_cmd_services(const struct pc_cli *cli, int argc, char **argv)
{
	json_t *reply, *v;
	size_t i;

	(void)argv;
	if (argc > 1) {
		fprintf(stderr, "usage: portcullis services\n");
		return PC_EXIT_USAGE;
	}
	if (pc_client_get(cli, "services", "/v1/services", &reply))
		return PC_EXIT_REFUSED;
	if (pc_client_json_done(cli, reply))
		return PC_EXIT_OK;
	if (!json_array_size(json_object_get(reply, "services")))
		printf("no load-balanced services\n");
	json_array_foreach (json_object_get(reply, "services"), i, v)
		print_service(v);
	if (json_array_size(json_object_get(reply, "transitions")))
		printf("recent health changes:\n");
	json_array_foreach (json_object_get(reply, "transitions"), i, v) {
		char when[32];
		time_t at = (time_t)pc_jint(v, "at");
		struct tm tm;

		gmtime_r(&at, &tm);
		if (!strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm))
			when[0] = '\0';
		printf("  %s  %s %s %s%s%s\n", when, pc_jstr(v, "service"),
		       pc_jstr(v, "backend"), pc_jstr(v, "state"),
		       *pc_jstr(v, "why") ? ": " : "", pc_jstr(v, "why"));
	}
	json_decref(reply);
	return PC_EXIT_OK;
}
