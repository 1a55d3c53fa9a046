// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: policy YAML through the parser, the compiler and the
 * policy's own tests; then explain and diff on what compiled.  Any crash,
 * leak or sanitizer report is a bug; so is a diagnostic that does not name
 * the file or takes more than one line.  The same function replays the
 * corpus in the normal build (replay.c), so what fuzzing found stays
 * tested.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t v4[16] = {[10] = 0xff, [11] = 0xff, 198, 18, 1, 7},
			     v6[16] = {0xfd, 0, 0, 1, [15] = 7};
	struct pc_diags d = {0};
	struct pc_policy *p = NULL;
	struct pc_compiled *c = NULL;

	if (pc_policy_load((const char *)data, size, "fuzz.yaml", &p, &c, &d) ==
	    0) {
		struct pc_explanation x;
		struct pc_diff diff;

		pc_policy_explain(p, c, v4, v6, 6, 443, &x);
		pc_explanation_free(&x);
		pc_policy_explain(p, c, v6, v4, 1, 8 << 8, &x);
		pc_explanation_free(&x);
		pc_policy_diff(c, c, &diff);
		if (diff.n) /* a policy never differs from itself */
			__builtin_trap();
		pc_diff_free(&diff);
	}
	for (size_t i = 0; i < d.n; i++) {
		const char *m = d.v[i].msg;

		if (strncmp(m, "fuzz.yaml:", 10))
			__builtin_trap();
		for (; *m; m++)
			if ((unsigned char)*m < 0x20 || *m == 0x7f)
				__builtin_trap();
	}
	pc_compiled_free(c);
	pc_policy_free(p);
	pc_diags_free(&d);
	return 0;
}
