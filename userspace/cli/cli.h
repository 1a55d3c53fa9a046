/* SPDX-License-Identifier: Apache-2.0 */
/* portcullis CLI: global options, verbs, and the API client. */
#ifndef PC_CLI_H
#define PC_CLI_H

#include <jansson.h>
#include <stddef.h>

#define PC_EXIT_OK 0
#define PC_EXIT_REFUSED 1
#define PC_EXIT_USAGE 2

#define PC_TOKEN_MAX 128

struct pc_cli {
	const char *api;   /* unix:/path, HOST:PORT or https://HOST:PORT */
	const char *token; /* API token, or NULL */
	const char *cacert, *cert, *key; /* TLS: CA to trust, client cert */
	int json;
	int fleet; /* --fleet: a push waits for every gateway to take it */
};

struct pc_cmd {
	const char *name;
	const char *usage;
	int (*fn)(const struct pc_cli *cli, int argc, char **argv);
};

/*
 * One request to the daemon.  Returns the HTTP status, or -1 with err set
 * when the daemon could not be reached.  *out is the parsed JSON body.
 */
int pc_client_call(const struct pc_cli *cli, const char *method,
		   const char *path, const char *body, size_t len,
		   const char *ctype, json_t **out, char *err, size_t errlen);
/*
 * GET path: 0 with *reply (the caller's to free) on 200; otherwise the
 * failure is printed (as verb) and PC_EXIT_REFUSED returned.
 */
int pc_client_get(const struct pc_cli *cli, const char *verb, const char *path,
		  json_t **reply);
/* "[--limit N]" (1..1000, default 50) as a verb's only arguments. */
int pc_cli_limit(int argc, char **argv, long *limit);
/* With --json: print reply, free it, return 1 (the caller is done). */
int pc_client_json_done(const struct pc_cli *cli, json_t *reply);

/* Print the "error" of an API reply (or err) as one line; return 1. */
int pc_client_fail(const char *verb, int status, json_t *reply,
		   const char *err);
void pc_print_json(json_t *j);
/* A member of a JSON object as a string ("" if none) or an integer (0). */
const char *pc_jstr(json_t *o, const char *k);
long long pc_jint(json_t *o, const char *k);
/*
 * Follow an event stream for seconds (0: until it ends), calling fn with
 * each event's JSON text.  Returns the HTTP status (200 when it ran), or
 * -1 with err set.
 */
int pc_client_stream(const struct pc_cli *cli, const char *path, long seconds,
		     void (*fn)(void *arg, const char *data), void *arg,
		     char *err, size_t errlen);

int pc_cmd_policy(const struct pc_cli *cli, int argc, char **argv);
int pc_cmd_status(const struct pc_cli *cli, int argc, char **argv);
int pc_cmd_token(const struct pc_cli *cli, int argc, char **argv);
int pc_cmd_audit(const struct pc_cli *cli, int argc, char **argv);
int pc_cmd_flows(const struct pc_cli *cli, int argc, char **argv);
int pc_cmd_events(const struct pc_cli *cli, int argc, char **argv);
int pc_cmd_denies(const struct pc_cli *cli, int argc, char **argv);
int pc_cmd_keys(const struct pc_cli *cli, int argc, char **argv);
int pc_cmd_peers(const struct pc_cli *cli, int argc, char **argv);
int pc_cmd_services(const struct pc_cli *cli, int argc, char **argv);
int pc_cmd_gateways(const struct pc_cli *cli, int argc, char **argv);
int pc_cmd_placements(const struct pc_cli *cli, int argc, char **argv);
/* Until every gateway up enforces version (or timeout seconds): print
 * how long it took, or who is behind; PC_EXIT_OK when all are. */
int pc_fleet_wait(const struct pc_cli *cli, long long version, double timeout);

#endif
