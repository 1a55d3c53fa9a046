// SPDX-License-Identifier: Apache-2.0
/* Logging to stderr with a level and a timestamp. */
#include <stdio.h>
#include <time.h>

#include "pclib.h"

static enum pc_log_level min_level = PC_LOG_INFO;

void pc_log_set_level(enum pc_log_level level)
{
	min_level = level;
}

void pc_vlog(enum pc_log_level level, const char *fmt, va_list ap)
{
	static const char *const names[] = {"debug", "info", "warn", "error"};
	struct timespec ts;
	struct tm tm;
	char when[32];

	if (level < min_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ldZ %-5s ", when, ts.tv_nsec / 1000000,
		names[level]);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void pc_log(enum pc_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pc_vlog(level, fmt, ap);
	va_end(ap);
}
