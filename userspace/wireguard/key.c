// SPDX-License-Identifier: Apache-2.0
/* WireGuard keys: X25519 through mbedTLS's Curve25519. */
#include <errno.h>
#include <mbedtls/ecp.h>
#include <string.h>
#include <sys/random.h>

#include "wg.h"

static int rng(void *ctx, unsigned char *buf, size_t len)
{
	(void)ctx;
	return getrandom(buf, len, 0) == (ssize_t)len ? 0 : -1;
}

static void clamp(uint8_t k[PC_WG_KEY_LEN])
{
	k[0] &= 248;
	k[31] &= 127;
	k[31] |= 64;
}

int pc_wg_genkey(uint8_t key[PC_WG_KEY_LEN])
{
	if (getrandom(key, PC_WG_KEY_LEN, 0) != PC_WG_KEY_LEN)
		return -errno;
	clamp(key);
	return 0;
}

int pc_wg_pubkey(const uint8_t priv[PC_WG_KEY_LEN], uint8_t pub[PC_WG_KEY_LEN])
{
	uint8_t k[PC_WG_KEY_LEN];
	mbedtls_ecp_group grp;
	mbedtls_ecp_point q;
	mbedtls_mpi d;
	size_t olen = 0;
	int rc;

	memcpy(k, priv, sizeof(k));
	clamp(k); /* X25519 clamps; mbedTLS wants it done */
	mbedtls_ecp_group_init(&grp);
	mbedtls_ecp_point_init(&q);
	mbedtls_mpi_init(&d);
	/* Curve25519 points and scalars are little-endian on the wire */
	rc = mbedtls_ecp_group_load(&grp, MBEDTLS_ECP_DP_CURVE25519);
	if (!rc)
		rc = mbedtls_mpi_read_binary_le(&d, k, sizeof(k));
	if (!rc)
		rc = mbedtls_ecp_mul(&grp, &q, &d, &grp.G, rng, NULL);
	if (!rc)
		rc = mbedtls_ecp_point_write_binary(&grp, &q,
						    MBEDTLS_ECP_PF_UNCOMPRESSED,
						    &olen, pub, PC_WG_KEY_LEN);
	mbedtls_mpi_free(&d);
	mbedtls_ecp_point_free(&q);
	mbedtls_ecp_group_free(&grp);
	memset(k, 0, sizeof(k));
	return rc || olen != PC_WG_KEY_LEN ? -EINVAL : 0;
}
