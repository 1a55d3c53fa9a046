// SPDX-License-Identifier: Apache-2.0
/* WireGuard keys as text: standard base64 of 32 bytes (44 characters). */
#include <errno.h>
#include <string.h>

#include "pclib.h"

static const char b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void pc_wg_key_to_base64(const uint8_t key[PC_WG_KEY_LEN],
			 char out[PC_WG_KEY_B64])
{
	size_t k = 0;

	for (size_t i = 0; i < PC_WG_KEY_LEN; i += 3) {
		uint32_t v = (uint32_t)key[i] << 16;

		if (i + 1 < PC_WG_KEY_LEN)
			v |= (uint32_t)key[i + 1] << 8;
		if (i + 2 < PC_WG_KEY_LEN)
			v |= key[i + 2];
		for (int j = 0; j < 4; j++)
			out[k++] = b64[(v >> (18 - 6 * j)) & 63];
	}
	out[43] = '='; /* 32 bytes: the last group holds two */
	out[44] = '\0';
}

static int b64_val(char ch)
{
	const char *p = ch ? strchr(b64, ch) : NULL;

	return p ? (int)(p - b64) : -1;
}

int pc_wg_key_from_base64(const char *s, uint8_t key[PC_WG_KEY_LEN])
{
	uint32_t acc = 0;
	size_t n = 0;
	int bits = 0;

	if (strlen(s) != 44 || s[43] != '=')
		return -EINVAL;
	for (size_t i = 0; i < 43; i++) {
		int v = b64_val(s[i]);

		if (v < 0)
			return -EINVAL;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			key[n++] = (uint8_t)(acc >> bits);
		}
	}
	/* 43 * 6 = 258 bits: 32 bytes and 2 bits that must be zero */
	return n == PC_WG_KEY_LEN && !(acc & 3) ? 0 : -EINVAL;
}
