// SPDX-License-Identifier: Apache-2.0
/*
 * The flow log.  Conntrack holds every flow's packets and bytes; once a
 * second this walks it and remembers what it saw, and writes a flow's
 * record when the flow ends: closed (TCP FIN or RST, then idle), expired
 * (idle past its timeout) or gone from the table (evicted, revoked, or
 * ended and reused between two walks: its counts are the last seen).
 * Records are JSON lines appended to one file, rotated by size.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "flowlog.h"
#include "pclib.h"

/* most flows followed: twice what conntrack holds keeps probes short */
#define MAX_SLOTS (2u * PC_CT_ENTRIES)
/* a closed TCP flow's record waits this long for its last packets */
#define CLOSE_LINGER_NS 2000000000ULL

struct flow {
	struct pc_ct_key k;
	struct pc_ct_val v; /* as last seen */
	uint32_t walk;	    /* the walk that last saw it; 0: empty slot */
	uint8_t logged;	    /* its record is written */
	uint8_t named;	    /* names are the deciding policy's */
	uint8_t moved;	    /* (old table) carried into the next one */
	const char *end;    /* this walk found it ended: to be logged */
	/* its names, kept: a push may free the policy that decided it
	 * before it ends */
	char *identity, *service, *rule;
	const char *verdict;
};

struct pc_flowlog {
	struct pc_dp *dp;
	struct pc_flowlog_opts o;
	char *path, *gateway;
	int fd;
	uint64_t size;
	struct flow *tab, *next; /* this walk's table, being built */
	uint32_t cap, ncap, n, nn, walk;
	uint64_t now_ns; /* CLOCK_MONOTONIC, as the programs' */
	struct pc_flowlog_stats st;
	time_t last_err;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int open_file(struct pc_flowlog *fl)
{
	struct stat sb;

	fl->fd =
		open(fl->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (fl->fd < 0)
		return -errno;
	fl->size = fstat(fl->fd, &sb) ? 0 : (uint64_t)sb.st_size;
	return 0;
}

static void failed(struct pc_flowlog *fl, const char *what)
{
	time_t now = time(NULL);

	fl->st.errors++;
	if (now - fl->last_err >= 60) { /* once a minute at most */
		pc_warn("flow log %s: %s: %s", fl->path, what, strerror(errno));
		fl->last_err = now;
	}
}

/*
 * path -> path.1 -> ... -> path.keep (the oldest goes).  A rename that
 * fails is an error (rate-limited: a file that cannot be moved is tried
 * again at every write) and, for the live file's, no rotation.
 */
static void rotate(struct pc_flowlog *fl)
{
	size_t len = strlen(fl->path) + 16;
	char *from = pc_xcalloc(1, len), *to = pc_xcalloc(1, len);
	int rotated = 1;

	close(fl->fd);
	fl->fd = -1;
	if (!fl->o.keep) {
		unlink(fl->path);
	} else {
		snprintf(to, len, "%s.%u", fl->path, fl->o.keep);
		unlink(to);
		for (unsigned int i = fl->o.keep; i > 1; i--) {
			snprintf(from, len, "%s.%u", fl->path, i - 1);
			snprintf(to, len, "%s.%u", fl->path, i);
			/* an older file not there yet is no failure */
			if (rename(from, to) && errno != ENOENT)
				failed(fl, "rotate");
		}
		snprintf(to, len, "%s.1", fl->path);
		if (rename(fl->path, to)) {
			failed(fl, "rotate");
			rotated = 0;
		}
	}
	free(from);
	free(to);
	if (rotated)
		fl->st.rotations++;
	open_file(fl); /* (a failure shows at the write, which counts it) */
}

void pc_flowlog_write(struct pc_flowlog *fl, const char *event, json_t *rec)
{
	struct timespec ts;
	struct tm tm;
	char when[40], *line;
	size_t len;
	json_t *r;

	if (!fl)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	if (!strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm))
		when[0] = '\0';
	snprintf(when + strlen(when), sizeof(when) - strlen(when), ".%03ldZ",
		 ts.tv_nsec / 1000000);
	r = json_pack("{s:s, s:s, s:s}", "time", when, "gateway", fl->gateway,
		      "event", event);
	json_object_update(r, rec);
	line = json_dumps(r, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(r);
	if (!line)
		return;
	len = strlen(line);
	line[len++] = '\n'; /* over the NUL: written by length */
	if (fl->fd >= 0 && fl->size + len > fl->o.max_bytes && fl->size)
		rotate(fl);
	if (fl->fd < 0 && open_file(fl)) {
		failed(fl, "open");
	} else if (write(fl->fd, line, len) != (ssize_t)len) {
		failed(fl, "write");
	} else {
		fl->size += len;
		if (!strcmp(event, "flow"))
			fl->st.flows++;
		else
			fl->st.denies++;
	}
	free(line);
}

static const char *proto_str(uint8_t p, char *buf, size_t n)
{
	switch (p) {
	case IPPROTO_TCP:
		return "tcp";
	case IPPROTO_UDP:
		return "udp";
	case IPPROTO_ICMP:
		return "icmp";
	case IPPROTO_ICMPV6:
		return "icmpv6";
	default:
		snprintf(buf, n, "%u", p);
		return buf;
	}
}

static void log_flow(struct pc_flowlog *fl, const struct flow *f,
		     const char *end)
{
	const struct pc_ct_key *k = &f->k;
	const struct pc_ct_val *v = &f->v;
	struct pc_flow_names nm = {f->identity ? f->identity : "-",
				   f->service ? f->service : "-", f->rule,
				   f->verdict ? f->verdict : "-"};
	char s[64], d[64], pb[8];
	json_t *rec;

	pc_addr_format(v->orig_is_lo ? k->lo_addr : k->hi_addr, s, sizeof(s));
	pc_addr_format(v->orig_is_lo ? k->hi_addr : k->lo_addr, d, sizeof(d));
	rec = json_pack(
		"{s:s, s:s, s:i, s:s, s:i, s:s, s:s, s:s?, s:s, s:s, s:I, "
		"s:I, s:[I,I], s:[I,I], s:f}",
		"proto", proto_str(k->proto, pb, sizeof(pb)), "src", s, "sport",
		v->orig_is_lo ? k->lo_port : k->hi_port, "dst", d, "dport",
		v->orig_is_lo ? k->hi_port : k->lo_port, "identity",
		nm.identity, "service", nm.service, "rule", nm.rule, "verdict",
		nm.verdict, "end", end, "packets",
		(json_int_t)(v->packets[0] + v->packets[1]), "bytes",
		(json_int_t)(v->bytes[0] + v->bytes[1]), "packets_dir",
		(json_int_t)v->packets[0], (json_int_t)v->packets[1],
		"bytes_dir", (json_int_t)v->bytes[0], (json_int_t)v->bytes[1],
		"duration_s",
		v->last_seen_ns > v->created_ns
			? (double)(v->last_seen_ns - v->created_ns) / 1e9
			: 0.0);
	pc_flowlog_write(fl, "flow", rec);
	json_decref(rec);
}

static void drop_names(struct flow *f)
{
	free(f->identity);
	free(f->service);
	free(f->rule);
	f->identity = f->service = f->rule = NULL;
}

/* Take the flow's names from the policy in force when they are its own,
 * or when there are none yet. */
static void name(struct pc_flowlog *fl, struct flow *f)
{
	struct pc_flow_names nm = {"-", "-", NULL, "-"};
	int own;

	if (!fl->o.names || (f->named && f->identity))
		return; /* (a flow keeps the names of the policy that decided
			   it, until a newer one decides it again: below) */
	own = fl->o.names(fl->o.names_arg, &f->k, &f->v, &nm);
	if (f->identity && !own)
		return;
	drop_names(f);
	f->identity = pc_strdup(nm.identity ? nm.identity : "-");
	f->service = pc_strdup(nm.service ? nm.service : "-");
	f->rule = nm.rule ? pc_strdup(nm.rule) : NULL;
	f->verdict = nm.verdict;
	f->named = (uint8_t)own;
}

static uint32_t hash_key(const struct pc_ct_key *k, uint64_t created)
{
	const uint8_t *p = (const uint8_t *)k;
	uint64_t h = 1469598103934665603ULL ^ created;

	for (size_t i = 0; i < sizeof(*k); i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	return (uint32_t)(h ^ (h >> 32));
}

/* The slot of (k, created) in tab, or the empty slot it would take. */
static struct flow *slot(struct flow *tab, uint32_t cap,
			 const struct pc_ct_key *k, uint64_t created)
{
	uint32_t i = hash_key(k, created) & (cap - 1);

	while (tab[i].walk && (tab[i].v.created_ns != created ||
			       memcmp(&tab[i].k, k, sizeof(*k))))
		i = (i + 1) & (cap - 1);
	return &tab[i];
}

/* Has the flow ended?  Its end, or NULL. */
static const char *ended(const struct pc_flowlog *fl, const struct pc_ct_key *k,
			 const struct pc_ct_val *v)
{
	uint64_t idle =
		v->last_seen_ns < fl->now_ns ? fl->now_ns - v->last_seen_ns : 0;

	if (k->proto == IPPROTO_TCP && v->state >= PC_TCP_CLOSING &&
	    idle >= CLOSE_LINGER_NS)
		return "closed";
	if (idle > pc_ct_timeout_ns(k->proto, v->state))
		return "expired";
	return NULL;
}

int pc_flowlog_visit(void *arg, const struct pc_ct_key *k,
		     const struct pc_ct_val *v)
{
	struct pc_flowlog *fl = arg;
	struct flow *old, *f;
	int known;

	if (v->nat == PC_NAT_REV || (v->flags & PC_PF_LOCAL))
		return 0; /* a balanced flow's second entry; the gateway's own
			   */
	f = slot(fl->next, fl->ncap, k, v->created_ns);
	if (f->walk)
		return 0; /* seen twice in one walk (it moved): once is enough
			   */
	old = slot(fl->tab, fl->cap, k, v->created_ns);
	known = old->walk && !old->moved;
	/* flows followed already always have room (the table is at least
	 * four times the last walk's); new ones while it stays under 3/4 */
	if (!known && fl->nn + fl->n >= fl->ncap / 4 * 3) {
		fl->st.untracked++;
		return 0;
	}
	if (known) { /* its names move with it (the old slot stays taken:
			the probe chains through it hold) */
		*f = *old;
		f->moved = 0;
		old->identity = old->service = old->rule = NULL;
		old->moved = 1;
		/* a newer policy decided it again: its names */
		if (v->generation != f->v.generation)
			f->named = 0;
	}
	f->k = *k;
	f->v = *v;
	f->walk = fl->walk;
	f->end = NULL;
	fl->nn++;
	name(fl, f);
	if (!f->logged)
		f->end = ended(fl, k, v);
	return 0;
}

void pc_flowlog_walk_begin(struct pc_flowlog *fl)
{
	uint32_t want = 1024;

	/* the next table: four times what the last walk saw, so it is
	 * under 3/4 full with all of those and as many new ones */
	while (want < MAX_SLOTS && want < 4 * (fl->n + 256))
		want *= 2;
	fl->ncap = want;
	fl->next = pc_xcalloc(want, sizeof(*fl->next));
	fl->nn = 0;
	fl->now_ns = mono_ns();
	if (!++fl->walk)
		fl->walk = 1;
}

void pc_flowlog_walk_end(struct pc_flowlog *fl, int walk_err)
{
	if (walk_err) {
		/* a failed walk proves nothing gone: keep the old table, and
		 * give back the names that moved */
		for (uint32_t i = 0; i < fl->ncap; i++) {
			struct flow *f = &fl->next[i], *o;

			if (!f->walk)
				continue;
			o = slot(fl->tab, fl->cap, &f->k, f->v.created_ns);
			if (o->walk && o->moved) { /* back it goes */
				o->identity = f->identity;
				o->service = f->service;
				o->rule = f->rule;
				o->moved = 0;
			} else {
				drop_names(f);
			}
		}
		free(fl->next);
		fl->next = NULL;
		return;
	}
	/* what ended: logged now the walk is whole */
	for (uint32_t i = 0; i < fl->ncap; i++) {
		struct flow *f = &fl->next[i];

		if (f->walk && f->end) {
			log_flow(fl, f, f->end);
			f->logged = 1;
			f->end = NULL;
		}
	}
	/* what the last walk saw and this one did not (left in the old
	 * table: the others moved): gone */
	for (uint32_t i = 0; i < fl->cap; i++) {
		struct flow *f = &fl->tab[i];

		if (!f->walk || f->moved)
			continue;
		if (!f->logged)
			log_flow(fl, f, "gone");
		drop_names(f);
	}
	free(fl->tab);
	fl->tab = fl->next;
	fl->cap = fl->ncap;
	fl->n = fl->nn;
	fl->next = NULL;
}

void pc_flowlog_walk(struct pc_flowlog *fl)
{
	pc_flowlog_walk_begin(fl);
	pc_flowlog_walk_end(fl, pc_dp_ct_each(fl->dp, pc_flowlog_visit, fl));
}

int pc_flowlog_open(struct pc_dp *dp, const struct pc_flowlog_opts *o,
		    struct pc_flowlog **out)
{
	struct pc_flowlog *fl = pc_xcalloc(1, sizeof(*fl));
	int err;

	fl->dp = dp;
	fl->o = *o;
	fl->path = pc_strdup(o->path);
	fl->gateway = pc_strdup(o->gateway);
	fl->o.path = fl->path;
	fl->o.gateway = fl->gateway;
	fl->cap = 1024;
	fl->tab = pc_xcalloc(fl->cap, sizeof(*fl->tab));
	if ((err = open_file(fl))) {
		pc_error("flow log %s: %s", o->path, strerror(-err));
		pc_flowlog_close(fl);
		return err;
	}
	*out = fl;
	return 0;
}

void pc_flowlog_set_limits(struct pc_flowlog *fl, uint64_t max_bytes,
			   unsigned int keep)
{
	fl->o.max_bytes = max_bytes;
	fl->o.keep = keep;
}

void pc_flowlog_stats(const struct pc_flowlog *fl, struct pc_flowlog_stats *s)
{
	memset(s, 0, sizeof(*s));
	if (!fl)
		return;
	*s = fl->st;
	s->tracked = fl->n;
}

void pc_flowlog_close(struct pc_flowlog *fl)
{
	if (!fl)
		return;
	for (uint32_t i = 0; fl->tab && i < fl->cap; i++)
		drop_names(&fl->tab[i]);
	free(fl->tab);
	free(fl->next);
	if (fl->fd >= 0)
		close(fl->fd);
	free(fl->path);
	free(fl->gateway);
	free(fl);
}
