/* SPDX-License-Identifier: Apache-2.0 */
/* pc-bench http: an HTTP load generator that also reaches unix sockets. */
#ifndef PC_HTTPLOAD_H
#define PC_HTTPLOAD_H

/* target: "unix:/path" or "IPV4:PORT".  0, 1 (failed) or 2 (usage). */
int pc_httpload(const char *target, const char *path, double seconds, int conns,
		const char *token);

#endif
