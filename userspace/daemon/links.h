/* SPDX-License-Identifier: Apache-2.0 */
/* Interfaces coming and going under the daemon (rtnetlink, RTMGRP_LINK). */
#ifndef PC_LINKS_H
#define PC_LINKS_H

#include <event2/event.h>

struct pc_links;

/* An interface appeared or changed (up: 1; its ifindex) or is gone (0). */
typedef void (*pc_link_fn)(void *arg, const char *ifname, unsigned int ifindex,
			   int up);

/* Watch every link of the daemon's network namespace on base; lost is
 * called when events were lost (check every interface of interest). */
int pc_links_new(struct event_base *base, pc_link_fn fn,
		 void (*lost)(void *arg), void *arg, struct pc_links **out);
void pc_links_free(struct pc_links *l);

#endif
