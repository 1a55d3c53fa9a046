/* SPDX-License-Identifier: Apache-2.0 */
/* Test helpers: the policy API with the first error as a string. */
#ifndef PC_POLICY_TEST_H
#define PC_POLICY_TEST_H

#include <criterion/criterion.h>
#include <stdio.h>

#include "policy.h"

static inline int parse_e(const char *text, size_t len, const char *file,
			  struct pc_policy **p, char err[PC_ERR_LEN])
{
	struct pc_diags d = {0};
	int rc = pc_policy_parse(text, len, file, p, &d);

	snprintf(err, PC_ERR_LEN, "%s", pc_diags_first_error(&d));
	pc_diags_free(&d);
	return rc;
}

static inline int compile_e(const struct pc_policy *p, struct pc_compiled **c,
			    char err[PC_ERR_LEN])
{
	struct pc_diags d = {0};
	int rc = pc_policy_compile(p, c, &d);

	snprintf(err, PC_ERR_LEN, "%s", pc_diags_first_error(&d));
	pc_diags_free(&d);
	return rc;
}

/* What the compiled policy decides for src -> dst proto/port. */
static inline uint8_t decide(const struct pc_compiled *c, const char *src,
			     const char *dst, uint8_t proto, uint16_t port,
			     uint32_t *rule)
{
	uint8_t s[16], d[16];
	struct pc_eval e;

	cr_assert_eq(pc_addr_parse(src, s), 0, "%s", src);
	cr_assert_eq(pc_addr_parse(dst, d), 0, "%s", dst);
	pc_compiled_eval(c, s, d, proto, port, &e);
	if (rule)
		*rule = e.rule_id;
	return e.action;
}

#endif
