// SPDX-License-Identifier: Apache-2.0
/* evhttp server on a unix socket (or loopback TCP) in front of routes.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "api.h"

struct pc_api {
	struct evhttp *http;
	struct pc_api_backend be;
	char unix_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

static const char *method_name(enum evhttp_cmd_type t)
{
	switch (t) {
	case EVHTTP_REQ_GET:
		return "GET";
	case EVHTTP_REQ_PUT:
		return "PUT";
	case EVHTTP_REQ_POST:
		return "POST";
	case EVHTTP_REQ_DELETE:
		return "DELETE";
	case EVHTTP_REQ_HEAD:
		return "HEAD";
	default:
		return "OTHER";
	}
}

static void send_json(struct evhttp_request *req, int code, json_t *j)
{
	struct evbuffer *out = evbuffer_new();
	char *text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);

	evhttp_add_header(evhttp_request_get_output_headers(req),
			  "Content-Type", "application/json");
	if (out && text) {
		evbuffer_add_printf(out, "%s\n", text);
		evhttp_send_reply(req, code, NULL, out);
	} else {
		evhttp_send_error(req, 500, NULL);
	}
	free(text);
	if (out)
		evbuffer_free(out);
}

static void on_request(struct evhttp_request *req, void *arg)
{
	struct pc_api *api = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	const char *ctype = evhttp_find_header(
		evhttp_request_get_input_headers(req), "Content-Type");
	char *body = malloc(len + 1);
	json_t *out = NULL;
	int code;

	if (!body) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	evbuffer_copyout(in, body, len);
	body[len] = '\0';
	code = pc_api_handle(
		&api->be, method_name(evhttp_request_get_command(req)),
		path ? path : "/", uri ? evhttp_uri_get_query(uri) : NULL,
		ctype, body, len, &out);
	free(body);
	send_json(req, code, out);
	pc_debug("api: %s %s -> %d",
		 method_name(evhttp_request_get_command(req)),
		 path ? path : "/", code);
	json_decref(out);
}

static int listen_unix(struct pc_api *api, const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char *dir;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		pc_error("failed to listen on 'unix:%s': path too long", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	strcpy(api->unix_path, path);
	dir = pc_strdup(path);
	*strrchr(dir, '/') = '\0';
	if (*dir)
		pc_mkdir_p(dir, 0755);
	free(dir);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	unlink(path); /* a stale socket of a dead daemon */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || chmod(path, 0600) ||
	    listen(fd, 64)) {
		int err = -errno;

		pc_error("failed to listen on 'unix:%s': %s", path,
			 strerror(errno));
		close(fd);
		return err;
	}
	return fd;
}

static int listen_tcp(const char *addr)
{
	char host[64];
	const char *colon = strrchr(addr, ':');
	struct sockaddr_in sa = {.sin_family = AF_INET};
	int fd, one = 1;
	long port;

	if (!colon || (size_t)(colon - addr) >= sizeof(host))
		return -EINVAL;
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	port = strtol(colon + 1, NULL, 10);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1 || port <= 0 ||
	    port > 65535) {
		pc_error("failed to listen on '%s': expected IPV4:PORT", addr);
		return -EINVAL;
	}
	if ((ntohl(sa.sin_addr.s_addr) >> 24) != 127) {
		pc_error(
			"refusing to serve the API without TLS on non-loopback "
			"address '%s'",
			addr);
		return -EPERM;
	}
	sa.sin_port = htons((uint16_t)port);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 64)) {
		int err = -errno;

		pc_error("failed to listen on '%s': %s", addr, strerror(errno));
		close(fd);
		return err;
	}
	return fd;
}

int pc_api_start(struct event_base *base, const char *listen,
		 const struct pc_api_backend *be, struct pc_api **out)
{
	struct pc_api *api = pc_xcalloc(1, sizeof(*api));
	int fd;

	*out = NULL;
	api->be = *be;
	fd = strncmp(listen, "unix:", 5) ? listen_tcp(listen)
					 : listen_unix(api, listen + 5);
	if (fd < 0) {
		free(api);
		return fd;
	}
	api->http = evhttp_new(base);
	if (!api->http || !evhttp_accept_socket_with_handle(api->http, fd)) {
		close(fd);
		if (api->http)
			evhttp_free(api->http);
		free(api);
		return -ENOMEM;
	}
	evhttp_set_max_body_size(api->http, PC_API_MAX_BODY);
	evhttp_set_max_headers_size(api->http, 16384);
	evhttp_set_timeout(api->http, 30);
	evhttp_set_allowed_methods(api->http, EVHTTP_REQ_GET | EVHTTP_REQ_PUT |
						      EVHTTP_REQ_POST |
						      EVHTTP_REQ_DELETE);
	evhttp_set_gencb(api->http, on_request, api);
	*out = api;
	return 0;
}

void pc_api_stop(struct pc_api *api)
{
	if (!api)
		return;
	evhttp_free(api->http);
	if (api->unix_path[0])
		unlink(api->unix_path);
	free(api);
}
