// SPDX-License-Identifier: Apache-2.0
/*
 * Maglev consistent hashing (Eisenbud et al., NSDI 2016), with weights.
 * Each backend walks its own permutation of the m buckets, given by two
 * hashes of its key; in turn, backends claim the next free bucket of
 * their permutation until every bucket is taken.  A backend claims turns
 * in proportion to its weight (one per round for the heaviest), so its
 * share of buckets is its share of the weight; and because a backend's
 * permutation depends on its key alone, removing one backend moves little
 * more than the buckets it held.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pclib.h"

/* FNV-1a, 64-bit, then a finalizer so that nearby keys spread. */
static uint64_t key_hash(const char *key, uint64_t seed)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ seed;

	for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
		h ^= *p;
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

int pc_maglev_fill(const char *const *keys, const uint32_t *weights, size_t n,
		   uint8_t *ring, uint32_t m)
{
	uint32_t *offset, *skip, *next, maxw = 0;
	uint64_t *credit;
	uint32_t filled = 0;

	if (!n || n > 255 || m < 2)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!weights[i])
			return -EINVAL;
		if (weights[i] > maxw)
			maxw = weights[i];
	}
	offset = pc_xcalloc(n, sizeof(*offset));
	skip = pc_xcalloc(n, sizeof(*skip));
	next = pc_xcalloc(n, sizeof(*next));
	credit = pc_xcalloc(n, sizeof(*credit));
	for (size_t i = 0; i < n; i++) {
		offset[i] = (uint32_t)(key_hash(keys[i], 0) % m);
		skip[i] =
			(uint32_t)(key_hash(keys[i], 0x5bd1e995) % (m - 1)) + 1;
	}
	memset(ring, 0xff, m);
	while (filled < m) {
		for (size_t i = 0; i < n && filled < m; i++) {
			credit[i] += weights[i];
			while (credit[i] >= maxw && filled < m) {
				uint32_t b;

				credit[i] -= maxw;
				/* the next bucket of i's permutation that
				 * nobody holds yet (m prime: it visits all) */
				do {
					b = (uint32_t)((offset[i] +
							(uint64_t)next[i] *
								skip[i]) %
						       m);
					next[i]++;
				} while (ring[b] != 0xff);
				ring[b] = (uint8_t)i;
				filled++;
			}
		}
	}
	free(offset);
	free(skip);
	free(next);
	free(credit);
	return 0;
}
