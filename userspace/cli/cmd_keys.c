// SPDX-License-Identifier: Apache-2.0
/* portcullis keys: WireGuard key pairs, offline. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "wg.h"

static int print_public(const uint8_t priv[PC_WG_KEY_LEN])
{
	uint8_t pub[PC_WG_KEY_LEN];
	char text[PC_WG_KEY_B64];

	if (pc_wg_pubkey(priv, pub)) {
		fprintf(stderr,
			"portcullis: failed to derive the public key\n");
		return PC_EXIT_REFUSED;
	}
	pc_wg_key_to_base64(pub, text);
	printf("%s\n", text);
	return PC_EXIT_OK;
}

/* keys generate [--out FILE]: the private key into FILE (created 0600,
 * never overwritten) and the public key printed; without --out both are
 * printed, private first. */
static int generate(int argc, char **argv)
{
	uint8_t priv[PC_WG_KEY_LEN];
	char text[PC_WG_KEY_B64];
	const char *out = NULL;
	int fd, rc = PC_EXIT_OK;

	if (argc == 2 && !strcmp(argv[0], "--out"))
		out = argv[1];
	else if (argc) {
		fprintf(stderr,
			"usage: portcullis keys generate [--out FILE]\n");
		return PC_EXIT_USAGE;
	}
	if (pc_wg_genkey(priv)) {
		fprintf(stderr, "portcullis: no randomness for a key\n");
		return PC_EXIT_REFUSED;
	}
	pc_wg_key_to_base64(priv, text);
	if (!out) {
		printf("private_key: %s\npublic_key: ", text);
		rc = print_public(priv);
		goto done;
	}
	fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || dprintf(fd, "%s\n", text) < 0 || close(fd)) {
		fprintf(stderr, "portcullis: failed to write key '%s': %s\n",
			out, strerror(errno));
		rc = PC_EXIT_REFUSED;
		goto done;
	}
	rc = print_public(priv);
done:
	memset(priv, 0, sizeof(priv));
	memset(text, 0, sizeof(text));
	return rc;
}

/* keys public: a private key on stdin, its public key out (as wg pubkey) */
static int public(int argc)
{
	uint8_t priv[PC_WG_KEY_LEN];
	char line[128] = "";
	int ok;

	if (argc) {
		fprintf(stderr,
			"usage: portcullis keys public < PRIVATE_KEY\n");
		return PC_EXIT_USAGE;
	}
	if (!fgets(line, sizeof(line), stdin))
		line[0] = '\0';
	line[strcspn(line, "\r\n")] = '\0';
	ok = !pc_wg_key_from_base64(line, priv);
	memset(line, 0, sizeof(line));
	if (!ok) {
		fprintf(stderr, "portcullis: stdin is not a WireGuard key "
				"(44 characters of base64)\n");
		return PC_EXIT_REFUSED;
	}
	ok = print_public(priv);
	memset(priv, 0, sizeof(priv));
	return ok;
}

int pc_cmd_keys(const struct pc_cli *cli, int argc, char **argv)
{
	(void)cli;
	if (argc >= 1 && !strcmp(argv[0], "generate"))
		return generate(argc - 1, argv + 1);
	if (argc >= 1 && !strcmp(argv[0], "public"))
		return public(argc - 1);
	fprintf(stderr, "usage: portcullis keys generate [--out FILE] | "
			"public < PRIVATE_KEY\n");
	return PC_EXIT_USAGE;
}
