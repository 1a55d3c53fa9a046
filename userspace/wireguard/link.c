// SPDX-License-Identifier: Apache-2.0
/* rtnetlink through libmnl: bring a link up, give it addresses, delete it. */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wg.h"

/* Send one request and wait for its ack: 0 or -errno. */
static int rtnl_request(struct nlmsghdr *nlh)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct mnl_socket *nl = mnl_socket_open(NETLINK_ROUTE);
	unsigned int portid;
	int rc;

	if (!nl)
		return -errno;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		rc = -errno;
		goto out;
	}
	portid = mnl_socket_get_portid(nl);
	nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = (unsigned int)time(NULL);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		rc = -errno;
		goto out;
	}
	rc = (int)mnl_socket_recvfrom(nl, buf, sizeof(buf));
	if (rc < 0) {
		rc = -errno;
		goto out;
	}
	rc = mnl_cb_run(buf, (size_t)rc, nlh->nlmsg_seq, portid, NULL, NULL);
	rc = rc < 0 ? -errno : 0;
out:
	mnl_socket_close(nl);
	return rc;
}

static int ifindex(const char *name)
{
	unsigned int i = if_nametoindex(name);

	return i ? (int)i : -ENODEV;
}

/* RTM_NEWLINK or RTM_DELLINK of name, with flags under change. */
static int link_request(const char *name, uint16_t type, unsigned int flags,
			unsigned int change)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ifinfomsg *ifi;
	int idx = ifindex(name);

	if (idx < 0)
		return idx;
	nlh->nlmsg_type = type;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = idx;
	ifi->ifi_flags = flags;
	ifi->ifi_change = change;
	return rtnl_request(nlh);
}

int pc_link_up(const char *name)
{
	return link_request(name, RTM_NEWLINK, IFF_UP, IFF_UP);
}

int pc_link_down(const char *name)
{
	return link_request(name, RTM_NEWLINK, 0, IFF_UP);
}

int pc_link_del(const char *name)
{
	return link_request(name, RTM_DELLINK, 0, 0);
}

int pc_link_add_addr(const char *name, const struct pc_wg_allowedip *a)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ifaddrmsg *ifa;
	int idx = ifindex(name);
	size_t len = a->family == AF_INET ? 4 : 16;

	if (idx < 0)
		return idx;
	nlh->nlmsg_type = RTM_NEWADDR;
	nlh->nlmsg_flags = NLM_F_CREATE | NLM_F_REPLACE; /* idempotent */
	ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = a->family;
	ifa->ifa_prefixlen = a->cidr;
	ifa->ifa_index = (unsigned int)idx;
	mnl_attr_put(nlh, IFA_LOCAL, len, &a->ip6);
	mnl_attr_put(nlh, IFA_ADDRESS, len, &a->ip6);
	return rtnl_request(nlh);
}
