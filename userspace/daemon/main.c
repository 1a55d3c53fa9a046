// SPDX-License-Identifier: Apache-2.0
/* portcullisd: parse arguments and config, run the event loop. */
#include <event2/event.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

static const char usage[] =
	"Usage: portcullisd -c GATEWAY.yaml [--teardown] [-v]\n"
	"\n"
	"Zero-trust gateway daemon: attaches the XDP data plane to the\n"
	"configured interfaces, enforces the policy and serves the API.\n"
	"Stopping it leaves the pinned data plane enforcing; starting it\n"
	"again adopts what is pinned.\n"
	"\n"
	"  -c, --config FILE  gateway configuration (YAML)\n"
	"      --teardown     detach the programs and remove every pin of\n"
	"                     the gateway, then exit\n"
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

static int run(const struct pc_gw_config *cfg)
{
	struct event_base *base = event_base_new();
	struct event *sigs[2];
	struct pc_gateway *gw;
	int rc;

	if (!base)
		return 1;
	sigs[0] = evsignal_new(base, SIGTERM, on_signal, base);
	sigs[1] = evsignal_new(base, SIGINT, on_signal, base);
	event_add(sigs[0], NULL);
	event_add(sigs[1], NULL);
	signal(SIGPIPE, SIG_IGN);
	rc = pc_gateway_start(base, cfg, &gw);
	if (!rc) {
		event_base_dispatch(base);
		pc_gateway_stop(gw);
	}
	event_free(sigs[0]);
	event_free(sigs[1]);
	event_base_free(base);
	return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"teardown", no_argument, NULL, 't'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{0},
	};
	const char *config = NULL;
	int teardown = 0, c, rc;
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
	rc = run(&cfg);
	pc_gw_config_free(&cfg);
	return rc;
}
