// SPDX-License-Identifier: Apache-2.0
/*
 * The kernel module's interface: generic netlink family "wireguard"
 * (linux/wireguard.h) through libmnl.  Messages are built and parsed
 * here apart from the socket, so that they can be tested on a machine
 * without the module.
 */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/time_types.h>
#include <linux/wireguard.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wg.h"

#define PC_WG_NL_MSG 8192   /* one request, as wireguard-tools sends */
#define PC_WG_NL_RECV 65536 /* replies, a dump's batch */

/* ---- building ------------------------------------------------------------ */

static struct nlmsghdr *put_header(void *buf, uint16_t family, uint8_t cmd,
				   uint16_t flags, uint32_t seq)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *g;

	nlh->nlmsg_type = family;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nlh->nlmsg_seq = seq;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = cmd;
	g->version = WG_GENL_VERSION;
	return nlh;
}

/* One peer into the open WGDEVICE_A_PEERS nest; 0 when it did not fit
 * (the message is as it was). */
static int put_peer(struct nlmsghdr *nlh, size_t len,
		    const struct pc_wg_peer *p)
{
	struct nlattr *peer = mnl_attr_nest_start_check(nlh, len, 0);
	struct nlattr *ips;
	uint32_t flags = 0;

	if (!peer || !mnl_attr_put_check(nlh, len, WGPEER_A_PUBLIC_KEY,
					 PC_WG_KEY_LEN, p->public_key))
		goto full;
	if (p->flags & PC_WG_PEER_REMOVE)
		flags |= WGPEER_F_REMOVE_ME;
	if (p->flags & PC_WG_PEER_REPLACE_IPS)
		flags |= WGPEER_F_REPLACE_ALLOWEDIPS;
	if (flags && !mnl_attr_put_u32_check(nlh, len, WGPEER_A_FLAGS, flags))
		goto full;
	if (p->flags & PC_WG_PEER_REMOVE) {
		mnl_attr_nest_end(nlh, peer);
		return 1;
	}
	if ((p->flags & PC_WG_PEER_HAS_PSK) &&
	    !mnl_attr_put_check(nlh, len, WGPEER_A_PRESHARED_KEY, PC_WG_KEY_LEN,
				p->preshared_key))
		goto full;
	if ((p->flags & PC_WG_PEER_HAS_ENDPOINT) &&
	    !mnl_attr_put_check(nlh, len, WGPEER_A_ENDPOINT,
				p->endpoint.sa.sa_family == AF_INET6
					? sizeof(p->endpoint.in6)
					: sizeof(p->endpoint.in),
				&p->endpoint))
		goto full;
	if ((p->flags & PC_WG_PEER_HAS_KEEPALIVE) &&
	    !mnl_attr_put_u16_check(nlh, len,
				    WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL,
				    p->keepalive))
		goto full;
	if (p->nips) {
		if (!(ips = mnl_attr_nest_start_check(nlh, len,
						      WGPEER_A_ALLOWEDIPS)))
			goto full;
		for (size_t i = 0; i < p->nips; i++) {
			const struct pc_wg_allowedip *a = &p->ips[i];
			struct nlattr *ip =
				mnl_attr_nest_start_check(nlh, len, 0);

			if (!ip ||
			    !mnl_attr_put_u16_check(nlh, len,
						    WGALLOWEDIP_A_FAMILY,
						    a->family) ||
			    !mnl_attr_put_check(nlh, len, WGALLOWEDIP_A_IPADDR,
						a->family == AF_INET ? 4 : 16,
						&a->ip6) ||
			    !mnl_attr_put_u8_check(
				    nlh, len, WGALLOWEDIP_A_CIDR_MASK, a->cidr))
				goto full;
			mnl_attr_nest_end(nlh, ip);
		}
		mnl_attr_nest_end(nlh, ips);
	}
	mnl_attr_nest_end(nlh, peer);
	return 1;
full:
	if (peer)
		mnl_attr_nest_cancel(nlh, peer);
	return 0;
}

int pc_wg_nl_build_set(const struct pc_wg_device *d, uint16_t family,
		       uint32_t seq, size_t first, void *buf, size_t len,
		       size_t *next)
{
	struct nlmsghdr *nlh =
		put_header(buf, family, WG_CMD_SET_DEVICE, NLM_F_ACK, seq);
	struct nlattr *peers;
	size_t i = first;

	if (!mnl_attr_put_strz_check(nlh, len, WGDEVICE_A_IFNAME, d->name))
		return -EMSGSIZE;
	/* the device's own settings go with the first message only */
	if (!first) {
		if ((d->flags & PC_WG_DEV_HAS_PRIVATE_KEY) &&
		    !mnl_attr_put_check(nlh, len, WGDEVICE_A_PRIVATE_KEY,
					PC_WG_KEY_LEN, d->private_key))
			return -EMSGSIZE;
		if ((d->flags & PC_WG_DEV_HAS_LISTEN_PORT) &&
		    !mnl_attr_put_u16_check(nlh, len, WGDEVICE_A_LISTEN_PORT,
					    d->listen_port))
			return -EMSGSIZE;
		if ((d->flags & PC_WG_DEV_HAS_FWMARK) &&
		    !mnl_attr_put_u32_check(nlh, len, WGDEVICE_A_FWMARK,
					    d->fwmark))
			return -EMSGSIZE;
		if ((d->flags & PC_WG_DEV_REPLACE_PEERS) &&
		    !mnl_attr_put_u32_check(nlh, len, WGDEVICE_A_FLAGS,
					    WGDEVICE_F_REPLACE_PEERS))
			return -EMSGSIZE;
	}
	if (i < d->npeers) {
		if (!(peers = mnl_attr_nest_start_check(nlh, len,
							WGDEVICE_A_PEERS)))
			return -EMSGSIZE;
		while (i < d->npeers && put_peer(nlh, len, &d->peers[i]))
			i++;
		if (i == first) /* not even one peer fits an empty message */
			return -EMSGSIZE;
		mnl_attr_nest_end(nlh, peers);
	}
	*next = i;
	return (int)nlh->nlmsg_len;
}

/* ---- parsing ------------------------------------------------------------- */

struct parse {
	struct pc_wg_device *d;
	struct pc_wg_peer *p;
	int err;
};

static int allowedip_cb(const struct nlattr *a, void *arg)
{
	struct pc_wg_allowedip *ip = arg;

	switch (mnl_attr_get_type(a)) {
	case WGALLOWEDIP_A_FAMILY:
		if (mnl_attr_validate(a, MNL_TYPE_U16) < 0)
			return MNL_CB_ERROR;
		ip->family = (uint8_t)mnl_attr_get_u16(a);
		break;
	case WGALLOWEDIP_A_IPADDR:
		if (mnl_attr_get_payload_len(a) != 4 &&
		    mnl_attr_get_payload_len(a) != 16)
			return MNL_CB_ERROR;
		memcpy(&ip->ip6, mnl_attr_get_payload(a),
		       mnl_attr_get_payload_len(a));
		break;
	case WGALLOWEDIP_A_CIDR_MASK:
		if (mnl_attr_validate(a, MNL_TYPE_U8) < 0)
			return MNL_CB_ERROR;
		ip->cidr = mnl_attr_get_u8(a);
		break;
	}
	return MNL_CB_OK;
}

static int allowedips_cb(const struct nlattr *a, void *arg)
{
	struct pc_wg_peer *p = arg;
	struct pc_wg_allowedip *ip = pc_wg_add_ip(p);

	if (mnl_attr_parse_nested(a, allowedip_cb, ip) < 0 ||
	    (ip->family != AF_INET && ip->family != AF_INET6) ||
	    ip->cidr > (ip->family == AF_INET ? 32 : 128))
		return MNL_CB_ERROR;
	return MNL_CB_OK;
}

static int key_attr(const struct nlattr *a, uint8_t key[PC_WG_KEY_LEN])
{
	if (mnl_attr_get_payload_len(a) != PC_WG_KEY_LEN)
		return MNL_CB_ERROR;
	memcpy(key, mnl_attr_get_payload(a), PC_WG_KEY_LEN);
	return MNL_CB_OK;
}

static int peer_attr_cb(const struct nlattr *a, void *arg)
{
	struct pc_wg_peer *p = arg;
	uint16_t n = (uint16_t)mnl_attr_get_payload_len(a);

	switch (mnl_attr_get_type(a)) {
	case WGPEER_A_PUBLIC_KEY:
		return key_attr(a, p->public_key);
	case WGPEER_A_PRESHARED_KEY:
		p->flags |= PC_WG_PEER_HAS_PSK;
		return key_attr(a, p->preshared_key);
	case WGPEER_A_ENDPOINT:
		if (n != sizeof(struct sockaddr_in) &&
		    n != sizeof(struct sockaddr_in6))
			return MNL_CB_ERROR;
		memcpy(&p->endpoint, mnl_attr_get_payload(a), n);
		p->flags |= PC_WG_PEER_HAS_ENDPOINT;
		break;
	case WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL:
		if (mnl_attr_validate(a, MNL_TYPE_U16) < 0)
			return MNL_CB_ERROR;
		p->keepalive = mnl_attr_get_u16(a);
		p->flags |= PC_WG_PEER_HAS_KEEPALIVE;
		break;
	case WGPEER_A_LAST_HANDSHAKE_TIME: {
		struct __kernel_timespec ts;

		if (n != sizeof(ts))
			return MNL_CB_ERROR;
		memcpy(&ts, mnl_attr_get_payload(a), sizeof(ts));
		p->last_handshake_sec = ts.tv_sec;
		break;
	}
	case WGPEER_A_RX_BYTES:
		if (mnl_attr_validate(a, MNL_TYPE_U64) < 0)
			return MNL_CB_ERROR;
		p->rx_bytes = mnl_attr_get_u64(a);
		break;
	case WGPEER_A_TX_BYTES:
		if (mnl_attr_validate(a, MNL_TYPE_U64) < 0)
			return MNL_CB_ERROR;
		p->tx_bytes = mnl_attr_get_u64(a);
		break;
	case WGPEER_A_FLAGS:
		if (mnl_attr_validate(a, MNL_TYPE_U32) < 0)
			return MNL_CB_ERROR;
		if (mnl_attr_get_u32(a) & WGPEER_F_REMOVE_ME)
			p->flags |= PC_WG_PEER_REMOVE;
		if (mnl_attr_get_u32(a) & WGPEER_F_REPLACE_ALLOWEDIPS)
			p->flags |= PC_WG_PEER_REPLACE_IPS;
		break;
	case WGPEER_A_ALLOWEDIPS:
		if (mnl_attr_parse_nested(a, allowedips_cb, p) < 0)
			return MNL_CB_ERROR;
		break;
	}
	return MNL_CB_OK;
}

/* A peer that continues the last message's (same key, more IPs) is
 * merged into it, as the kernel splits big peers across messages. */
static int peers_cb(const struct nlattr *a, void *arg)
{
	struct parse *ps = arg;
	struct pc_wg_peer tmp = {0}, *last;

	if (mnl_attr_parse_nested(a, peer_attr_cb, &tmp) < 0) {
		free(tmp.ips);
		return MNL_CB_ERROR;
	}
	last = ps->d->npeers ? &ps->d->peers[ps->d->npeers - 1] : NULL;
	if (last && !memcmp(last->public_key, tmp.public_key, PC_WG_KEY_LEN)) {
		for (size_t i = 0; i < tmp.nips; i++)
			*pc_wg_add_ip(last) = tmp.ips[i];
		free(tmp.ips);
		return MNL_CB_OK;
	}
	*pc_wg_add_peer(ps->d) = tmp;
	return MNL_CB_OK;
}

static int device_cb(const struct nlattr *a, void *arg)
{
	struct parse *ps = arg;
	struct pc_wg_device *d = ps->d;

	switch (mnl_attr_get_type(a)) {
	case WGDEVICE_A_IFNAME:
		if (mnl_attr_validate(a, MNL_TYPE_NUL_STRING) < 0)
			return MNL_CB_ERROR;
		snprintf(d->name, sizeof(d->name), "%s", mnl_attr_get_str(a));
		break;
	case WGDEVICE_A_PRIVATE_KEY:
		d->flags |= PC_WG_DEV_HAS_PRIVATE_KEY;
		return key_attr(a, d->private_key);
	case WGDEVICE_A_PUBLIC_KEY:
		return key_attr(a, d->public_key);
	case WGDEVICE_A_LISTEN_PORT:
		if (mnl_attr_validate(a, MNL_TYPE_U16) < 0)
			return MNL_CB_ERROR;
		d->listen_port = mnl_attr_get_u16(a);
		d->flags |= PC_WG_DEV_HAS_LISTEN_PORT;
		break;
	case WGDEVICE_A_FWMARK:
		if (mnl_attr_validate(a, MNL_TYPE_U32) < 0)
			return MNL_CB_ERROR;
		d->fwmark = mnl_attr_get_u32(a);
		d->flags |= PC_WG_DEV_HAS_FWMARK;
		break;
	case WGDEVICE_A_FLAGS:
		if (mnl_attr_validate(a, MNL_TYPE_U32) < 0)
			return MNL_CB_ERROR;
		if (mnl_attr_get_u32(a) & WGDEVICE_F_REPLACE_PEERS)
			d->flags |= PC_WG_DEV_REPLACE_PEERS;
		break;
	case WGDEVICE_A_PEERS:
		if (mnl_attr_parse_nested(a, peers_cb, ps) < 0)
			return MNL_CB_ERROR;
		break;
	}
	return MNL_CB_OK;
}

int pc_wg_nl_parse(const void *msg, size_t len, struct pc_wg_device *d)
{
	const struct nlmsghdr *nlh = msg;
	struct parse ps = {.d = d};

	if (len < sizeof(*nlh) || !mnl_nlmsg_ok(nlh, (int)len) ||
	    nlh->nlmsg_len < mnl_nlmsg_size(sizeof(struct genlmsghdr)))
		return -EPROTO;
	if (mnl_attr_parse(nlh, sizeof(struct genlmsghdr), device_cb, &ps) < 0)
		return -EPROTO;
	return 0;
}

/* ---- the socket ---------------------------------------------------------- */

static int family_cb(const struct nlattr *a, void *arg)
{
	if (mnl_attr_get_type(a) == CTRL_ATTR_FAMILY_ID &&
	    mnl_attr_validate(a, MNL_TYPE_U16) >= 0)
		*(uint16_t *)arg = mnl_attr_get_u16(a);
	return MNL_CB_OK;
}

static int family_msg_cb(const struct nlmsghdr *nlh, void *arg)
{
	mnl_attr_parse(nlh, sizeof(struct genlmsghdr), family_cb, arg);
	return MNL_CB_OK;
}

/* Send nlh and run cb over every reply until the ack or the dump's end. */
static int talk(struct mnl_socket *nl, struct nlmsghdr *nlh, mnl_cb_t cb,
		void *arg)
{
	static char buf[PC_WG_NL_RECV];
	unsigned int portid = mnl_socket_get_portid(nl);
	int rc;

	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	do {
		rc = (int)mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (rc < 0) {
			rc = -errno;
			break;
		}
		rc = mnl_cb_run(buf, (size_t)rc, nlh->nlmsg_seq, portid, cb,
				arg);
		if (rc < 0)
			rc = errno ? -errno : -EPROTO;
	} while (rc > 0);
	memset(buf, 0, sizeof(buf)); /* replies hold the private key */
	return rc;
}

static struct mnl_socket *open_genl(uint16_t *family)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct mnl_socket *nl = mnl_socket_open(NETLINK_GENERIC);
	struct nlmsghdr *nlh;
	int rc;

	if (!nl)
		return NULL;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
		goto fail;
	nlh = put_header(buf, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, NLM_F_ACK,
			 (uint32_t)time(NULL));
	((struct genlmsghdr *)mnl_nlmsg_get_payload(nlh))->version = 1;
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, WG_GENL_NAME);
	*family = 0;
	rc = talk(nl, nlh, family_msg_cb, family);
	if (rc || !*family) {
		errno = rc ? -rc : ENOENT; /* no module: no family */
		goto fail;
	}
	return nl;
fail:
	mnl_socket_close(nl);
	return NULL;
}

int pc_wg_nl_available(void)
{
	uint16_t family;
	struct mnl_socket *nl = open_genl(&family);

	if (!nl)
		return 0;
	mnl_socket_close(nl);
	return 1;
}

int pc_wg_nl_set(const struct pc_wg_device *d)
{
	static char buf[PC_WG_NL_MSG];
	struct mnl_socket *nl;
	uint16_t family;
	size_t first = 0, next;
	int rc = 0;

	if (!(nl = open_genl(&family)))
		return -errno;
	do {
		rc = pc_wg_nl_build_set(d, family, (uint32_t)time(NULL) + first,
					first, buf, sizeof(buf), &next);
		if (rc < 0) /* -EMSGSIZE: next was not set */
			break;
		rc = talk(nl, (struct nlmsghdr *)buf, NULL, NULL);
		first = next;
	} while (!rc && first < d->npeers);
	memset(buf, 0, sizeof(buf)); /* it held the private key */
	mnl_socket_close(nl);
	return rc;
}

static int get_cb(const struct nlmsghdr *nlh, void *arg)
{
	if (pc_wg_nl_parse(nlh, nlh->nlmsg_len, arg)) {
		errno = EPROTO; /* talk reports -errno */
		return MNL_CB_ERROR;
	}
	return MNL_CB_OK;
}

int pc_wg_nl_get(const char *name, struct pc_wg_device *d)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct mnl_socket *nl;
	struct nlmsghdr *nlh;
	uint16_t family;
	int rc;

	if (!(nl = open_genl(&family)))
		return -errno;
	nlh = put_header(buf, family, WG_CMD_GET_DEVICE, NLM_F_ACK | NLM_F_DUMP,
			 (uint32_t)time(NULL));
	mnl_attr_put_strz(nlh, WGDEVICE_A_IFNAME, name);
	rc = talk(nl, nlh, get_cb, d);
	mnl_socket_close(nl);
	if (rc)
		pc_wg_device_free(d);
	return rc;
}

/* A kernel WireGuard link (ip link add NAME type wireguard). */
int pc_wg_nl_create(const char *name)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct mnl_socket *nl = mnl_socket_open(NETLINK_ROUTE);
	struct ifinfomsg *ifi;
	struct nlattr *info;
	int rc;

	if (!nl)
		return -errno;
	nlh->nlmsg_type = RTM_NEWLINK;
	nlh->nlmsg_flags =
		NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK;
	nlh->nlmsg_seq = (uint32_t)time(NULL);
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "wireguard");
	mnl_attr_nest_end(nlh, info);
	rc = mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0
		     ? -errno
		     : talk(nl, nlh, NULL, NULL);
	mnl_socket_close(nl);
	return rc;
}
