/* SPDX-License-Identifier: Apache-2.0 */
/* Small utilities with no project knowledge: logging, strings, addresses. */
#ifndef PC_LIB_H
#define PC_LIB_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define PC_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

enum pc_log_level { PC_LOG_DEBUG, PC_LOG_INFO, PC_LOG_WARN, PC_LOG_ERROR };

void pc_log_set_level(enum pc_log_level level);
/* Log lines as JSON objects {"ts","level","msg"} instead of text. */
void pc_log_set_json(int on);
void pc_log(enum pc_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void pc_vlog(enum pc_log_level level, const char *fmt, va_list ap);

#define pc_debug(...) pc_log(PC_LOG_DEBUG, __VA_ARGS__)
#define pc_info(...) pc_log(PC_LOG_INFO, __VA_ARGS__)
#define pc_warn(...) pc_log(PC_LOG_WARN, __VA_ARGS__)
#define pc_error(...) pc_log(PC_LOG_ERROR, __VA_ARGS__)

/* A growable NUL-terminated byte buffer. */
struct pc_buf {
	char *data;
	size_t len;
	size_t cap;
};

int pc_buf_append(struct pc_buf *b, const void *data, size_t len);
int pc_buf_printf(struct pc_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void pc_buf_free(struct pc_buf *b);

/* Read a whole file; returns 0 or a negative errno. */
int pc_read_file(const char *path, size_t max, struct pc_buf *out);

/* mkdir -p with mode for every created component. */
int pc_mkdir_p(const char *path, unsigned int mode);

/* Make s one line that is safe on a terminal: line breaks and tabs
 * become spaces, other control characters '?'. */
void pc_one_line(char *s);
/* Write "FILE:LINE:COL: message" into err (len bytes), one line; returns
 * -EINVAL. */
int pc_loc_error(char *err, size_t len, const char *file, size_t line,
		 size_t col, const char *fmt, va_list ap);

/* WireGuard (Curve25519) keys, and their text: base64, 44 characters. */
#define PC_WG_KEY_LEN 32
#define PC_WG_KEY_B64 45 /* with the NUL */
void pc_wg_key_to_base64(const uint8_t key[PC_WG_KEY_LEN],
			 char out[PC_WG_KEY_B64]);
/* -EINVAL unless s is exactly a key's base64 */
int pc_wg_key_from_base64(const char *s, uint8_t key[PC_WG_KEY_LEN]);

char *pc_strdup(const char *s);
char *pc_strndup(const char *s, size_t n);
void *pc_xcalloc(size_t n, size_t size);
/*
 * Make room for one more element in the array *vp of n elements of size
 * bytes, *cap allocated, doubling as needed.  Aborts when out of memory,
 * like pc_xcalloc.
 */
void pc_xgrow(void *vp, size_t *cap, size_t n, size_t size);

/*
 * Addresses in IPv6 form: IPv4 a.b.c.d is ::ffff:a.b.c.d and an IPv4
 * prefix length p becomes 96 + p.
 */
struct pc_prefix {
	uint8_t addr[16];
	uint8_t plen;
};

/* Parse "198.18.1.0/24", "fd00:1::/64" or a bare address (host prefix).
 * Returns 0, or -EINVAL with why filled in ("host bits set", ...). */
int pc_prefix_parse(const char *s, struct pc_prefix *out, char *why,
		    size_t whylen);
int pc_addr_parse(const char *s, uint8_t out[16]);
int pc_prefix_is_v4(const struct pc_prefix *p);
/* Is the address (IPv6 form) an IPv4 one, ::ffff:a.b.c.d? */
int pc_addr_is_v4(const uint8_t addr[16]);
/* Format an address in IPv6 form back to text (dotted quad if mapped). */
void pc_addr_format(const uint8_t addr[16], char *buf, size_t len);
void pc_prefix_format(const struct pc_prefix *p, char *buf, size_t len);
/* Does prefix a contain prefix (or address) b? */
int pc_prefix_contains(const struct pc_prefix *a, const struct pc_prefix *b);
int pc_prefix_cmp(const struct pc_prefix *a, const struct pc_prefix *b);

/*
 * Fill ring[0, m) (m prime) with indexes 0..n-1 (n <= 255), each
 * backend's share of buckets in proportion to weights[i] (> 0), by
 * Maglev's permutations of keys[i] (a backend's stable name): the same
 * keys give the same ring anywhere, and removing one backend moves little
 * more than its own buckets.  0 or -EINVAL.
 */
int pc_maglev_fill(const char *const *keys, const uint32_t *weights, size_t n,
		   uint8_t *ring, uint32_t m);

/*
 * Prometheus text exposition: pc_prom_family once per metric name (type
 * "counter", "gauge"...), then its samples; labels is "key", "value",
 * ..., NULL (or NULL for none); values are escaped.
 */
void pc_prom_family(struct pc_buf *b, const char *name, const char *type,
		    const char *help);
void pc_prom_u64(struct pc_buf *b, const char *name, const char *const *labels,
		 uint64_t v);
void pc_prom_f64(struct pc_buf *b, const char *name, const char *const *labels,
		 double v);

const char *pc_version(void);

#endif
