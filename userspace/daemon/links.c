// SPDX-License-Identifier: Apache-2.0
/*
 * Interfaces coming and going: a netlink route socket subscribed to link
 * events, read on the daemon's loop.  An interface deleted takes its XDP
 * link with it; the gateway re-attaches when one of its interfaces comes
 * back (links.h).  When events are lost (the socket overflowed), the
 * caller is asked to check every interface it cares about again.
 */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>

#include "links.h"
#include "pclib.h"

struct pc_links {
	struct mnl_socket *nl;
	struct event *ev;
	pc_link_fn fn;
	void (*lost)(void *arg);
	void *arg;
};

static int link_attr(const struct nlattr *a, void *data)
{
	const char **name = data;

	if (mnl_attr_get_type(a) == IFLA_IFNAME &&
	    !mnl_attr_validate(a, MNL_TYPE_NUL_STRING))
		*name = mnl_attr_get_str(a);
	return MNL_CB_OK;
}

static int on_msg(const struct nlmsghdr *nlh, void *data)
{
	struct pc_links *l = data;
	const struct ifinfomsg *ifi;
	const char *name = NULL;

	if (nlh->nlmsg_type != RTM_NEWLINK && nlh->nlmsg_type != RTM_DELLINK)
		return MNL_CB_OK;
	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifi))
		return MNL_CB_OK;
	ifi = mnl_nlmsg_get_payload(nlh);
	/* a bridge's port leaving it is an AF_BRIDGE DELLINK: the device
	 * stays; only the link's own (AF_UNSPEC) events say it comes or
	 * goes */
	if (ifi->ifi_family != AF_UNSPEC)
		return MNL_CB_OK;
	mnl_attr_parse(nlh, sizeof(*ifi), link_attr, &name);
	if (name && *name && strlen(name) < IF_NAMESIZE)
		l->fn(l->arg, name, (unsigned int)ifi->ifi_index,
		      nlh->nlmsg_type == RTM_NEWLINK);
	return MNL_CB_OK;
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct pc_links *l = arg;
	static char buf[32768]; /* a link message with all its attributes */
	ssize_t n;

	(void)fd, (void)what;
	while ((n = mnl_socket_recvfrom(l->nl, buf, sizeof(buf))) > 0)
		mnl_cb_run(buf, (size_t)n, 0, 0, on_msg, l);
	if (n < 0 && errno != EAGAIN && errno != EINTR) {
		pc_warn("interface events were lost (%s): checking every "
			"interface again",
			strerror(errno));
		l->lost(l->arg);
	}
}

int pc_links_new(struct event_base *base, pc_link_fn fn,
		 void (*lost)(void *arg), void *arg, struct pc_links **out)
{
	struct pc_links *l = pc_xcalloc(1, sizeof(*l));
	int fd;

	*out = NULL;
	l->fn = fn;
	l->lost = lost;
	l->arg = arg;
	l->nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (!l->nl || mnl_socket_bind(l->nl, RTMGRP_LINK, MNL_SOCKET_AUTOPID)) {
		int err = -errno;

		pc_error("failed to watch interfaces (netlink): %s",
			 strerror(errno));
		pc_links_free(l);
		return err;
	}
	fd = mnl_socket_get_fd(l->nl);
	l->ev = event_new(base, fd, EV_READ | EV_PERSIST, on_readable, l);
	if (!l->ev || event_add(l->ev, NULL)) {
		pc_links_free(l);
		return -ENOMEM;
	}
	*out = l;
	return 0;
}

void pc_links_free(struct pc_links *l)
{
	if (!l)
		return;
	if (l->ev)
		event_free(l->ev);
	if (l->nl)
		mnl_socket_close(l->nl);
	free(l);
}
