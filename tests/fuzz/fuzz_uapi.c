// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: the WireGuard UAPI reader (the reply to "get=1" from
 * wireguard-go or boringtun).  What it reads, the writer must say again:
 * the device formatted as a "set=1" request and read back as a reply is
 * the same device, peer for peer.  Prefixes stay within their family.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "pclib.h"
#include "wg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void endpoint(const struct pc_wg_peer *p, char *buf, size_t len)
{
	buf[0] = '\0';
	if (p->flags & PC_WG_PEER_HAS_ENDPOINT)
		pc_wg_format_endpoint(p, buf, len);
}

static int same_peer(const struct pc_wg_peer *a, const struct pc_wg_peer *b)
{
	char ea[INET6_ADDRSTRLEN + 8], eb[INET6_ADDRSTRLEN + 8];

	if (memcmp(a->public_key, b->public_key, PC_WG_KEY_LEN) ||
	    (a->flags & PC_WG_PEER_HAS_PSK) !=
		    (b->flags & PC_WG_PEER_HAS_PSK) ||
	    ((a->flags & PC_WG_PEER_HAS_PSK) &&
	     memcmp(a->preshared_key, b->preshared_key, PC_WG_KEY_LEN)) ||
	    (a->flags & PC_WG_PEER_HAS_KEEPALIVE) !=
		    (b->flags & PC_WG_PEER_HAS_KEEPALIVE) ||
	    a->keepalive != b->keepalive || a->nips != b->nips)
		return 0;
	endpoint(a, ea, sizeof(ea));
	endpoint(b, eb, sizeof(eb));
	if (strcmp(ea, eb))
		return 0;
	for (size_t k = 0; k < a->nips; k++)
		if (!pc_wg_same_ip(&a->ips[k], &b->ips[k]))
			return 0;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pc_wg_device d = {0}, again = {0};
	struct pc_buf set = {0};
	const char *body;

	if (pc_wg_uapi_parse_get((const char *)data, size, &d))
		return 0;
	for (size_t i = 0; i < d.npeers; i++)
		for (size_t k = 0; k < d.peers[i].nips; k++) {
			const struct pc_wg_allowedip *a = &d.peers[i].ips[k];

			if (a->cidr > (a->family == AF_INET ? 32 : 128) ||
			    (a->family != AF_INET && a->family != AF_INET6))
				__builtin_trap();
		}
	/* "set=1\n...\n\n" as a reply: its lines, then errno=0 */
	if (pc_wg_uapi_format_set(&d, &set) || strncmp(set.data, "set=1\n", 6))
		__builtin_trap();
	set.len -= 1; /* the blank line that ends a request */
	pc_buf_printf(&set, "errno=0\n");
	body = set.data + 6;
	if (pc_wg_uapi_parse_get(body, strlen(body), &again) ||
	    again.flags != d.flags ||
	    memcmp(again.private_key, d.private_key, PC_WG_KEY_LEN) ||
	    memcmp(again.public_key, d.public_key, PC_WG_KEY_LEN) ||
	    again.listen_port != d.listen_port || again.fwmark != d.fwmark ||
	    again.npeers != d.npeers)
		__builtin_trap();
	for (size_t i = 0; i < d.npeers; i++)
		if (!same_peer(&d.peers[i], &again.peers[i]))
			__builtin_trap();
	pc_wg_device_free(&again);
	pc_wg_device_free(&d);
	pc_buf_free(&set);
	return 0;
}
