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

#include "daemon.h"
#include "fleet.h"

struct pc_fleet {
	struct event_base *base;
	const struct pc_gw_config *cfg;
	struct pc_fleet_hooks hooks;
	struct pc_etcd *etcd;
	int64_t lease;
	int up;	     /* joined, watching, heartbeats answered */
	int probing; /* a probe or heartbeat is in flight */
	time_t down_since;
	char why[PC_ETCD_ERR_LEN]; /* why it is not up */
	struct pc_etcd_watch *watch;
	int watch_ended; /* freed at the next heartbeat */
	int64_t rev;	 /* etcd's revision seen last */
	int64_t latest;	 /* the newest policy version the fleet has */
	json_t *members; /* name -> member record */
	json_t *alive;	 /* name -> its live registration */
	json_t *lost;	 /* name -> when its lease went, seconds */
	struct event *ev_beat;
	time_t started;
	uint64_t beats_ok, beats_failed, reconnects, watch_events;
};

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
	snprintf(f->why, sizeof(f->why), "%s", why);
	if (f->watch)
		f->watch_ended = 1;
}

static json_t *registration(struct pc_fleet *f)
{
	struct pc_fleet_load l = {0};

	f->hooks.load(f->hooks.ctx, &l);
	return json_pack("{s:s, s:s, s:I, s:s, s:s?, s:I, s:I, s:f, s:I, s:I}",
			 "name", f->cfg->name, "version", pc_version(),
			 "started", (json_int_t)f->started, "health",
			 l.health ? l.health : "ok", "error", l.error,
			 "policy_version", (json_int_t)l.policy_version,
			 "flows", (json_int_t)l.flows, "pps", l.pps,
			 "policy_applied_ms", (json_int_t)l.applied_ms,
			 "updated", (json_int_t)time(NULL));
}

static json_t *member(struct pc_fleet *f)
{
	const struct pc_fleet_config *c = &f->cfg->fleet;

	return json_pack("{s:s, s:s, s:s, s:s, s:I}", "name", f->cfg->name,
			 "site", c->site ? c->site : "", "region",
			 c->region ? c->region : "", "address",
			 c->address ? c->address : "", "weight",
			 (json_int_t)c->weight);
}

static json_t *put_req(const char *key, json_t *val, int64_t lease)
{
	char *text = json_dumps(val, JSON_COMPACT);
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

/* A value of the watch or a range into members/alive. */
static void take_kv(struct pc_fleet *f, json_t *kv, int deleted)
{
	const char *key;
	char *k = pc_etcd_unb64(json_object_get(kv, "key"), NULL), *v;
	json_t *into = NULL;

	key = k ? rel_key(f, k) : NULL;
	if (key && !strncmp(key, "members/", 8)) {
		into = f->members;
		key += 8;
	} else if (key && !strncmp(key, "alive/", 6)) {
		into = f->alive;
		key += 6;
		if (deleted) {
			if (json_object_get(f->alive, key))
				pc_info("fleet: gateway %s is gone (its lease "
					"ended)",
					key);
			json_object_set_new(f->lost, key,
					    json_integer(time(NULL)));
		} else {
			json_object_del(f->lost, key);
		}
	}
	if (into && !*key)
		into = NULL;
	if (into && deleted) {
		json_object_del(into, key);
	} else if (into) {
		v = pc_etcd_unb64(json_object_get(kv, "value"), NULL);
		json_t *j = v ? json_loads(v, 0, NULL) : NULL;

		if (json_is_object(j))
			json_object_set_new(into, key, j);
		else
			json_decref(j);
		free(v);
	}
	free(k);
}

/* The newest version: read and handed to the gateway when it is newer
 * than what it enforces. */
static int catch_up(struct pc_fleet *f, int64_t version, int64_t *rev)
{
	struct pc_policy_record r;
	char err[PC_ETCD_ERR_LEN], *by = NULL, *via = NULL;
	int rc;

	rc = pc_fleet_policy_get(f->etcd, version, &r, &by, &via, rev, err);
	if (rc == -ENOENT)
		return 0;
	if (rc) {
		go_down(f, err);
		return rc;
	}
	if (r.version > f->latest)
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
	if (newest > f->latest)
		f->latest = newest;
	if (newest && newest != f->hooks.in_force(f->hooks.ctx))
		catch_up(f, newest, NULL);
}

/* Read a directory of the prefix into the view. */
static int load_dir(struct pc_fleet *f, const char *dir,
		    char err[PC_ETCD_ERR_LEN])
{
	char key[300], end[300];
	json_t *resp, *kv;
	size_t i;
	int rc;

	snprintf(key, sizeof(key), "%s/%s/", pc_etcd_prefix(f->etcd), dir);
	pc_etcd_prefix_end(key, end, sizeof(end));
	rc = pc_etcd_call(f->etcd, "kv/range",
			  json_pack("{s:o, s:o}", "key",
				    pc_etcd_b64(key, strlen(key)), "range_end",
				    pc_etcd_b64(end, strlen(end))),
			  &resp, err);
	if (rc)
		return rc;
	json_array_foreach (json_object_get(resp, "kvs"), i, kv)
		take_kv(f, kv, 0);
	json_decref(resp);
	return 0;
}

/*
 * Join: a lease, the member and live records, the fleet as it is now,
 * the newest policy, then the watch from just past what was read.
 */
static int join(struct pc_fleet *f)
{
	char err[PC_ETCD_ERR_LEN], key[300], prefix[300], end[300];
	json_t *resp;
	int64_t rev = 0;
	int rc;

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
	if (rc) {
		go_down(f, err);
		return rc;
	}
	/* the newest policy first, so the record below says it is in force;
	 * the watch starts just past this read, so no push falls between */
	rc = catch_up(f, 0, &rev);
	if (rc)
		return rc;
	key_of(f, "alive", f->cfg->name, key, sizeof(key));
	rc = pc_etcd_call(f->etcd, "kv/put",
			  put_req(key, registration(f), f->lease), &resp, err);
	if (!rc)
		json_decref(resp);
	json_object_clear(f->members);
	json_object_clear(f->alive);
	if (!rc)
		rc = load_dir(f, "members", err);
	if (!rc)
		rc = load_dir(f, "alive", err);
	if (rc) {
		go_down(f, err);
		return rc;
	}
	f->rev = rev; /* what the watch replays again is taken twice: alike */
	pc_etcd_watch_free(f->watch);
	snprintf(prefix, sizeof(prefix), "%s/", pc_etcd_prefix(f->etcd));
	pc_etcd_prefix_end(prefix, end, sizeof(end));
	f->watch = pc_etcd_watch(f->etcd, prefix, end, f->rev + 1, on_watch, f);
	f->watch_ended = 0;
	if (!f->watch) {
		go_down(f, "failed to start the watch: out of memory");
		return -ENOMEM;
	}
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
	f->members = json_object();
	f->alive = json_object();
	f->lost = json_object();
	f->ev_beat = event_new(base, -1, EV_PERSIST, on_beat, f);
	if (!f->ev_beat) {
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
			     (f->cfg->fleet.heartbeat_ms % 1000) * 1000};

	join(f);
	event_add(f->ev_beat, &tv);
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
				json_object_set(g, "lost_at", lost);
		}
		json_array_append_new(arr, g);
	}
	return json_pack("{s:s, s:s, s:b, s:s?, s:I, s:I, s:o}", "store",
			 f->cfg->store_etcd, "self", f->cfg->name, "connected",
			 f->up, "error", f->up ? NULL : f->why, "down_since",
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
	free(f);
}
