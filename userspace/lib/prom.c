// SPDX-License-Identifier: Apache-2.0
/*
 * Prometheus text exposition (format 0.0.4): a family's HELP and TYPE
 * once, then its samples, label values escaped.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pclib.h"

void pc_prom_family(struct pc_buf *b, const char *name, const char *type,
		    const char *help)
{
	pc_buf_printf(b, "# HELP %s ", name);
	/* HELP text escapes backslash and newline */
	for (const char *p = help; *p; p++) {
		if (*p == '\\')
			pc_buf_append(b, "\\\\", 2);
		else if (*p == '\n')
			pc_buf_append(b, "\\n", 2);
		else
			pc_buf_append(b, p, 1);
	}
	pc_buf_printf(b, "\n# TYPE %s %s\n", name, type);
}

/* name{k="v",...}: labels is k, v, k, v, ..., NULL. */
static void series(struct pc_buf *b, const char *name,
		   const char *const *labels)
{
	pc_buf_append(b, name, strlen(name));
	if (!labels || !labels[0]) {
		pc_buf_append(b, " ", 1);
		return;
	}
	pc_buf_append(b, "{", 1);
	for (size_t i = 0; labels[i] && labels[i + 1]; i += 2) {
		if (i)
			pc_buf_append(b, ",", 1);
		pc_buf_printf(b, "%s=\"", labels[i]);
		for (const char *p = labels[i + 1]; *p; p++) {
			if (*p == '\\' || *p == '"')
				pc_buf_printf(b, "\\%c", *p);
			else if (*p == '\n')
				pc_buf_append(b, "\\n", 2);
			else
				pc_buf_append(b, p, 1);
		}
		pc_buf_append(b, "\"", 1);
	}
	pc_buf_append(b, "} ", 2);
}

void pc_prom_u64(struct pc_buf *b, const char *name, const char *const *labels,
		 uint64_t v)
{
	series(b, name, labels);
	pc_buf_printf(b, "%" PRIu64 "\n", v);
}

void pc_prom_f64(struct pc_buf *b, const char *name, const char *const *labels,
		 double v)
{
	series(b, name, labels);
	if (isnan(v))
		pc_buf_printf(b, "NaN\n");
	else if (isinf(v))
		pc_buf_printf(b, "%s\n", v > 0 ? "+Inf" : "-Inf");
	else {
		char t[32];

		/* the shortest of 15 or 17 digits that reads back as v */
		snprintf(t, sizeof(t), "%.15g", v);
		if (strtod(t, NULL) != v)
			snprintf(t, sizeof(t), "%.17g", v);
		pc_buf_printf(b, "%s\n", t);
	}
}
