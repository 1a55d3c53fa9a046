// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: raw bytes on the API's unix socket, through evhttp's
 * parser, the authentication (Authorization header, bearer tokens), the
 * router and the JSON and YAML bodies, to the backend (backend.c), which
 * traps when a callback is reached by a caller the request's credentials
 * do not entitle.  The socket's peer is root, but local root is not
 * trusted here: only a token may open a route.  Whatever the bytes, the
 * server answers in HTTP or closes, and keeps serving.
 */
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "pclib.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct event_base *base;
static struct pc_api *api;
static char sock_path[108];

static void stop(void)
{
	pc_api_stop(api);
	event_base_free(base);
	unlink(sock_path);
	*strrchr(sock_path, '/') = '\0';
	rmdir(sock_path);
}

static void start(void)
{
	char listen[128];
	const char *l = listen;
	struct pc_api_opts o = {.listen = &l, .nlisten = 1};

	pc_log_set_level(PC_LOG_ERROR); /* every rejected token warns */
	snprintf(sock_path, sizeof(sock_path), "/tmp/pc-fuzz-http-%d/api.sock",
		 (int)getpid());
	snprintf(listen, sizeof(listen), "unix:%s", sock_path);
	base = event_base_new();
	if (!base || pc_api_start(base, &o, &fuzz_backend, &api))
		abort();
	if (atexit(stop))
		abort();
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "HTTP/VERSION NNN ...": the status (at most three digits), or -1.
 * (evhttp answers in the version the request named, whatever it was:
 * "HTTP/0.1", "HTTP/-1.1".) */
static int reply_status(const char *r)
{
	static const char digits[] = "0123456789";
	char three[4] = "";
	size_t n;

	if (strncmp(r, "HTTP/", 5))
		return -1;
	r += 5;
	if (!(n = strcspn(r, " \r\n")) || r[n] != ' ')
		return -1;
	r += n + strspn(r + n, " ");
	if (!(n = strspn(r, digits)))
		return -1;
	memcpy(three, r, n < 3 ? n : 3);
	return (int)strtol(three, NULL, 10);
}

/* Send the bytes, half-close, and read until the server closes or goes
 * quiet (an event stream never ends); the first reply line, in *status. */
static void exchange(const uint8_t *data, size_t size, int *status)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char reply[64] = "";
	size_t got = 0, sent = 0;
	long deadline = now_ms() + 2000;
	int fd;

	*status = 0;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	if (fd < 0 || (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) &&
		       errno != EINPROGRESS))
		abort();
	while (now_ms() < deadline) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		char buf[4096];
		ssize_t n;

		if (sent < size) {
			n = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
			if (n > 0 && (sent += (size_t)n) == size)
				shutdown(fd, SHUT_WR);
		} else if (!size) {
			shutdown(fd, SHUT_WR);
		}
		event_base_loop(base, EVLOOP_NONBLOCK);
		if (poll(&p, 1, 1) <= 0)
			continue;
		n = recv(fd, buf, sizeof(buf), 0);
		if (n == 0 || (n < 0 && errno != EAGAIN))
			break;
		if (n > 0 && got < sizeof(reply) - 1) {
			size_t k = sizeof(reply) - 1 - got;

			if ((size_t)n < k)
				k = (size_t)n;

			memcpy(reply + got, buf, k);
			got += k;
		}
	}
	close(fd);
	event_base_loop(base, EVLOOP_NONBLOCK); /* the server sees it */
	if (got && (*status = reply_status(reply)) < 0) {
		if (getenv("FUZZ_VERBOSE"))
			fprintf(stderr, "fuzz_http: reply %s\n", reply);
		__builtin_trap(); /* bytes that are not an HTTP answer */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int status;

	if (!api)
		start();
	fuzz_entitled = PC_ROLE_NONE; /* until a token says otherwise */
	exchange(data, size, &status);
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "fuzz_http: %d (entitled %s)\n", status,
			pc_role_name(fuzz_entitled));
	if (status && (status < 100 || status > 599))
		__builtin_trap();
	return 0;
}
