// SPDX-License-Identifier: Apache-2.0
/* Unit tests: the real evhttp server and TCP front over sockets, with a
 * fake gateway behind them (auth, limits, JSON errors). */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "api.h"

static int puts_seen;

/* pct_00000001_* is a viewer, pct_00000002_* an operator; the rest is
 * refused, as a revoked or unknown token is. */
static int fake_auth(void *ctx, const char *token, enum pc_role *role,
		     char *name, size_t namelen)
{
	(void)ctx;
	if (!strncmp(token, "pct_00000001_", 13))
		*role = PC_ROLE_VIEWER;
	else if (!strncmp(token, "pct_00000002_", 13))
		*role = PC_ROLE_OPERATOR;
	else
		return -EACCES;
	snprintf(name, namelen, "token t%c", token[11]);
	return 0;
}

static json_t *fake_status(void *ctx)
{
	(void)ctx;
	return json_pack("{s:s}", "gateway", "fake");
}

static int fake_put(void *ctx, const struct pc_api_caller *who,
		    const char *text, size_t len, const char *filename,
		    json_t **result, struct pc_diags *d)
{
	(void)ctx, (void)who, (void)text, (void)len, (void)filename, (void)d;
	puts_seen++;
	*result = json_pack("{s:i}", "version", 1);
	return 0;
}

static const struct pc_api_backend be = {
	.status = fake_status,
	.policy_put = fake_put,
	.authenticate = fake_auth,
};

static struct event_base *base;
static struct pc_api *api;
static char dir[64], sock[128], tcp[32];
static const char *console_dir; /* the console suite's files */

static void start(unsigned int max_connections)
{
	const char *listen[2] = {sock, tcp};
	struct pc_api_opts o = {.listen = listen,
				.nlisten = 2,
				.max_connections = max_connections,
				.console_dir = console_dir};

	snprintf(dir, sizeof(dir), "/tmp/pc-server.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(sock, sizeof(sock), "unix:%s/api.sock", dir);
	snprintf(tcp, sizeof(tcp), "127.0.0.1:%d", 20000 + getpid() % 20000);
	base = event_base_new();
	cr_assert_not_null(base);
	cr_assert_eq(pc_api_start(base, &o, &be, &api), 0);
}

static void stop(void)
{
	char cmd[96];

	pc_api_stop(api);
	event_base_free(base);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

static void setup(void)
{
	(void)signal(SIGPIPE, SIG_IGN); /* as portcullisd does */
	start(4);
}

TestSuite(server, .init = setup, .fini = stop);

struct job {
	const char *target; /* "unix:PATH" or "IPV4:PORT" */
	const char *req;
	size_t len;
	char resp[65536];
	size_t got;
	int half_close; /* shutdown(SHUT_WR) after the request */
	volatile int done;
};

static int dial(const char *target)
{
	int fd;

	if (!strncmp(target, "unix:", 5)) {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};

		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", target + 5);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
			return -1;
	} else {
		struct sockaddr_in sa = {.sin_family = AF_INET};

		sa.sin_port = htons(
			(uint16_t)strtoul(strchr(target, ':') + 1, NULL, 10));
		inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
			return -1;
	}
	return fd;
}

/* Send the request, read until the server closes or 2 s pass. */
static void *client(void *arg)
{
	struct job *j = arg;
	struct timeval tv = {2, 0};
	int fd = dial(j->target);
	ssize_t n;

	if (fd >= 0) {
		/* (without it a stuck read is the test's timeout) */
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (send(fd, j->req, j->len, MSG_NOSIGNAL) == (ssize_t)j->len &&
		    (!j->half_close || !shutdown(fd, SHUT_WR)))
			while (j->got < sizeof(j->resp) - 1 &&
			       (n = read(fd, j->resp + j->got,
					 sizeof(j->resp) - 1 - j->got)) > 0)
				j->got += (size_t)n;
		close(fd);
	}
	j->resp[j->got] = '\0';
	j->done = 1;
	return NULL;
}

/* One exchange while the server's loop runs here; returns the status. */
static int exchange(struct job *j)
{
	pthread_t t;

	if (!j->len)
		j->len = strlen(j->req);
	cr_assert_eq(pthread_create(&t, NULL, client, j), 0);
	while (!j->done)
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	pthread_join(t, NULL);
	return j->got > 12 ? (int)strtol(j->resp + 9, NULL, 10) : -1;
}

static int get(const char *target, const char *path, const char *token,
	       struct job *j)
{
	static char req[512];

	snprintf(req, sizeof(req),
		 "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
		 "%s%s%s\r\n",
		 path, token ? "Authorization: Bearer " : "",
		 token ? token : "", token ? "\r\n" : "");
	memset(j, 0, sizeof(*j));
	j->target = target;
	j->req = req;
	return exchange(j);
}

static const char *body(const struct job *j)
{
	const char *b = strstr(j->resp, "\r\n\r\n");

	return b ? b + 4 : "";
}

Test(server, tokens_decide_over_both_transports)
{
	static struct job j;

	/* Test that without a token TCP and the unix socket answer 401
	 * with WWW-Authenticate, a viewer reads, and a refused (revoked)
	 * token is 401 */
	cr_assert_eq(get(tcp, "/v1/status", NULL, &j), 401, "%s", j.resp);
	cr_assert(strstr(j.resp, "WWW-Authenticate: Bearer"));
	cr_assert(strstr(body(&j), "\"field\": \"Authorization\""));
	cr_assert_eq(get(sock, "/v1/status", NULL, &j), 401);
	cr_assert_eq(get(tcp, "/v1/status", "pct_00000001_x", &j), 200);
	cr_assert(strstr(body(&j), "\"gateway\": \"fake\""));
	cr_assert_eq(get(sock, "/v1/status", "pct_00000009_revoked", &j), 401);
	cr_assert(strstr(body(&j), "invalid or revoked token"));
	cr_assert_eq(get(tcp, "/healthz", NULL, &j), 200);
}

Test(server, viewer_may_not_push)
{
	static struct job j;
	static const char req[] =
		"PUT /v1/policy HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
		"Authorization: Bearer pct_00000001_x\r\n"
		"Content-Type: application/yaml\r\nContent-Length: 2\r\n\r\n"
		"{}";

	/* Test that a viewer's push is 403 and never reaches the gateway,
	 * and an operator's does */
	j = (struct job){.target = tcp, .req = req};
	cr_assert_eq(exchange(&j), 403, "%s", j.resp);
	cr_assert(strstr(body(&j), "role viewer may not PUT /v1/policy "
				   "(needs operator)"));
	cr_assert_eq(puts_seen, 0);
	{
		static char op[sizeof(req)];

		memcpy(op, req, sizeof(req));
		memcpy(strstr(op, "pct_00000001"), "pct_00000002", 12);
		j = (struct job){.target = sock, .req = op};
		cr_assert_eq(exchange(&j), 200, "%s", j.resp);
		cr_assert_eq(puts_seen, 1);
	}
}

Test(server, oversize_body_is_413)
{
	static struct job j;
	static const char req[] = "PUT /v1/policy HTTP/1.1\r\nHost: x\r\n"
				  "Authorization: Bearer pct_00000002_x\r\n"
				  "Content-Type: application/yaml\r\n"
				  "Content-Length: 16777217\r\n\r\nx";

	/* Test that a body over 16 MiB is refused from its length alone,
	 * before it is read */
	j = (struct job){.target = sock, .req = req};
	cr_assert_eq(exchange(&j), 413, "%s", j.resp);
	cr_assert_eq(puts_seen, 0);
}

Test(server, oversize_headers_are_refused)
{
	static struct job j;
	static char req[20000];
	int n = snprintf(req, sizeof(req),
			 "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ");

	/* Test that headers over 16 KiB are refused (evhttp 2.1 says 400,
	 * having no 431) */
	memset(req + n, 'a', 17000);
	memcpy(req + n + 17000, "\r\n\r\n", 5);
	j = (struct job){.target = tcp, .req = req};
	cr_assert_eq(exchange(&j), 400, "%s", j.resp);
}

Test(server, unknown_method_is_json_405)
{
	static struct job j;
	static const char req[] =
		"PATCH /v1/policy HTTP/1.1\r\nHost: x\r\n"
		"Connection: close\r\n"
		"Authorization: Bearer pct_00000002_x\r\n\r\n";

	/* Test that a method evhttp knows but no route takes is a JSON 405 */
	j = (struct job){.target = tcp, .req = req};
	cr_assert_eq(exchange(&j), 405, "%s", j.resp);
	cr_assert(strstr(body(&j), "\"error\": \"method not allowed\""));
}

Test(server, max_connections_on_tcp)
{
	static struct job j;
	int fds[4];
	char c;

	/* Test that the fifth TCP connection is closed at accept while four
	 * are open, that the unix socket is not limited, and that a slot
	 * frees when a client leaves */
	for (int i = 0; i < 4; i++) {
		fds[i] = dial(tcp);
		cr_assert_geq(fds[i], 0);
	}
	for (int i = 0; i < 20; i++)
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	cr_assert_eq(get(tcp, "/healthz", NULL, &j), -1, "%s", j.resp);
	cr_assert_eq(get(sock, "/healthz", NULL, &j), 200);
	close(fds[0]);
	for (int i = 0; i < 20; i++)
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	cr_assert_eq(get(tcp, "/healthz", NULL, &j), 200);
	for (int i = 1; i < 4; i++) {
		cr_assert_eq(recv(fds[i], &c, 1, MSG_DONTWAIT), -1);
		close(fds[i]);
	}
	{
		json_t *s = pc_api_stats(api);

		cr_assert_eq(json_integer_value(json_object_get(
				     json_object_get(s, "tcp"), "refused")),
			     1);
		json_decref(s);
	}
}

Test(server, half_close_still_gets_its_answer)
{
	static struct job j;
	static const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

	/* Test that a client that sends its request and shuts its side
	 * (nc -N, curl --no-keepalive with some proxies) gets the answer
	 * through the TCP front */
	j = (struct job){.target = tcp, .req = req, .half_close = 1};
	cr_assert_eq(exchange(&j), 200, "%s", j.resp);
	cr_assert(strstr(body(&j), "\"status\": \"ok\""));
}

Test(server, refused_upload_gets_its_413_not_a_reset)
{
	static struct job j;
	static char req[300000];
	int n = snprintf(req, sizeof(req),
			 "PUT /v1/policy HTTP/1.1\r\nHost: x\r\n"
			 "Authorization: Bearer pct_00000002_x\r\n"
			 "Content-Type: application/yaml\r\n"
			 "Content-Length: 16777217\r\n\r\n");

	/* Test that a client still sending a refused body reads the 413:
	 * the front drains what it sends after the answer instead of
	 * closing on unread input (which resets the connection) */
	memset(req + n, 'x', sizeof(req) - (size_t)n);
	j = (struct job){.target = tcp, .req = req, .len = sizeof(req)};
	cr_assert_eq(exchange(&j), 413, "%s", j.resp);
}

/* ---- the web console's files, and what a browser sends ---------------- */

static char cdir[64];
static const char index_html[] = "<!doctype html><title>console</title>\n";
static const char app_js[] = "export const x = 1;\n";

static void put_file(const char *name, const char *text)
{
	char path[160];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", cdir, name);
	f = fopen(path, "w");
	cr_assert_not_null(f, "%s", path);
	cr_assert_geq(fputs(text, f), 0);
	cr_assert_eq(fclose(f), 0);
}

static void console_setup(void)
{
	char path[160];

	(void)signal(SIGPIPE, SIG_IGN);
	snprintf(cdir, sizeof(cdir), "/tmp/pc-console.XXXXXX");
	cr_assert_not_null(mkdtemp(cdir));
	snprintf(path, sizeof(path), "%s/js", cdir);
	cr_assert_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/js/deeper", cdir);
	cr_assert_eq(mkdir(path, 0755), 0);
	put_file("index.html", index_html);
	put_file("js/app.js", app_js);
	put_file("js/deeper/too-deep.js", "x"); /* two levels down */
	put_file(".hidden.js", "x");		/* a dot file */
	put_file("Upper.js", "x");		/* a name it never serves */
	put_file("notes.md", "x");		/* a type it never serves */
	snprintf(path, sizeof(path), "%s/outside.js", cdir);
	cr_assert_eq(symlink("/etc/passwd", path), 0); /* a link out */
	console_dir = cdir;
	start(4);
}

static void console_teardown(void)
{
	char cmd[96];

	stop();
	console_dir = NULL;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", cdir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(console, .init = console_setup, .fini = console_teardown);

static int request(const char *target, const char *text, struct job *j)
{
	memset(j, 0, sizeof(*j));
	j->target = target;
	j->req = text;
	return exchange(j);
}

Test(console, files_are_served_to_anyone_with_a_strict_policy)
{
	static struct job j;

	/* Test that the index and a module are served without a token, by
	 * type, with a CSP that allows no inline script or style and
	 * headers that stop sniffing, framing and referrers */
	cr_assert_eq(get(tcp, "/ui/", NULL, &j), 200, "%s", j.resp);
	cr_assert_str_eq(body(&j), index_html);
	cr_assert(strstr(j.resp, "Content-Type: text/html; charset=utf-8"));
	cr_assert(strstr(j.resp, "Content-Security-Policy: default-src "
				 "'none'; script-src 'self'; style-src "
				 "'self';"));
	cr_assert_null(strstr(j.resp, "unsafe"));
	cr_assert(strstr(j.resp, "X-Content-Type-Options: nosniff"));
	cr_assert(strstr(j.resp, "X-Frame-Options: DENY"));
	cr_assert(strstr(j.resp, "Referrer-Policy: no-referrer"));
	cr_assert(strstr(j.resp, "frame-ancestors 'none'"));
	cr_assert_eq(get(sock, "/ui/js/app.js", NULL, &j), 200);
	cr_assert_str_eq(body(&j), app_js);
	cr_assert(strstr(j.resp, "Content-Type: text/javascript"));
	cr_assert_eq(get(tcp, "/ui/index.html", NULL, &j), 200);
}

Test(console, root_goes_to_the_console)
{
	static struct job j;

	/* Test that / and /ui redirect to /ui/ */
	cr_assert_eq(get(tcp, "/", NULL, &j), 302, "%s", j.resp);
	cr_assert(strstr(j.resp, "Location: /ui/\r\n"));
	cr_assert_eq(get(tcp, "/ui", NULL, &j), 302);
}

Test(console, nothing_outside_the_table_is_reachable)
{
	static const char *const paths[] = {
		"/ui/../index.html",
		"/ui/js/../index.html",
		"/ui/%2e%2e/etc/passwd",
		"/ui/..%2fetc%2fpasswd",
		"/ui/outside.js",
		"/ui/.hidden.js",
		"/ui/Upper.js",
		"/ui/notes.md",
		"/ui/js/deeper/too-deep.js",
		"/ui//index.html",
		"/ui/js/",
		"/ui/js",
		"/ui/index.html/",
		"/ui/%69ndex.html",
	};
	static struct job j;

	/* Test that dots, escapes, links, dot files, odd names and types,
	 * deeper directories and directories themselves are all 404, and
	 * /etc/passwd's text is in no answer */
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		cr_assert_eq(get(tcp, paths[i], NULL, &j), 404, "%s: %s",
			     paths[i], j.resp);
		cr_assert_null(strstr(j.resp, "root:"), "%s", paths[i]);
	}
}

Test(console, unchanged_files_are_not_sent_again)
{
	static struct job j;
	static char req[256];
	char tag[32];
	const char *e;

	/* Test that the ETag given is honoured by If-None-Match (304, no
	 * body) and a stale one gets the file */
	cr_assert_eq(get(tcp, "/ui/js/app.js", NULL, &j), 200);
	cr_assert_not_null(e = strstr(j.resp, "ETag: "));
	cr_assert_eq(sscanf(e + 6, "%31[^\r]", tag), 1);
	snprintf(req, sizeof(req),
		 "GET /ui/js/app.js HTTP/1.1\r\nHost: x\r\n"
		 "Connection: close\r\nIf-None-Match: %s\r\n\r\n",
		 tag);
	cr_assert_eq(request(tcp, req, &j), 304, "%s", j.resp);
	cr_assert_str_eq(body(&j), "");
	memcpy(strstr(req, tag) + 1, "0000", 4);
	cr_assert_eq(request(tcp, req, &j), 200);
	cr_assert_str_eq(body(&j), app_js);
}

Test(console, only_reads)
{
	static struct job j;

	/* Test that the console's files take GET and HEAD only */
	cr_assert_eq(request(tcp,
			     "POST /ui/index.html HTTP/1.1\r\nHost: x\r\n"
			     "Connection: close\r\nContent-Length: 0\r\n\r\n",
			     &j),
		     405, "%s", j.resp);
	cr_assert(strstr(j.resp, "Allow: GET, HEAD"));
	cr_assert_eq(request(tcp,
			     "HEAD /ui/js/app.js HTTP/1.1\r\nHost: x\r\n"
			     "Connection: close\r\n\r\n",
			     &j),
		     200, "%s", j.resp);
	cr_assert_str_eq(body(&j), "");
	{
		char want[48];

		/* HEAD tells the length GET would send */
		snprintf(want, sizeof(want), "Content-Length: %zu\r\n",
			 strlen(app_js));
		cr_assert(strstr(j.resp, want), "%s", j.resp);
	}
}

Test(console, other_sites_pages_are_refused)
{
	static struct job j;

	/* Test that a browser's request from another origin or site is
	 * 403 before authentication (even with a good token), and one from
	 * the console's own origin goes on */
	cr_assert_eq(request(tcp,
			     "PUT /v1/policy HTTP/1.1\r\nHost: x\r\n"
			     "Origin: http://evil.example\r\n"
			     "Authorization: Bearer pct_00000002_x\r\n"
			     "Connection: close\r\nContent-Length: 2\r\n\r\n"
			     "{}",
			     &j),
		     403, "%s", j.resp);
	cr_assert(strstr(body(&j), "cross-origin request refused (Origin)"));
	cr_assert_eq(puts_seen, 0);
	cr_assert_eq(request(tcp,
			     "GET /v1/status HTTP/1.1\r\nHost: x\r\n"
			     "Origin: null\r\nConnection: close\r\n\r\n",
			     &j),
		     403);
	cr_assert_eq(request(tcp,
			     "GET /v1/status HTTP/1.1\r\nHost: x\r\n"
			     "Sec-Fetch-Site: cross-site\r\n"
			     "Authorization: Bearer pct_00000001_x\r\n"
			     "Connection: close\r\n\r\n",
			     &j),
		     403);
	cr_assert(strstr(body(&j), "\"field\": \"Sec-Fetch-Site\""));
	/* a link from another site's page opens the console itself */
	cr_assert_eq(request(tcp,
			     "GET /ui/ HTTP/1.1\r\nHost: x\r\n"
			     "Sec-Fetch-Site: cross-site\r\n"
			     "Sec-Fetch-Mode: navigate\r\n"
			     "Connection: close\r\n\r\n",
			     &j),
		     200, "%s", j.resp);
	cr_assert_eq(request(tcp,
			     "GET /v1/status HTTP/1.1\r\nHost: x\r\n"
			     "Origin: https://x\r\nSec-Fetch-Site: "
			     "same-origin\r\n"
			     "Authorization: Bearer pct_00000001_x\r\n"
			     "Connection: close\r\n\r\n",
			     &j),
		     200, "%s", j.resp);
	/* and what the API answers is data: no page may run it */
	cr_assert(strstr(j.resp, "Content-Security-Policy: default-src "
				 "'none'; frame-ancestors 'none'"));
	cr_assert(strstr(j.resp, "Cache-Control: no-store"));
}

Test(console, whoami_names_the_caller)
{
	static struct job j;

	/* Test that /v1/whoami tells the console the token's name and role,
	 * and needs a token */
	cr_assert_eq(get(tcp, "/v1/whoami", "pct_00000002_x", &j), 200);
	cr_assert(strstr(body(&j), "\"name\": \"token t2\""), "%s", j.resp);
	cr_assert(strstr(body(&j), "\"role\": \"operator\""));
	cr_assert_eq(get(tcp, "/v1/whoami", NULL, &j), 401);
}

Test(console, a_directory_without_an_index_is_refused)
{
	struct pc_console *c = (void *)1;
	char path[160];

	/* Test that loading fails (and says so) without index.html, and for
	 * a directory that is not there */
	snprintf(path, sizeof(path), "%s/index.html", cdir);
	cr_assert_eq(unlink(path), 0);
	cr_assert_eq(pc_console_load(cdir, &c), -ENOENT);
	cr_assert_null(c);
	cr_assert_eq(pc_console_load("/nonexistent/console", &c), -ENOENT);
}
