// SPDX-License-Identifier: Apache-2.0
/*
 * API tokens: "pct_" SELECTOR "_" SECRET.  The selector (8 hex digits) is
 * public and finds the stored record; only SHA-256(SECRET) is stored, and
 * the presented secret's hash is compared in constant time.
 */
#include <errno.h>
#include <mbedtls/sha256.h>
#include <string.h>
#include <sys/random.h>

#include "api.h"

static const char *const role_names[] = {"none", "viewer", "operator", "admin"};

const char *pc_role_name(enum pc_role r)
{
	return (unsigned)r < PC_ARRAY_SIZE(role_names) ? role_names[r] : "?";
}

enum pc_role pc_role_parse(const char *s)
{
	for (size_t i = 1; s && i < PC_ARRAY_SIZE(role_names); i++)
		if (!strcmp(s, role_names[i]))
			return (enum pc_role)i;
	return PC_ROLE_NONE;
}

static void sha256(const char *s, uint8_t out[32])
{
	mbedtls_sha256_ret((const unsigned char *)s, strlen(s), out, 0);
}

int pc_token_new(char token[PC_TOKEN_LEN], char selector[PC_SELECTOR_LEN],
		 uint8_t hash[32])
{
	static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn"
				     "opqrstuvwxyz0123456789-_";
	uint8_t rnd[4 + 33];
	char secret[45];
	size_t k = 0;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return errno ? -errno : -EIO;
	snprintf(selector, PC_SELECTOR_LEN, "%02x%02x%02x%02x", rnd[0], rnd[1],
		 rnd[2], rnd[3]);
	/* 33 random bytes: 44 characters of base64url, 264 bits */
	for (size_t i = 4; i + 2 < sizeof(rnd); i += 3) {
		uint32_t v = (uint32_t)rnd[i] << 16 |
			     (uint32_t)rnd[i + 1] << 8 | rnd[i + 2];

		for (int j = 0; j < 4; j++)
			secret[k++] = b64url[(v >> (18 - 6 * j)) & 63];
	}
	secret[k] = '\0';
	snprintf(token, PC_TOKEN_LEN, "pct_%s_%s", selector, secret);
	sha256(secret, hash);
	memset(rnd, 0, sizeof(rnd));
	memset(secret, 0, sizeof(secret));
	return 0;
}

int pc_token_split(const char *token, char selector[PC_SELECTOR_LEN],
		   const char **secret)
{
	if (strncmp(token, "pct_", 4) || strlen(token) < 4 + 8 + 1 + 1 ||
	    token[12] != '_' || strspn(token + 4, "0123456789abcdef") < 8)
		return -EINVAL;
	memcpy(selector, token + 4, 8);
	selector[8] = '\0';
	*secret = token + 13;
	return 0;
}

int pc_token_name_valid(const char *s)
{
	size_t n = strlen(s);

	/* "." and ".." could not be named in a path (/v1/peers/..) */
	if (!n || n > 63 || strspn(s, ".") == n)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr("-_.", *s)))
			return 0;
	return 1;
}

int pc_token_text_valid(const char *s)
{
	return *s && strlen(s) < PC_TOKEN_LEN &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			 "0123456789_-") == strlen(s);
}

int pc_token_matches(const uint8_t stored[32], const char *secret)
{
	uint8_t h[32], diff = 0;

	sha256(secret, h);
	for (int i = 0; i < 32; i++) /* constant time: no early exit */
		diff |= (uint8_t)(h[i] ^ stored[i]);
	return diff == 0;
}
