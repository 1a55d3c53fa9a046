// SPDX-License-Identifier: Apache-2.0
/*
 * The web console's files: read once at start from one directory (and its
 * subdirectories one level down), kept in memory, served by exact name.
 * Nothing a request says reaches the file system, so no path it can spell
 * (dots, percent escapes, links) opens anything the table does not hold.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"

#define PC_CONSOLE_MAX_DIRS 16 /* subdirectories read */

struct pc_console {
	struct pc_console_file *files;
	size_t n, cap, bytes;
};

static const struct {
	const char *ext, *type;
} types[] = {
	{".html", "text/html; charset=utf-8"},
	{".css", "text/css; charset=utf-8"},
	{".js", "text/javascript; charset=utf-8"},
	{".json", "application/json"},
	{".svg", "image/svg+xml"},
	{".png", "image/png"},
	{".ico", "image/x-icon"},
	{".woff2", "font/woff2"},
	{".txt", "text/plain; charset=utf-8"},
};

/* A name the table may hold: lower case, digits, '.', '-', '_', not
 * starting with a dot. */
static int name_ok(const char *s)
{
	if (!*s || *s == '.' || strlen(s) > 64)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		      *s == '.' || *s == '-' || *s == '_'))
			return 0;
	return 1;
}

static const char *type_of(const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < PC_ARRAY_SIZE(types); i++) {
		size_t e = strlen(types[i].ext);

		if (n > e && !strcmp(name + n - e, types[i].ext))
			return types[i].type;
	}
	return NULL;
}

/* FNV-1a: the ETag only has to change when the file does. */
static void etag_of(struct pc_console_file *f)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < f->len; i++)
		h = (h ^ (unsigned char)f->data[i]) * 0x100000001b3ull;
	snprintf(f->etag, sizeof(f->etag), "\"%016llx\"",
		 (unsigned long long)h);
}

static int add_file(struct pc_console *c, int dirfd, const char *sub,
		    const char *name)
{
	struct pc_console_file *f;
	const char *type = type_of(name);
	struct stat st;
	ssize_t got;
	int fd;

	if (!type) {
		pc_warn("console: skipping '%s%s%s': not a kind of file it "
			"serves",
			sub, *sub ? "/" : "", name);
		return 0;
	}
	fd = openat(dirfd, name,
		    O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st)) {
		int err = -errno;

		pc_error("console: failed to read '%s%s%s': %s", sub,
			 *sub ? "/" : "", name, strerror(errno));
		if (fd >= 0)
			close(fd);
		return err;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > PC_CONSOLE_MAX_FILE ||
	    c->n == PC_CONSOLE_MAX_FILES ||
	    c->bytes + (size_t)st.st_size > PC_CONSOLE_MAX_BYTES) {
		pc_error("console: refusing '%s%s%s': not a regular file, or "
			 "past the limits (%d files, %d bytes each, %d in "
			 "all)",
			 sub, *sub ? "/" : "", name, PC_CONSOLE_MAX_FILES,
			 PC_CONSOLE_MAX_FILE, PC_CONSOLE_MAX_BYTES);
		close(fd);
		return -EFBIG;
	}
	pc_xgrow(&c->files, &c->cap, c->n, sizeof(*c->files));
	f = &c->files[c->n];
	memset(f, 0, sizeof(*f));
	snprintf(f->name, sizeof(f->name), "%s%s%s", sub, *sub ? "/" : "",
		 name);
	f->type = type;
	f->len = (size_t)st.st_size;
	f->data = pc_xcalloc(1, f->len + 1);
	for (size_t at = 0; at < f->len; at += (size_t)got) {
		got = read(fd, f->data + at, f->len - at);
		if (got <= 0) {
			pc_error("console: failed to read '%s': %s", f->name,
				 got < 0 ? strerror(errno)
					 : "it shrank while read");
			close(fd);
			free(f->data);
			return -EIO;
		}
	}
	close(fd);
	etag_of(f);
	c->n++;
	c->bytes += f->len;
	return 0;
}

/*
 * The files of dirfd (sub: its name, "" at the top), which it closes.
 * With subdirs, also the names of its subdirectories (to be read by the
 * caller: one level down, no recursion).
 */
static int add_dir(struct pc_console *c, int dirfd, const char *sub,
		   char (*subdirs)[65], size_t *nsubdirs)
{
	DIR *d = fdopendir(dirfd);
	struct dirent *e;
	int rc = 0;

	if (!d) {
		close(dirfd);
		return -errno;
	}
	while (!rc && (e = readdir(d))) {
		struct stat st;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (!name_ok(e->d_name) ||
		    fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) ||
		    !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))) {
			/* a 404 later says nothing: the log does */
			pc_warn("console: skipping '%s%s%s': not a regular "
				"file or directory with a lower-case name",
				sub, *sub ? "/" : "", e->d_name);
			continue;
		}
		if (S_ISREG(st.st_mode)) {
			rc = add_file(c, dirfd, sub, e->d_name);
		} else if (!subdirs) {
			pc_warn("console: skipping '%s/%s': one level of "
				"directories only",
				sub, e->d_name);
		} else if (*nsubdirs == PC_CONSOLE_MAX_DIRS) {
			pc_error("console: more than %d directories",
				 PC_CONSOLE_MAX_DIRS);
			rc = -EFBIG;
		} else {
			snprintf(subdirs[(*nsubdirs)++], 65, "%s", e->d_name);
		}
	}
	closedir(d);
	return rc;
}

int pc_console_load(const char *dir, struct pc_console **out)
{
	struct pc_console *c = pc_xcalloc(1, sizeof(*c));
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

	*out = NULL;
	if (fd < 0) {
		rc = -errno;
		pc_error("console: failed to open '%s': %s", dir,
			 strerror(errno));
		free(c);
		return rc;
	}
	{
		char subdirs[PC_CONSOLE_MAX_DIRS][65];
		size_t nsub = 0;
		int top = dup(fd);

		rc = top < 0 ? -errno : add_dir(c, top, "", subdirs, &nsub);
		for (size_t i = 0; !rc && i < nsub; i++) {
			int sfd = openat(fd, subdirs[i],
					 O_RDONLY | O_DIRECTORY | O_CLOEXEC |
						 O_NOFOLLOW);

			rc = sfd < 0 ? -errno
				     : add_dir(c, sfd, subdirs[i], NULL, NULL);
		}
		close(fd);
	}
	if (!rc && !pc_console_find(c, "/ui/")) {
		pc_error("console: '%s' has no index.html", dir);
		rc = -ENOENT;
	}
	if (rc) {
		pc_console_free(c);
		return rc;
	}
	pc_info("console: %zu files (%zu bytes) from %s", c->n, c->bytes, dir);
	*out = c;
	return 0;
}

void pc_console_free(struct pc_console *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		free(c->files[i].data);
	free(c->files);
	free(c);
}

const struct pc_console_file *pc_console_find(const struct pc_console *c,
					      const char *path)
{
	if (!c || strncmp(path, PC_CONSOLE_PREFIX, strlen(PC_CONSOLE_PREFIX)))
		return NULL;
	path += strlen(PC_CONSOLE_PREFIX);
	if (!*path)
		path = "index.html";
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->files[i].name, path))
			return &c->files[i];
	return NULL;
}
