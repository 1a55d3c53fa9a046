// SPDX-License-Identifier: Apache-2.0
/*
 * pc-bench http: keep-alive HTTP/1.1 GETs over a unix socket or TCP, from
 * CONNS connections at once for SECONDS, one thread with epoll (wrk cannot
 * reach a unix socket).  Prints {"rps", "p50_ms", "p99_ms", "errors"}.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "httpload.h"

#define MAX_CONNS 256
#define MAX_SAMPLES (4u << 20)

struct hconn {
	double sent;
	char buf[65536];
	size_t len;
	size_t need; /* of the response begun: bytes still to read, or 0 */
	int fd;
	int code; /* its status */
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int dial(const char *target)
{
	struct sockaddr_storage ss = {0};
	socklen_t len;
	int fd, one = 1;

	if (!strncmp(target, "unix:", 5)) {
		struct sockaddr_un *u = (struct sockaddr_un *)&ss;

		u->sun_family = AF_UNIX;
		snprintf(u->sun_path, sizeof(u->sun_path), "%s", target + 5);
		len = sizeof(*u);
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		const char *colon = strrchr(target, ':');
		char host[64], *end;
		unsigned long port;

		if (!colon || (size_t)(colon - target) >= sizeof(host))
			return -1;
		port = strtoul(colon + 1, &end, 10);
		if (end == colon + 1 || *end || port > 65535)
			return -1;
		memcpy(host, target, (size_t)(colon - target));
		host[colon - target] = '\0';
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
			return -1;
		len = sizeof(*in);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&ss, len)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (ss.ss_family == AF_INET) /* latency only: works without */
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
				 sizeof(one));
	return fd;
}

/* A response's head whole in c->buf?  The response's length, head and
 * body (which may be longer than the buffer), else 0; status in *code. */
static size_t response_len(const struct hconn *c, int *code)
{
	const char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
	const char *cl;
	size_t head;

	if (!end)
		return 0;
	head = (size_t)(end - c->buf) + 4;
	*code = (int)strtol(c->buf + 9, NULL, 10);
	cl = memmem(c->buf, head, "Content-Length:", 15);
	if (!cl)
		cl = memmem(c->buf, head, "content-length:", 15);
	if (!cl)
		return head;
	return head + (size_t)strtoul(cl + 15, NULL, 10);
}

static int dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int pc_httpload(const char *target, const char *path, double seconds, int conns,
		const char *token)
{
	static struct hconn cs[MAX_CONNS];
	double *lat = calloc(MAX_SAMPLES, sizeof(double));
	unsigned long n = 0, errors = 0;
	char req[1024];
	int reqlen, ep = epoll_create1(EPOLL_CLOEXEC), opened = 0, rc = 1;
	double t0, deadline, rps;

	if (!lat || ep < 0 || conns < 1 || conns > MAX_CONNS) {
		rc = 2;
		goto out;
	}
	reqlen = snprintf(req, sizeof(req),
			  "GET %s HTTP/1.1\r\nHost: bench\r\n%s%s%s\r\n", path,
			  token ? "Authorization: Bearer " : "",
			  token ? token : "", token ? "\r\n" : "");
	for (int i = 0; i < conns; i++) {
		struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};

		cs[i].fd = dial(target);
		if (cs[i].fd < 0) {
			fprintf(stderr,
				"pc-bench: http: cannot connect to %s: "
				"%s\n",
				target, strerror(errno));
			goto out;
		}
		opened++;
		epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
	}
	t0 = now_s();
	deadline = t0 + seconds;
	for (int i = 0; i < conns; i++) {
		cs[i].sent = now_s();
		if (write(cs[i].fd, req, (size_t)reqlen) != reqlen)
			goto out;
	}
	while (now_s() < deadline) {
		struct epoll_event evs[64];
		int k = epoll_wait(ep, evs, 64, 100);

		for (int e = 0; e < k; e++) {
			struct hconn *c = &cs[evs[e].data.u32];
			ssize_t r = read(c->fd, c->buf + c->len,
					 sizeof(c->buf) - c->len);
			size_t used;

			if (r <= 0) {
				fprintf(stderr, "pc-bench: http: the server "
						"closed a connection\n");
				goto out;
			}
			c->len += (size_t)r;
			if (!c->need &&
			    !(c->need = response_len(c, &c->code))) {
				if (c->len == sizeof(c->buf))
					goto out; /* a head too big */
				continue;
			}
			/* read on: a body is counted, not kept */
			used = c->need < c->len ? c->need : c->len;
			memmove(c->buf, c->buf + used, c->len - used);
			c->len -= used;
			if ((c->need -= used))
				continue;
			if (n < MAX_SAMPLES)
				lat[n] = now_s() - c->sent;
			n++;
			errors += c->code < 200 || c->code > 299;
			c->sent = now_s();
			if (write(c->fd, req, (size_t)reqlen) != reqlen)
				goto out;
		}
	}
	seconds = now_s() - t0;
	if (!n) {
		fprintf(stderr, "pc-bench: http: no responses\n");
		goto out;
	}
	rps = (double)n / seconds;
	if (n > MAX_SAMPLES)
		n = MAX_SAMPLES;
	qsort(lat, n, sizeof(double), dbl_cmp);
	printf("{\"rps\": %.1f, \"p50_ms\": %.3f, \"p99_ms\": %.3f, "
	       "\"errors\": %lu}\n",
	       rps, lat[n / 2] * 1e3,
	       lat[(size_t)ceil(0.99 * (double)n) - 1] * 1e3, errors);
	rc = 0;
out:
	for (int i = 0; i < opened; i++)
		close(cs[i].fd);
	if (ep >= 0)
		close(ep);
	free(lat);
	return rc;
}
