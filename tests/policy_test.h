/* SPDX-License-Identifier: Apache-2.0 */
/* Test helpers: the policy API with the first error as a string. */
#ifndef PC_POLICY_TEST_H
#define PC_POLICY_TEST_H

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

#endif
