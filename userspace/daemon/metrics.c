// SPDX-License-Identifier: Apache-2.0
/*
 * GET /metrics: the data plane's counters and maps, read at scrape time
 * (per-CPU counters summed), and the daemon process itself.  Names and
 * labels are documented in docs/observability.md.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "portcullis/maps.h"
#include "portcullis/reasons.h"

#include "metrics.h"

static const char *verdict_of(unsigned int reason)
{
	switch (reason) {
	case PC_R_AUDIT:
	case PC_R_AUDIT_DENY_RULE:
	case PC_R_AUDIT_DENY_DEFAULT:
		return "audit";
	case PC_R_PASS_ARP:
	case PC_R_PASS_ND:
	case PC_R_PASS_NONIP:
		return "pass";
	default:
		return reason < PC_R_FIRST_DROP ? "allow" : "deny";
	}
}

/*
 * A per-CPU counter table as two families, packets and bytes, with a
 * series for each index that labels() names (it fills l, a NULL-ended
 * name, value list, and returns 0 for an index with no series).
 */
static void counter_families(struct pc_buf *b, const char *const fam[2][2],
			     const struct pc_counter *st, unsigned int n,
			     int (*labels)(unsigned int i, const char **l))
{
	for (int f = 0; f < 2; f++) {
		pc_prom_family(b, fam[f][0], "counter", fam[f][1]);
		for (unsigned int i = 0; i < n; i++) {
			const char *l[5] = {NULL};

			if (labels(i, l))
				pc_prom_u64(b, fam[f][0], l,
					    f ? st[i].bytes : st[i].packets);
		}
	}
}

static int reason_labels(unsigned int i, const char **l)
{
	const char *name = pc_reason_name(i);

	if (!name || i == PC_R_EVENTS_SUPPRESSED || i == PC_R_EVENTS_LOST)
		return 0;
	l[0] = "verdict";
	l[1] = verdict_of(i);
	l[2] = "reason";
	l[3] = name;
	return 1;
}

static void reasons(struct pc_buf *b, const struct pc_counter *st)
{
	static const char *const fam[2][2] = {
		{"portcullis_packets_total",
		 "Packets decided, by verdict (allow, audit, pass, deny) and "
		 "reason."},
		{"portcullis_bytes_total",
		 "Bytes of the packets decided, by verdict and reason."}};

	counter_families(b, fam, st, PC_REASON_SLOTS, reason_labels);
	pc_prom_family(b, "portcullis_events_suppressed_total", "counter",
		       "Verdict events not sent because the per-second deny "
		       "event budget was spent.");
	pc_prom_u64(b, "portcullis_events_suppressed_total", NULL,
		    st[PC_R_EVENTS_SUPPRESSED].packets);
	pc_prom_family(b, "portcullis_events_lost_total", "counter",
		       "Verdict events lost because the ring buffer was full.");
	pc_prom_u64(b, "portcullis_events_lost_total", NULL,
		    st[PC_R_EVENTS_LOST].packets);
}

static int fwd_labels(unsigned int i, const char **l)
{
	l[0] = "result";
	l[1] = pc_fwd_result_name(i);
	return l[1] != NULL;
}

static void forwarding(struct pc_buf *b, const struct pc_counter *st)
{
	static const char *const fam[2][2] = {
		{"portcullis_forward_packets_total",
		 "Packets that passed, by what XDP forwarding did with them "
		 "(forwarded, or why the kernel got them)."},
		{"portcullis_forward_bytes_total",
		 "Bytes of those packets, by result."}};

	counter_families(b, fam, st, PC_FWD_SLOTS, fwd_labels);
}

/*
 * Packets and bytes of the flows from each identity, passed and dropped:
 * the sum of the counters of the sets holding it (an identity held by a
 * set past the counted ones, PC_SET_STATS, has no series); and of the
 * flows each service's rules decided, counted by service number.  Names
 * past the first PC_METRICS_MAX_NAMES have none either.
 */
static void by_owner(struct pc_buf *b, struct pc_dp *dp,
		     const struct pc_compiled *c, int services)
{
	static const char *const fam[2][2][2] = {
		{{"portcullis_identity_packets_total",
		  "Packets of the flows from each identity of the policy in "
		  "force, by verdict (allow: passed, deny: dropped)."},
		 {"portcullis_identity_bytes_total",
		  "Bytes of the flows from each identity, by verdict."}},
		{{"portcullis_service_packets_total",
		  "Packets of the flows a rule decided through each service "
		  "of the policy in force, by verdict (allow: passed, deny: "
		  "dropped)."},
		 {"portcullis_service_bytes_total",
		  "Bytes of the flows a rule decided through each service, "
		  "by verdict."}}};
	static const char *const verdict[2] = {"allow", "deny"};
	const struct pc_owner_sets *o = NULL;
	struct pc_set_counter *sc = NULL, *sum = NULL;
	size_t nsets = 0, n = 0;
	uint8_t *whole = NULL;

	if (c) {
		o = services ? &c->service_owners : &c->ident_owners;
		nsets = (services ? o->n : c->nident_sets) + 1;
		n = o->n < PC_METRICS_MAX_NAMES ? o->n : PC_METRICS_MAX_NAMES;
	}
	if (nsets > PC_SET_STATS)
		nsets = PC_SET_STATS;
	if (n) {
		sc = pc_xcalloc(nsets, sizeof(*sc));
		sum = pc_xcalloc(n, sizeof(*sum));
		whole = pc_xcalloc(n, 1);
		if (pc_dp_read_set_stats(dp, services, nsets, sc))
			n = 0;
	}
	for (size_t i = 0; i < n; i++) {
		whole[i] = 1;
		if (services) { /* counted by number: service i is i + 1 */
			whole[i] = i + 1 < PC_SET_STATS;
			if (whole[i])
				sum[i] = sc[i + 1];
			continue;
		}
		for (size_t a = o->start[i]; a < o->start[i + 1]; a++) {
			uint32_t id = o->ids[a];

			if (id >= PC_SET_STATS) {
				whole[i] = 0;
				continue;
			}
			for (int d = 0; d < 2; d++) {
				sum[i].packets[d] += sc[id].packets[d];
				sum[i].bytes[d] += sc[id].bytes[d];
			}
		}
	}
	for (int f = 0; f < 2; f++) {
		pc_prom_family(b, fam[services][f][0], "counter",
			       fam[services][f][1]);
		for (size_t i = 0; i < n; i++)
			for (int d = 0; whole[i] && d < 2; d++) {
				const char *l[] = {services ? "service"
							    : "identity",
						   o->names[i], "verdict",
						   verdict[d], NULL};

				pc_prom_u64(b, fam[services][f][0], l,
					    f ? sum[i].bytes[d]
					      : sum[i].packets[d]);
			}
	}
	free(sc);
	free(sum);
	free(whole);
}

static void rules(struct pc_buf *b, struct pc_dp *dp,
		  const struct pc_compiled *c)
{
	size_t n = c ? c->nrules : 0;
	struct pc_counter *rs;

	if (n > PC_METRICS_MAX_RULES)
		n = PC_METRICS_MAX_RULES;
	pc_prom_family(b, "portcullis_rule_packets_total", "counter",
		       "Packets decided by each rule of the policy in force "
		       "(its first 1000 rules).");
	if (!n)
		return;
	rs = pc_xcalloc(n, sizeof(*rs));
	if (!pc_dp_read_rule_stats(dp, n, rs)) {
		for (size_t i = 0; i < n; i++) {
			const char *l[] = {"rule", c->rule_names[i], NULL};

			pc_prom_u64(b, "portcullis_rule_packets_total", l,
				    rs[i].packets);
		}
		pc_prom_family(b, "portcullis_rule_bytes_total", "counter",
			       "Bytes of the packets each rule decided.");
		for (size_t i = 0; i < n; i++) {
			const char *l[] = {"rule", c->rule_names[i], NULL};

			pc_prom_u64(b, "portcullis_rule_bytes_total", l,
				    rs[i].bytes);
		}
	}
	free(rs);
}

struct maps_out {
	struct pc_buf cap, used;
};

static void one_map(void *arg, const struct pc_dp_map_use *u)
{
	struct maps_out *o = arg;
	const char *l[] = {"map", u->name, "type", u->type, NULL};

	pc_prom_u64(&o->cap, "portcullis_map_capacity", l, u->capacity);
	if (u->entries >= 0)
		pc_prom_u64(&o->used, "portcullis_map_entries", l,
			    (uint64_t)u->entries);
}

void pc_metrics_dataplane(struct pc_buf *b, struct pc_dp *dp,
			  const struct pc_compiled *c)
{
	struct pc_counter st[PC_REASON_SLOTS], fw[PC_FWD_SLOTS];
	struct maps_out mo = {0};
	size_t ct = 0;
	uint64_t evicted = 0;

	if (!pc_dp_read_stats(dp, st))
		reasons(b, st);
	if (!pc_dp_read_fwd_stats(dp, fw))
		forwarding(b, fw);
	rules(b, dp, c);
	by_owner(b, dp, c, 0);
	by_owner(b, dp, c, 1);

	pc_prom_family(&mo.cap, "portcullis_map_capacity", "gauge",
		       "Entries each BPF map can hold (arrays: their size).");
	pc_prom_family(&mo.used, "portcullis_map_entries", "gauge",
		       "Entries in use in each BPF hash map and trie.");
	pc_dp_maps_each(dp, 0, one_map, &mo);
	if (mo.cap.data)
		pc_buf_append(b, mo.cap.data, mo.cap.len);
	if (mo.used.data)
		pc_buf_append(b, mo.used.data, mo.used.len);
	pc_buf_free(&mo.cap);
	pc_buf_free(&mo.used);

	if (!pc_dp_ct_usage(dp, &ct, &evicted)) {
		pc_prom_family(b, "portcullis_conntrack_entries", "gauge",
			       "Flows in the conntrack table.");
		pc_prom_u64(b, "portcullis_conntrack_entries", NULL, ct);
		pc_prom_family(b, "portcullis_conntrack_evictions_total",
			       "counter",
			       "Flows the kernel dropped from the full "
			       "conntrack table to make room (least recently "
			       "used first), since the daemon started.");
		pc_prom_u64(b, "portcullis_conntrack_evictions_total", NULL,
			    evicted);
	}
	pc_prom_family(b, "portcullis_conntrack_capacity", "gauge",
		       "Flows the conntrack table holds before it evicts the "
		       "least recently used.");
	pc_prom_u64(b, "portcullis_conntrack_capacity", NULL, PC_CT_ENTRIES);
}

/* Open descriptors: /proc/self/fd, less the one reading it. */
static long open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	long n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;
}

/* Field f (counting from 1) of /proc/self/stat as a number; s is its
 * field 3 (the state, after the command's closing parenthesis); -1 if
 * it has no such field or the field is not a number. */
static int stat_field(const char *s, int f, long long *out)
{
	char *end;

	for (int i = 3; i < f && s; i++)
		if ((s = strchr(s, ' ')))
			s++;
	if (!s || !(isdigit((unsigned char)*s) || *s == '-'))
		return -1;
	errno = 0;
	*out = strtoll(s, &end, 10);
	return errno || end == s ? -1 : 0;
}

void pc_metrics_process(struct pc_buf *b, time_t started)
{
	long tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	long long ut = 0, st = 0, vsz = 0, rss = 0;
	struct rlimit rl;
	struct pc_buf stat = {0};
	long fds = open_fds();

	/* /proc/self/stat: fields 14, 15 (utime, stime), 23 (vsize) and
	 * 24 (rss), after the command's closing parenthesis */
	if (!pc_read_file("/proc/self/stat", 4096, &stat) && stat.data) {
		const char *p = strrchr(stat.data, ')');

		if (p &&
		    (stat_field(p + 2, 14, &ut) || stat_field(p + 2, 15, &st) ||
		     stat_field(p + 2, 23, &vsz) ||
		     stat_field(p + 2, 24, &rss)))
			ut = st = vsz = rss = 0;
	}
	pc_buf_free(&stat);
	pc_prom_family(b, "process_cpu_seconds_total", "counter",
		       "User and system CPU time portcullisd spent, in "
		       "seconds.");
	pc_prom_f64(b, "process_cpu_seconds_total", NULL,
		    tick > 0 ? (double)(ut + st) / (double)tick : 0);
	pc_prom_family(b, "process_resident_memory_bytes", "gauge",
		       "Resident memory of portcullisd, in bytes.");
	pc_prom_u64(b, "process_resident_memory_bytes", NULL,
		    rss > 0 && page > 0 ? (uint64_t)rss * (uint64_t)page : 0);
	pc_prom_family(b, "process_virtual_memory_bytes", "gauge",
		       "Virtual memory of portcullisd, in bytes.");
	pc_prom_u64(b, "process_virtual_memory_bytes", NULL,
		    vsz > 0 ? (uint64_t)vsz : 0);
	if (fds >= 0) {
		pc_prom_family(b, "process_open_fds", "gauge",
			       "File descriptors portcullisd has open.");
		pc_prom_u64(b, "process_open_fds", NULL, (uint64_t)fds);
	}
	if (!getrlimit(RLIMIT_NOFILE, &rl)) {
		pc_prom_family(b, "process_max_fds", "gauge",
			       "The most file descriptors portcullisd may "
			       "open.");
		pc_prom_u64(b, "process_max_fds", NULL, (uint64_t)rl.rlim_cur);
	}
	pc_prom_family(b, "process_start_time_seconds", "gauge",
		       "When portcullisd started, in seconds since the "
		       "epoch.");
	pc_prom_u64(b, "process_start_time_seconds", NULL, (uint64_t)started);
}
