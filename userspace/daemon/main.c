// SPDX-License-Identifier: Apache-2.0
/* portcullisd: parse arguments and config, run the event loop. */
#include <event2/event.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <errno.h>

#include "daemon.h"
#include "store.h"

static const char usage[] =
	"Usage: portcullisd -c GATEWAY.yaml [--check | --teardown] [-v]\n"
	"       portcullisd -c GATEWAY.yaml --token-create NAME --role ROLE\n"
	"\n"
	"Zero-trust gateway daemon: attaches the XDP data plane to the\n"
	"configured interfaces, enforces the policy and serves the API.\n"
	"Stopping it leaves the pinned data plane enforcing; starting it\n"
	"again adopts what is pinned.  SIGHUP re-reads the config: it\n"
	"attaches and detaches interfaces, sets the knobs and pushes the\n"
	"policy file if it changed; a bad config changes nothing.\n"
	"\n"
	"  -c, --config FILE  gateway configuration (YAML)\n"
	"      --check        check the config, its policy file and TLS\n"
	"                     files, then exit (0: all good)\n"
	"      --teardown     detach the programs and remove every pin of\n"
	"                     the gateway, then exit\n"
	"      --token-create NAME  create an API token in the gateway's\n"
	"                     state database, print it once, exit: the\n"
	"                     first admin token (the daemon may run)\n"
	"      --role ROLE    admin, operator or viewer\n"
	"  -v, --verbose      debug logging\n"
	"  -h, --help         this help\n"
	"  -V, --version      print the version\n";

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	pc_info("signal %d: stopping; the data plane keeps enforcing",
		(int)sig);
	event_base_loopexit(arg, NULL);
}

/* Bootstrap: the first token goes straight into the state database. */
static int create_token(const struct pc_gw_config *cfg, const char *name,
			const char *role)
{
	enum pc_role r = pc_role_parse(role);
	char token[PC_TOKEN_LEN];
	struct pc_store *s;
	int rc;

	if (r == PC_ROLE_NONE) {
		fprintf(stderr, "portcullisd: --token-create needs --role "
				"admin|operator|viewer\n");
		return 2;
	}
	if (!pc_token_name_valid(name)) {
		fprintf(stderr,
			"portcullisd: bad token name \"%s\" (letters, "
			"digits, '-', '_', '.', at most 63, not only dots)\n",
			name);
		return 2;
	}
	if (pc_store_open(cfg->state, &s))
		return 1;
	rc = pc_gateway_token_create(s, name, r, token);
	if (!rc)
		pc_store_audit_add(s, "portcullisd --token-create", "local",
				   "token.create", name, pc_role_name(r));
	pc_store_close(s);
	if (rc) {
		fprintf(stderr, "portcullisd: token \"%s\": %s\n", name,
			rc == -EEXIST ? "a live token already has that name"
				      : strerror(-rc));
		return 1;
	}
	printf("%s\n", token);
	memset(token, 0, sizeof(token));
	return 0;
}

struct running {
	const char *path;
	struct pc_gw_config *cfg; /* the one in use */
	struct pc_gateway *gw;
};

/* SIGHUP: re-read the config; a bad one is refused, the old one stays. */
static void on_hup(evutil_socket_t sig, short what, void *arg)
{
	struct running *r = arg;
	struct pc_gw_config *next = pc_xcalloc(1, sizeof(*next));
	char err[PC_ERR_LEN];

	(void)sig, (void)what;
	pc_info("SIGHUP: reloading %s", r->path);
	if (pc_gw_config_load(r->path, next, err)) {
		pc_error("reload refused: %s; keeping the running config", err);
		free(next);
		return;
	}
	pc_log_set_json(next->log_json);
	if (pc_gateway_reload(r->gw, next)) {
		pc_log_set_json(r->cfg->log_json);
		pc_gw_config_free(next);
		free(next);
		return;
	}
	pc_gw_config_free(r->cfg);
	free(r->cfg);
	r->cfg = next;
}

/* --check: what a start would load, without touching the kernel. */
static int check_config(const char *path, const struct pc_gw_config *cfg)
{
	struct pc_diags d = {0};
	struct pc_buf text = {0};
	struct pc_api_tls t;
	struct pc_compiled *c;
	int rc = 0;

	if (cfg->policy) {
		rc = pc_read_file(cfg->policy, PC_API_MAX_BODY, &text);
		if (rc)
			fprintf(stderr, "portcullisd: policy '%s': %s\n",
				cfg->policy, strerror(-rc));
		else if (!(rc = pc_policy_load(text.data, text.len, cfg->policy,
					       NULL, &c, &d)))
			pc_compiled_free(c);
		for (size_t i = 0; i < d.n; i++)
			fprintf(stderr, "%s\n", d.v[i].msg);
		pc_diags_free(&d);
		pc_buf_free(&text);
	}
	if (pc_gateway_tls_opts(cfg, &t) && pc_api_tls_check(&t))
		rc = -EINVAL;
	if (!rc)
		printf("%s: ok\n", path);
	return rc ? 1 : 0;
}

/* A TCP API connection takes three descriptors (client, relay, evhttp's
 * end): take what the hard limit allows, and warn if that is too few. */
static void raise_fd_limit(const struct pc_gw_config *cfg)
{
	rlim_t want = 3 * (rlim_t)cfg->max_connections + 256;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t cur = rl.rlim_cur;

		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			rl.rlim_cur = cur; /* not raised: the old one holds */
	}
	if (rl.rlim_cur < want)
		pc_warn("open files are limited to %llu; api.max_connections "
			"%u may need %llu (raise LimitNOFILE or ulimit -n)",
			(unsigned long long)rl.rlim_cur, cfg->max_connections,
			(unsigned long long)want);
}

static int run(const char *path, struct pc_gw_config *cfg)
{
	struct event_base *base = event_base_new();
	struct running r = {.path = path, .cfg = cfg};
	struct event *sigs[3];
	int rc;

	if (!base)
		return 1;
	sigs[0] = evsignal_new(base, SIGTERM, on_signal, base);
	sigs[1] = evsignal_new(base, SIGINT, on_signal, base);
	sigs[2] = evsignal_new(base, SIGHUP, on_hup, &r);
	for (int i = 0; i < 3; i++)
		event_add(sigs[i], NULL);
	(void)signal(SIGPIPE, SIG_IGN); /* cannot fail for SIGPIPE */
	raise_fd_limit(cfg);
	rc = pc_gateway_start(base, cfg, &r.gw);
	if (!rc) {
		event_base_dispatch(base);
		pc_gateway_stop(r.gw);
	}
	for (int i = 0; i < 3; i++)
		event_free(sigs[i]);
	event_base_free(base);
	pc_gw_config_free(r.cfg); /* the one in use: cfg or a reload's */
	free(r.cfg);
	return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"teardown", no_argument, NULL, 't'},
		{"check", no_argument, NULL, 'k'},
		{"token-create", required_argument, NULL, 'T'},
		{"role", required_argument, NULL, 'r'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{0},
	};
	const char *config = NULL, *token_name = NULL, *role = NULL;
	int teardown = 0, check = 0, c, rc;
	char err[PC_ERR_LEN];
	struct pc_gw_config cfg;

	while ((c = getopt_long(argc, argv, "c:vhV", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 't':
			teardown = 1;
			break;
		case 'k':
			check = 1;
			break;
		case 'T':
			token_name = optarg;
			break;
		case 'r':
			role = optarg;
			break;
		case 'v':
			pc_log_set_level(PC_LOG_DEBUG);
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		case 'V':
			printf("portcullisd %s\n", pc_version());
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (!config || optind != argc) {
		fprintf(stderr, "portcullisd: %s\n",
			config ? "unexpected argument"
			       : "missing -c GATEWAY.yaml");
		return 2;
	}
	if (pc_gw_config_load(config, &cfg, err)) {
		fprintf(stderr, "portcullisd: %s\n", err);
		return 1;
	}
	pc_log_set_json(cfg.log_json);
	if (check) {
		rc = check_config(config, &cfg);
		pc_gw_config_free(&cfg);
		return rc;
	}
	if (token_name) {
		rc = create_token(&cfg, token_name, role);
		pc_gw_config_free(&cfg);
		return rc;
	}
	if (teardown) {
		struct pc_dp_opts o = {.gateway = cfg.name,
				       .pin_root = cfg.pin_root};

		rc = pc_dp_teardown(&o);
		if (rc)
			fprintf(stderr,
				"portcullisd: failed to tear down '%s': %s\n",
				cfg.name, strerror(-rc));
		else
			printf("gateway %s: programs detached, pins removed\n",
			       cfg.name);
		pc_gw_config_free(&cfg);
		return rc ? 1 : 0;
	}
	/* run owns the config from here: a reload replaces it */
	{
		struct pc_gw_config *heap = pc_xcalloc(1, sizeof(*heap));

		*heap = cfg;
		rc = run(config, heap);
	}
	return rc;
}
