// SPDX-License-Identifier: Apache-2.0
/* Buffers, files and directories. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pclib.h"

#ifndef PC_VERSION
#define PC_VERSION "0.0.0"
#endif

const char *pc_version(void)
{
	return PC_VERSION;
}

static int pc_buf_reserve(struct pc_buf *b, size_t extra)
{
	size_t need = b->len + extra + 1;
	char *p;

	if (need <= b->cap && b->data) /* (no data has no room) */
		return 0;
	if (need < 2 * b->cap)
		need = 2 * b->cap;
	p = realloc(b->data, need);
	if (!p)
		return -ENOMEM;
	b->data = p;
	b->cap = need;
	return 0;
}

int pc_buf_append(struct pc_buf *b, const void *data, size_t len)
{
	if (pc_buf_reserve(b, len))
		return -ENOMEM;
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

int pc_buf_printf(struct pc_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || pc_buf_reserve(b, (size_t)n))
		return -ENOMEM;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

void pc_buf_free(struct pc_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

int pc_read_file(const char *path, size_t max, struct pc_buf *out)
{
	char chunk[65536];
	ssize_t n;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0) {
		if (out->len + (size_t)n > max) {
			err = -EFBIG;
			break;
		}
		if (pc_buf_append(out, chunk, (size_t)n)) {
			err = -ENOMEM;
			break;
		}
	}
	if (n < 0)
		err = -errno;
	close(fd);
	if (!err && !out->data)
		err = pc_buf_append(out, "", 0);
	return err;
}

int pc_mkdir_p(const char *path, unsigned int mode)
{
	char tmp[4096];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, len + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, mode) && errno != EEXIST)
		return -errno;
	return 0;
}

void pc_one_line(char *s)
{
	for (; *s; s++)
		if (*s == '\n' || *s == '\r' || *s == '\t')
			*s = ' ';
		else if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

int pc_loc_error(char *err, size_t len, const char *file, size_t line,
		 size_t col, const char *fmt, va_list ap)
{
	int off = snprintf(err, len, "%s:%zu:%zu: ", file, line, col);

	if (off >= 0 && (size_t)off < len)
		vsnprintf(err + off, len - (size_t)off, fmt, ap);
	pc_one_line(err);
	return -EINVAL;
}

char *pc_strdup(const char *s)
{
	char *d = strdup(s ? s : "");

	if (!d)
		abort(); /* out of memory before anything is attached */
	return d;
}

char *pc_strndup(const char *s, size_t n)
{
	char *d = strndup(s ? s : "", n);

	if (!d)
		abort();
	return d;
}

void pc_xgrow(void *vp, size_t *cap, size_t n, size_t size)
{
	void **pv = vp, *nv;
	size_t ncap;

	if (n < *cap)
		return;
	ncap = *cap ? 2 * *cap : 16;
	nv = realloc(*pv, ncap * size);
	if (!nv)
		abort();
	*pv = nv;
	*cap = ncap;
}

void *pc_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		abort();
	return p;
}
