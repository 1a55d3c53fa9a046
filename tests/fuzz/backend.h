/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A backend for the API fuzz targets that answers like a gateway and
 * checks, in every callback, that the caller may do what it asks: a
 * callback reached by a caller the route should have refused is a
 * privilege escalation, and traps.
 */
#ifndef PC_FUZZ_BACKEND_H
#define PC_FUZZ_BACKEND_H

#include "api.h"

/* The tokens it knows, one a role: "Bearer " + these authenticate. */
#define FUZZ_TOKEN_VIEWER \
	"pct_viewer01_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define FUZZ_TOKEN_OPERATOR \
	"pct_operat01_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define FUZZ_TOKEN_ADMIN \
	"pct_admin001_ccccccccccccccccccccccccccccccccccccccccccccccccccc"

extern const struct pc_api_backend fuzz_backend;

/*
 * The most the current request is entitled to: set by the harness for
 * pc_api_handle, or by authenticate() for a request through the server.
 * Callbacks without a caller argument check against it.
 */
extern enum pc_role fuzz_entitled;

/* Every status pc_api_handle and the server may answer. */
int fuzz_status_known(int code);

#endif
