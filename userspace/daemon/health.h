/* SPDX-License-Identifier: Apache-2.0 */
/* Health checks of load-balanced backends (health.c). */
#ifndef PC_HEALTH_H
#define PC_HEALTH_H

#include <jansson.h>

#include "api.h"
#include "dataplane.h"
#include "store.h"

struct event_base;
struct pc_health_mgr;

/* The manager answers the data plane's health questions from now on. */
int pc_health_new(struct event_base *base, struct pc_dp *dp,
		  struct pc_store *store, struct pc_health_mgr **out);
void pc_health_set_api(struct pc_health_mgr *m, struct pc_api *api);
void pc_health_free(struct pc_health_mgr *m);
/*
 * live is the policy in force now (NULL: none); call it whenever that
 * changes, before the old one is freed or right after, in the same turn
 * of the loop.  Backends that stay (same service, address and port) keep
 * their state; new ones start up and are probed at once.  adopted: the
 * data plane's tables were written by an earlier daemon, not by an apply
 * that asked this manager; they are rewritten.
 */
void pc_health_set(struct pc_health_mgr *m, const struct pc_compiled *live,
		   int adopted);
/* pc_lb_state_fn: what the manager knows of e's backends */
void pc_health_state(void *arg, const struct pc_lb_entry *e, uint8_t *up,
		     uint32_t *rtt_us);
/* {"services": [...], "transitions": [...]} for GET /v1/services */
json_t *pc_health_json(struct pc_health_mgr *m);
/*
 * Flow counts per backend as conntrack has them (least-connections picks
 * by them; the API shows them), in the daemon's once-a-second conntrack
 * walk: begin returns NULL when no count is due (no balanced service;
 * without least-connections, every tenth call), else a sweep for
 * pc_dp_lb_sweep_visit that end completes.
 */
struct pc_lb_sweep *pc_health_sweep_begin(struct pc_health_mgr *m);
void pc_health_sweep_end(struct pc_health_mgr *m, struct pc_lb_sweep *sw,
			 int walk_err);
/* The backends' Prometheus series (GET /metrics). */
void pc_health_metrics(struct pc_health_mgr *m, struct pc_buf *b);

#endif
