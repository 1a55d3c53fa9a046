/* SPDX-License-Identifier: Apache-2.0 */
/* Persistent gateway state in sqlite: the versions of the policy. */
#ifndef PC_STORE_H
#define PC_STORE_H

#include <stdint.h>

struct pc_store;

struct pc_policy_record {
	int64_t version;
	uint64_t generation; /* data plane generation it was applied as */
	char *source;
	char *filename;
	char *created_at; /* UTC, ISO 8601 */
};

int pc_store_open(const char *path, struct pc_store **out);
void pc_store_close(struct pc_store *s);

int pc_store_policy_add(struct pc_store *s, const char *source,
			const char *filename, uint64_t generation,
			int64_t *version);
/* Returns -ENOENT when no policy was ever stored. */
int pc_store_policy_latest(struct pc_store *s, struct pc_policy_record *out);
int pc_store_policy_set_generation(struct pc_store *s, int64_t version,
				   uint64_t generation);
void pc_policy_record_free(struct pc_policy_record *r);

#endif
