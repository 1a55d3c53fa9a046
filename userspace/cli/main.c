// SPDX-License-Identifier: Apache-2.0
/* portcullis: global options, then one verb from the table. */
#include <curl/curl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "cli.h"
#include "pclib.h"

static const struct pc_cmd cmds[] = {
	{"policy",
	 "validate FILE | push FILE | show | versions | rollback [VERSION] |\n"
	 "         diff FILE | explain --from ADDR --to ADDR --port PORT "
	 "[FILE]",
	 pc_cmd_policy},
	{"status", "", pc_cmd_status},
	{"token", "create --name NAME --role ROLE | list | revoke NAME",
	 pc_cmd_token},
	{"audit", "[--limit N]", pc_cmd_audit},
	{"events", "[--follow] [--reason REASON] [--duration SECONDS]",
	 pc_cmd_events},
	{"denies", "[--limit N]", pc_cmd_denies},
	{"services", "", pc_cmd_services},
	{"gateways", "[list | remove NAME | wait [--version N] [--timeout S]]",
	 pc_cmd_gateways},
	{"placements",
	 "[list] | remove NAME |\n"
	 "         add NAME --strategy S [--regions R[,R]] [--probe "
	 "ADDR:PORT]\n"
	 "             [--kind peer|user] [--public-key KEY --allowed-ips "
	 "P[,P]\n"
	 "             [--keepalive S] [--identity I]]",
	 pc_cmd_placements},
	{"flows",
	 "[--identity NAME] [--service NAME] [--verdict V] [--host ADDR]\n"
	 "         [--state S] [--proto P] [--limit N]\n"
	 "         [--follow [--interval S] [--duration S]]",
	 pc_cmd_flows},
	{"keys", "generate [--out FILE] | public < PRIVATE_KEY", pc_cmd_keys},
	{"peers",
	 "list | show NAME | remove NAME |\n"
	 "         add --interface IF --name N --public-key KEY "
	 "--allowed-ips P[,P]\n"
	 "             [--endpoint ADDR:PORT] [--keepalive S] [--identity I]",
	 pc_cmd_peers},
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: portcullis [--api ADDR] [--json] [--fleet] VERB ...\n\n"
		"Verbs:\n");
	for (size_t i = 0; i < PC_ARRAY_SIZE(cmds); i++)
		fprintf(f, "  %s %s\n", cmds[i].name, cmds[i].usage);
	fprintf(f,
		"\nOptions:\n"
		"  --api ADDR   daemon API: unix:/run/portcullis/GW.sock,\n"
		"               127.0.0.1:PORT or https://HOST:PORT "
		"(default:\n"
		"               $PORTCULLIS_API, else "
		"unix:/run/portcullis/gw1.sock)\n"
		"  --token TOKEN  API token (default: $PORTCULLIS_TOKEN); "
		"root\n"
		"               on the unix socket needs none where the\n"
		"               gateway config says trust_local_root: true\n"
		"  --cacert FILE  CA that signed the gateway's TLS "
		"certificate\n"
		"               ($PORTCULLIS_CACERT; default: the system's)\n"
		"  --cert FILE, --key FILE  client certificate and its key\n"
		"               ($PORTCULLIS_CERT, $PORTCULLIS_KEY)\n"
		"  --json       machine-readable output for read commands\n"
		"  --fleet      policy push and rollback wait until every "
		"gateway\n"
		"               of the fleet up enforces the new version\n"
		"  -h, --help   this help\n"
		"  -V, --version\n"
		"\n'policy validate' and 'keys' work offline; every other "
		"verb\n"
		"talks to the daemon.  Exit status: 0 ok, 1 refused or "
		"failed, 2 usage.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"api", required_argument, NULL, 'a'},
		{"json", no_argument, NULL, 'j'},
		{"fleet", no_argument, NULL, 'F'},
		{"token", required_argument, NULL, 't'},
		{"cacert", required_argument, NULL, 'C'},
		{"cert", required_argument, NULL, 'E'},
		{"key", required_argument, NULL, 'K'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{0},
	};
	struct pc_cli cli = {.api = getenv("PORTCULLIS_API"),
			     .token = getenv("PORTCULLIS_TOKEN"),
			     .cacert = getenv("PORTCULLIS_CACERT"),
			     .cert = getenv("PORTCULLIS_CERT"),
			     .key = getenv("PORTCULLIS_KEY")};
	int c, rc = PC_EXIT_USAGE;

	/* '+': stop at the verb, so verbs may take their own options */
	while ((c = getopt_long(argc, argv, "+hV", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			cli.api = optarg;
			break;
		case 'j':
			cli.json = 1;
			break;
		case 'F':
			cli.fleet = 1;
			break;
		case 't':
			cli.token = optarg;
			break;
		case 'C':
			cli.cacert = optarg;
			break;
		case 'E':
			cli.cert = optarg;
			break;
		case 'K':
			cli.key = optarg;
			break;
		case 'h':
			usage(stdout);
			return PC_EXIT_OK;
		case 'V':
			printf("portcullis %s\n", pc_version());
			return PC_EXIT_OK;
		default:
			usage(stderr);
			return PC_EXIT_USAGE;
		}
	}
	if (cli.token && *cli.token && !pc_token_text_valid(cli.token)) {
		fprintf(stderr, "portcullis: the token is not one (pct_..., "
				"letters, digits, '_', '-')\n");
		return PC_EXIT_USAGE;
	}
	if (!cli.api || !*cli.api)
		cli.api = "unix:/run/portcullis/gw1.sock";
	if (optind >= argc) {
		usage(stderr);
		return PC_EXIT_USAGE;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	for (size_t i = 0; i < PC_ARRAY_SIZE(cmds); i++)
		if (!strcmp(argv[optind], cmds[i].name)) {
			rc = cmds[i].fn(&cli, argc - optind - 1,
					argv + optind + 1);
			goto out;
		}
	fprintf(stderr, "portcullis: unknown verb \"%s\"\n", argv[optind]);
	usage(stderr);
out:
	curl_global_cleanup();
	return rc;
}
