// SPDX-License-Identifier: Apache-2.0
/* HTTP client for the daemon's API (libcurl: unix socket, TCP, TLS). */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "pclib.h"

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	return pc_buf_append(arg, p, size * n) ? 0 : size * n;
}

static CURL *setup(const struct pc_cli *cli, const char *path, char *url,
		   size_t urllen)
{
	CURL *c = curl_easy_init();

	if (!c)
		return NULL;
	if (!strncmp(cli->api, "unix:", 5)) {
		curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, cli->api + 5);
		snprintf(url, urllen, "http://localhost%s", path);
	} else if (!strncmp(cli->api, "https://", 8) ||
		   !strncmp(cli->api, "http://", 7)) {
		snprintf(url, urllen, "%s%s", cli->api, path);
	} else {
		snprintf(url, urllen, "http://%s%s", cli->api, path);
	}
	if (cli->cacert)
		curl_easy_setopt(c, CURLOPT_CAINFO, cli->cacert);
	if (cli->cert)
		curl_easy_setopt(c, CURLOPT_SSLCERT, cli->cert);
	if (cli->key)
		curl_easy_setopt(c, CURLOPT_SSLKEY, cli->key);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	return c;
}

int pc_client_call(const struct pc_cli *cli, const char *method,
		   const char *path, const char *body, size_t len,
		   const char *ctype, json_t **out, char *err, size_t errlen)
{
	struct curl_slist *hdrs = NULL;
	struct pc_buf resp = {0};
	char url[4096], ct[128], auth[PC_TOKEN_MAX + 32];
	long status = -1;
	CURLcode rc;
	CURL *c;

	*out = NULL;
	c = setup(cli, path, url, sizeof(url));
	if (!c) {
		snprintf(err, errlen, "failed to initialise HTTP client");
		return -1;
	}
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (cli->token && *cli->token) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
			 cli->token);
		hdrs = curl_slist_append(hdrs, auth);
	}
	if (body && ctype) {
		snprintf(ct, sizeof(ct), "Content-Type: %s", ctype);
		hdrs = curl_slist_append(hdrs, ct);
	}
	if (hdrs)
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)len);
	}
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		*out = resp.len ? json_loadb(resp.data, resp.len, 0, NULL)
				: NULL;
	} else {
		snprintf(err, errlen, "cannot reach the daemon at %s: %s",
			 cli->api, curl_easy_strerror(rc));
	}
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	memset(auth, 0, sizeof(auth));
	pc_buf_free(&resp);
	return (int)status;
}

int pc_client_fail(const char *verb, int status, json_t *reply, const char *err)
{
	const char *msg = json_string_value(json_object_get(reply, "error"));

	if (status < 0)
		fprintf(stderr, "portcullis: %s\n", err);
	else if (msg && (status == 422 || status == 400))
		fprintf(stderr, "%s\n", msg);
	else
		fprintf(stderr, "portcullis: %s failed: HTTP %d%s%s\n", verb,
			status, msg ? ": " : "", msg ? msg : "");
	return PC_EXIT_REFUSED;
}

int pc_client_get(const struct pc_cli *cli, const char *verb, const char *path,
		  json_t **reply)
{
	char err[512];
	int status = pc_client_call(cli, "GET", path, NULL, 0, NULL, reply, err,
				    sizeof(err));

	if (status == 200)
		return 0;
	pc_client_fail(verb, status, *reply, err);
	json_decref(*reply);
	*reply = NULL;
	return PC_EXIT_REFUSED;
}

int pc_cli_limit(int argc, char **argv, long *limit)
{
	char *end = "";

	*limit = 50;
	if (argc == 2 && !strcmp(argv[0], "--limit"))
		*limit = strtol(argv[1], &end, 10);
	else if (argc)
		return -1;
	return *end || *limit < 1 || *limit > 1000 ? -1 : 0;
}

int pc_client_json_done(const struct pc_cli *cli, json_t *reply)
{
	if (!cli->json)
		return 0;
	pc_print_json(reply);
	json_decref(reply);
	return 1;
}

void pc_print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);

	if (s)
		puts(s);
	free(s);
}

/* ---- event streams ------------------------------------------------------- */

struct stream_ctx {
	struct pc_buf line;
	void (*fn)(void *arg, const char *data);
	void *arg;
};

/* Split the stream into lines; hand on each "data: " line's payload. */
static size_t on_stream(char *p, size_t size, size_t n, void *arg)
{
	struct stream_ctx *s = arg;

	for (size_t i = 0; i < size * n; i++) {
		if (p[i] != '\n') {
			if (pc_buf_append(&s->line, &p[i], 1))
				return 0;
			continue;
		}
		if (s->line.len > 6 && !strncmp(s->line.data, "data: ", 6))
			s->fn(s->arg, s->line.data + 6);
		s->line.len = 0;
		if (s->line.data)
			s->line.data[0] = '\0';
	}
	return size * n;
}

int pc_client_stream(const struct pc_cli *cli, const char *path, long seconds,
		     void (*fn)(void *arg, const char *data), void *arg,
		     char *err, size_t errlen)
{
	struct stream_ctx s = {.fn = fn, .arg = arg};
	struct curl_slist *hdrs = NULL;
	char url[4096], auth[PC_TOKEN_MAX + 32] = "";
	long status = -1;
	CURLcode rc;
	CURL *c = setup(cli, path, url, sizeof(url));

	if (!c) {
		snprintf(err, errlen, "failed to initialise HTTP client");
		return -1;
	}
	if (cli->token && *cli->token) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
			 cli->token);
		hdrs = curl_slist_append(hdrs, auth);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	}
	curl_easy_setopt(c, CURLOPT_TIMEOUT, seconds > 0 ? seconds : 0L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_stream);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	/* the end of --duration is how a bounded stream ends */
	if (rc != CURLE_OK &&
	    !(rc == CURLE_OPERATION_TIMEDOUT && status == 200)) {
		snprintf(err, errlen, "event stream from %s: %s", cli->api,
			 curl_easy_strerror(rc));
		status = -1;
	}
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	pc_buf_free(&s.line);
	memset(auth, 0, sizeof(auth));
	return (int)status;
}

const char *pc_jstr(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

long long pc_jint(json_t *o, const char *k)
{
	return (long long)json_integer_value(json_object_get(o, k));
}
