/* SPDX-License-Identifier: Apache-2.0 */
/* Prometheus metrics of the data plane and the daemon process. */
#ifndef PC_METRICS_H
#define PC_METRICS_H

#include <time.h>

#include "dataplane.h"
#include "pclib.h"
#include "policy.h"

/* Rules with series of their own (in policy order); the cardinality bound
 * docs/observability.md states. */
#define PC_METRICS_MAX_RULES 1000
/* Identities, and services, with series of their own (policy order). */
#define PC_METRICS_MAX_NAMES 1000

void pc_metrics_dataplane(struct pc_buf *b, struct pc_dp *dp,
			  const struct pc_compiled *c);
void pc_metrics_process(struct pc_buf *b, time_t started);

#endif
