// SPDX-License-Identifier: Apache-2.0
/* Unit tests: the etcd client's pieces that need no etcd, its failures
 * against no etcd, and the fleet's records. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "etcd.h"
#include "fleet.h"

static int parse(const char *uri, char *host, unsigned int *port, char *prefix,
		 char *why)
{
	return pc_etcd_parse_uri(uri, host, 128, port, prefix, 128, why, 128);
}

Test(etcd, uris)
{
	char host[128], prefix[128], why[128];
	unsigned int port;

	/* Test hosts, ports, prefixes and their defaults */
	cr_assert_eq(parse("etcd://10.0.0.5:2380/fleet/a/", host, &port, prefix,
			   why),
		     0, "%s", why);
	cr_assert_str_eq(host, "10.0.0.5");
	cr_assert_eq(port, 2380);
	cr_assert_str_eq(prefix, "/fleet/a");
	cr_assert_eq(parse("etcd://etcd.internal", host, &port, prefix, why),
		     0);
	cr_assert_str_eq(host, "etcd.internal");
	cr_assert_eq(port, PC_ETCD_DEFAULT_PORT);
	cr_assert_str_eq(prefix, PC_ETCD_DEFAULT_PREFIX);
	cr_assert_eq(parse("etcd://[fd00::5]:2379/p", host, &port, prefix, why),
		     0);
	cr_assert_str_eq(host, "fd00::5");
	cr_assert_str_eq(prefix, "/p");

	/* Test that each malformed one is refused with why */
	cr_assert_eq(parse("http://h", host, &port, prefix, why), -EINVAL);
	cr_assert_str_eq(why, "must start with etcd://");
	cr_assert_eq(parse("etcd://h:0/p", host, &port, prefix, why), -EINVAL);
	cr_assert_eq(parse("etcd://h:12x/p", host, &port, prefix, why),
		     -EINVAL);
	cr_assert_eq(parse("etcd://h?x", host, &port, prefix, why), -EINVAL);
	cr_assert_eq(parse("etcd:///p", host, &port, prefix, why), -EINVAL);
	cr_assert_eq(parse("etcd://h/p\"q", host, &port, prefix, why), -EINVAL);
}

Test(etcd, base64_ints_and_ranges)
{
	static const char bin[] = {'a', '\0', '\xff', 'b'};
	json_t *j;
	size_t n;
	char *s, end[32];

	/* Test that keys and values survive the round trip, binary too */
	j = pc_etcd_b64(bin, sizeof(bin));
	cr_assert_str_eq(json_string_value(j), "YQD/Yg==");
	s = pc_etcd_unb64(j, &n);
	cr_assert_eq(n, sizeof(bin));
	cr_assert_eq(memcmp(s, bin, n), 0);
	free(s);
	json_decref(j);
	j = json_string("not base64!");
	cr_assert_null(pc_etcd_unb64(j, NULL));
	json_decref(j);

	/* Test that int64s come as strings or numbers, absent as 0 */
	j = json_pack("{s:s, s:I}", "a", "9007199254740993", "b",
		      (json_int_t)7);
	cr_assert_eq(pc_etcd_int(j, "a"), 9007199254740993LL);
	cr_assert_eq(pc_etcd_int(j, "b"), 7);
	cr_assert_eq(pc_etcd_int(j, "c"), 0);
	json_decref(j);

	/* Test the end of a prefix range */
	pc_etcd_prefix_end("/pc/policy/v/", end, sizeof(end));
	cr_assert_str_eq(end, "/pc/policy/v0");
}

Test(etcd, fleet_records)
{
	struct pc_policy_record r;
	char *by, *via;
	static const char good[] =
		"{\"version\":12,\"filename\":\"p.yaml\",\"created_at\":"
		"\"2026-12-05T10:00:00Z\",\"rollback_of\":9,\"by\":\"token "
		"ci\",\"via\":\"gw2\"}";

	/* Test that a version's record reads back, and junk does not */
	cr_assert_eq(pc_fleet_record_parse(good, strlen(good), &r, &by, &via),
		     0);
	cr_assert_eq(r.version, 12);
	cr_assert_eq(r.rollback_of, 9);
	cr_assert_str_eq(r.filename, "p.yaml");
	cr_assert_str_eq(by, "token ci");
	cr_assert_str_eq(via, "gw2");
	cr_assert_null(r.source);
	pc_policy_record_free(&r);
	free(by);
	free(via);
	cr_assert_eq(
		pc_fleet_record_parse("{\"version\":0}", 13, &r, NULL, NULL),
		-EINVAL);
	cr_assert_eq(pc_fleet_record_parse("[1", 2, &r, NULL, NULL), -EINVAL);
}

Test(etcd, version_keys_sort_as_numbers)
{
	struct event_base *base = event_base_new();
	struct pc_etcd *e;
	char why[128], k9[300], k10[300];

	/* Test that zero-padded keys put version 10 after version 9 */
	cr_assert_eq(pc_etcd_new(base, "etcd://127.0.0.1:1/pc", 100, &e, why,
				 sizeof(why)),
		     0);
	pc_fleet_key(e, "v", 9, k9, sizeof(k9));
	pc_fleet_key(e, "v", 10, k10, sizeof(k10));
	cr_assert_str_eq(k9, "/pc/policy/v/00000000000000000009");
	cr_assert_gt(strcmp(k10, k9), 0);
	pc_etcd_free(e);
	event_base_free(base);
}

/* A port with nothing listening, or a listener that never answers. */
static int tcp_port(int listen_too, int *fd)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert_geq(s, 0);
	cr_assert_eq(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(getsockname(s, (struct sockaddr *)&a, &len), 0);
	if (listen_too)
		cr_assert_eq(listen(s, 4), 0);
	*fd = s;
	return ntohs(a.sin_port);
}

Test(etcd, unreachable_and_silent_etcd_fail_in_time)
{
	struct event_base *base = event_base_new();
	char uri[64], why[128], err[PC_ETCD_ERR_LEN];
	struct pc_policy_record r = {
		.source = "x", .filename = "p.yaml", .created_at = "now"};
	struct timespec t0, t1;
	struct pc_etcd *e;
	json_t *resp;
	int fd, port;
	double ms;

	/* Test that nothing listening is -ECONNREFUSED, naming etcd */
	port = tcp_port(0, &fd);
	snprintf(uri, sizeof(uri), "etcd://127.0.0.1:%d/pc", port);
	cr_assert_eq(pc_etcd_new(base, uri, 300, &e, why, sizeof(why)), 0);
	cr_assert_eq(pc_etcd_call(e, "kv/range", json_object(), &resp, err),
		     -ECONNREFUSED);
	cr_assert_null(resp);
	cr_assert(strstr(err, "etcd at 127.0.0.1:") &&
			  strstr(err, "is unreachable"),
		  "%s", err);
	/* and a push is refused the same way, nothing stored */
	cr_assert_eq(pc_fleet_policy_add(e, &r, "t", "gw", err), -ECONNREFUSED);
	pc_etcd_free(e);
	close(fd);

	/* Test that a listener that never answers times out at the
	 * deadline, not later */
	port = tcp_port(1, &fd);
	snprintf(uri, sizeof(uri), "etcd://127.0.0.1:%d/pc", port);
	cr_assert_eq(pc_etcd_new(base, uri, 300, &e, why, sizeof(why)), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cr_assert_eq(pc_etcd_call(e, "kv/range", json_object(), &resp, err),
		     -ETIMEDOUT, "%s", err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
	     (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	cr_assert(ms >= 250 && ms < 2000, "took %.0f ms", ms);
	cr_assert(strstr(err, "did not answer within 300 ms"), "%s", err);
	pc_etcd_free(e);
	close(fd);
	event_base_free(base);
}
