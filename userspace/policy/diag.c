// SPDX-License-Identifier: Apache-2.0
/* Diagnostics: the errors and warnings of one validate, compile or push. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "policy.h"

void pc_diag_add(struct pc_diags *d, int warning, const char *file,
		 const struct pc_loc *loc, const char *fmt, ...)
{
	char msg[PC_ERR_LEN];
	int off;
	va_list ap;

	if (loc)
		off = snprintf(msg, sizeof(msg), "%s:%d:%d: %s", file,
			       loc->line, loc->col, warning ? "warning: " : "");
	else
		off = snprintf(msg, sizeof(msg), "%s: %s", file,
			       warning ? "warning: " : "");
	va_start(ap, fmt);
	if (off >= 0 && (size_t)off < sizeof(msg))
		vsnprintf(msg + off, sizeof(msg) - (size_t)off, fmt, ap);
	va_end(ap);
	pc_xgrow(&d->v, &d->cap, d->n, sizeof(*d->v));
	pc_one_line(msg);
	d->v[d->n].msg = pc_strdup(msg);
	d->v[d->n++].warning = (uint8_t) !!warning;
	if (warning)
		d->nwarnings++;
	else
		d->nerrors++;
}

const char *pc_diags_first_error(const struct pc_diags *d)
{
	for (size_t i = 0; i < d->n; i++)
		if (!d->v[i].warning)
			return d->v[i].msg;
	return "";
}

void pc_diags_free(struct pc_diags *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->v[i].msg);
	free(d->v);
	*d = (struct pc_diags){0};
}
