// SPDX-License-Identifier: Apache-2.0
/* Logging to stderr with a level and a timestamp. */
#include <stdio.h>
#include <time.h>

#include "pclib.h"

static int json_lines;
static enum pc_log_level min_level = PC_LOG_INFO;

void pc_log_set_level(enum pc_log_level level)
{
	min_level = level;
}

void pc_log_set_json(int on)
{
	json_lines = on;
}

/* The message as a JSON string body: quotes, backslashes, controls. */
static void json_escaped(FILE *f, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
}

void pc_vlog(enum pc_log_level level, const char *fmt, va_list ap)
{
	static const char *const names[] = {"debug", "info", "warn", "error"};
	struct timespec ts;
	struct tm tm;
	char when[32], msg[2048];

	if (level < min_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	if (!strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm))
		when[0] = '\0';
	vsnprintf(msg, sizeof(msg), fmt, ap);
	pc_one_line(msg); /* a name from a request cannot forge a line */
	if (json_lines) {
		/* one object per line, for log shippers */
		fprintf(stderr,
			"{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\","
			"\"msg\":\"",
			when, ts.tv_nsec / 1000000, names[level]);
		json_escaped(stderr, msg);
		fputs("\"}\n", stderr);
		return;
	}
	fprintf(stderr, "%s.%03ldZ %-5s %s\n", when, ts.tv_nsec / 1000000,
		names[level], msg);
}

void pc_log(enum pc_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pc_vlog(level, fmt, ap);
	va_end(ap);
}
