// SPDX-License-Identifier: Apache-2.0
/*
 * The fleet, seen from one gateway: it joins (P/members/NAME), stays
 * alive on a lease (P/alive/NAME, renewed and rewritten with its load
 * every heartbeat), and follows one watch over the whole prefix: new
 * policy versions go to the gateway to apply, members and their health
 * into the fleet view.  When etcd is out of reach the gateway keeps
 * enforcing; a probe every heartbeat notices its return, and the fleet
 * is read again from scratch (the newest policy, every member) before
 * the watch resumes.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/bufferevent.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon.h"
#include "fleet.h"
#include "placement.h"
#include "store.h"
#include "wg.h"

#define PC_FLEET_MOVES_KEPT 64
/* place_one, beside a gateway's index and -errno */
#define PLACE_NONE (-10000)	  /* no gateway may take it */
#define PLACE_WAIT (-10001)	  /* a latency client waits to be measured */
#define PLACE_NOT_LEADER (-10002) /* this gateway no longer leads */
#define PC_FLEET_PROBE_MS 5000

struct pc_fleet {
	struct event_base *base;
	const struct pc_gw_config *cfg;
	struct pc_fleet_hooks hooks;
	struct pc_etcd *etcd;
	char id[300]; /* etcd://ENDPOINT/PREFIX: which fleet, spelt one way */
	int64_t lease;
	int up;	     /* joined, watching, heartbeats answered */
	int probing; /* a probe or heartbeat is in flight */
	time_t down_since;
	char why[PC_ETCD_ERR_LEN]; /* why it is not up */
	struct pc_etcd_watch *watch;
	int watch_ended;      /* freed at the next heartbeat */
	int64_t rev;	      /* etcd's revision seen last */
	int64_t seen_self_ms; /* the watch brought this gateway's record */
	int loading;	      /* a join reads the fleet afresh */
	int64_t latest;	      /* the newest policy version the fleet has */
	json_t *members;      /* name -> member record */
	json_t *alive;	      /* name -> its live registration */
	json_t *lost;	   /* name -> when its lease went, ms since the epoch */
	json_t *clients;   /* name -> client to place */
	json_t *placement; /* client name -> where it is placed */
	json_t *moves;	   /* the last placement moves, oldest first */
	json_t *rtt;	   /* client name -> RTT from here, ms */
	char leader[72];   /* the gateway that places clients, "" unknown */
	int leading;	   /* it is this one */
	uint64_t rr_cursor, rnd;
	uint64_t placed, moved;
	size_t waiting;	 /* new latency clients no gateway has measured yet */
	size_t unplaced; /* clients the last pass found no gateway for */
	struct event *ev_place; /* a placement pass, soon */
	struct event *ev_peers; /* tell the gateway what is placed here */
	struct event *ev_probe; /* RTT probes */
	struct probe *probes;	/* in flight */
	struct event *ev_beat;
	time_t started;
	uint64_t beats_ok, beats_failed, reconnects, watch_events;
};

static int64_t epoch_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A placement pass as soon as the loop is free (one for many events). */
static void place_soon(struct pc_fleet *f)
{
	if (f->leading && f->ev_place)
		event_active(f->ev_place, EV_TIMEOUT, 0);
}

static void place_soon_or_lead(struct pc_fleet *f);
static void try_lead(struct pc_fleet *f);

static const char *rel_key(const struct pc_fleet *f, const char *key)
{
	size_t n = strlen(pc_etcd_prefix(f->etcd));

	if (strncmp(key, pc_etcd_prefix(f->etcd), n) || key[n] != '/')
		return NULL;
	return key + n + 1;
}

static void go_down(struct pc_fleet *f, const char *why)
{
	if (f->up || !f->down_since) {
		pc_warn("fleet: %s; enforcing policy version %" PRId64
			" until etcd answers again",
			why, f->hooks.in_force(f->hooks.ctx));
		f->down_since = time(NULL);
	}
	f->up = 0;
	f->leading = 0; /* it cannot write; another gateway may take over */
	f->leader[0] = '\0'; /* and who does is read again at the join */
	snprintf(f->why, sizeof(f->why), "%s", why);
	f->watch_ended = 1; /* (freed at the next heartbeat) */
}

static json_t *registration(struct pc_fleet *f)
{
	struct pc_fleet_load l = {0};
	char error[320];

	f->hooks.load(f->hooks.ctx, &l);
	if (l.error) { /* ASCII only: a cut UTF-8 sequence is no JSON */
		snprintf(error, sizeof(error), "%s", l.error);
		for (char *c = error; *c; c++)
			if ((unsigned char)*c >= 0x80 ||
			    (unsigned char)*c < 0x20)
				*c = '?';
		l.error = error;
	}
	return json_pack("{s:s, s:s, s:I, s:s, s:s?, s:I, s:I, s:f, s:I, s:I, "
			 "s:O}",
			 "name", f->cfg->name, "version", pc_version(),
			 "started", (json_int_t)f->started, "health",
			 l.health ? l.health : "ok", "error", l.error,
			 "policy_version", (json_int_t)l.policy_version,
			 "flows", (json_int_t)l.flows, "pps", l.pps,
			 "policy_applied_ms", (json_int_t)l.applied_ms,
			 "updated", (json_int_t)time(NULL), "rtt", f->rtt);
}

static json_t *member(struct pc_fleet *f)
{
	const struct pc_fleet_config *c = &f->cfg->fleet;
	char key[PC_WG_KEY_B64];
	unsigned int port = 0;
	json_t *m;

	m = json_pack("{s:s, s:s, s:s, s:s, s:I}", "name", f->cfg->name, "site",
		      c->site ? c->site : "", "region",
		      c->region ? c->region : "", "address",
		      c->address ? c->address : "", "weight",
		      (json_int_t)c->weight);
	/* what a client placed here needs to reach it */
	if (f->hooks.wireguard && !f->hooks.wireguard(f->hooks.ctx, key, &port))
		json_object_set_new(m, "wireguard",
				    json_pack("{s:s, s:I}", "public_key", key,
					      "port", (json_int_t)port));
	return m;
}

static json_t *put_req(const char *key, json_t *val, int64_t lease)
{
	char *text = val ? json_dumps(val, JSON_COMPACT) : NULL;

	if (!text) { /* not a value jansson could write: write none */
		json_decref(val);
		return NULL;
	}
	json_t *r =
		json_pack("{s:o, s:o}", "key", pc_etcd_b64(key, strlen(key)),
			  "value", pc_etcd_b64(text, strlen(text)));

	if (lease) {
		char l[24];

		snprintf(l, sizeof(l), "%" PRId64, lease);
		json_object_set_new(r, "lease", json_string(l));
	}
	free(text);
	json_decref(val);
	return r;
}

static void key_of(struct pc_fleet *f, const char *dir, const char *name,
		   char *out, size_t len)
{
	snprintf(out, len, "%s/%s/%s", pc_etcd_prefix(f->etcd), dir, name);
}

/* A placement changed: a move when it left a gateway for another. */
static void placement_changed(struct pc_fleet *f, const char *client,
			      json_t *now)
{
	json_t *was = json_object_get(f->placement, client), *m;
	const char *from = json_string_value(json_object_get(was, "gateway"));
	const char *to = json_string_value(json_object_get(now, "gateway"));

	if (!to || (from && !strcmp(from, to)) || f->loading)
		return;
	if (!from) {
		pc_info("placement: %s placed on %s (%s)", client, to,
			json_string_value(json_object_get(now, "strategy")));
		return;
	}
	m = json_pack("{s:s, s:s, s:s, s:O, s:O, s:O}", "client", client,
		      "from", from, "to", to, "at_ms",
		      json_object_get(now, "since"), "reason",
		      json_object_get(now, "reason"), "after_ms",
		      json_object_get(now, "after_ms"));
	if (!m)
		return;
	f->moved++;
	pc_info("placement: %s moved from %s to %s (%s; %lld ms after)", client,
		from, to, json_string_value(json_object_get(now, "reason")),
		(long long)pc_etcd_int(now, "after_ms"));
	if (f->hooks.moved)
		f->hooks.moved(f->hooks.ctx, m);
	json_array_append_new(f->moves, m);
	while (json_array_size(f->moves) > PC_FLEET_MOVES_KEPT)
		json_array_remove(f->moves, 0);
}

/* A value of the watch or of a range, into the view. */
static void take_kv(struct pc_fleet *f, json_t *kv, int deleted)
{
	const char *key;
	char *k = pc_etcd_unb64(json_object_get(kv, "key"), NULL), *v;
	json_t *into = NULL, *j = NULL;

	key = k ? rel_key(f, k) : NULL;
	if (!key)
		goto out;
	if (!deleted) {
		v = pc_etcd_unb64(json_object_get(kv, "value"), NULL);
		j = v ? json_loads(v, 0, NULL) : NULL;
		free(v);
		if (!json_is_object(j))
			goto out; /* not ours to read */
	}
	if (!strcmp(key, "leader")) {
		const char *who = json_string_value(json_object_get(j, "name"));

		snprintf(f->leader, sizeof(f->leader), "%s",
			 deleted || !who ? "" : who);
		/* someone else's now (or nobody's): this one stops */
		if (f->leading &&
		    (deleted || !who || strcmp(who, f->cfg->name) ||
		     pc_etcd_int(kv, "lease") != f->lease)) {
			f->leading = 0;
			pc_info("fleet: this gateway no longer places clients");
		}
		if (deleted && f->up && !f->loading)
			place_soon_or_lead(f);
		goto out;
	}
	if (!strncmp(key, "members/", 8)) {
		into = f->members;
		key += 8;
		if (deleted) {
			json_object_del(f->lost, key);
			place_soon(f); /* its clients need a home */
		}
	} else if (!strncmp(key, "alive/", 6)) {
		into = f->alive;
		key += 6;
		if (deleted) {
			if (json_object_get(f->alive, key))
				pc_info("fleet: gateway %s is gone (its lease "
					"ended)",
					key);
			json_object_set_new(f->lost, key,
					    json_integer(epoch_ms()));
		} else {
			json_object_del(f->lost, key);
			if (!strcmp(key, f->cfg->name))
				f->seen_self_ms = mono_ms();
		}
		/* a gateway came or went, or measured what a client waits
		 * for: clients may need a home */
		if (deleted || !json_object_get(f->alive, key) || f->waiting ||
		    f->unplaced ||
		    !json_equal(json_object_get(json_object_get(f->alive, key),
						"health"),
				json_object_get(j, "health")))
			place_soon(f);
	} else if (!strncmp(key, "clients/", 8)) {
		into = f->clients;
		key += 8;
		place_soon(f);
		if (f->ev_peers)
			event_active(f->ev_peers, EV_TIMEOUT, 0);
		if (!deleted && f->ev_probe) /* measure a new one now */
			event_active(f->ev_probe, EV_TIMEOUT, 0);
	} else if (!strncmp(key, "placement/", 10)) {
		into = f->placement;
		key += 10;
		/* the echo of a write this leader has moved past already */
		if (!deleted && *key &&
		    pc_etcd_int(kv, "mod_revision") <
			    pc_etcd_int(json_object_get(f->placement, key),
					"_rev"))
			goto out;
		if (!deleted && *key) {
			placement_changed(f, key, j);
			json_object_set_new(
				j, "_rev",
				json_integer(pc_etcd_int(kv, "mod_revision")));
		}
		if (f->ev_peers)
			event_active(f->ev_peers, EV_TIMEOUT, 0);
	}
	if (!into || !*key)
		goto out;
	if (deleted)
		json_object_del(into, key);
	else
		json_object_set(into, key, j);
out:
	json_decref(j);
	free(k);
}

/* The newest version: read and handed to the gateway when it is newer
 * than what it enforces. */
static int catch_up(struct pc_fleet *f, int64_t *rev)
{
	struct pc_policy_record r;
	char err[PC_ETCD_ERR_LEN], *by = NULL, *via = NULL;
	int rc;

	/* always the newest, read now: a watch event may be older than
	 * what this gateway put in force meanwhile */
	rc = pc_fleet_policy_get(f->etcd, 0, &r, &by, &via, rev, err);
	if (rc == -ENOENT) {
		f->latest = 0;
		return 0;
	}
	if (rc == -EBADMSG) {
		/* the gateway keeps its policy and says why; the fleet
		 * still works: a later version may be one it reads */
		if (f->hooks.refused)
			f->hooks.refused(f->hooks.ctx, err);
		return 0;
	}
	if (rc) {
		go_down(f, err);
		return rc;
	}
	f->latest = r.version;
	/* not only a newer one: an etcd started afresh counts from 1 */
	if (r.version != f->hooks.in_force(f->hooks.ctx))
		f->hooks.policy(f->hooks.ctx, &r, by, via);
	pc_policy_record_free(&r);
	free(by);
	free(via);
	return 0;
}

static void on_watch(void *arg, json_t *res, const char *err)
{
	struct pc_fleet *f = arg;
	int64_t newest = 0;
	json_t *ev;
	size_t i;

	if (!res) {
		go_down(f, err);
		return;
	}
	if (!f->up) /* a join reads it all again */
		return;
	if (json_is_true(json_object_get(res, "canceled"))) {
		go_down(f, "etcd cancelled the watch (compacted past it)");
		return;
	}
	json_array_foreach (json_object_get(res, "events"), i, ev) {
		json_t *kv = json_object_get(ev, "kv");
		const char *type =
			json_string_value(json_object_get(ev, "type"));
		char *k = pc_etcd_unb64(json_object_get(kv, "key"), NULL);
		const char *key = k ? rel_key(f, k) : NULL;
		int64_t v;

		f->watch_events++;
		if (key && !strncmp(key, "policy/v/", 9) &&
		    (v = strtoll(key + 9, NULL, 10)) > newest)
			newest = v;
		free(k);
		take_kv(f, kv, type && !strcmp(type, "DELETE"));
	}
	f->rev = pc_etcd_int(json_object_get(res, "header"), "revision");
	if (newest && newest != f->hooks.in_force(f->hooks.ctx))
		catch_up(f, NULL);
}

/* A range op of a snapshot: a directory of the prefix, or one key. */
static json_t *range_op(struct pc_fleet *f, const char *rel, int dir,
			int newest)
{
	char key[300], end[300];
	json_t *r;

	snprintf(key, sizeof(key), "%s/%s", pc_etcd_prefix(f->etcd), rel);
	r = json_pack("{s:o}", "key", pc_etcd_b64(key, strlen(key)));
	if (dir) {
		pc_etcd_prefix_end(key, end, sizeof(end));
		json_object_set_new(r, "range_end",
				    pc_etcd_b64(end, strlen(end)));
	}
	if (newest) {
		json_object_set_new(r, "sort_order", json_string("DESCEND"));
		json_object_set_new(r, "sort_target", json_string("KEY"));
		json_object_set_new(r, "limit", json_integer(1));
		json_object_set_new(r, "keys_only", json_true());
	}
	return json_pack("{s:o}", "request_range", r);
}

static json_t *snapshot_kvs(json_t *resp, size_t i)
{
	return json_object_get(
		json_object_get(
			json_array_get(json_object_get(resp, "responses"), i),
			"response_range"),
		"kvs");
}

/*
 * The fleet as it is, read in one transaction (one revision): the
 * newest version's number, members, who is alive, clients, placements,
 * the leader.  The watch starts just past it, so nothing is missed and
 * nothing replays.  *newest: 0 when the fleet has no policy.
 */
static int snapshot(struct pc_fleet *f, int64_t *newest, int64_t *rev,
		    char err[PC_ETCD_ERR_LEN])
{
	static const char *const dirs[] = {"members/", "alive/", "clients/",
					   "placement/"};
	json_t *resp, *kv;
	size_t i, d;
	int rc;

	rc = pc_etcd_call(f->etcd, "kv/txn",
			  json_pack("{s:[], s:[o, o, o, o, o, o]}", "compare",
				    "success", range_op(f, "policy/v/", 1, 1),
				    range_op(f, dirs[0], 1, 0),
				    range_op(f, dirs[1], 1, 0),
				    range_op(f, dirs[2], 1, 0),
				    range_op(f, dirs[3], 1, 0),
				    range_op(f, "leader", 0, 0)),
			  &resp, err);
	if (rc)
		return rc;
	*rev = pc_etcd_int(json_object_get(resp, "header"), "revision");
	*newest = 0;
	kv = json_array_get(snapshot_kvs(resp, 0), 0);
	if (kv) {
		char *k = pc_etcd_unb64(json_object_get(kv, "key"), NULL);
		const char *r = k ? rel_key(f, k) : NULL;

		if (r && !strncmp(r, "policy/v/", 9))
			*newest = strtoll(r + 9, NULL, 10);
		free(k);
	}
	json_object_clear(f->members);
	json_object_clear(f->alive);
	json_object_clear(f->clients);
	json_object_clear(f->placement);
	f->leader[0] = '\0';
	f->loading = 1;
	for (d = 0; d < 5; d++)
		json_array_foreach (snapshot_kvs(resp, d + 1), i, kv)
			take_kv(f, kv, 0);
	f->loading = 0;
	json_decref(resp);
	return 0;
}

/*
 * Join: a lease and the member record, the fleet as it is now, the
 * newest policy in force, the live record, then the watch from just
 * past the snapshot; then lead if nobody does.
 */
static int join(struct pc_fleet *f)
{
	char err[PC_ETCD_ERR_LEN], key[300], prefix[300], end[300];
	struct pc_etcd_watch *w;
	int64_t rev = 0, newest = 0;
	json_t *resp;
	int rc;

	f->leading = 0; /* a lease of its own is needed for that */
	rc = pc_etcd_call(f->etcd, "lease/grant",
			  json_pack("{s:I}", "TTL",
				    (json_int_t)f->cfg->fleet.lease_ttl_s),
			  &resp, err);
	if (rc) {
		go_down(f, err);
		return rc;
	}
	f->lease = pc_etcd_int(resp, "ID");
	json_decref(resp);
	key_of(f, "members", f->cfg->name, key, sizeof(key));
	rc = pc_etcd_call(f->etcd, "kv/put", put_req(key, member(f), 0), &resp,
			  err);
	json_decref(resp);
	if (!rc)
		rc = snapshot(f, &newest, &rev, err);
	if (rc) {
		go_down(f, err);
		return rc;
	}
	/* the newest policy first, so the record below says it is in force */
	f->latest = newest;
	if (newest && newest != f->hooks.in_force(f->hooks.ctx) &&
	    (rc = catch_up(f, NULL)))
		return rc;
	key_of(f, "alive", f->cfg->name, key, sizeof(key));
	rc = pc_etcd_call(f->etcd, "kv/put",
			  put_req(key, registration(f), f->lease), &resp, err);
	if (rc) {
		go_down(f, err);
		return rc;
	}
	json_decref(resp);
	f->rev = rev;
	pc_etcd_watch_free(f->watch);
	f->watch = NULL;
	f->watch_ended = 0;
	snprintf(prefix, sizeof(prefix), "%s/", pc_etcd_prefix(f->etcd));
	pc_etcd_prefix_end(prefix, end, sizeof(end));
	w = pc_etcd_watch(f->etcd, prefix, end, f->rev + 1, on_watch, f);
	if (!w)
		go_down(f, "failed to start the watch");
	f->watch = w;
	if (f->watch_ended) /* it failed before it started */
		return -EIO;
	f->seen_self_ms = mono_ms();
	if (f->down_since)
		pc_info("fleet: joined etcd at %s again after %lld s; policy "
			"version %" PRId64 " in force (the fleet's newest: "
			"%" PRId64 ")",
			pc_etcd_endpoint(f->etcd),
			(long long)(time(NULL) - f->down_since),
			f->hooks.in_force(f->hooks.ctx), f->latest);
	else
		pc_info("fleet: joined etcd at %s under %s as %s",
			pc_etcd_endpoint(f->etcd), pc_etcd_prefix(f->etcd),
			f->cfg->name);
	f->up = 1;
	f->down_since = 0;
	f->why[0] = '\0';
	f->reconnects++;
	try_lead(f);
	place_soon(f);
	if (!newest && f->hooks.empty)
		f->hooks.empty(f->hooks.ctx); /* a new fleet: seed it */
	return 0;
}

static void on_put(void *arg, json_t *resp, const char *err)
{
	struct pc_fleet *f = arg;

	(void)resp;
	f->probing = 0;
	if (err) {
		f->beats_failed++;
		go_down(f, err);
	} else {
		f->beats_ok++;
	}
}

static void publish(struct pc_fleet *f)
{
	char key[300];

	key_of(f, "alive", f->cfg->name, key, sizeof(key));
	/* set first: a call that fails at once calls back before returning */
	f->probing = 1;
	if (pc_etcd_call_async(f->etcd, "kv/put",
			       put_req(key, registration(f), f->lease), on_put,
			       f))
		f->probing = 0;
}

static void on_keepalive(void *arg, json_t *resp, const char *err)
{
	struct pc_fleet *f = arg;
	json_t *r = json_object_get(resp, "result");

	f->probing = 0;
	if (err) {
		f->beats_failed++;
		go_down(f, err);
		return;
	}
	if (pc_etcd_int(r ? r : resp, "TTL") <= 0) {
		/* etcd forgot the lease (it expired while we could not
		 * reach it): join again, now that it answers */
		pc_warn("fleet: the lease expired; joining again");
		f->leading = 0; /* the leader key went with it */
		f->leader[0] = '\0';
		join(f);
		return;
	}
	publish(f);
}

/* etcd answered a probe: join again. */
static void on_probe(void *arg, json_t *resp, const char *err)
{
	struct pc_fleet *f = arg;

	(void)resp;
	f->probing = 0;
	if (err) {
		snprintf(f->why, sizeof(f->why), "%s", err);
		return;
	}
	join(f);
}

static void on_beat(evutil_socket_t fd, short what, void *arg)
{
	struct pc_fleet *f = arg;
	char key[300];

	(void)fd, (void)what;
	if (f->watch_ended) {
		pc_etcd_watch_free(f->watch);
		f->watch = NULL;
		f->watch_ended = 0;
	}
	if (f->probing)
		return; /* the last one has not come back yet */
	/* every heartbeat rewrites this gateway's record under the watched
	 * prefix: a watch that stops bringing it is dead or stuck */
	if (f->up && f->watch &&
	    mono_ms() - f->seen_self_ms >
		    3 * (int64_t)f->cfg->fleet.heartbeat_ms +
			    f->cfg->fleet.timeout_ms) {
		go_down(f, "the watch stopped bringing changes");
		return;
	}
	if (f->up && f->watch) {
		char id[24];

		snprintf(id, sizeof(id), "%" PRId64, f->lease);
		f->probing = 1; /* (see publish) */
		if (pc_etcd_call_async(f->etcd, "lease/keepalive",
				       json_pack("{s:s}", "ID", id),
				       on_keepalive, f))
			f->probing = 0;
		return;
	}
	snprintf(key, sizeof(key), "%s/policy/head", pc_etcd_prefix(f->etcd));
	f->probing = 1;
	if (pc_etcd_call_async(f->etcd, "kv/range",
			       json_pack("{s:o, s:b}", "key",
					 pc_etcd_b64(key, strlen(key)),
					 "count_only", 1),
			       on_probe, f))
		f->probing = 0;
}

/* ---- placement ----------------------------------------------------------- */

static json_t *leader_put(struct pc_fleet *f, const char *key)
{
	return json_pack("{s:o}", "request_put",
			 put_req(key,
				 json_pack("{s:s, s:I}", "name", f->cfg->name,
					   "since", (json_int_t)epoch_ms()),
				 f->lease));
}

static void became_leader(struct pc_fleet *f)
{
	f->leading = 1;
	snprintf(f->leader, sizeof(f->leader), "%s", f->cfg->name);
	pc_info("fleet: this gateway places the fleet's clients now");
}

/*
 * Lead: take P/leader on this gateway's lease if nobody holds it (or an
 * old lease of its own does).  The leader alone places clients, so two
 * gateways never place one client twice; when it dies its lease takes
 * the key with it and the next gateway to see that takes over.
 */
static void try_lead(struct pc_fleet *f)
{
	char key[300], err[PC_ETCD_ERR_LEN], m[24];
	json_t *resp, *kv, *j = NULL;
	const char *who;
	char *v;
	int rc;

	if (!f->up || f->leading)
		return;
	snprintf(key, sizeof(key), "%s/leader", pc_etcd_prefix(f->etcd));
	/* free: take it; held: read by whom */
	rc = pc_etcd_call(
		f->etcd, "kv/txn",
		json_pack("{s:[{s:o, s:s, s:s, s:s}], s:[o], s:[{s:{s:o}}]}",
			  "compare", "key", pc_etcd_b64(key, strlen(key)),
			  "target", "CREATE", "result", "EQUAL",
			  "create_revision", "0", "success", leader_put(f, key),
			  "failure", "request_range", "key",
			  pc_etcd_b64(key, strlen(key))),
		&resp, err);
	if (rc) {
		go_down(f, err);
		return;
	}
	if (json_is_true(json_object_get(resp, "succeeded"))) {
		json_decref(resp);
		became_leader(f);
		return;
	}
	kv = json_array_get(snapshot_kvs(resp, 0), 0);
	v = pc_etcd_unb64(json_object_get(kv, "value"), NULL);
	j = v ? json_loads(v, 0, NULL) : NULL;
	who = json_string_value(json_object_get(j, "name"));
	snprintf(f->leader, sizeof(f->leader), "%s", who ? who : "");
	if (who && !strcmp(who, f->cfg->name)) {
		/* this gateway's under a lease from before an outage: move
		 * it to this one, unless someone took it meanwhile */
		json_t *r2 = NULL;

		snprintf(m, sizeof(m), "%" PRId64,
			 pc_etcd_int(kv, "mod_revision"));
		if (!pc_etcd_call(f->etcd, "kv/txn",
				  json_pack("{s:[{s:o, s:s, s:s, s:s}], s:[o]}",
					    "compare", "key",
					    pc_etcd_b64(key, strlen(key)),
					    "target", "MOD", "result", "EQUAL",
					    "mod_revision", m, "success",
					    leader_put(f, key)),
				  &r2, err) &&
		    json_is_true(json_object_get(r2, "succeeded")))
			became_leader(f);
		json_decref(r2);
	}
	json_decref(j);
	free(v);
	json_decref(resp);
}

static void place_soon_or_lead(struct pc_fleet *f)
{
	if (!f->leader[0] || !strcmp(f->leader, f->cfg->name))
		try_lead(f);
	place_soon(f);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The keys of an object, sorted: placement is done in one stable order. */
static const char **sorted_keys(json_t *o, size_t *n)
{
	const char **v = pc_xcalloc(json_object_size(o) + 1, sizeof(*v));
	const char *k;
	json_t *x;

	*n = 0;
	json_object_foreach (o, k, x)
		v[(*n)++] = k;
	qsort(v, *n, sizeof(*v), by_name);
	return v;
}

/*
 * A write only the leader may make: in a transaction that holds while
 * P/leader is still on this gateway's lease.  0 (and *rev, the write's
 * revision); PLACE_NOT_LEADER when it is not
 * (this gateway stops leading); or etcd's error.
 */
static int leader_write(struct pc_fleet *f, json_t *op, int64_t *rev)
{
	char key[300], err[PC_ETCD_ERR_LEN], lease[24];
	json_t *resp;
	int rc, held;

	snprintf(key, sizeof(key), "%s/leader", pc_etcd_prefix(f->etcd));
	snprintf(lease, sizeof(lease), "%" PRId64, f->lease);
	rc = pc_etcd_call(
		f->etcd, "kv/txn",
		json_pack("{s:[{s:o, s:s, s:s, s:s}], s:[o]}", "compare", "key",
			  pc_etcd_b64(key, strlen(key)), "target", "LEASE",
			  "result", "EQUAL", "lease", lease, "success", op),
		&resp, err);
	if (rc) {
		go_down(f, err);
		return rc;
	}
	held = json_is_true(json_object_get(resp, "succeeded"));
	if (rev)
		*rev = pc_etcd_int(json_object_get(resp, "header"), "revision");
	json_decref(resp);
	if (!held && f->leading) {
		f->leading = 0;
		pc_warn("fleet: another gateway leads now; this one stops "
			"placing");
	}
	return held ? 0 : PLACE_NOT_LEADER;
}

/* One client on gateway g[i] (the reason it moved, if it did). */
static int place_one(struct pc_fleet *f, struct pc_place_gw *g, size_t n,
		     const char *name, json_t *client, const char *from)
{
	const char *sname =
		json_string_value(json_object_get(client, "strategy"));
	json_t *regions = json_object_get(client, "regions"), *rv, *p;
	enum pc_place_strategy st = PC_PLACE_LEAST_CONNECTIONS;
	const char *rs[16];
	struct pc_place_client c = {name, rs, 0};
	char key[300], reason[160];
	int64_t after = 0, lost;
	int wg = json_object_get(client, "public_key") != NULL;
	int64_t rev = 0;
	int *saved = pc_xcalloc(n + 1, sizeof(*saved));
	size_t k;
	int i, rc;

	if (sname)
		pc_place_strategy_parse(sname, &st);
	/* a WireGuard client only where it can connect */
	for (k = 0; k < n; k++) {
		saved[k] = g[k].up;
		if (wg &&
		    !json_object_get(json_object_get(f->members, g[k].name),
				     "wireguard"))
			g[k].up = 0;
	}
	json_array_foreach (regions, k, rv)
		if (json_is_string(rv) && c.nregions < 16)
			rs[c.nregions++] = json_string_value(rv);
	int measured = 0;

	for (k = 0; k < n; k++) {
		json_t *r = json_object_get(
			json_object_get(json_object_get(f->alive, g[k].name),
					"rtt"),
			name);

		g[k].rtt_ms = json_is_number(r) ? json_number_value(r) : -1;
		measured += g[k].up && g[k].rtt_ms >= 0;
	}
	/* a new client waits for a measurement (a probe takes at most a
	 * second); one whose gateway died does not wait */
	if (st == PC_PLACE_LATENCY && !measured && !from &&
	    epoch_ms() - pc_etcd_int(client, "created") < 10000) {
		for (k = 0; k < n; k++)
			g[k].up = saved[k];
		free(saved);
		f->waiting++;
		return PLACE_WAIT;
	}
	f->rnd = f->rnd * 6364136223846793005ULL + 1442695040888963407ULL;
	i = pc_place_pick(st, g, n, &c, &f->rr_cursor, f->rnd >> 11);
	for (k = 0; k < n; k++)
		g[k].up = saved[k];
	free(saved);
	if (i < 0)
		return PLACE_NONE;
	lost = from ? pc_etcd_int(f->lost, from) : 0;
	if (!from) {
		snprintf(reason, sizeof(reason), "new client");
	} else if (lost) {
		snprintf(reason, sizeof(reason), "%s's lease ended", from);
		after = epoch_ms() - lost;
	} else if (json_object_get(f->members, from)) {
		snprintf(reason, sizeof(reason), "%s is down", from);
	} else {
		snprintf(reason, sizeof(reason), "%s left the fleet", from);
	}
	p = json_pack(
		"{s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:I, s:s}", "client",
		name, "gateway", g[i].name, "address",
		json_string_value(json_object_get(
			json_object_get(f->members, g[i].name), "address"))
			?: "",
		"region", g[i].region ? g[i].region : "", "strategy",
		pc_place_strategy_name(st), "since", (json_int_t)epoch_ms(),
		"previous", from ? from : "", "reason", reason, "after_ms",
		(json_int_t)after, "by", f->cfg->name);
	key_of(f, "placement", name, key, sizeof(key));
	rc = leader_write(f,
			  json_pack("{s:o}", "request_put",
				    put_req(key, json_incref(p), 0)),
			  &rev);
	if (rc) {
		json_decref(p);
		return rc;
	}
	json_object_set_new(p, "_rev", json_integer(rev));
	/* known now, not when the watch brings it back: a pass before
	 * that must not place the client again */
	placement_changed(f, name, p);
	json_object_set_new(f->placement, name, p);
	g[i].clients++;
	f->placed++;
	return i;
}

/*
 * The leader's pass: every client whose gateway is not up (or that has
 * none) is placed by its strategy among the gateways up; a client on a
 * gateway up stays, so a gateway's return moves nobody back.  Placements
 * of clients no longer there are removed.
 */
static void place_all(evutil_socket_t fd, short what, void *arg)
{
	struct pc_fleet *f = arg;
	struct pc_place_gw *g;
	const char **gn, **cn, *name;
	size_t ng, nc;
	int *alive, rc;
	json_t *p;
	void *tmp;

	(void)fd, (void)what;
	if (!f->up || !f->leading)
		return;
	gn = sorted_keys(f->members, &ng);
	g = pc_xcalloc(ng + 1, sizeof(*g));
	alive = pc_xcalloc(ng + 1, sizeof(*alive));
	for (size_t i = 0; i < ng; i++) {
		json_t *m = json_object_get(f->members, gn[i]);
		json_t *a = json_object_get(f->alive, gn[i]);
		const char *h = json_string_value(json_object_get(a, "health"));

		g[i].name = gn[i];
		g[i].region = json_string_value(json_object_get(m, "region"));
		g[i].weight = (unsigned int)pc_etcd_int(m, "weight");
		alive[i] = a != NULL;
		/* new clients only to a healthy one; those on a degraded
		 * one stay (it still serves them) */
		g[i].up = a && h && !strcmp(h, "ok");
	}
	json_object_foreach (f->placement, name, p) {
		const char *on =
			json_string_value(json_object_get(p, "gateway"));

		for (size_t i = 0; on && i < ng; i++)
			if (!strcmp(on, g[i].name) && alive[i])
				g[i].clients++;
	}
	cn = sorted_keys(f->clients, &nc);
	f->waiting = 0;
	f->unplaced = 0;
	for (size_t j = 0; j < nc && f->up && f->leading; j++) {
		const char *on = json_string_value(json_object_get(
			json_object_get(f->placement, cn[j]), "gateway"));
		int up = 0;

		for (size_t i = 0; on && i < ng; i++)
			if (!strcmp(on, g[i].name))
				up = alive[i];
		if (on && up)
			continue;
		rc = place_one(f, g, ng, cn[j],
			       json_object_get(f->clients, cn[j]), on);
		if (rc == PLACE_NONE) {
			/* none healthy: a degraded gateway still serves
			 * better than a dead one or none */
			int *healthy = pc_xcalloc(ng + 1, sizeof(*healthy));

			for (size_t i = 0; i < ng; i++) {
				healthy[i] = g[i].up;
				g[i].up = alive[i];
			}
			rc = place_one(f, g, ng, cn[j],
				       json_object_get(f->clients, cn[j]), on);
			for (size_t i = 0; i < ng; i++)
				g[i].up = healthy[i];
			free(healthy);
		}
		if (rc == PLACE_NONE) {
			f->unplaced++;
			pc_warn("placement: no gateway up for %s", cn[j]);
		}
	}
	json_object_foreach_safe(f->placement, tmp, name, p)
	{
		char key[300];

		if (!f->up || !f->leading || json_object_get(f->clients, name))
			continue;
		key_of(f, "placement", name, key, sizeof(key));
		if (!leader_write(f,
				  json_pack("{s:{s:o}}", "request_delete_range",
					    "key",
					    pc_etcd_b64(key, strlen(key))),
				  NULL))
			json_object_del(f->placement, name);
	}
	free(alive);
	free(cn);
	free(gn);
	free(g);
}

/* An RTT probe to a client: a TCP connect, answered or refused. */
struct probe {
	struct pc_fleet *f;
	struct bufferevent *bev;
	struct probe *next, **pprev; /* in f->probes, while in flight */
	char client[72];
	struct timespec t0;
};

static void probe_free(struct probe *p)
{
	*p->pprev = p->next;
	if (p->next)
		p->next->pprev = p->pprev;
	bufferevent_free(p->bev);
	free(p);
}

static void on_probe_event(struct bufferevent *bev, short ev, void *arg)
{
	struct probe *p = arg;
	int err = EVUTIL_SOCKET_ERROR();
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* a SYN-ACK or a RST took one round trip either way */
	if ((ev & BEV_EVENT_CONNECTED) ||
	    ((ev & BEV_EVENT_ERROR) && err == ECONNREFUSED)) {
		double ms = (double)(t1.tv_sec - p->t0.tv_sec) * 1e3 +
			    (double)(t1.tv_nsec - p->t0.tv_nsec) / 1e6;

		if (json_object_get(p->f->clients, p->client))
			json_object_set_new(p->f->rtt, p->client,
					    json_real(ms));
	} else {
		json_object_del(p->f->rtt, p->client);
	}
	(void)bev;
	probe_free(p);
}

static void probe_all(evutil_socket_t fd, short what, void *arg)
{
	struct pc_fleet *f = arg;
	const char *name;
	json_t *c;
	void *tmp;

	(void)fd, (void)what;
	json_object_foreach_safe(f->rtt, tmp, name,
				 c) if (!json_object_get(f->clients, name))
		json_object_del(f->rtt, name);
	json_object_foreach (f->clients, name, c) {
		const char *to = json_string_value(json_object_get(c, "probe"));
		struct timeval tv = {1, 0};
		struct sockaddr_storage sa;
		int salen = sizeof(sa);
		struct bufferevent *bev;
		struct probe *p;

		if (!to || !*to ||
		    evutil_parse_sockaddr_port(to, (struct sockaddr *)&sa,
					       &salen))
			continue;
		bev = bufferevent_socket_new(f->base, -1,
					     BEV_OPT_CLOSE_ON_FREE);
		if (!bev)
			continue;
		p = pc_xcalloc(1, sizeof(*p));
		p->f = f;
		p->bev = bev;
		p->next = f->probes;
		if (p->next)
			p->next->pprev = &p->next;
		p->pprev = &f->probes;
		f->probes = p;
		snprintf(p->client, sizeof(p->client), "%s", name);
		bufferevent_setcb(bev, NULL, NULL, on_probe_event, p);
		bufferevent_set_timeouts(bev, &tv, &tv);
		clock_gettime(CLOCK_MONOTONIC, &p->t0);
		if (bufferevent_socket_connect(bev, (struct sockaddr *)&sa,
					       salen)) {
			/* no route, say: libevent does not call back */
			json_object_del(f->rtt, name);
			probe_free(p);
		}
	}
}

static int client_name_ok(const char *s)
{
	size_t n = strlen(s);

	/* "." and ".." could not be named in a path */
	return n && n <= 64 && strspn(s, ".") != n &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			 "0123456789._-") == n;
}

/* A WireGuard client: its key, the addresses it may use, a keepalive and
 * the policy identity it joins; all or nothing but the last two. */
static int peer_fields(json_t *req, const char *kind, char *err, size_t len)
{
	const char *key = json_string_value(json_object_get(req, "public_key"));
	json_t *ips = json_object_get(req, "allowed_ips"), *ka, *id, *v;
	uint8_t raw[PC_WG_KEY_LEN];
	size_t i;

	ka = json_object_get(req, "keepalive");
	id = json_object_get(req, "identity");
	if (!key && !ips && !ka && !id)
		return 0; /* placed, not a peer this fleet configures */
	if (kind && strcmp(kind, "peer")) {
		snprintf(err, len, "public_key and allowed_ips are a peer's");
		return -1;
	}
	if (!key || pc_wg_key_from_base64(key, raw)) {
		snprintf(err, len, "public_key: a WireGuard key (base64)");
		return -1;
	}
	if (!json_is_array(ips) || !json_array_size(ips) ||
	    json_array_size(ips) > 64) {
		snprintf(err, len, "allowed_ips: a list of 1 to 64 prefixes");
		return -1;
	}
	json_array_foreach (ips, i, v) {
		struct pc_wg_allowedip ip;

		if (!json_is_string(v) ||
		    pc_wg_parse_ip(json_string_value(v), 0, &ip)) {
			snprintf(
				err, len, "allowed_ips: \"%s\" is not a prefix",
				json_is_string(v) ? json_string_value(v) : "?");
			return -1;
		}
	}
	if (ka && (!json_is_integer(ka) || json_integer_value(ka) < 0 ||
		   json_integer_value(ka) > 65535)) {
		snprintf(err, len, "keepalive: seconds, 0 to 65535");
		return -1;
	}
	if (id &&
	    (!json_is_string(id) || !client_name_ok(json_string_value(id)))) {
		snprintf(err, len, "identity: a policy identity's name");
		return -1;
	}
	return 0;
}

/* Another client of the fleet has that key or one of those addresses
 * (each gateway would refuse the second). */
static int peer_taken_in_fleet(struct pc_fleet *f, const char *name,
			       json_t *req, char *err, size_t len)
{
	const char *key = json_string_value(json_object_get(req, "public_key"));
	json_t *ips = json_object_get(req, "allowed_ips"), *c, *ip, *oip;
	const char *other;
	size_t i, k;

	if (!key)
		return 0;
	json_object_foreach (f->clients, other, c) {
		const char *ok =
			json_string_value(json_object_get(c, "public_key"));

		if (!ok || !strcmp(other, name))
			continue;
		if (!strcmp(ok, key)) {
			snprintf(err, len, "public_key: client %s has it",
				 other);
			return -1;
		}
		json_array_foreach (ips, i, ip)
			json_array_foreach (json_object_get(c, "allowed_ips"),
					    k, oip) {
				struct pc_wg_allowedip a, b;

				if (!json_is_string(ip) || !json_is_string(oip))
					continue;
				if (!pc_wg_parse_ip(json_string_value(ip), 0,
						    &a) &&
				    !pc_wg_parse_ip(json_string_value(oip), 0,
						    &b) &&
				    pc_wg_same_ip(&a, &b)) {
					snprintf(err, len,
						 "allowed_ips: client %s has "
						 "%s",
						 other, json_string_value(ip));
					return -1;
				}
			}
	}
	return 0;
}

int pc_fleet_client_add(struct pc_fleet *f, json_t *req, char *err,
			size_t errlen, json_t **out)
{
	const char *name = json_string_value(json_object_get(req, "name"));
	const char *strategy =
		json_string_value(json_object_get(req, "strategy"));
	const char *probe = json_string_value(json_object_get(req, "probe"));
	const char *kind = json_string_value(json_object_get(req, "kind"));
	json_t *regions = json_object_get(req, "regions"), *rv, *rec, *resp;
	char key[300], e[PC_ETCD_ERR_LEN];
	enum pc_place_strategy st;
	struct sockaddr_storage sa;
	int salen = sizeof(sa);
	const char *k;
	json_t *v;
	size_t i;

	static const char *const fields[] = {
		"name",	      "strategy",    "probe",	  "kind",     "regions",
		"public_key", "allowed_ips", "keepalive", "identity", NULL};

	json_object_foreach (req, k, v) {
		size_t x;

		for (x = 0; fields[x] && strcmp(k, fields[x]); x++)
			;
		if (!fields[x]) {
			snprintf(err, errlen,
				 "unknown field \"%s\" (name, kind, strategy, "
				 "regions, probe, public_key, allowed_ips, "
				 "keepalive, identity)",
				 k);
			return 400;
		}
	}
	if (!name || !client_name_ok(name)) {
		snprintf(err, errlen,
			 "name: 1 to 64 letters, digits, '.', '_' or '-', "
			 "not only dots");
		return 400;
	}
	if (!strategy || pc_place_strategy_parse(strategy, &st)) {
		snprintf(err, errlen,
			 "strategy: round-robin, least-connections, "
			 "weighted-random, latency or region");
		return 400;
	}
	for (size_t x = 0; x < 3; x++) {
		static const char *const str[] = {"kind", "probe", "strategy"};
		json_t *sv = json_object_get(req, str[x]);

		if (sv && !json_is_string(sv)) {
			snprintf(err, errlen, "%s: a string", str[x]);
			return 400;
		}
	}
	if (kind && strcmp(kind, "peer") && strcmp(kind, "user")) {
		snprintf(err, errlen, "kind: peer or user");
		return 400;
	}
	if (regions &&
	    (!json_is_array(regions) || json_array_size(regions) > 16)) {
		snprintf(err, errlen, "regions: a list of at most 16 names");
		return 400;
	}
	json_array_foreach (regions, i, rv)
		if (!json_is_string(rv) ||
		    !client_name_ok(json_string_value(rv))) {
			snprintf(err, errlen,
				 "regions: names of letters, digits, "
				 "'.', '_' or '-'");
			return 400;
		}
	if (st == PC_PLACE_REGION && !json_array_size(regions)) {
		snprintf(err, errlen,
			 "regions: the region strategy needs the client's "
			 "regions, closest first");
		return 400;
	}
	if (probe && *probe &&
	    (evutil_parse_sockaddr_port(probe, (struct sockaddr *)&sa,
					&salen) ||
	     (sa.ss_family == AF_INET
		      ? !((struct sockaddr_in *)&sa)->sin_port
		      : !((struct sockaddr_in6 *)&sa)->sin6_port))) {
		snprintf(err, errlen, "probe: ADDR:PORT or [ADDR6]:PORT");
		return 400;
	}
	if (st == PC_PLACE_LATENCY && (!probe || !*probe)) {
		snprintf(err, errlen,
			 "probe: the latency strategy needs an ADDR:PORT "
			 "the gateways measure their RTT to");
		return 400;
	}
	if (peer_fields(req, kind, err, errlen))
		return 400;
	if (peer_taken_in_fleet(f, name, req, err, errlen))
		return 409;
	if (!f->up) {
		snprintf(err, errlen, "the fleet's store is out of reach (%s)",
			 f->why);
		return 503;
	}
	rec = json_pack("{s:s, s:s, s:s, s:O, s:s, s:I}", "name", name, "kind",
			kind ? kind : "peer", "strategy",
			pc_place_strategy_name(st), "regions",
			regions ? regions : json_array(), "probe",
			probe ? probe : "", "created", (json_int_t)epoch_ms());
	if (!regions)
		json_decref(json_object_get(rec, "regions"));
	for (i = 5; fields[i]; i++)
		if (json_object_get(req, fields[i]))
			json_object_set(rec, fields[i],
					json_object_get(req, fields[i]));
	key_of(f, "clients", name, key, sizeof(key));
	*out = json_incref(rec);
	if (pc_etcd_call(f->etcd, "kv/put", put_req(key, rec, 0), &resp, e)) {
		json_decref(*out);
		*out = NULL;
		snprintf(err, errlen, "%s", e);
		return 503;
	}
	json_decref(resp);
	return 201;
}

/* Delete P/DIR/NAME: 200, 404 with what, or 503 when etcd is out of
 * reach. */
static int delete_key(struct pc_fleet *f, const char *dir, const char *name,
		      const char *what, char *err, size_t errlen)
{
	char key[300], e[PC_ETCD_ERR_LEN];
	json_t *resp;
	int64_t n;

	if (!f->up) {
		snprintf(err, errlen, "the fleet's store is out of reach (%s)",
			 f->why);
		return 503;
	}
	key_of(f, dir, name, key, sizeof(key));
	if (pc_etcd_call(
		    f->etcd, "kv/deleterange",
		    json_pack("{s:o}", "key", pc_etcd_b64(key, strlen(key))),
		    &resp, e)) {
		snprintf(err, errlen, "%s", e);
		return 503;
	}
	n = pc_etcd_int(resp, "deleted");
	json_decref(resp);
	if (!n) {
		snprintf(err, errlen, "%s %s", what, name);
		return 404;
	}
	return 200;
}

int pc_fleet_client_remove(struct pc_fleet *f, const char *name, char *err,
			   size_t errlen)
{
	return delete_key(f, "clients", name, "no client", err, errlen);
}

int pc_fleet_peers_here(const struct pc_fleet *f,
			struct pc_wg_peer_record **out, size_t *n)
{
	const char *name;
	json_t *c;

	*out = pc_xcalloc(json_object_size(f->clients) + 1, sizeof(**out));
	*n = 0;
	json_object_foreach (f->clients, name, c) {
		const char *on = json_string_value(json_object_get(
			json_object_get(f->placement, name), "gateway"));
		const char *key =
			json_string_value(json_object_get(c, "public_key"));
		struct pc_wg_peer_record *r = &(*out)[*n];
		struct pc_buf ips = {0};
		json_t *ip;
		size_t i;

		if (!key || !on || strcmp(on, f->cfg->name))
			continue;
		json_array_foreach (json_object_get(c, "allowed_ips"), i, ip)
			pc_buf_printf(&ips, "%s%s", i ? "," : "",
				      json_string_value(ip));
		r->name = pc_strdup(name);
		r->iface = pc_strdup("");
		r->public_key = pc_strdup(key);
		r->allowed_ips = ips.data ? ips.data : pc_strdup("");
		r->endpoint = pc_strdup("");
		r->keepalive = (unsigned int)pc_etcd_int(c, "keepalive");
		r->identity = pc_strdup(
			json_string_value(json_object_get(c, "identity")));
		r->created_at = pc_strdup("");
		(*n)++;
	}
	return 0;
}

static void peers_changed(evutil_socket_t fd, short what, void *arg)
{
	struct pc_fleet *f = arg;

	(void)fd, (void)what;
	if (f->hooks.placed)
		f->hooks.placed(f->hooks.ctx);
}

/* GET /v1/placements: every client with where it is; the last moves. */
json_t *pc_fleet_placements(const struct pc_fleet *f)
{
	json_t *arr = json_array(), *c;
	const char *name;

	json_object_foreach (f->clients, name, c) {
		json_t *j = json_deep_copy(c);
		json_t *p = json_object_get(f->placement, name);
		const char *on =
			json_string_value(json_object_get(p, "gateway"));

		static const char *const from_placement[] = {
			"gateway",  "address", "since",
			"previous", "reason",  "after_ms"};

		for (size_t i = 0; p && i < PC_ARRAY_SIZE(from_placement); i++)
			json_object_set(j, from_placement[i],
					json_object_get(p, from_placement[i]));
		if (on) {
			json_t *wg = json_object_get(
				json_object_get(f->members, on), "wireguard");
			const char *addr = json_string_value(json_object_get(
				json_object_get(f->members, on), "address"));

			if (wg && addr && *addr) {
				char ep[128];

				snprintf(ep, sizeof(ep),
					 strchr(addr, ':') ? "[%s]:%lld"
							   : "%s:%lld",
					 addr,
					 (long long)pc_etcd_int(wg, "port"));
				json_object_set_new(j, "endpoint",
						    json_string(ep));
				json_object_set(
					j, "gateway_public_key",
					json_object_get(wg, "public_key"));
			}
		}
		json_object_set_new(j, "state",
				    json_string(!on ? "unplaced"
						: json_object_get(f->alive, on)
							? "placed"
							: "gateway down"));
		json_array_append_new(arr, j);
	}
	return json_pack("{s:s, s:b, s:o, s:O, s:I, s:I}", "leader", f->leader,
			 "connected", f->up, "clients", arr, "moves", f->moves,
			 "placed_total", (json_int_t)f->placed, "moves_total",
			 (json_int_t)f->moved);
}

int pc_fleet_new(struct event_base *base, const struct pc_gw_config *cfg,
		 const struct pc_fleet_hooks *h, struct pc_fleet **out)
{
	struct pc_fleet *f = pc_xcalloc(1, sizeof(*f));
	char why[PC_ETCD_ERR_LEN];
	int rc;

	f->base = base;
	f->cfg = cfg;
	f->hooks = *h;
	f->started = time(NULL);
	rc = pc_etcd_new(base, cfg->store_etcd, cfg->fleet.timeout_ms, &f->etcd,
			 why, sizeof(why));
	if (rc) {
		pc_error("store %s: %s", cfg->store_etcd, why);
		free(f);
		return rc;
	}
	snprintf(f->id, sizeof(f->id), "etcd://%s%s", pc_etcd_endpoint(f->etcd),
		 pc_etcd_prefix(f->etcd));
	f->members = json_object();
	f->alive = json_object();
	f->lost = json_object();
	f->clients = json_object();
	f->placement = json_object();
	f->moves = json_array();
	f->rtt = json_object();
	f->rnd = (uint64_t)epoch_ms() ^ (uint64_t)getpid() << 32;
	f->ev_beat = event_new(base, -1, EV_PERSIST, on_beat, f);
	f->ev_place = event_new(base, -1, 0, place_all, f);
	f->ev_peers = event_new(base, -1, 0, peers_changed, f);
	f->ev_probe = event_new(base, -1, EV_PERSIST, probe_all, f);
	if (!f->ev_beat || !f->ev_place || !f->ev_probe || !f->ev_peers) {
		pc_fleet_free(f);
		return -ENOMEM;
	}
	snprintf(f->why, sizeof(f->why), "not joined yet");
	*out = f;
	return 0;
}

void pc_fleet_run(struct pc_fleet *f)
{
	struct timeval tv = {f->cfg->fleet.heartbeat_ms / 1000,
			     1000L * (f->cfg->fleet.heartbeat_ms % 1000)};

	struct timeval ptv = {PC_FLEET_PROBE_MS / 1000, 0};

	join(f);
	event_add(f->ev_beat, &tv);
	event_add(f->ev_probe, &ptv);
}

void pc_fleet_publish(struct pc_fleet *f)
{
	if (f && f->up && !f->probing)
		publish(f);
}

int pc_fleet_up(const struct pc_fleet *f, const char **why)
{
	if (!f->up && why)
		*why = f->why;
	return f->up;
}

const char *pc_fleet_id(const struct pc_fleet *f)
{
	return f->id;
}

int pc_fleet_member_remove(struct pc_fleet *f, const char *name, char *err,
			   size_t errlen)
{
	int code;

	if (f->up && json_object_get(f->alive, name)) {
		snprintf(err, errlen,
			 "gateway %s is up: stop it first, then remove it",
			 name);
		return 409;
	}
	code = delete_key(f, "members", name, "no gateway in the fleet named",
			  err, errlen);
	if (code == 200) {
		json_object_del(f->members, name);
		json_object_del(f->lost, name);
	}
	return code;
}

struct pc_etcd *pc_fleet_etcd(struct pc_fleet *f)
{
	return f->etcd;
}

int64_t pc_fleet_latest(const struct pc_fleet *f)
{
	return f->latest;
}

void pc_fleet_saw_version(struct pc_fleet *f, int64_t version)
{
	if (version > f->latest)
		f->latest = version;
}

/* Every member, with its live record when it has one. */
json_t *pc_fleet_view(const struct pc_fleet *f)
{
	json_t *arr = json_array(), *m;
	const char *name;

	json_object_foreach (f->members, name, m) {
		json_t *g = json_deep_copy(m),
		       *a = json_object_get(f->alive, name);
		json_t *lost = json_object_get(f->lost, name);

		if (a) {
			json_object_update_missing(g, a);
			json_object_set_new(g, "state", json_string("up"));
			json_object_set_new(
				g, "in_sync",
				json_boolean(pc_etcd_int(a, "policy_version") ==
					     f->latest));
		} else {
			json_object_set_new(g, "state", json_string("down"));
			json_object_set_new(g, "health", json_string("lost"));
			if (lost)
				json_object_set_new(
					g, "lost_at",
					json_integer(json_integer_value(lost) /
						     1000));
		}
		json_array_append_new(arr, g);
	}
	return json_pack("{s:s, s:s, s:s, s:b, s:s?, s:I, s:I, s:o}", "store",
			 f->cfg->store_etcd, "self", f->cfg->name, "leader",
			 f->leader, "connected", f->up, "error",
			 f->up ? NULL : f->why, "down_since",
			 (json_int_t)f->down_since, "policy_version",
			 (json_int_t)f->latest, "gateways", arr);
}

void pc_fleet_metrics(const struct pc_fleet *f, struct pc_buf *b)
{
	const char *ok[] = {"result", "ok", NULL};
	const char *failed[] = {"result", "failed", NULL};
	const char *name;
	uint64_t up = 0, down = 0;
	json_t *m;

	pc_prom_family(b, "portcullis_fleet_store_up", "gauge",
		       "1 when this gateway is joined to the fleet's etcd and "
		       "follows it; 0: degraded, enforcing its last policy.");
	pc_prom_u64(b, "portcullis_fleet_store_up", NULL, (uint64_t)f->up);
	pc_prom_family(b, "portcullis_fleet_store_down_since_seconds", "gauge",
		       "When etcd stopped answering, in seconds since the "
		       "epoch; 0 while it answers.");
	pc_prom_u64(b, "portcullis_fleet_store_down_since_seconds", NULL,
		    (uint64_t)f->down_since);
	pc_prom_family(b, "portcullis_fleet_heartbeats_total", "counter",
		       "Lease renewals and registrations sent to etcd, by "
		       "result.");
	pc_prom_u64(b, "portcullis_fleet_heartbeats_total", ok, f->beats_ok);
	pc_prom_u64(b, "portcullis_fleet_heartbeats_total", failed,
		    f->beats_failed);
	pc_prom_family(b, "portcullis_fleet_joins_total", "counter",
		       "Times this gateway joined the fleet: at start and "
		       "after each outage.");
	pc_prom_u64(b, "portcullis_fleet_joins_total", NULL, f->reconnects);
	pc_prom_family(b, "portcullis_fleet_policy_version", "gauge",
		       "The newest policy version the fleet holds, as this "
		       "gateway last saw it.");
	pc_prom_u64(b, "portcullis_fleet_policy_version", NULL,
		    (uint64_t)f->latest);
	json_object_foreach (f->members, name, m) {
		if (json_object_get(f->alive, name))
			up++;
		else
			down++;
	}
	pc_prom_family(b, "portcullis_fleet_leader", "gauge",
		       "1 when this gateway places the fleet's clients.");
	pc_prom_u64(b, "portcullis_fleet_leader", NULL, (uint64_t)f->leading);
	pc_prom_family(b, "portcullis_fleet_clients", "gauge",
		       "Clients the fleet places.");
	pc_prom_u64(b, "portcullis_fleet_clients", NULL,
		    json_object_size(f->clients));
	pc_prom_family(b, "portcullis_fleet_placements_total", "counter",
		       "Clients this gateway placed while it led: new ones "
		       "and moves.");
	pc_prom_u64(b, "portcullis_fleet_placements_total", NULL, f->placed);
	pc_prom_family(b, "portcullis_fleet_moves_total", "counter",
		       "Clients seen moving from one gateway to another.");
	pc_prom_u64(b, "portcullis_fleet_moves_total", NULL, f->moved);
	pc_prom_family(b, "portcullis_fleet_gateways", "gauge",
		       "Gateways of the fleet by state: up (on a live lease) "
		       "or down.");
	{
		const char *lu[] = {"state", "up", NULL};
		const char *ld[] = {"state", "down", NULL};

		pc_prom_u64(b, "portcullis_fleet_gateways", lu, up);
		pc_prom_u64(b, "portcullis_fleet_gateways", ld, down);
	}
}

void pc_fleet_free(struct pc_fleet *f)
{
	if (!f)
		return;
	if (f->ev_beat)
		event_free(f->ev_beat);
	if (f->ev_place)
		event_free(f->ev_place);
	if (f->ev_peers)
		event_free(f->ev_peers);
	if (f->ev_probe)
		event_free(f->ev_probe);
	/* (each unlinks itself: next is read before it goes) */
	for (struct probe *p = f->probes, *next; p; p = next) {
		next = p->next;
		probe_free(p);
	}
	pc_etcd_watch_free(f->watch);
	if (f->up && f->lease) {
		char id[24], err[PC_ETCD_ERR_LEN];
		json_t *resp = NULL;

		/* leave now rather than when the lease runs out */
		snprintf(id, sizeof(id), "%" PRId64, f->lease);
		if (!pc_etcd_call(f->etcd, "lease/revoke",
				  json_pack("{s:s}", "ID", id), &resp, err))
			pc_info("fleet: left (lease revoked)");
		json_decref(resp);
	}
	pc_etcd_free(f->etcd);
	json_decref(f->members);
	json_decref(f->alive);
	json_decref(f->lost);
	json_decref(f->clients);
	json_decref(f->placement);
	json_decref(f->moves);
	json_decref(f->rtt);
	free(f);
}
