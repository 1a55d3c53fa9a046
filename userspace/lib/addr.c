// SPDX-License-Identifier: Apache-2.0
/* IPv4/IPv6 addresses and prefixes, IPv4 kept in mapped IPv6 form. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pclib.h"

static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int pc_addr_parse(const char *s, uint8_t out[16])
{
	struct in_addr a4;

	if (inet_pton(AF_INET, s, &a4) == 1) {
		memcpy(out, v4_mapped, 12);
		memcpy(out + 12, &a4, 4);
		return 0;
	}
	if (inet_pton(AF_INET6, s, out) == 1)
		return 0;
	return -EINVAL;
}

static void prefix_mask(uint8_t addr[16], unsigned int plen)
{
	for (unsigned int i = 0; i < 16; i++) {
		unsigned int bits = plen > i * 8 ? plen - i * 8 : 0;

		if (bits < 8)
			addr[i] &= (uint8_t)(0xff00 >> bits);
	}
}

int pc_prefix_parse(const char *s, struct pc_prefix *out, char *why,
		    size_t whylen)
{
	char host[INET6_ADDRSTRLEN + 8];
	const char *slash = strchr(s, '/');
	size_t hlen = slash ? (size_t)(slash - s) : strlen(s);
	unsigned long plen;
	uint8_t masked[16];
	char *end;
	int v4;

	if (hlen == 0 || hlen >= sizeof(host)) {
		snprintf(why, whylen, "bad address");
		return -EINVAL;
	}
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (pc_addr_parse(host, out->addr)) {
		snprintf(why, whylen, "bad address \"%s\"", host);
		return -EINVAL;
	}
	v4 = strchr(host, ':') == NULL;
	plen = v4 ? 32 : 128;
	if (slash) {
		errno = 0;
		plen = strtoul(slash + 1, &end, 10);
		if (!slash[1] || *end || errno || plen > (v4 ? 32u : 128u)) {
			snprintf(why, whylen, "bad prefix length \"%s\"",
				 slash + 1);
			return -EINVAL;
		}
	}
	out->plen = (uint8_t)(v4 ? 96 + plen : plen);
	memcpy(masked, out->addr, 16);
	prefix_mask(masked, out->plen);
	if (memcmp(masked, out->addr, 16)) {
		struct pc_prefix fixed = *out;
		char text[64];

		memcpy(fixed.addr, masked, 16);
		pc_prefix_format(&fixed, text, sizeof(text));
		snprintf(why, whylen,
			 "host bits set in \"%s\" (did you mean %s?)", s, text);
		return -EINVAL;
	}
	return 0;
}

int pc_addr_is_v4(const uint8_t addr[16])
{
	return !memcmp(addr, v4_mapped, 12);
}

int pc_prefix_is_v4(const struct pc_prefix *p)
{
	return p->plen >= 96 && pc_addr_is_v4(p->addr);
}

void pc_addr_format(const uint8_t addr[16], char *buf, size_t len)
{
	if (!memcmp(addr, v4_mapped, 12))
		inet_ntop(AF_INET, addr + 12, buf, (socklen_t)len);
	else
		inet_ntop(AF_INET6, addr, buf, (socklen_t)len);
}

void pc_prefix_format(const struct pc_prefix *p, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];
	int v4 = pc_prefix_is_v4(p);

	pc_addr_format(p->addr, a, sizeof(a));
	snprintf(buf, len, "%s/%u", a, v4 ? p->plen - 96u : p->plen);
}

int pc_prefix_contains(const struct pc_prefix *a, const struct pc_prefix *b)
{
	uint8_t x[16], y[16];

	if (a->plen > b->plen)
		return 0;
	memcpy(x, a->addr, 16);
	memcpy(y, b->addr, 16);
	prefix_mask(x, a->plen);
	prefix_mask(y, a->plen);
	return !memcmp(x, y, 16);
}

int pc_prefix_cmp(const struct pc_prefix *a, const struct pc_prefix *b)
{
	int c = memcmp(a->addr, b->addr, 16);

	if (c)
		return c;
	return (int)a->plen - (int)b->plen;
}
