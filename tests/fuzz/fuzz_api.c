// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: API requests as the routes see them, after HTTP
 * parsing: the first byte picks the method and the caller's role, then
 * path, query and content type, one a line, then the body (JSON, YAML or
 * anything).  The backend (backend.c) traps when a callback is reached by
 * a caller the route should have refused; the answer must be a known
 * status with a JSON body that says what went wrong.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "backend.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The next line of the input (NUL-terminated, malloc'd); NULL at the end. */
static char *line(const uint8_t **p, const uint8_t *end)
{
	const uint8_t *nl;
	char *s;

	if (*p >= end)
		return NULL;
	nl = memchr(*p, '\n', (size_t)(end - *p));
	if (!nl)
		nl = end;
	s = strndup((const char *)*p, (size_t)(nl - *p));
	*p = nl < end ? nl + 1 : end;
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const methods[] = {
		"GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS", ""};
	const uint8_t *p = data + 1, *end = data + size;
	struct pc_api_caller who = {.name = "fuzz", .peer = "uid:0"};
	char *path, *query, *ctype;
	json_t *out = NULL;
	struct evbuffer *raw;
	int code;

	if (!size)
		return 0;
	path = line(&p, end);
	query = line(&p, end);
	ctype = line(&p, end);
	who.role = (enum pc_role)((data[0] >> 3) & 3);
	fuzz_entitled = who.role;
	raw = evbuffer_new();
	code = pc_api_handle(&fuzz_backend, &who, methods[data[0] & 7],
			     path ? path : "/", query && *query ? query : NULL,
			     ctype && *ctype ? ctype : NULL, (const char *)p,
			     (size_t)(end - p), &out, raw);
	if (!fuzz_status_known(code))
		__builtin_trap();
	/* a refusal always says why, as {"error": "..."} */
	if (code >= 400 && !json_is_string(json_object_get(out, "error")))
		__builtin_trap();
	/* an answer is a JSON reply or JSON text the route wrote */
	if (code < 300 && !out && !evbuffer_get_length(raw))
		__builtin_trap();
	if (out && evbuffer_get_length(raw))
		__builtin_trap();
	evbuffer_free(raw);
	json_decref(out);
	free(path);
	free(query);
	free(ctype);
	return 0;
}
