/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The flow log: one JSON line per flow when it ends (from conntrack,
 * walked once a second) and per deny event, in a file rotated by size.
 */
#ifndef PC_FLOWLOG_H
#define PC_FLOWLOG_H

#include <event2/event.h>
#include <jansson.h>
#include <stdint.h>

#include "dataplane.h"

struct pc_flowlog;

/* What the gateway names in a flow's record (it knows the policy). */
struct pc_flow_names {
	const char *identity, *service, *rule, *verdict;
};
/* Fill out; return 1 when the names are the policy in force's own for
 * this flow (its entry was decided by it), 0 when they are guesses: the
 * log keeps the last names it had from the policy that decided it. */
typedef int (*pc_flow_names_fn)(void *arg, const struct pc_ct_key *k,
				const struct pc_ct_val *v,
				struct pc_flow_names *out);

struct pc_flowlog_opts {
	const char *path;
	const char *gateway;
	uint64_t max_bytes; /* rotate when the file would pass this */
	unsigned int keep;  /* rotated files kept: path.1 .. path.keep */
	pc_flow_names_fn names;
	void *names_arg;
};

struct pc_flowlog_stats {
	uint64_t flows, denies; /* records written */
	uint64_t rotations, errors;
	uint64_t untracked; /* flows not followed: the table was full */
	size_t tracked;	    /* flows followed now */
};

/* Open (create) the file; the walks follow conntrack. */
int pc_flowlog_open(struct pc_dp *dp, const struct pc_flowlog_opts *o,
		    struct pc_flowlog **out);
/* Write one record; time and gateway are added.  rec is not consumed. */
void pc_flowlog_write(struct pc_flowlog *fl, const char *event, json_t *rec);
/* New limits for the file (a reload): the flows followed are kept. */
void pc_flowlog_set_limits(struct pc_flowlog *fl, uint64_t max_bytes,
			   unsigned int keep);
/*
 * Follow conntrack: a walk of it, once a second (the daemon's, shared
 * with the backends' flow counts), is begin, visit for each entry, then
 * end with the walk's result; what ended is logged then.  pc_flowlog_walk
 * is the three in one.
 */
void pc_flowlog_walk_begin(struct pc_flowlog *fl);
int pc_flowlog_visit(void *arg, const struct pc_ct_key *k,
		     const struct pc_ct_val *v);
void pc_flowlog_walk_end(struct pc_flowlog *fl, int walk_err);
void pc_flowlog_walk(struct pc_flowlog *fl);
void pc_flowlog_stats(const struct pc_flowlog *fl, struct pc_flowlog_stats *s);
/* Stop following and close the file (flows still open are not logged:
 * the data plane goes on, and the next daemon follows them). */
void pc_flowlog_close(struct pc_flowlog *fl);

#endif
