// SPDX-License-Identifier: Apache-2.0
/* Unit tests: the kernel backend's generic netlink messages, without the
 * module (built, then parsed back; replies made by hand). */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/time_types.h>
#include <linux/wireguard.h>
#include <string.h>

#include "wg.h"

#define FAMILY 0x1234

static void two_peers(struct pc_wg_device *d)
{
	struct pc_wg_peer *p;
	struct pc_wg_allowedip *a;

	memset(d, 0, sizeof(*d));
	strcpy(d->name, "wg0");
	d->flags = PC_WG_DEV_HAS_PRIVATE_KEY | PC_WG_DEV_HAS_LISTEN_PORT |
		   PC_WG_DEV_REPLACE_PEERS;
	memset(d->private_key, 0x11, 32);
	d->listen_port = 51820;
	p = pc_wg_add_peer(d);
	memset(p->public_key, 0xab, 32);
	p->flags = PC_WG_PEER_REPLACE_IPS | PC_WG_PEER_HAS_ENDPOINT |
		   PC_WG_PEER_HAS_KEEPALIVE;
	p->endpoint.in.sin_family = AF_INET;
	p->endpoint.in.sin_port = htons(51821);
	inet_pton(AF_INET, "198.18.0.2", &p->endpoint.in.sin_addr);
	p->keepalive = 25;
	a = pc_wg_add_ip(p);
	a->family = AF_INET6;
	a->cidr = 64;
	inet_pton(AF_INET6, "fd00:100::", &a->ip6);
	p = pc_wg_add_peer(d);
	memset(p->public_key, 0xcd, 32);
	p->flags = PC_WG_PEER_REMOVE;
}

Test(wg_netlink, set_message_round_trip)
{
	static char buf[8192];
	struct pc_wg_device d, back = {0};
	const struct nlmsghdr *nlh = (void *)buf;
	const struct genlmsghdr *g;
	size_t next;
	char a[64];
	int n;

	/* Test that a WG_CMD_SET_DEVICE message carries the device, its
	 * flags, a peer with endpoint, keepalive and an IPv6 allowed IP, and
	 * a removal, as the parser reads them back */
	two_peers(&d);
	n = pc_wg_nl_build_set(&d, FAMILY, 7, 0, buf, sizeof(buf), &next);
	cr_assert_gt(n, 0);
	cr_assert_eq(next, 2);
	cr_assert_eq(nlh->nlmsg_type, FAMILY);
	cr_assert(nlh->nlmsg_flags & NLM_F_ACK);
	g = mnl_nlmsg_get_payload(nlh);
	cr_assert_eq(g->cmd, WG_CMD_SET_DEVICE);
	cr_assert_eq(g->version, WG_GENL_VERSION);
	cr_assert_eq(pc_wg_nl_parse(buf, (size_t)n, &back), 0);
	cr_assert_str_eq(back.name, "wg0");
	cr_assert_eq(back.flags, d.flags);
	cr_assert_arr_eq(back.private_key, d.private_key, 32);
	cr_assert_eq(back.listen_port, 51820);
	cr_assert_eq(back.npeers, 2);
	cr_assert_arr_eq(back.peers[0].public_key, d.peers[0].public_key, 32);
	cr_assert_eq(back.peers[0].flags, d.peers[0].flags);
	cr_assert_eq(back.peers[0].keepalive, 25);
	cr_assert_eq(ntohs(back.peers[0].endpoint.in.sin_port), 51821);
	cr_assert_eq(back.peers[0].nips, 1);
	pc_wg_format_ip(&back.peers[0].ips[0], a, sizeof(a));
	cr_assert_str_eq(a, "fd00:100::/64");
	cr_assert_eq(back.peers[1].flags, PC_WG_PEER_REMOVE);
	cr_assert_eq(back.peers[1].nips, 0);
	pc_wg_device_free(&d);
	pc_wg_device_free(&back);
}

Test(wg_netlink, many_peers_split_across_messages)
{
	static char buf[8192];
	struct pc_wg_device d = {0}, back = {0};
	size_t first = 0, next, msgs = 0;

	/* Test that 1,000 peers with 4 allowed IPs each go out in several
	 * messages that fit the buffer, the device's settings in the first
	 * only, and that the messages together hold every peer in order */
	strcpy(d.name, "wg0");
	d.flags = PC_WG_DEV_REPLACE_PEERS | PC_WG_DEV_HAS_LISTEN_PORT;
	d.listen_port = 1;
	for (int i = 0; i < 1000; i++) {
		struct pc_wg_peer *p = pc_wg_add_peer(&d);

		memcpy(p->public_key, &i, sizeof(i));
		p->flags = PC_WG_PEER_REPLACE_IPS;
		for (int k = 0; k < 4; k++) {
			struct pc_wg_allowedip *a = pc_wg_add_ip(p);

			a->family = AF_INET;
			a->cidr = 32;
			a->ip4.s_addr =
				htonl(0xc6130000u + (uint32_t)(4 * i + k));
		}
	}
	do {
		struct pc_wg_device part = {0};
		int n = pc_wg_nl_build_set(&d, FAMILY, 1, first, buf,
					   sizeof(buf), &next);

		cr_assert_gt(n, 0);
		cr_assert_leq((size_t)n, sizeof(buf));
		cr_assert_gt(next, first);
		cr_assert_eq(pc_wg_nl_parse(buf, (size_t)n, &part), 0);
		cr_assert_eq(!!(part.flags & PC_WG_DEV_REPLACE_PEERS),
			     first == 0, "flags only in the first message");
		for (size_t i = 0; i < part.npeers; i++) {
			*pc_wg_add_peer(&back) = part.peers[i];
			part.peers[i].ips = NULL;
		}
		pc_wg_device_free(&part);
		first = next;
		msgs++;
	} while (first < d.npeers);
	cr_assert_gt(msgs, 1);
	cr_assert_eq(back.npeers, 1000);
	for (int i = 0; i < 1000; i++) {
		int got;

		memcpy(&got, back.peers[i].public_key, sizeof(got));
		cr_assert_eq(got, i);
		cr_assert_eq(back.peers[i].nips, 4);
		cr_assert_eq(ntohl(back.peers[i].ips[3].ip4.s_addr),
			     0xc6130000u + (uint32_t)(4 * i + 3));
	}
	pc_wg_device_free(&d);
	pc_wg_device_free(&back);
}

/* A GET reply as the kernel sends it: one peer, its IPs cut in two. */
static size_t reply(char *buf, const uint8_t *key, int part)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	struct __kernel_timespec ts = {.tv_sec = 1700000000};
	struct nlattr *peers, *peer, *ips, *ip;
	struct in_addr a = {htonl(0xc6126402u + (uint32_t)part)};

	nlh->nlmsg_type = FAMILY;
	g->cmd = WG_CMD_GET_DEVICE;
	mnl_attr_put_strz(nlh, WGDEVICE_A_IFNAME, "wg0");
	if (!part) {
		mnl_attr_put_u16(nlh, WGDEVICE_A_LISTEN_PORT, 51820);
		mnl_attr_put(nlh, WGDEVICE_A_PUBLIC_KEY, 32, key);
	}
	peers = mnl_attr_nest_start(nlh, WGDEVICE_A_PEERS);
	peer = mnl_attr_nest_start(nlh, 0);
	mnl_attr_put(nlh, WGPEER_A_PUBLIC_KEY, 32, key);
	if (!part) {
		mnl_attr_put(nlh, WGPEER_A_LAST_HANDSHAKE_TIME, sizeof(ts),
			     &ts);
		mnl_attr_put_u64(nlh, WGPEER_A_RX_BYTES, 5678);
		mnl_attr_put_u64(nlh, WGPEER_A_TX_BYTES, 1234);
	}
	ips = mnl_attr_nest_start(nlh, WGPEER_A_ALLOWEDIPS);
	ip = mnl_attr_nest_start(nlh, 0);
	mnl_attr_put_u16(nlh, WGALLOWEDIP_A_FAMILY, AF_INET);
	mnl_attr_put(nlh, WGALLOWEDIP_A_IPADDR, 4, &a);
	mnl_attr_put_u8(nlh, WGALLOWEDIP_A_CIDR_MASK, 32);
	mnl_attr_nest_end(nlh, ip);
	mnl_attr_nest_end(nlh, ips);
	mnl_attr_nest_end(nlh, peer);
	mnl_attr_nest_end(nlh, peers);
	return nlh->nlmsg_len;
}

Test(wg_netlink, get_reply_with_a_peer_in_two_messages)
{
	static char buf[4096];
	uint8_t key[32];
	struct pc_wg_device d = {0};
	size_t n;

	/* Test that counters, handshake time and the device's key are read,
	 * and that a peer continued in the next message is merged */
	memset(key, 0x42, sizeof(key));
	n = reply(buf, key, 0);
	cr_assert_eq(pc_wg_nl_parse(buf, n, &d), 0);
	n = reply(buf, key, 1);
	cr_assert_eq(pc_wg_nl_parse(buf, n, &d), 0);
	cr_assert_eq(d.listen_port, 51820);
	cr_assert_arr_eq(d.public_key, key, 32);
	cr_assert_eq(d.npeers, 1);
	cr_assert_eq(d.peers[0].last_handshake_sec, 1700000000);
	cr_assert_eq(d.peers[0].rx_bytes, 5678);
	cr_assert_eq(d.peers[0].tx_bytes, 1234);
	cr_assert_eq(d.peers[0].nips, 2);
	pc_wg_device_free(&d);
}

Test(wg_netlink, malformed_replies_refused)
{
	static char buf[4096];
	uint8_t key[32] = {0};
	struct pc_wg_device d = {0};
	size_t n = reply(buf, key, 0);
	struct nlattr *bad;
	struct nlmsghdr *nlh = (void *)buf;

	/* Test that a short key, a cut message and a bad prefix are errors */
	cr_assert_eq(pc_wg_nl_parse(buf, 10, &d), -EPROTO);
	cr_assert_eq(pc_wg_nl_parse(buf, n - 8, &d), -EPROTO);
	pc_wg_device_free(&d);
	bad = mnl_attr_nest_start(nlh, WGDEVICE_A_PEERS);
	mnl_attr_nest_start(nlh, 0);
	mnl_attr_put(nlh, WGPEER_A_PUBLIC_KEY, 16, key);
	mnl_attr_nest_end(nlh, (struct nlattr *)((char *)bad + 4));
	mnl_attr_nest_end(nlh, bad);
	cr_assert_eq(pc_wg_nl_parse(buf, nlh->nlmsg_len, &d), -EPROTO);
	pc_wg_device_free(&d);
}
