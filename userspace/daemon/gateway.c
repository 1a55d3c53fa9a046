// SPDX-License-Identifier: Apache-2.0
/*
 * One gateway: state database, data plane, API and event log wired
 * together.  Start-up adopts whatever a previous daemon left pinned.
 */
#include <errno.h>
#include <inttypes.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

#include "api.h"
#include "daemon.h"
#include "fleet.h"
#include "flowlog.h"
#include "health.h"
#include "links.h"
#include "metrics.h"
#include "store.h"

struct pc_gateway {
	const struct pc_gw_config *cfg;
	struct event_base *base;
	struct pc_dp *dp;
	struct pc_store *store;
	struct pc_api *api;
	struct pc_wgm *wgm;
	struct pc_health_mgr *health;
	struct pc_flowlog *flowlog; /* flow_log: in the config, else NULL */
	struct pc_fleet *fleet;	    /* store: etcd://, else NULL */
	int64_t applied_ms;	    /* when the policy went in force */
	char fleet_error[256];	    /* a fleet version refused here, or "" */
	uint64_t load_pkts;	    /* packets at the last heartbeat */
	double load_at;		    /* its time, ms */
	/* conntrack's entries and evictions, counted (a walk of the whole
	 * table) at ct_at ms: shared by the heartbeat and /v1/status, so a
	 * console polling every 2 s does not walk it every time */
	size_t ct_entries;
	uint64_t ct_evicted;
	double ct_at;
	struct event *ev_read;
	struct pc_compiled *compiled; /* the policy in force */
	struct pc_policy_record rec;
	/* of the last push: parse, compile and tests; maps written, swapped
	 * and the old slot removed; the audit log's access diff */
	double validate_ms, apply_ms, audit_ms;
	/* compiled is exactly what the live slot holds (this daemon wrote
	 * it), so the next push may remove it by its keys */
	int live_known;
	/* deny events waiting for the once-a-second write to the store */
	struct pc_deny_record *denies;
	size_t ndenies, cap_denies;
	unsigned long denies_dropped;
	unsigned long denies_lost; /* refused by the store (disk full...) */
	struct event *ev_flush;
	struct event *ev_walk; /* conntrack, once a second */
	enum pc_xdp_mode *modes;
	int *attached;
	unsigned int *ifindex;	/* what each is attached at */
	struct pc_links *links; /* interfaces coming and going */
	time_t started;
	time_t pushed_at; /* the last push or rollback applied, 0: none */
	/* [push, rollback][applied, refused, failed] */
	uint64_t pushes[2][3];
	time_t log_window;
	unsigned int log_count;
	unsigned long log_suppressed;
};

#define PC_EVENT_LOG_PER_SEC 50

static void replace_in_force(struct pc_gateway *gw, struct pc_compiled *c,
			     struct pc_policy_record *rec)
{
	pc_compiled_free(gw->compiled);
	pc_policy_record_free(&gw->rec);
	gw->compiled = c;
	gw->rec = *rec;
	pc_health_set(gw->health, c, !gw->live_known);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Conntrack's usage, counted again when the last count is older than
 * max_age ms; a count that fails keeps the last good one, and is tried
 * again only as late. */
static void ct_usage(struct pc_gateway *gw, double max_age, size_t *entries,
		     uint64_t *evicted)
{
	double t = now_ms();

	if (!gw->ct_at || t - gw->ct_at >= max_age) {
		size_t n;
		uint64_t ev;

		if (!pc_dp_ct_usage(gw->dp, &n, &ev)) {
			gw->ct_entries = n;
			gw->ct_evicted = ev;
		}
		gw->ct_at = t;
	}
	*entries = gw->ct_entries;
	*evicted = gw->ct_evicted;
}

/* What a push changes in access, for the audit log: a count, then the
 * first lines of the semantic diff. */
#define PC_AUDIT_DIFF_LINES 20

static void access_changes(const struct pc_compiled *old,
			   const struct pc_compiled *new, struct pc_buf *out)
{
	struct pc_diff diff = {0};

	if (!old) {
		pc_buf_printf(out, "the first policy");
		return;
	}
	pc_policy_diff(old, new, &diff);
	pc_buf_printf(out, "%zu access change%s", diff.n,
		      diff.n == 1 ? "" : "s");
	for (size_t i = 0; i < diff.n && i < PC_AUDIT_DIFF_LINES; i++) {
		const struct pc_diff_line *l = &diff.v[i];

		pc_buf_printf(out, "\n%c %s -> %s %s: %s (was %s)",
			      pc_diff_sign(l), l->from, l->to, l->ports,
			      pc_action_name(l->new_action),
			      pc_action_name(l->old_action));
	}
	if (diff.n > PC_AUDIT_DIFF_LINES)
		pc_buf_printf(out, "\n(and %zu more)",
			      diff.n - PC_AUDIT_DIFF_LINES);
	pc_diff_free(&diff);
}

static void audit(struct pc_gateway *gw, const struct pc_api_caller *who,
		  const char *action, const char *target, const char *detail)
{
	if (pc_store_audit_add(gw->store, who->name[0] ? who->name : "-",
			       who->peer ? who->peer : "-", action, target,
			       detail))
		pc_error("audit log: failed to record %s %s by %s", action,
			 target, who->name);
}

/* Parse, compile and test a policy, with the WireGuard peers the gateway
 * puts into its identities. */
static int load(struct pc_gateway *gw, const char *text, size_t len,
		const char *fname, struct pc_compiled **c, struct pc_diags *d)
{
	struct pc_peer_member *m = NULL;
	size_t n = gw->wgm ? pc_wgm_members(gw->wgm, &m) : 0;
	int rc = pc_policy_load_members(text, len, fname, m, n, NULL, c, d);

	free(m);
	return rc;
}

/* The store could not take it: say so, and that nothing changed. */
static void store_refused(struct pc_gateway *gw, struct pc_diags *d,
			  const char *fname)
{
	const char *why = pc_store_error(gw->store);

	pc_diag_add(d, 0, fname, NULL, "%s; the policy in force is unchanged",
		    why ? why : "failed to record the policy version");
}

/*
 * After a failed commit: put the policy in force back in the data plane
 * (the store never saw the new one).  Its stored generation is now stale,
 * which only means the next start applies that same version again.
 */
static void unapply(struct pc_gateway *gw, struct pc_compiled *c)
{
	static const char none[] = "apiVersion: portcullis/v1\nkind: Policy\n";
	struct pc_compiled *empty = NULL;
	struct pc_diags d = {0};
	uint64_t old_gen;
	int rc;

	gw->live_known = 0;
	if (gw->compiled) {
		rc = pc_dp_apply(gw->dp, gw->compiled, c, &old_gen);
	} else {
		/* there was none: back to denying everything */
		rc = pc_policy_load(none, sizeof(none) - 1, "none", NULL,
				    &empty, &d);
		if (!rc)
			rc = pc_dp_apply(gw->dp, empty, c, &old_gen);
		pc_compiled_free(empty);
		pc_diags_free(&d);
	}
	if (rc) {
		pc_error("failed to put the previous policy back in the data "
			 "plane: %s; it enforces the refused one until the "
			 "next push or start",
			 strerror(-rc));
		return;
	}
	gw->live_known = gw->compiled != NULL;
	gw->rec.generation = old_gen;
}

/*
 * Validate (parse, compile, run the policy's tests), then in one store
 * transaction: record the version, apply it, record its generation and
 * (with who) the audit entry, commit.  On any failure the old policy
 * stays live and the store unchanged.  Every error and warning goes to d;
 * -EINVAL means the policy itself was refused, -ENOSPC, -EROFS, -EBUSY
 * or -EIO that the state database could not record it.
 */
static int push_policy_once(struct pc_gateway *gw, const char *text, size_t len,
			    const char *fname, int64_t rollback_of,
			    const struct pc_api_caller *who, struct pc_diags *d)
{
	struct pc_policy_record rec = {0};
	struct pc_buf changes = {0}, target = {0};
	struct pc_compiled *c;
	int64_t version;
	uint64_t gen;
	int rc;

	double t0 = now_ms(), t1, t2;

	rc = load(gw, text, len, fname, &c, d);
	if (rc)
		return rc;
	t1 = now_ms();
	if ((rc = pc_store_begin(gw->store)) ||
	    (rc = pc_store_policy_add(gw->store, text, fname, 0, rollback_of,
				      &version))) {
		pc_store_rollback(gw->store);
		store_refused(gw, d, fname);
		pc_compiled_free(c);
		return rc;
	}
	rc = pc_dp_apply(gw->dp, c, gw->live_known ? gw->compiled : NULL, &gen);
	if (rc) {
		pc_store_rollback(gw->store);
		pc_diag_add(d, 0, fname, NULL, "failed to apply policy: %s",
			    strerror(-rc));
		pc_compiled_free(c);
		return -EIO; /* the data plane's, not the store's */
	}
	gw->live_known = 1;
	t2 = now_ms(); /* live since pc_dp_apply; the rest is bookkeeping */
	if (who) {
		access_changes(gw->compiled, c, &changes);
		if (rollback_of)
			pc_buf_printf(&target,
				      "version %" PRId64
				      " restored as version %" PRId64,
				      rollback_of, version);
		else
			pc_buf_printf(&target, "version %" PRId64 " from %s",
				      version, fname);
	}
	if ((rc = pc_store_policy_set_generation(gw->store, version, gen)) ||
	    (who && (rc = pc_store_audit_add(
			     gw->store, who->name[0] ? who->name : "-",
			     who->peer ? who->peer : "-",
			     rollback_of ? "policy.rollback" : "policy.push",
			     target.data, changes.data))) ||
	    (rc = pc_store_commit(gw->store))) {
		pc_store_rollback(gw->store);
		store_refused(gw, d, fname);
		unapply(gw, c);
		pc_compiled_free(c);
		pc_buf_free(&changes);
		pc_buf_free(&target);
		return rc;
	}
	pc_buf_free(&changes);
	pc_buf_free(&target);
	pc_store_policy_latest(gw->store, &rec);
	replace_in_force(gw, c, &rec);
	gw->validate_ms = t1 - t0;
	gw->apply_ms = t2 - t1;
	gw->audit_ms = now_ms() - t2;
	pc_info("policy version %" PRId64 " from %s in force as generation "
		"%" PRIu64 " (%zu rules, %zu entries%s; validated in %.0f ms, "
		"applied in %.0f ms)",
		rec.version, fname, gen, c->nrules, c->nentries,
		c->mode == PC_MODE_AUDIT ? ", audit mode" : "", gw->validate_ms,
		gw->apply_ms);
	return 0;
}

static int64_t now_epoch_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * With a fleet: c (taken) goes in force as the fleet's version rec (its
 * strings taken), kept in the local cache for a start without etcd, and
 * recorded in the audit log; the fleet hears of it at once.
 */
static int enforce_fleet_version(struct pc_gateway *gw, struct pc_compiled *c,
				 struct pc_policy_record *rec, const char *who,
				 const char *peer, const char *action,
				 const char *target)
{
	struct pc_buf changes = {0};
	uint64_t gen;
	int rc;

	rc = pc_dp_apply(gw->dp, c, gw->live_known ? gw->compiled : NULL, &gen);
	if (rc) {
		pc_compiled_free(c);
		pc_policy_record_free(rec);
		return rc;
	}
	gw->live_known = 1;
	rec->generation = gen;
	if (pc_store_fleet_cache_put(gw->store, pc_fleet_id(gw->fleet), rec))
		pc_warn("fleet: policy version %" PRId64
			" is in force but not kept in %s: a start without "
			"etcd would enforce an older one",
			rec->version, gw->cfg->state);
	access_changes(gw->compiled, c, &changes);
	if (pc_store_audit_add(gw->store, who, peer, action, target,
			       changes.data))
		pc_error("audit log: failed to record %s %s by %s", action,
			 target, who);
	pc_buf_free(&changes);
	replace_in_force(gw, c, rec);
	gw->applied_ms = now_epoch_ms();
	gw->fleet_error[0] = '\0';
	pc_fleet_saw_version(gw->fleet, rec->version);
	pc_fleet_publish(gw->fleet);
	return 0;
}

/*
 * A push with a fleet: validated here, stored once in etcd (the version
 * is the fleet's), then put in force here; the other gateways follow
 * through their watch.  With etcd out of reach nothing is stored and
 * nothing changes.
 */
static int push_fleet(struct pc_gateway *gw, const char *text, size_t len,
		      const char *fname, int64_t rollback_of,
		      const struct pc_api_caller *who, struct pc_diags *d)
{
	struct pc_policy_record rec = {0};
	char err[PC_ETCD_ERR_LEN], at[32], target[320];
	const char *by = who && who->name[0] ? who->name : "portcullisd";
	const char *why = NULL;
	struct pc_compiled *c;
	int64_t stored;
	struct tm tm;
	time_t now;
	int rc;

	double t0 = now_ms(), t1, t2;

	rc = load(gw, text, len, fname, &c, d);
	if (rc)
		return rc;
	t1 = now_ms();
	if (!pc_fleet_up(gw->fleet, &why)) {
		pc_diag_add(d, 0, fname, NULL,
			    "the fleet's store is out of reach (%s): nothing "
			    "was stored and the policy in force is unchanged",
			    why);
		pc_compiled_free(c);
		return -ECONNREFUSED;
	}
	now = time(NULL);
	gmtime_r(&now, &tm);
	if (!strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm))
		at[0] = '\0';
	rec.source = pc_strndup(text, len);
	rec.filename = pc_strdup(fname);
	rec.created_at = pc_strdup(at);
	rec.rollback_of = rollback_of;
	rc = pc_fleet_policy_add(pc_fleet_etcd(gw->fleet), &rec, by,
				 gw->cfg->name, err);
	if (rc) {
		if (rc == -ETIMEDOUT)
			/* a write may land after its answer timed out */
			pc_diag_add(d, 0, fname, NULL,
				    "%s: the version may or may not be stored "
				    "(portcullis policy versions tells); the "
				    "policy in force here is unchanged",
				    err);
		else if (rc == -E2BIG)
			pc_diag_add(d, 0, fname, NULL,
				    "%s: the policy is larger than etcd takes "
				    "(its --max-request-bytes); nothing was "
				    "stored",
				    err);
		else
			pc_diag_add(d, 0, fname, NULL,
				    "%s: nothing was stored and the policy in "
				    "force is unchanged",
				    err);
		pc_policy_record_free(&rec);
		pc_compiled_free(c);
		return rc;
	}
	if (rollback_of)
		snprintf(target, sizeof(target),
			 "version %" PRId64 " restored as version %" PRId64,
			 rollback_of, rec.version);
	else
		snprintf(target, sizeof(target), "version %" PRId64 " from %s",
			 rec.version, fname);
	stored = rec.version;
	rc = enforce_fleet_version(
		gw, c, &rec, by, who && who->peer ? who->peer : "-",
		rollback_of ? "policy.rollback" : "policy.push", target);
	if (rc) {
		pc_diag_add(d, 0, fname, NULL,
			    "stored for the fleet as version %" PRId64
			    ", but this gateway failed to apply it: %s",
			    stored, strerror(-rc));
		snprintf(gw->fleet_error, sizeof(gw->fleet_error),
			 "failed to apply policy version %" PRId64 ": %s",
			 stored, strerror(-rc));
		return -EIO;
	}
	t2 = now_ms();
	gw->validate_ms = t1 - t0;
	gw->apply_ms = t2 - t1;
	gw->audit_ms = 0;
	pc_info("policy version %" PRId64 " from %s stored for the fleet and "
		"in force as generation %" PRIu64 " (%zu rules; validated in "
		"%.0f ms, stored and applied in %.0f ms)",
		gw->rec.version, fname, gw->rec.generation,
		gw->compiled->nrules, gw->validate_ms, gw->apply_ms);
	return 0;
}

/* The fleet has a version this gateway does not enforce: follow it. */
static void fleet_policy(void *ctx, const struct pc_policy_record *r,
			 const char *by, const char *via)
{
	struct pc_gateway *gw = ctx;
	struct pc_policy_record rec = {
		.version = r->version,
		.source = pc_strdup(r->source),
		.filename = pc_strdup(r->filename),
		.created_at = pc_strdup(r->created_at),
		.rollback_of = r->rollback_of,
	};
	struct pc_diags d = {0};
	struct pc_compiled *c;
	char target[400];
	double t0 = now_ms();
	int rc;

	rc = load(gw, rec.source, strlen(rec.source), rec.filename, &c, &d);
	if (rc) {
		snprintf(gw->fleet_error, sizeof(gw->fleet_error),
			 "policy version %" PRId64 " is refused here: %s",
			 rec.version, pc_diags_first_error(&d));
		pc_error("fleet: %s; version %" PRId64 " stays in force",
			 gw->fleet_error, gw->rec.version);
		pc_diags_free(&d);
		pc_policy_record_free(&rec);
		pc_fleet_publish(gw->fleet);
		return;
	}
	pc_diags_free(&d);
	snprintf(target, sizeof(target),
		 "version %" PRId64 " from %s (pushed by %s via %s)",
		 rec.version, rec.filename, by, via);
	rc = enforce_fleet_version(gw, c, &rec, "fleet", via, "policy.apply",
				   target);
	if (rc) {
		snprintf(gw->fleet_error, sizeof(gw->fleet_error),
			 "failed to apply policy version %" PRId64 ": %s",
			 r->version, strerror(-rc));
		pc_error("fleet: %s", gw->fleet_error);
		pc_fleet_publish(gw->fleet);
		return;
	}
	gw->pushed_at = time(NULL);
	pc_info("fleet: policy version %" PRId64 " (pushed by %s via %s) in "
		"force as generation %" PRIu64 " in %.0f ms",
		gw->rec.version, by, via, gw->rec.generation, now_ms() - t0);
}

static int push_policy(struct pc_gateway *gw, const char *text, size_t len,
		       const char *fname, int64_t rollback_of,
		       const struct pc_api_caller *who, struct pc_diags *d);
static int push_policy_file(struct pc_gateway *gw);

/* The fleet's newest version is unreadable here: keep what is in force. */
static void fleet_refused(void *ctx, const char *why)
{
	struct pc_gateway *gw = ctx;

	snprintf(gw->fleet_error, sizeof(gw->fleet_error), "%s", why);
	pc_error("fleet: %s; version %" PRId64 " stays in force", why,
		 gw->compiled ? gw->rec.version : 0);
}

/* Joined a fleet with no policy: the policy file seeds it (each start
 * without one, or any later join into an empty fleet). */
static void fleet_empty(void *ctx)
{
	struct pc_gateway *gw = ctx;

	if (gw->compiled) {
		pc_warn("fleet: the fleet has no policy; version %" PRId64
			" stays in force here until one is pushed",
			gw->rec.version);
		return;
	}
	if (!gw->cfg->policy) {
		pc_warn("fleet: the fleet has no policy yet and this gateway "
			"has no policy file: denying all IP traffic");
		return;
	}
	if (push_policy_file(gw))
		pc_error("fleet: failed to seed the fleet with '%s'",
			 gw->cfg->policy);
}

static int64_t fleet_in_force(void *ctx)
{
	struct pc_gateway *gw = ctx;

	return gw->compiled ? gw->rec.version : 0;
}

/* This gateway's load and health, for its fleet record. */
static void fleet_load(void *ctx, struct pc_fleet_load *l)
{
	struct pc_gateway *gw = ctx;
	struct pc_counter st[PC_REASON_SLOTS];
	uint64_t pkts = 0, evicted;
	size_t flows = 0;
	double t = now_ms();

	if (!pc_dp_read_stats(gw->dp, st))
		for (unsigned int i = 0; i < PC_REASON_SLOTS; i++)
			pkts += st[i].packets;
	if (gw->load_at > 0 && t > gw->load_at && pkts >= gw->load_pkts)
		l->pps = (double)(pkts - gw->load_pkts) * 1000.0 /
			 (t - gw->load_at);
	gw->load_pkts = pkts;
	gw->load_at = t;
	/* conntrack is walked to count it: at most every 5 s for this */
	ct_usage(gw, 5000, &flows, &evicted);
	l->flows = flows;
	l->policy_version = gw->compiled ? gw->rec.version : 0;
	l->applied_ms = gw->applied_ms;
	l->health = gw->fleet_error[0] || !gw->compiled ? "degraded" : "ok";
	l->error = gw->fleet_error[0] ? gw->fleet_error
		   : !gw->compiled    ? "no policy in force"
				      : NULL;
}

/* push_policy_once, counted for the metrics: pushes and rollbacks, by
 * result (applied; refused: the policy; failed: the store or data plane). */
static int push_policy(struct pc_gateway *gw, const char *text, size_t len,
		       const char *fname, int64_t rollback_of,
		       const struct pc_api_caller *who, struct pc_diags *d)
{
	int rc = gw->fleet
			 ? push_fleet(gw, text, len, fname, rollback_of, who, d)
			 : push_policy_once(gw, text, len, fname, rollback_of,
					    who, d);

	gw->pushes[!!rollback_of][!rc ? 0 : rc == -EINVAL ? 1 : 2]++;
	if (!rc)
		gw->pushed_at = time(NULL);
	return rc;
}

/* Push the configured policy file: the first policy a store gets. */
static int push_policy_file(struct pc_gateway *gw)
{
	struct pc_diags d = {0};
	struct pc_buf text = {0};
	int rc;

	rc = pc_read_file(gw->cfg->policy, PC_API_MAX_BODY, &text);
	if (rc) {
		pc_error("failed to read policy '%s': %s", gw->cfg->policy,
			 strerror(-rc));
		return rc;
	}
	rc = push_policy(gw, text.data, text.len, gw->cfg->policy, 0, NULL, &d);
	for (size_t i = 0; i < d.n; i++)
		pc_log(d.v[i].warning ? PC_LOG_WARN : PC_LOG_ERROR, "%s",
		       d.v[i].msg);
	pc_diags_free(&d);
	pc_buf_free(&text);
	return rc;
}

/* The data plane generation of the version in force, where its store
 * keeps it: the sqlite versions, or the local copy of the fleet's. */
static void record_generation(struct pc_gateway *gw,
			      const struct pc_policy_record *rec)
{
	if (gw->fleet)
		pc_store_fleet_cache_put(gw->store, pc_fleet_id(gw->fleet),
					 rec);
	else
		pc_store_policy_set_generation(gw->store, rec->version,
					       rec->generation);
}

/*
 * A stored version (rec, taken) in force at start: the pinned data plane
 * adopted when it already enforces it, else applied.
 */
static int restore(struct pc_gateway *gw, struct pc_policy_record *rec)
{
	const char *whose = gw->fleet ? "the fleet's " : "";
	struct pc_diags d = {0};
	struct pc_compiled *c;
	uint64_t gen;
	int rc;

	rc = load(gw, rec->source, strlen(rec->source), rec->filename, &c, &d);
	if (rc) {
		pc_error("%sstored policy version %" PRId64
			 " no longer compiles: %s",
			 whose, rec->version, pc_diags_first_error(&d));
		pc_diags_free(&d);
		pc_policy_record_free(rec);
		return rc;
	}
	pc_diags_free(&d);
	gen = pc_dp_generation(gw->dp);
	/* WireGuard peers may have changed while no daemon ran: write them */
	if (gen && gen == rec->generation && !gw->cfg->nwg) {
		pc_info("adopted %spolicy version %" PRId64
			" (generation %" PRIu64 ") already enforcing",
			whose, rec->version, gen);
	} else {
		rc = pc_dp_apply(gw->dp, c, NULL, &gen);
		if (rc) {
			pc_compiled_free(c);
			pc_policy_record_free(rec);
			return rc;
		}
		rec->generation = gen;
		gw->live_known = 1;
		record_generation(gw, rec);
		pc_info("restored %spolicy version %" PRId64
			" as generation %" PRIu64,
			whose, rec->version, gen);
	}
	replace_in_force(gw, c, rec);
	gw->applied_ms = now_epoch_ms();
	return 0;
}

/*
 * With a fleet: enforce the fleet's version kept here, then join; the
 * join brings the fleet's newest, or seeds an empty fleet (fleet_empty).
 */
static int initial_fleet_policy(struct pc_gateway *gw)
{
	struct pc_policy_record rec;
	int rc;

	rc = pc_store_fleet_cache_get(gw->store, pc_fleet_id(gw->fleet), &rec);
	if (rc && rc != -ENOENT)
		return rc;
	if (!rc && (rc = restore(gw, &rec)))
		return rc;
	pc_fleet_run(gw->fleet);
	if (!pc_fleet_up(gw->fleet, NULL) && !gw->compiled)
		pc_warn("no fleet policy kept here and etcd is out of reach: "
			"denying all IP traffic until it answers");
	return 0;
}

/* Bring the data plane to the latest stored policy, or seed the store. */
static int initial_policy(struct pc_gateway *gw)
{
	struct pc_policy_record rec;
	int rc;

	if (gw->fleet)
		return initial_fleet_policy(gw);
	rc = pc_store_policy_latest(gw->store, &rec);
	if (rc == -ENOENT) {
		if (!gw->cfg->policy) {
			pc_warn("no policy configured: denying all IP traffic");
			return 0;
		}
		return push_policy_file(gw);
	}
	if (rc)
		return rc;
	return restore(gw, &rec);
}

static const char *proto_name(uint8_t p, char *buf, size_t len)
{
	switch (p) {
	case 6:
		return "tcp";
	case 17:
		return "udp";
	case 1:
		return "icmp";
	case 58:
		return "icmpv6";
	default:
		snprintf(buf, len, "proto-%u", p);
		return buf;
	}
}

static int log_allowed(struct pc_gateway *gw)
{
	time_t now = time(NULL);

	if (now != gw->log_window) {
		if (gw->log_suppressed)
			pc_info("verdict log: %lu events suppressed",
				gw->log_suppressed);
		gw->log_window = now;
		gw->log_count = 0;
		gw->log_suppressed = 0;
	}
	if (gw->log_count++ < PC_EVENT_LOG_PER_SEC)
		return 1;
	gw->log_suppressed++;
	return 0;
}

#define V6L(a) (strchr(a, ':') ? "[" : "")
#define V6R(a) (strchr(a, ':') ? "]" : "")

#define PC_DENIES_PER_FLUSH 5000 /* a second's worth kept, at most */

static void keep_deny(struct pc_gateway *gw, const struct pc_event *e,
		      const char *reason, char *pbuf, const char *src,
		      const char *dst, const char *who, const char *rule,
		      const char *ifn)
{
	struct pc_deny_record *d;
	struct timespec ts;
	struct tm tm;
	char at[32];

	if (gw->ndenies >= PC_DENIES_PER_FLUSH) {
		gw->denies_dropped++;
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	if (!strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm))
		at[0] = '\0';
	pc_xgrow(&gw->denies, &gw->cap_denies, gw->ndenies, sizeof(*d));
	d = &gw->denies[gw->ndenies++];
	*d = (struct pc_deny_record){
		.at = pc_strdup(at),
		.reason = pc_strdup(reason ? reason : "?"),
		.proto = pc_strdup(proto_name(e->proto, pbuf, 16)),
		.src = pc_strdup(src),
		.sport = e->sport,
		.dst = pc_strdup(dst),
		.dport = e->dport,
		.identities = pc_strdup(who),
		.rule = pc_strdup(rule),
		.iface = pc_strdup(ifn),
	};
}

/* Once a second: the buffered deny events in one transaction. */
static void on_flush(evutil_socket_t fd, short what, void *arg)
{
	struct pc_gateway *gw = arg;

	(void)fd, (void)what;
	if (!gw->ndenies)
		return;
	if (pc_store_denies_add(gw->store, gw->denies, gw->ndenies,
				gw->cfg->deny_retention))
		gw->denies_lost += gw->ndenies; /* the store said why */
	for (size_t i = 0; i < gw->ndenies; i++)
		pc_deny_record_free(&gw->denies[i]);
	gw->ndenies = 0;
	if (gw->denies_dropped) {
		pc_warn("deny events: %lu not stored (more than %d in a "
			"second)",
			gw->denies_dropped, PC_DENIES_PER_FLUSH);
		gw->denies_dropped = 0;
	}
}

static json_t *be_denies(void *ctx, size_t limit)
{
	struct pc_gateway *gw = ctx;
	struct pc_deny_record *v;
	json_t *arr;
	size_t n;

	on_flush(-1, 0, gw); /* what is buffered too */
	if (pc_store_denies_list(gw->store, limit, &v, &n))
		return NULL;
	arr = json_array();
	for (size_t i = 0; i < n; i++) {
		json_array_append_new(
			arr,
			json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:i, s:s, "
				  "s:s, s:s}",
				  "at", v[i].at, "reason", v[i].reason, "proto",
				  v[i].proto, "src", v[i].src, "sport",
				  v[i].sport, "dst", v[i].dst, "dport",
				  v[i].dport, "identities", v[i].identities,
				  "rule", v[i].rule, "interface", v[i].iface));
		pc_deny_record_free(&v[i]);
	}
	free(v);
	return json_pack("{s:o}", "denies", arr);
}

static const char *service_names(const struct pc_compiled *c,
				 const uint8_t addr[16])
{
	struct pc_prefix host = {.plen = 128};
	const struct pc_set_entry *best = NULL;

	memcpy(host.addr, addr, 16);
	for (size_t i = 0; i < c->nservices; i++)
		if (pc_prefix_contains(&c->services[i].prefix, &host) &&
		    (!best || c->services[i].prefix.plen > best->prefix.plen))
			best = &c->services[i];
	return best ? c->service_set_names[best->set_id - 1] : "-";
}

/* The service of a flow: the one its rule matched through, while the
 * policy that decided it is in force; else its destination's. */
static const char *flow_service(const struct pc_compiled *c, int current,
				const struct pc_ct_val *v, const uint8_t *dst)
{
	if (!c)
		return "-";
	if (current && v->service && v->service <= c->service_owners.n)
		return c->service_owners.names[v->service - 1];
	return service_names(c, dst);
}

/* pc_flow_names_fn: a flow's names in the policy in force */
static int flow_names(void *arg, const struct pc_ct_key *k,
		      const struct pc_ct_val *v, struct pc_flow_names *out)
{
	struct pc_gateway *gw = arg;
	const struct pc_compiled *c = gw->compiled;
	int current = c && v->generation == pc_dp_generation(gw->dp);

	out->service = flow_service(c, current, v,
				    v->orig_is_lo ? k->hi_addr : k->lo_addr);
	if (current && v->src_set && v->src_set <= c->nident_sets)
		out->identity = c->ident_set_names[v->src_set - 1];
	if (current && v->rule_id && v->rule_id <= c->nrules)
		out->rule = c->rule_names[v->rule_id - 1];
	out->verdict = pc_action_name(v->action);
	return current;
}

static void on_event(void *arg, const struct pc_event *e)
{
	struct pc_gateway *gw = arg;
	char src[64], dst[64], pbuf[16], ifn[IF_NAMESIZE] = "?";
	const struct pc_compiled *c = gw->compiled;
	const char *rule = "-", *who = "-";
	const char *reason = pc_reason_name(e->reason);

	pc_addr_format(e->saddr, src, sizeof(src));
	pc_addr_format(e->daddr, dst, sizeof(dst));
	if_indextoname(e->ifindex, ifn);
	if (c && e->generation == pc_dp_generation(gw->dp)) {
		if (e->rule_id && e->rule_id <= c->nrules)
			rule = c->rule_names[e->rule_id - 1];
		if (e->src_set && e->src_set <= c->nident_sets)
			who = c->ident_set_names[e->src_set - 1];
	}
	if (e->reason >= PC_R_FIRST_DROP || e->reason == PC_R_AUDIT_DENY_RULE ||
	    e->reason == PC_R_AUDIT_DENY_DEFAULT) {
		keep_deny(gw, e, reason, pbuf, src, dst, who, rule, ifn);
		if (gw->flowlog) { /* a denied packet is its own record */
			json_t *r = json_pack(
				"{s:s, s:s, s:i, s:s, s:i, s:s, s:s, s:s, s:s, "
				"s:s, s:s, s:i, s:I}",
				"proto",
				proto_name(e->proto, pbuf, sizeof(pbuf)), "src",
				src, "sport", e->sport, "dst", dst, "dport",
				e->dport, "identity", who, "service",
				c ? service_names(c, e->daddr) : "-", "rule",
				rule, "verdict",
				e->reason >= PC_R_FIRST_DROP ? "deny" : "audit",
				"reason", reason ? reason : "?", "interface",
				ifn, "packets", 1, "bytes", (json_int_t)e->len);

			pc_flowlog_write(gw->flowlog, "deny", r);
			json_decref(r);
		}
	}
	if (pc_api_streams(gw->api)) {
		json_t *j = json_pack(
			"{s:s, s:s, s:s, s:i, s:s, s:i, s:s, s:s, s:s, s:I, "
			"s:I}",
			"reason", reason ? reason : "?", "proto",
			proto_name(e->proto, pbuf, sizeof(pbuf)), "src", src,
			"sport", e->sport, "dst", dst, "dport", e->dport,
			"identities", who, "rule", rule, "interface", ifn,
			"generation", (json_int_t)e->generation, "ts_ns",
			(json_int_t)e->ts_ns);

		pc_api_publish(gw->api, reason ? reason : "?", j);
		json_decref(j);
	}
	if (!log_allowed(gw))
		return;
	pc_info("verdict %s %s %s%s%s:%u -> %s%s%s:%u identity=%s rule=%s "
		"if=%s",
		reason ? reason : "?", proto_name(e->proto, pbuf, sizeof(pbuf)),
		V6L(src), src, V6R(src), e->sport, V6L(dst), dst, V6R(dst),
		e->dport, who, rule, ifn);
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct pc_gateway *gw = arg;

	(void)fd, (void)what;
	pc_dp_events_poll(gw->dp);
}

static json_t *counters_json(struct pc_gateway *gw)
{
	struct pc_counter st[PC_REASON_SLOTS];
	json_t *j = json_object();

	if (pc_dp_read_stats(gw->dp, st))
		return j;
	for (unsigned int i = 0; i < PC_REASON_SLOTS; i++) {
		const char *name = pc_reason_name(i);

		if (name)
			json_object_set_new(j, name,
					    json_pack("{s:I, s:I}", "packets",
						      (json_int_t)st[i].packets,
						      "bytes",
						      (json_int_t)st[i].bytes));
	}
	return j;
}

/* {"mode": "xdp", "forwarded": {...}, "to_kernel": {reason: {...}}} */
static json_t *forwarding_json(struct pc_gateway *gw)
{
	struct pc_counter st[PC_FWD_SLOTS];
	json_t *kern = json_object(), *j;

	j = json_pack("{s:s}", "mode",
		      gw->cfg->forward_kernel ? "kernel" : "xdp");
	if (pc_dp_read_fwd_stats(gw->dp, st)) {
		json_decref(kern);
		return j;
	}
	for (unsigned int i = 0; i < PC_FWD_SLOTS; i++) {
		const char *name = pc_fwd_result_name(i);
		json_t *c;

		if (!name)
			continue;
		c = json_pack("{s:I, s:I}", "packets",
			      (json_int_t)st[i].packets, "bytes",
			      (json_int_t)st[i].bytes);
		if (i == PC_FWD_FORWARDED)
			json_object_set_new(j, "forwarded", c);
		else
			json_object_set_new(kern, name, c);
	}
	json_object_set_new(j, "to_kernel", kern);
	return j;
}

static json_t *rules_json(struct pc_gateway *gw)
{
	const struct pc_compiled *c = gw->compiled;
	json_t *j = json_array();
	struct pc_counter *rs;

	if (!c)
		return j;
	rs = pc_xcalloc(c->nrules, sizeof(*rs));
	if (!pc_dp_read_rule_stats(gw->dp, c->nrules, rs))
		for (size_t i = 0; i < c->nrules; i++)
			json_array_append_new(
				j, json_pack("{s:s, s:I, s:I}", "name",
					     c->rule_names[i], "packets",
					     (json_int_t)rs[i].packets, "bytes",
					     (json_int_t)rs[i].bytes));
	free(rs);
	return j;
}

static json_t *ifaces_json(struct pc_gateway *gw)
{
	json_t *j = json_array();

	for (size_t i = 0; i < gw->cfg->nifaces; i++)
		json_array_append_new(
			j,
			json_pack("{s:s, s:i, s:s, s:b}", "name",
				  gw->cfg->ifaces[i].name, "ifindex",
				  (int)if_nametoindex(gw->cfg->ifaces[i].name),
				  "mode",
				  gw->modes[i] == PC_XDP_NATIVE ? "native"
								: "generic",
				  "attached", gw->attached[i]));
	return j;
}

static json_t *policy_summary(struct pc_gateway *gw)
{
	if (!gw->compiled)
		return json_null();
	return json_pack("{s:I, s:I, s:s, s:s, s:I, s:I}", "version",
			 (json_int_t)gw->rec.version, "generation",
			 (json_int_t)pc_dp_generation(gw->dp), "filename",
			 gw->rec.filename, "pushed_at", gw->rec.created_at,
			 "rules", (json_int_t)gw->compiled->nrules, "entries",
			 (json_int_t)gw->compiled->nentries);
}

static json_t *be_status(void *ctx)
{
	struct pc_gateway *gw = ctx;
	const char *err;
	size_t ct = 0;
	uint64_t evicted = 0;
	json_t *j;

	ct_usage(gw, 1000, &ct, &evicted);
	j = json_pack("{s:s, s:s, s:I, s:b, s:s, s:o, s:o, s:o, s:o, s:o, "
		      "s:{s:I, s:I, s:I}, s:o*}",
		      "gateway", gw->cfg->name, "version", pc_version(),
		      "uptime_seconds", (json_int_t)(time(NULL) - gw->started),
		      "adopted", pc_dp_adopted(gw->dp), "pin_dir",
		      pc_dp_pin_dir(gw->dp), "policy", policy_summary(gw),
		      "interfaces", ifaces_json(gw), "forwarding",
		      forwarding_json(gw), "counters", counters_json(gw),
		      "rules", rules_json(gw), "conntrack", "entries",
		      (json_int_t)ct, "capacity", (json_int_t)PC_CT_ENTRIES,
		      "evictions", (json_int_t)evicted, "api",
		      gw->api ? pc_api_stats(gw->api) : NULL);
	if (gw->cfg->nwg)
		json_object_set_new(j, "wireguard", pc_wgm_status(gw->wgm));
	if (gw->fleet) {
		const char *why = NULL;
		int up = pc_fleet_up(gw->fleet, &why);

		json_object_set_new(
			j, "fleet",
			json_pack("{s:s, s:b, s:s?, s:I, s:s?}", "store",
				  gw->cfg->store_etcd, "connected", up, "error",
				  up ? NULL : why, "policy_version",
				  (json_int_t)pc_fleet_latest(gw->fleet),
				  "policy_error",
				  gw->fleet_error[0] ? gw->fleet_error : NULL));
	}
	err = pc_store_error(gw->store);
	json_object_set_new(j, "state",
			    json_pack("{s:s, s:b, s:s?, s:I}", "path",
				      gw->cfg->state, "writable", !err, "error",
				      err, "deny_events_lost",
				      (json_int_t)gw->denies_lost));
	return j;
}

/*
 * GET /metrics: the data plane's counters and maps, the policy, backends,
 * WireGuard, the API and the process, gathered now.  docs/observability.md
 * lists every name.
 */
static char *be_metrics(void *ctx)
{
	static const char *const kind[] = {"push", "rollback"};
	static const char *const result[] = {"applied", "refused", "failed"};
	struct pc_gateway *gw = ctx;
	struct pc_buf b = {0};
	const char *gl[] = {"version", pc_version(), "gateway", gw->cfg->name,
			    NULL};

	pc_prom_family(&b, "portcullis_build_info", "gauge",
		       "The running portcullisd: its version and gateway.");
	pc_prom_u64(&b, "portcullis_build_info", gl, 1);
	pc_prom_family(&b, "portcullis_start_time_seconds", "gauge",
		       "When portcullisd started, in seconds since the epoch.");
	pc_prom_u64(&b, "portcullis_start_time_seconds", NULL,
		    (uint64_t)gw->started);
	pc_prom_family(&b, "portcullis_policy_version", "gauge",
		       "Stored version of the policy in force (0: none).");
	pc_prom_u64(&b, "portcullis_policy_version", NULL,
		    gw->compiled ? (uint64_t)gw->rec.version : 0);
	pc_prom_family(&b, "portcullis_policy_generation", "gauge",
		       "Data plane generation of the policy in force.");
	pc_prom_u64(&b, "portcullis_policy_generation", NULL,
		    gw->compiled ? gw->rec.generation : 0);
	pc_prom_family(&b, "portcullis_policy_rules", "gauge",
		       "Rules of the policy in force.");
	pc_prom_u64(&b, "portcullis_policy_rules", NULL,
		    gw->compiled ? gw->compiled->nrules : 0);
	pc_prom_family(&b, "portcullis_policy_entries", "gauge",
		       "Data plane policy entries of the policy in force.");
	pc_prom_u64(&b, "portcullis_policy_entries", NULL,
		    gw->compiled ? gw->compiled->nentries : 0);
	pc_prom_family(&b, "portcullis_policy_last_push_timestamp_seconds",
		       "gauge",
		       "When this daemon last put a policy in force (push or "
		       "rollback), in seconds since the epoch; 0: not yet.");
	pc_prom_u64(&b, "portcullis_policy_last_push_timestamp_seconds", NULL,
		    (uint64_t)gw->pushed_at);
	pc_prom_family(&b, "portcullis_policy_pushes_total", "counter",
		       "Policy pushes and rollbacks by result: applied, "
		       "refused (the policy is wrong) or failed (the store or "
		       "the data plane).");
	for (int k = 0; k < 2; k++)
		for (int r = 0; r < 3; r++) {
			const char *l[] = {"kind", kind[k], "result", result[r],
					   NULL};

			pc_prom_u64(&b, "portcullis_policy_pushes_total", l,
				    gw->pushes[k][r]);
		}
	pc_prom_family(&b, "portcullis_state_writable", "gauge",
		       "1 when the state database takes writes.");
	pc_prom_u64(&b, "portcullis_state_writable", NULL,
		    !pc_store_error(gw->store));
	pc_prom_family(&b, "portcullis_deny_events_lost_total", "counter",
		       "Deny events the state database refused to record.");
	pc_prom_u64(&b, "portcullis_deny_events_lost_total", NULL,
		    gw->denies_lost);
	if (gw->flowlog) {
		struct pc_flowlog_stats fs;
		const char *lf[] = {"event", "flow", NULL};
		const char *ld[] = {"event", "deny", NULL};

		pc_flowlog_stats(gw->flowlog, &fs);
		pc_prom_family(&b, "portcullis_flow_log_records_total",
			       "counter",
			       "Records written to the flow log: ended flows "
			       "and denied packets.");
		pc_prom_u64(&b, "portcullis_flow_log_records_total", lf,
			    fs.flows);
		pc_prom_u64(&b, "portcullis_flow_log_records_total", ld,
			    fs.denies);
		pc_prom_family(&b, "portcullis_flow_log_errors_total",
			       "counter",
			       "Flow log records lost to a failed open or "
			       "write.");
		pc_prom_u64(&b, "portcullis_flow_log_errors_total", NULL,
			    fs.errors);
		pc_prom_family(&b, "portcullis_flow_log_rotations_total",
			       "counter", "Times the flow log was rotated.");
		pc_prom_u64(&b, "portcullis_flow_log_rotations_total", NULL,
			    fs.rotations);
		pc_prom_family(&b, "portcullis_flow_log_flows", "gauge",
			       "Flows the flow log follows now.");
		pc_prom_u64(&b, "portcullis_flow_log_flows", NULL, fs.tracked);
		pc_prom_family(&b, "portcullis_flow_log_untracked_total",
			       "counter",
			       "Times a new flow was not followed in a walk "
			       "because the flow log's table was full.");
		pc_prom_u64(&b, "portcullis_flow_log_untracked_total", NULL,
			    fs.untracked);
	}
	if (gw->fleet)
		pc_fleet_metrics(gw->fleet, &b);
	pc_metrics_dataplane(&b, gw->dp, gw->compiled);
	pc_health_metrics(gw->health, &b);
	pc_wgm_metrics(gw->wgm, &b);
	pc_api_metrics(gw->api, &b);
	pc_metrics_process(&b, gw->started);
	return b.data;
}

/*
 * The policy in force compiled again and applied as a new generation,
 * after WireGuard peers changed: their allowed IPs, the identities the
 * gateway puts them in.  Open flows are asked again at their next packet.
 */
static void recompile(struct pc_gateway *gw)
{
	struct pc_diags d = {0};
	struct pc_compiled *c;
	uint64_t gen;
	int rc;

	if (!gw->rec.source)
		return;
	rc = load(gw, gw->rec.source, strlen(gw->rec.source), gw->rec.filename,
		  &c, &d);
	for (size_t i = 0; i < d.n; i++)
		pc_log(d.v[i].warning ? PC_LOG_WARN : PC_LOG_ERROR, "%s",
		       d.v[i].msg);
	pc_diags_free(&d);
	if (rc) {
		pc_error("the policy in force does not compile with the "
			 "WireGuard peers; the data plane keeps the last");
		return;
	}
	rc = pc_dp_apply(gw->dp, c, gw->live_known ? gw->compiled : NULL, &gen);
	if (rc) {
		pc_error("failed to apply the policy in force again: %s",
			 strerror(-rc));
		pc_compiled_free(c);
		return;
	}
	pc_compiled_free(gw->compiled);
	gw->compiled = c;
	gw->live_known = 1;
	pc_health_set(gw->health, c, 0);
	gw->rec.generation = gen;
	record_generation(gw, &gw->rec);
}

static json_t *be_services(void *ctx)
{
	struct pc_gateway *gw = ctx;

	return pc_health_json(gw->health);
}

static json_t *be_peers(void *ctx)
{
	struct pc_gateway *gw = ctx;

	return pc_wgm_peers(gw->wgm);
}

/* A peer added or removed: the data plane learns its allowed IPs (a new
 * generation, so a removed peer's flows go), the interface follows. */
static void peers_changed(struct pc_gateway *gw)
{
	pc_wgm_sync_peers(gw->wgm);
	recompile(gw);
	pc_wgm_reconcile(gw->wgm);
}

static int be_peer_add(void *ctx, const struct pc_api_caller *who, json_t *req,
		       json_t **out)
{
	struct pc_gateway *gw = ctx;
	char summary[256];
	int code = pc_wgm_peer_add(gw->wgm, req, summary, sizeof(summary), out);

	if (code == 201) {
		peers_changed(gw);
		audit(gw, who, "peer.add", summary, "");
		pc_info("wireguard: peer %s added", summary);
	}
	return code;
}

static int be_peer_remove(void *ctx, const struct pc_api_caller *who,
			  const char *name, json_t **out)
{
	struct pc_gateway *gw = ctx;
	char summary[256];
	int code = pc_wgm_peer_remove(gw->wgm, name, summary, sizeof(summary),
				      out);

	if (code == 200) {
		peers_changed(gw);
		audit(gw, who, "peer.remove", summary, "");
		pc_info("wireguard: peer %s removed", summary);
	}
	return code;
}

static json_t *be_policy_get(void *ctx)
{
	struct pc_gateway *gw = ctx;

	if (!gw->compiled)
		return NULL;
	return json_pack("{s:I, s:I, s:s, s:s, s:s}", "version",
			 (json_int_t)gw->rec.version, "generation",
			 (json_int_t)gw->rec.generation, "filename",
			 gw->rec.filename, "pushed_at", gw->rec.created_at,
			 "source", gw->rec.source);
}

static int be_policy_put(void *ctx, const struct pc_api_caller *who,
			 const char *text, size_t len, const char *fname,
			 json_t **result, struct pc_diags *d)
{
	struct pc_gateway *gw = ctx;
	int rc = push_policy(gw, text, len, fname, 0, who, d);

	if (rc) {
		pc_warn("policy push refused: %s (%zu errors)",
			pc_diags_first_error(d), d->nerrors);
		audit(gw, who, "policy.refused", fname,
		      pc_diags_first_error(d));
		return rc;
	}
	*result = json_pack(
		"{s:I, s:I, s:I, s:I, s:s, s:{s:f, s:f, s:f}}", "version",
		(json_int_t)gw->rec.version, "generation",
		(json_int_t)gw->rec.generation, "rules",
		(json_int_t)gw->compiled->nrules, "entries",
		(json_int_t)gw->compiled->nentries, "mode",
		gw->compiled->mode == PC_MODE_AUDIT ? "audit" : "enforce",
		"timings_ms", "validate", gw->validate_ms, "apply",
		gw->apply_ms, "audit", gw->audit_ms);
	return 0;
}

static json_t *record_json(const struct pc_policy_record *r, int in_force)
{
	json_t *j = json_pack(
		"{s:I, s:I, s:s, s:s, s:b}", "version", (json_int_t)r->version,
		"generation", (json_int_t)r->generation, "filename",
		r->filename, "pushed_at", r->created_at, "in_force", in_force);

	if (r->rollback_of)
		json_object_set_new(j, "rollback_of",
				    json_integer(r->rollback_of));
	return j;
}

static json_t *be_policy_versions(void *ctx, size_t limit)
{
	struct pc_gateway *gw = ctx;
	struct pc_policy_record *v;
	json_t *arr;
	size_t n;

	if (gw->fleet) {
		char err[PC_ETCD_ERR_LEN];
		const char *why = NULL;

		if (!pc_fleet_up(gw->fleet, &why))
			return json_pack("{s:s+, s:s}", "error",
					 "the fleet's store is out of reach: ",
					 why, "field", "store");
		if (pc_fleet_policy_list(pc_fleet_etcd(gw->fleet), limit, &v,
					 &n, err))
			return json_pack("{s:s, s:s}", "error", err, "field",
					 "store");
	} else if (pc_store_policy_list(gw->store, limit, &v, &n)) {
		return NULL;
	}
	arr = json_array();
	for (size_t i = 0; i < n; i++) {
		json_array_append_new(
			arr,
			record_json(&v[i],
				    gw->compiled &&
					    v[i].version == gw->rec.version));
		pc_policy_record_free(&v[i]);
	}
	free(v);
	return json_pack("{s:o}", "versions", arr);
}

/*
 * Restore a stored version (0: the one pushed before the version in
 * force) by pushing its source again, as a new version that says which
 * it restored.  It is validated like any push; the swap is atomic.
 */
/*
 * A stored version with its source, from the fleet's store or the local
 * one; what: the request, for the error (-ENOENT: no such version).
 */
static int fetch_version(struct pc_gateway *gw, int64_t version,
			 struct pc_policy_record *rec, const char *what,
			 struct pc_diags *d)
{
	int rc;

	if (gw->fleet) {
		char err[PC_ETCD_ERR_LEN];
		const char *why = NULL;

		if (!pc_fleet_up(gw->fleet, &why)) {
			pc_diag_add(d, 0, what, NULL,
				    "the fleet's store is out of reach (%s)",
				    why);
			return -ECONNREFUSED;
		}
		rc = pc_fleet_policy_get(pc_fleet_etcd(gw->fleet), version, rec,
					 NULL, NULL, NULL, err);
		if (rc && rc != -ENOENT) {
			pc_diag_add(d, 0, what, NULL, "%s", err);
			return rc;
		}
	} else {
		rc = pc_store_policy_get(gw->store, version, rec);
	}
	if (rc == -ENOENT)
		pc_diag_add(d, 0, what, NULL, "no policy version %" PRId64,
			    version);
	else if (rc)
		pc_diag_add(d, 0, what, NULL,
			    "failed to read policy version %" PRId64 ": %s",
			    version, strerror(-rc));
	return rc;
}

/* What changes who may reach what, from old to new, as JSON. */
static json_t *changes_json(const struct pc_compiled *old,
			    const struct pc_compiled *new)
{
	struct pc_diff diff = {0};
	json_t *arr;

	pc_policy_diff(old, new, &diff);
	arr = pc_api_diff_json(&diff);
	pc_diff_free(&diff);
	return arr;
}

static json_t *compiled_json(const struct pc_compiled *c)
{
	return json_pack("{s:I, s:I, s:s}", "rules", (json_int_t)c->nrules,
			 "entries", (json_int_t)c->nentries, "mode",
			 c->mode == PC_MODE_AUDIT ? "audit" : "enforce");
}

/* POST /v1/policy/validate: what a push would do, without pushing. */
static int be_policy_check(void *ctx, const char *text, size_t len,
			   const char *fname, json_t **result,
			   struct pc_diags *d)
{
	struct pc_gateway *gw = ctx;
	struct pc_compiled *c;
	int rc = load(gw, text, len, fname, &c, d);

	if (rc)
		return rc;
	*result = compiled_json(c);
	json_object_set_new(*result, "valid", json_true());
	/* against the policy in force; all of it is new without one */
	json_object_set_new(*result, "changes",
			    gw->compiled ? changes_json(gw->compiled, c)
					 : json_null());
	pc_compiled_free(c);
	return 0;
}

/* GET /v1/policy/versions/N: one version, its source with it. */
static int be_policy_version(void *ctx, int64_t version, json_t **result,
			     struct pc_diags *d)
{
	struct pc_gateway *gw = ctx;
	struct pc_policy_record rec;
	int rc = fetch_version(gw, version, &rec, "version", d);

	if (rc)
		return rc;
	*result = record_json(&rec,
			      gw->compiled && rec.version == gw->rec.version);
	json_object_set_new(*result, "source", json_string(rec.source));
	pc_policy_record_free(&rec);
	return 0;
}

/*
 * GET /v1/policy/diff?from=A&to=B: what changed in who may reach what
 * from version A to version B, both compiled afresh (with this
 * gateway's WireGuard members, as a push here would be).
 */
static int be_policy_diff(void *ctx, int64_t from, int64_t to, json_t **result,
			  struct pc_diags *d)
{
	struct pc_gateway *gw = ctx;
	struct pc_policy_record a, b;
	struct pc_compiled *ca = NULL, *cb = NULL;
	int rc;

	if ((rc = fetch_version(gw, from, &a, "from", d)))
		return rc;
	if ((rc = fetch_version(gw, to, &b, "to", d))) {
		pc_policy_record_free(&a);
		return rc;
	}
	rc = load(gw, a.source, strlen(a.source), a.filename, &ca, d);
	if (!rc)
		rc = load(gw, b.source, strlen(b.source), b.filename, &cb, d);
	if (!rc)
		*result = json_pack("{s:I, s:I, s:o}", "from", (json_int_t)from,
				    "to", (json_int_t)to, "changes",
				    changes_json(ca, cb));
	pc_compiled_free(ca);
	pc_compiled_free(cb);
	pc_policy_record_free(&a);
	pc_policy_record_free(&b);
	/* a version that no longer compiles here (a peer it names is
	 * gone): the diff cannot be told, which is the caller's 422 */
	return rc;
}

static int be_policy_rollback(void *ctx, const struct pc_api_caller *who,
			      int64_t version, json_t **result,
			      struct pc_diags *d)
{
	struct pc_gateway *gw = ctx;
	struct pc_buf target = {0};
	struct pc_policy_record rec;
	int rc;

	if (!version) {
		if (!gw->compiled || gw->rec.version <= 1) {
			pc_diag_add(d, 0, "rollback", NULL,
				    "no earlier version to roll back to");
			return -ENOENT;
		}
		version = gw->rec.version - 1; /* in force before it */
	}
	if ((rc = fetch_version(gw, version, &rec, "rollback", d)))
		return rc;
	rc = push_policy(gw, rec.source, strlen(rec.source), rec.filename,
			 version, who, d);
	pc_policy_record_free(&rec);
	if (rc) {
		pc_buf_printf(&target, "version %" PRId64, version);
		audit(gw, who, "policy.rollback.refused", target.data,
		      pc_diags_first_error(d));
		pc_buf_free(&target);
		return rc;
	}
	pc_info("rolled back to version %" PRId64 " (now version %" PRId64 ")",
		version, gw->rec.version);
	*result = json_pack("{s:I, s:I, s:I}", "version",
			    (json_int_t)gw->rec.version, "generation",
			    (json_int_t)gw->rec.generation, "rollback_of",
			    (json_int_t)version);
	return 0;
}

static int be_authenticate(void *ctx, const char *token, enum pc_role *role,
			   char *name, size_t namelen)
{
	struct pc_gateway *gw = ctx;
	struct pc_token_record t;
	char sel[PC_SELECTOR_LEN];
	const char *secret;
	int ok;

	if (pc_token_split(token, sel, &secret) ||
	    pc_store_token_get(gw->store, sel, &t))
		return -EACCES;
	ok = !t.revoked && pc_token_matches(t.hash, secret);
	*role = pc_role_parse(t.role);
	snprintf(name, namelen, "token %s", t.name);
	pc_token_record_free(&t);
	return ok && *role != PC_ROLE_NONE ? 0 : -EACCES;
}

static json_t *be_tokens_list(void *ctx)
{
	struct pc_gateway *gw = ctx;
	struct pc_token_record *v;
	json_t *arr;
	size_t n;

	if (pc_store_token_list(gw->store, &v, &n))
		return NULL;
	arr = json_array();
	for (size_t i = 0; i < n; i++) {
		json_array_append_new(arr,
				      json_pack("{s:s, s:s, s:s, s:b}", "name",
						v[i].name, "role", v[i].role,
						"created_at", v[i].created_at,
						"revoked", v[i].revoked));
		pc_token_record_free(&v[i]);
	}
	free(v);
	return json_pack("{s:o}", "tokens", arr);
}

int pc_gateway_token_create(struct pc_store *store, const char *name,
			    enum pc_role role, char token[PC_TOKEN_LEN])
{
	char sel[PC_SELECTOR_LEN];
	uint8_t hash[32];
	int rc, tries = 0;

	/* a selector is 32 random bits: draw again on the rare collision,
	 * so that -EEXIST from the store means the name */
	do {
		struct pc_token_record t;

		if ((rc = pc_token_new(token, sel, hash)))
			return rc;
		rc = pc_store_token_get(store, sel, &t);
		if (!rc)
			pc_token_record_free(&t);
	} while (!rc && ++tries < 8);
	if (rc != -ENOENT)
		return rc ? rc : -EAGAIN;
	rc = pc_store_token_add(store, sel, hash, name, pc_role_name(role));
	memset(hash, 0, sizeof(hash));
	if (!rc)
		pc_info("token \"%s\" created with role %s", name,
			pc_role_name(role));
	return rc;
}

static int be_token_create(void *ctx, const struct pc_api_caller *who,
			   const char *name, enum pc_role role, json_t **result)
{
	struct pc_gateway *gw = ctx;
	char token[PC_TOKEN_LEN];
	int rc = pc_gateway_token_create(gw->store, name, role, token);

	if (!rc) {
		*result = json_pack("{s:s, s:s, s:s}", "name", name, "role",
				    pc_role_name(role), "token", token);
		audit(gw, who, "token.create", name, pc_role_name(role));
	}
	memset(token, 0, sizeof(token));
	return rc;
}

static int be_token_revoke(void *ctx, const struct pc_api_caller *who,
			   const char *name)
{
	struct pc_gateway *gw = ctx;
	int rc = pc_store_token_revoke(gw->store, name);

	if (!rc) {
		pc_info("token \"%s\" revoked", name);
		audit(gw, who, "token.revoke", name, "");
	}
	return rc;
}

/* Is name one of the '+'-joined names of a set ("eng+ops")? */
static int set_has(const char *set, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = set; p && *p;) {
		size_t k = strcspn(p, "+");

		if (k == n && !strncmp(p, name, n))
			return 1;
		p += k + (p[k] == '+');
	}
	return 0;
}

struct flows_ctx {
	struct pc_gateway *gw;
	const struct pc_flow_filter *f;
	struct evbuffer *out;
	size_t matched;
	uint64_t now_ns;
};

/* Seconds from then to now; 0 for a flow touched during the walk. */
static double since(uint64_t now, uint64_t then)
{
	return then < now ? (double)(now - then) / 1e9 : 0;
}

static const char *const tcp_states[] = {"none", "syn_sent", "established",
					 "closing", "closed"};

/* One flow as a line of JSON (the keys as GET /v1/flows documents). */
static void flow_json(struct evbuffer *out, const struct pc_ct_key *k,
		      const struct pc_ct_val *v, const char *ids,
		      const char *svcs, const char *rule, uint64_t now)
{
	const uint8_t *src = v->orig_is_lo ? k->lo_addr : k->hi_addr;
	const uint8_t *dst = v->orig_is_lo ? k->hi_addr : k->lo_addr;
	char s[64], d[64], pbuf[16];

	pc_addr_format(src, s, sizeof(s));
	pc_addr_format(dst, d, sizeof(d));
	evbuffer_add_printf(out,
			    "{\"src\": \"%s\", \"sport\": %u, \"dst\": \"%s\", "
			    "\"dport\": %u, \"proto\": ",
			    s, v->orig_is_lo ? k->lo_port : k->hi_port, d,
			    v->orig_is_lo ? k->hi_port : k->lo_port);
	pc_api_json_str(out, proto_name(k->proto, pbuf, sizeof(pbuf)));
	evbuffer_add_printf(
		out,
		", \"state\": \"%s\", \"packets\": [%" PRIu64 ", %" PRIu64
		"], \"bytes\": [%" PRIu64 ", %" PRIu64
		"], \"age_s\": %.3f, \"idle_s\": %.3f, \"rule\": ",
		k->proto == IPPROTO_TCP && v->state < 5 ? tcp_states[v->state]
							: "-",
		(uint64_t)v->packets[PC_DIR_ORIG],
		(uint64_t)v->packets[PC_DIR_REPLY],
		(uint64_t)v->bytes[PC_DIR_ORIG],
		(uint64_t)v->bytes[PC_DIR_REPLY], since(now, v->created_ns),
		since(now, v->last_seen_ns));
	if (rule)
		pc_api_json_str(out, rule);
	else
		evbuffer_add(out, "null", 4);
	evbuffer_add(out, ", \"identities\": ", 16);
	pc_api_json_str(out, ids);
	evbuffer_add(out, ", \"services\": ", 14);
	pc_api_json_str(out, svcs);
	evbuffer_add_printf(out, ", \"verdict\": \"%s\"}",
			    pc_action_name(v->action));
}

static int flow_one(void *arg, const struct pc_ct_key *k,
		    const struct pc_ct_val *v)
{
	struct flows_ctx *x = arg;
	const struct pc_compiled *c = x->gw->compiled;
	int current = c && v->generation == pc_dp_generation(x->gw->dp);
	const uint8_t *dst = v->orig_is_lo ? k->hi_addr : k->lo_addr;
	const char *ids = current && v->src_set && v->src_set <= c->nident_sets
				  ? c->ident_set_names[v->src_set - 1]
				  : "-";
	const char *svcs = flow_service(c, current, v, dst);
	const char *rule = current && v->rule_id && v->rule_id <= c->nrules
				   ? c->rule_names[v->rule_id - 1]
				   : NULL;

	if (x->f->identity[0] && !set_has(ids, x->f->identity))
		return 0;
	if (x->f->service[0] && !set_has(svcs, x->f->service))
		return 0;
	if (x->f->proto >= 0 && k->proto != x->f->proto)
		return 0;
	if (x->f->verdict[0] &&
	    strcmp(pc_action_name(v->action), x->f->verdict))
		return 0;
	if (x->f->has_host && memcmp(k->lo_addr, x->f->host, 16) &&
	    memcmp(k->hi_addr, x->f->host, 16))
		return 0;
	if (x->f->state &&
	    (k->proto != IPPROTO_TCP || v->state + 1 != x->f->state))
		return 0;
	if (x->matched++ >= x->f->limit)
		return 0; /* counted, not shown */
	evbuffer_add(x->out, x->matched > 1 ? ",\n  " : "\n  ",
		     x->matched > 1 ? 4 : 3);
	flow_json(x->out, k, v, ids, svcs, rule, x->now_ns);
	return 0;
}

static int be_flows(void *ctx, const struct pc_flow_filter *f,
		    struct evbuffer *out)
{
	struct flows_ctx x = {.gw = ctx, .f = f, .out = out};
	struct timespec ts;
	size_t shown;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &ts); /* bpf_ktime_get_ns's clock */
	x.now_ns = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	evbuffer_add(out, "{\"flows\": [", 11);
	rc = pc_dp_ct_each(x.gw->dp, flow_one, &x);
	shown = x.matched < f->limit ? x.matched : f->limit;
	evbuffer_add_printf(out, "%s], \"matched\": %zu, \"shown\": %zu}\n",
			    shown ? "\n" : "", x.matched, shown);
	return rc;
}

static json_t *be_audit_list(void *ctx, size_t limit)
{
	struct pc_gateway *gw = ctx;
	struct pc_audit_record *v;
	json_t *arr;
	size_t n;

	if (pc_store_audit_list(gw->store, limit, &v, &n))
		return NULL;
	arr = json_array();
	for (size_t i = 0; i < n; i++) {
		json_array_append_new(
			arr, json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s}",
				       "id", (json_int_t)v[i].id, "at", v[i].at,
				       "who", v[i].who, "peer", v[i].peer,
				       "action", v[i].action, "target",
				       v[i].target, "detail", v[i].detail));
		pc_audit_record_free(&v[i]);
	}
	free(v);
	return json_pack("{s:o}", "entries", arr);
}

static int be_ready(void *ctx, const char **why)
{
	struct pc_gateway *gw = ctx;

	if (!gw->compiled) {
		*why = "no policy in force";
		return 0;
	}
	for (size_t i = 0; i < gw->cfg->nifaces; i++) {
		if (!gw->attached[i]) {
			*why = "an interface is not attached";
			return 0;
		}
	}
	if (gw->fleet && !pc_fleet_up(gw->fleet, why))
		return 1; /* degraded: enforcing, not following the fleet */
	if (gw->fleet_error[0])
		*why = gw->fleet_error;
	return 1;
}

static json_t *be_placements(void *ctx)
{
	struct pc_gateway *gw = ctx;

	return gw->fleet ? pc_fleet_placements(gw->fleet) : NULL;
}

static int no_fleet(json_t **out)
{
	*out = json_pack("{s:s, s:s}", "error",
			 "placement needs a fleet (store: etcd://...)", "field",
			 "store");
	return 409;
}

static int be_placement_add(void *ctx, const struct pc_api_caller *who,
			    json_t *req, json_t **out)
{
	struct pc_gateway *gw = ctx;
	char err[512], target[128];
	int code;

	if (!gw->fleet)
		return no_fleet(out);
	code = pc_fleet_client_add(gw->fleet, req, err, sizeof(err), out);
	if (code != 201) {
		*out = json_pack("{s:s}", "error", err);
		return code;
	}
	snprintf(target, sizeof(target), "%s (%s)",
		 json_string_value(json_object_get(*out, "name")),
		 json_string_value(json_object_get(*out, "strategy")));
	audit(gw, who, "placement.add", target, "");
	return code;
}

static int be_placement_remove(void *ctx, const struct pc_api_caller *who,
			       const char *name, json_t **out)
{
	struct pc_gateway *gw = ctx;
	char err[512];
	int code;

	if (!gw->fleet)
		return no_fleet(out);
	code = pc_fleet_client_remove(gw->fleet, name, err, sizeof(err));
	if (code != 200) {
		*out = json_pack("{s:s}", "error", err);
		return code;
	}
	audit(gw, who, "placement.remove", name, "");
	*out = json_pack("{s:s}", "removed", name);
	return code;
}

static int be_gateway_remove(void *ctx, const struct pc_api_caller *who,
			     const char *name, json_t **out)
{
	struct pc_gateway *gw = ctx;
	char err[512];
	int code;

	if (!gw->fleet) {
		*out = json_pack("{s:s, s:s}", "error",
				 "this gateway is not in a fleet", "field",
				 "store");
		return 409;
	}
	code = pc_fleet_member_remove(gw->fleet, name, err, sizeof(err));
	if (code != 200) {
		*out = json_pack("{s:s}", "error", err);
		return code;
	}
	audit(gw, who, "gateway.remove", name, "");
	*out = json_pack("{s:s}", "removed", name);
	return code;
}

/* A client moved: on the event stream (every gateway says it). */
static void fleet_moved(void *ctx, json_t *move)
{
	struct pc_gateway *gw = ctx;
	json_t *j;

	if (!gw->api || !pc_api_streams(gw->api))
		return;
	j = json_pack("{s:s, s:O, s:O, s:O, s:O, s:O, s:O}", "reason",
		      "placement_move", "client",
		      json_object_get(move, "client"), "from",
		      json_object_get(move, "from"), "to",
		      json_object_get(move, "to"), "why",
		      json_object_get(move, "reason"), "at_ms",
		      json_object_get(move, "at_ms"), "after_ms",
		      json_object_get(move, "after_ms"));
	if (j)
		pc_api_publish(gw->api, "placement_move", j);
	json_decref(j);
}

/* The fleet's WireGuard clients placed here: onto the interface, into
 * the data plane and the policy's identities. */
static void fleet_placed(void *ctx)
{
	struct pc_gateway *gw = ctx;
	struct pc_wg_peer_record *v;
	size_t n;

	if (!gw->wgm || pc_fleet_peers_here(gw->fleet, &v, &n))
		return;
	if (pc_wgm_set_fleet_peers(gw->wgm, v, n))
		peers_changed(gw);
	for (size_t i = 0; i < n; i++)
		pc_wg_peer_record_free(&v[i]);
	free(v);
}

static int fleet_wireguard(void *ctx, char key[PC_WG_KEY_B64],
			   unsigned int *port)
{
	struct pc_gateway *gw = ctx;

	return pc_wgm_public_key(gw->wgm, key, port);
}

/* GET /v1/gateways: the fleet, or this gateway alone without one. */
static json_t *be_gateways(void *ctx)
{
	struct pc_gateway *gw = ctx;
	struct pc_fleet_load l = {0};
	const struct pc_fleet_config *f = &gw->cfg->fleet;
	json_t *self;

	if (gw->fleet)
		return pc_fleet_view(gw->fleet);
	fleet_load(gw, &l);
	self = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s?, s:I, "
			 "s:I, s:f, s:b}",
			 "name", gw->cfg->name, "site", f->site ? f->site : "",
			 "region", f->region ? f->region : "", "address",
			 f->address ? f->address : "", "version", pc_version(),
			 "state", "up", "health", l.health, "error", l.error,
			 "policy_version", (json_int_t)l.policy_version,
			 "flows", (json_int_t)l.flows, "pps", l.pps, "in_sync",
			 1);
	return json_pack("{s:s+, s:s, s:b, s:I, s:[o]}", "store", "sqlite://",
			 gw->cfg->state, "self", gw->cfg->name, "connected", 1,
			 "policy_version", (json_int_t)l.policy_version,
			 "gateways", self);
}

/*
 * One of the gateway's interfaces came or went under it.  Deleting an
 * interface takes its XDP link with it: the gateway is not ready until
 * the interface is back, and then it attaches to the new one (a new
 * ifindex).  A change of an interface it is attached to (up, down, MTU)
 * is not a new interface.
 */
static void on_link(void *arg, const char *ifname, unsigned int ifindex, int up)
{
	struct pc_gateway *gw = arg;

	for (size_t i = 0; i < gw->cfg->nifaces; i++) {
		const struct pc_iface_config *ifc = &gw->cfg->ifaces[i];

		if (strcmp(ifc->name, ifname))
			continue;
		if (!up) {
			if (gw->ifindex[i] == ifindex && gw->attached[i])
				pc_warn("interface %s is gone: not enforcing "
					"on "
					"it until it is back",
					ifname);
			if (gw->ifindex[i] == ifindex)
				gw->attached[i] = 0;
			return;
		}
		if (gw->attached[i] && gw->ifindex[i] == ifindex)
			return;
		/* (attach resolves the name again: an event may be stale) */
		gw->attached[i] =
			!pc_dp_attach(gw->dp, ifname, ifc->mode, &gw->modes[i]);
		gw->ifindex[i] = gw->attached[i] ? if_nametoindex(ifname) : 0;
		if (gw->attached[i])
			pc_info("enforcing on %s again (ifindex %u, %s XDP)",
				ifname, gw->ifindex[i],
				gw->modes[i] == PC_XDP_NATIVE ? "native"
							      : "generic");
		else
			pc_warn("interface %s is back (ifindex %u) but XDP "
				"does not attach: see above",
				ifname, ifindex);
		return;
	}
}

/* Link events were lost: each interface is gone, or there (again). */
static void on_links_lost(void *arg)
{
	struct pc_gateway *gw = arg;

	for (size_t i = 0; i < gw->cfg->nifaces; i++) {
		const char *name = gw->cfg->ifaces[i].name;
		unsigned int now = if_nametoindex(name);

		if (now)
			on_link(gw, name, now, 1);
		else if (gw->ifindex[i])
			on_link(gw, name, gw->ifindex[i], 0);
	}
}

static int attach_all(struct pc_gateway *gw)
{
	char **names = pc_xcalloc(gw->cfg->nifaces, sizeof(char *));
	int failed = 0;

	for (size_t i = 0; i < gw->cfg->nifaces; i++) {
		const struct pc_iface_config *ifc = &gw->cfg->ifaces[i];

		names[i] = ifc->name;
		gw->attached[i] = !pc_dp_attach(gw->dp, ifc->name, ifc->mode,
						&gw->modes[i]);
		gw->ifindex[i] =
			gw->attached[i] ? if_nametoindex(ifc->name) : 0;
		if (!gw->attached[i])
			failed++;
		else
			pc_info("enforcing on %s (%s XDP)", ifc->name,
				gw->modes[i] == PC_XDP_NATIVE ? "native"
							      : "generic");
	}
	pc_dp_prune(gw->dp, names, gw->cfg->nifaces);
	free(names);
	return failed ? -ENODEV : 0;
}

/*
 * Once a second, one walk of conntrack for whoever follows it: the flow
 * log, and the backends' flow counts when they are due.  A walk of a
 * full table copies some 25 MB; none is made when neither wants it.
 */
static void on_walk(evutil_socket_t fd, short what, void *arg)
{
	struct pc_gateway *gw = arg;
	struct pc_lb_sweep *sw = pc_health_sweep_begin(gw->health);
	struct pc_ct_visitor v[2];
	size_t n = 0;
	int err;

	(void)fd;
	(void)what;
	if (gw->flowlog) {
		pc_flowlog_walk_begin(gw->flowlog);
		v[n++] = (struct pc_ct_visitor){pc_flowlog_visit, gw->flowlog};
	}
	if (sw)
		v[n++] = (struct pc_ct_visitor){pc_dp_lb_sweep_visit, sw};
	if (!n)
		return;
	err = pc_dp_ct_walk(gw->dp, v, n);
	if (gw->flowlog)
		pc_flowlog_walk_end(gw->flowlog, err);
	if (sw)
		pc_health_sweep_end(gw->health, sw, err);
}

static int start_events(struct pc_gateway *gw)
{
	struct timeval one = {1, 0};

	int fd = pc_dp_events_fd(gw->dp, on_event, gw);

	if (fd < 0)
		return fd;
	gw->ev_read =
		event_new(gw->base, fd, EV_READ | EV_PERSIST, on_readable, gw);
	if (!gw->ev_read || event_add(gw->ev_read, NULL))
		return -ENOMEM;
	gw->ev_flush = event_new(gw->base, -1, EV_PERSIST, on_flush, gw);
	gw->ev_walk = event_new(gw->base, -1, EV_PERSIST, on_walk, gw);
	if (!gw->ev_flush || !gw->ev_walk || event_add(gw->ev_flush, &one) ||
	    event_add(gw->ev_walk, &one))
		return -ENOMEM;
	return 0;
}

static int str_differs(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a && strcmp(a, b));
}

static int listen_differs(const struct pc_gw_config *a,
			  const struct pc_gw_config *b)
{
	if (a->nlisten != b->nlisten)
		return 1;
	for (size_t i = 0; i < a->nlisten; i++)
		if (strcmp(a->listen[i], b->listen[i]))
			return 1;
	return 0;
}

const struct pc_api_tls *pc_gateway_tls_opts(const struct pc_gw_config *cfg,
					     struct pc_api_tls *t)
{
	if (!cfg->tls.set)
		return NULL;
	*t = (struct pc_api_tls){
		.cert = cfg->tls.cert,
		.key = cfg->tls.key,
		.client_ca = cfg->tls.client_ca,
		.client_auth = cfg->tls.client_auth,
		.roles = cfg->tls.roles,
		.nroles = cfg->tls.nroles,
	};
	return t;
}

/* The data plane's gateway knobs (PC_CFG_KNOBS) from the config. */
static uint32_t knobs(const struct pc_gw_config *cfg)
{
	return (cfg->non_ip_pass ? PC_CFG_NONIP_PASS : 0) |
	       (cfg->log_flows ? PC_CFG_LOG_FLOWS : 0) |
	       (cfg->forward_kernel ? 0 : PC_CFG_FORWARD);
}

/* The flow log cfg asks for (NULL when none). */
static int open_flowlog(struct pc_gateway *gw, const struct pc_gw_config *cfg,
			struct pc_flowlog **out)
{
	struct pc_flowlog_opts fo = {.path = cfg->flow_log,
				     .gateway = cfg->name,
				     .max_bytes = (uint64_t)cfg->flow_log_max_mb
						  << 20,
				     .keep = cfg->flow_log_keep,
				     .names = flow_names,
				     .names_arg = gw};
	int rc;

	*out = NULL;
	if (!cfg->flow_log)
		return 0;
	if ((rc = pc_flowlog_open(gw->dp, &fo, out)))
		return rc;
	pc_info("flow log: %s (rotated at %u MiB, %u kept)", cfg->flow_log,
		cfg->flow_log_max_mb, cfg->flow_log_keep);
	return 0;
}

int pc_gateway_reload(struct pc_gateway *gw, const struct pc_gw_config *cfg)
{
	static const struct pc_api_caller sighup = {PC_ROLE_ADMIN, "SIGHUP",
						    "local"};
	const struct pc_gw_config *old = gw->cfg;
	struct pc_tls_ctx *tls = NULL;
	struct pc_buf text = {0};
	struct pc_flowlog *flowlog = NULL;
	struct pc_api_tls t;
	int rc, flowlog_changed;

	if (str_differs(old->name, cfg->name) || listen_differs(old, cfg) ||
	    str_differs(old->state, cfg->state) ||
	    str_differs(old->pin_root, cfg->pin_root) ||
	    old->trust_local_root != cfg->trust_local_root ||
	    old->max_connections != cfg->max_connections ||
	    old->max_per_address != cfg->max_per_address ||
	    old->request_timeout_s != cfg->request_timeout_s ||
	    /* (unset in both: the default, which follows the files on
	     * disk; the console being served stays) */
	    ((old->console_set || cfg->console_set) &&
	     str_differs(old->console, cfg->console)) ||
	    old->tls.set != cfg->tls.set) {
		pc_error("reload refused: name, state, pin_root and api (but "
			 "for its TLS files) take a restart; nothing changed");
		return -EINVAL;
	}
	/* a new flow log must open before anything changes */
	/* (a new size or count applies to the open log in place) */
	flowlog_changed = str_differs(old->flow_log, cfg->flow_log);
	if (flowlog_changed && open_flowlog(gw, cfg, &flowlog)) {
		pc_error("reload refused: the flow log does not open; nothing "
			 "changed");
		return -EINVAL;
	}
	/* certificates may have been renewed in place: read them again */
	if (pc_api_tls_load(gw->api, pc_gateway_tls_opts(cfg, &t), &tls)) {
		pc_error("reload refused: TLS files do not load; nothing "
			 "changed");
		pc_flowlog_close(flowlog);
		return -EINVAL;
	}
	/* the policy file first: if it is refused, nothing else changes */
	if (cfg->policy) {
		rc = pc_read_file(cfg->policy, PC_API_MAX_BODY, &text);
		if (rc) {
			pc_error("reload refused: policy '%s': %s", cfg->policy,
				 strerror(-rc));
			pc_api_tls_drop(tls);
			pc_flowlog_close(flowlog);
			return rc;
		}
		if (!gw->rec.source || strcmp(text.data, gw->rec.source)) {
			struct pc_diags d = {0};

			rc = push_policy(gw, text.data, text.len, cfg->policy,
					 0, &sighup, &d);
			for (size_t i = 0; i < d.n; i++)
				pc_log(d.v[i].warning ? PC_LOG_WARN
						      : PC_LOG_ERROR,
				       "%s", d.v[i].msg);
			if (rc)
				audit(gw, &sighup, "policy.refused",
				      cfg->policy, pc_diags_first_error(&d));
			pc_diags_free(&d);
			if (rc) {
				pc_buf_free(&text);
				pc_api_tls_drop(tls);
				pc_flowlog_close(flowlog);
				pc_error("reload refused: the policy file does "
					 "not load; nothing changed");
				return rc;
			}
		}
		pc_buf_free(&text);
	}
	for (size_t i = 0; i < cfg->nifaces; i++) {
		size_t j;

		for (j = 0; j < old->nifaces; j++)
			if (!strcmp(cfg->ifaces[i].name, old->ifaces[j].name))
				break;
		if (j == old->nifaces)
			pc_info("reload: interface %s added",
				cfg->ifaces[i].name);
	}
	for (size_t j = 0; j < old->nifaces; j++) {
		size_t i;

		for (i = 0; i < cfg->nifaces; i++)
			if (!strcmp(cfg->ifaces[i].name, old->ifaces[j].name))
				break;
		if (i == cfg->nifaces)
			pc_info("reload: interface %s removed",
				old->ifaces[j].name);
	}
	if (tls) {
		pc_api_tls_use(gw->api, tls);
		pc_info("reload: TLS certificate '%s' re-read", cfg->tls.cert);
	}
	if (flowlog_changed) {
		pc_flowlog_close(gw->flowlog);
		gw->flowlog = flowlog;
		if (!flowlog)
			pc_info("reload: flow log off");
	} else if (gw->flowlog) {
		pc_flowlog_set_limits(gw->flowlog,
				      (uint64_t)cfg->flow_log_max_mb << 20,
				      cfg->flow_log_keep);
	}
	gw->cfg = cfg;
	free(gw->modes);
	free(gw->attached);
	free(gw->ifindex);
	gw->modes = pc_xcalloc(cfg->nifaces + 1, sizeof(*gw->modes));
	gw->attached = pc_xcalloc(cfg->nifaces + 1, sizeof(*gw->attached));
	gw->ifindex = pc_xcalloc(cfg->nifaces + 1, sizeof(*gw->ifindex));
	if (attach_all(gw))
		pc_warn("reload: not every interface is attached; see above");
	pc_dp_set_flags(gw->dp, knobs(cfg));
	pc_dp_set_deny_events(gw->dp, cfg->deny_events);
	/* always: the manager must not keep the old config, which the
	 * caller frees */
	pc_wgm_reload(gw->wgm, cfg);
	if (cfg->nwg || old->nwg) {
		recompile(gw);
		pc_wgm_reconcile(gw->wgm);
	}
	pc_info("reloaded the gateway config");
	return 0;
}

int pc_gateway_start(struct event_base *base, const struct pc_gw_config *cfg,
		     struct pc_gateway **out)
{
	struct pc_gateway *gw = pc_xcalloc(1, sizeof(*gw));
	struct pc_dp_opts o = {.gateway = cfg->name, .pin_root = cfg->pin_root};
	struct pc_api_backend be = {
		.ctx = gw,
		.status = be_status,
		.policy_get = be_policy_get,
		.policy_put = be_policy_put,
		.policy_check = be_policy_check,
		.policy_version = be_policy_version,
		.policy_diff = be_policy_diff,
		.policy_versions = be_policy_versions,
		.policy_rollback = be_policy_rollback,
		.authenticate = be_authenticate,
		.tokens_list = be_tokens_list,
		.token_create = be_token_create,
		.token_revoke = be_token_revoke,
		.audit_list = be_audit_list,
		.flows = be_flows,
		.denies = be_denies,
		.ready = be_ready,
		.metrics = be_metrics,
		.peers = be_peers,
		.peer_add = be_peer_add,
		.peer_remove = be_peer_remove,
		.services = be_services,
		.gateways = be_gateways,
		.placements = be_placements,
		.placement_add = be_placement_add,
		.placement_remove = be_placement_remove,
		.gateway_remove = be_gateway_remove,
	};
	struct pc_fleet_hooks fh = {
		.ctx = gw,
		.policy = fleet_policy,
		.in_force = fleet_in_force,
		.load = fleet_load,
		.moved = fleet_moved,
		.placed = fleet_placed,
		.refused = fleet_refused,
		.empty = fleet_empty,
		.wireguard = fleet_wireguard,
	};
	struct pc_api_tls t;
	struct pc_api_opts ao = {
		.listen = (const char *const *)cfg->listen,
		.nlisten = cfg->nlisten,
		.trust_local_root = cfg->trust_local_root,
		.max_connections = cfg->max_connections,
		.max_per_address = cfg->max_per_address,
		.request_timeout_s = cfg->request_timeout_s,
		.tls = pc_gateway_tls_opts(cfg, &t),
		.console_dir = cfg->console,
	};
	int rc;

	*out = NULL;
	gw->cfg = cfg;
	gw->base = base;
	gw->started = time(NULL);
	gw->modes = pc_xcalloc(cfg->nifaces + 1, sizeof(*gw->modes));
	gw->attached = pc_xcalloc(cfg->nifaces + 1, sizeof(*gw->attached));
	gw->ifindex = pc_xcalloc(cfg->nifaces + 1, sizeof(*gw->ifindex));
	if ((rc = pc_store_open(cfg->state, &gw->store)) ||
	    (rc = pc_dp_open(&o, &gw->dp)))
		goto fail;
	pc_dp_set_flags(gw->dp, knobs(cfg));
	pc_dp_set_deny_events(gw->dp, cfg->deny_events);
	{ /* conntrack's evictions count from now (the metrics) */
		size_t entries;
		uint64_t evicted;

		pc_dp_ct_usage(gw->dp, &entries, &evicted);
	}
	if (pc_dp_adopted(gw->dp))
		pc_info("adopting pinned data plane in %s (generation %" PRIu64
			")",
			pc_dp_pin_dir(gw->dp), pc_dp_generation(gw->dp));
	if ((rc = pc_wgm_new(base, cfg, gw->dp, gw->store, &gw->wgm)) ||
	    (rc = pc_health_new(base, gw->dp, gw->store, &gw->health)))
		goto fail;
	if (cfg->store_etcd && (rc = pc_fleet_new(base, cfg, &fh, &gw->fleet)))
		goto fail;
	/* policy first, so a fresh attach never enforces an empty policy */
	if ((rc = initial_policy(gw)) || (rc = start_events(gw)))
		goto fail;
	if ((rc = open_flowlog(gw, cfg, &gw->flowlog)))
		goto fail;
	/* watching first: an interface that comes during the attach is
	 * seen by one or the other */
	if ((rc = pc_links_new(base, on_link, on_links_lost, gw, &gw->links)))
		goto fail;
	if (attach_all(gw))
		pc_warn("not every interface is attached (yet): see above");
	if ((rc = pc_wgm_run(gw->wgm)))
		goto fail;
	rc = pc_api_start(base, &ao, &be, &gw->api);
	if (rc)
		goto fail;
	pc_health_set_api(gw->health, gw->api);
	pc_info("portcullisd %s serving gateway %s on %s%s", pc_version(),
		cfg->name, cfg->listen[0],
		cfg->nlisten > 1 ? " and more (see above)" : "");
	*out = gw;
	return 0;
fail:
	pc_gateway_stop(gw);
	return rc;
}

void pc_gateway_stop(struct pc_gateway *gw)
{
	if (!gw)
		return;
	pc_api_stop(gw->api);
	pc_links_free(gw->links);
	pc_fleet_free(gw->fleet);
	pc_wgm_stop(gw->wgm);
	if (gw->ev_walk) /* (before what it walks for) */
		event_free(gw->ev_walk);
	pc_health_free(gw->health);
	pc_flowlog_close(gw->flowlog);
	if (gw->ev_read)
		event_free(gw->ev_read);
	if (gw->ev_flush) {
		on_flush(-1, 0, gw);
		event_free(gw->ev_flush);
	}
	free(gw->denies);
	pc_dp_close(gw->dp);
	pc_store_close(gw->store);
	pc_compiled_free(gw->compiled);
	pc_policy_record_free(&gw->rec);
	free(gw->modes);
	free(gw->attached);
	free(gw->ifindex);
	free(gw);
}
