// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: the gateway config (portcullisd -c FILE).  Whatever
 * the text, the parser returns a config or one error line that names the
 * file (no control characters from the input); a config it returns is within
 * the limits the daemon relies on.
 */
#include <net/if.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "daemon.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pc_gw_config g;
	char err[PC_ERR_LEN] = "";

	if (pc_gw_config_parse((const char *)data, size, "gw.yaml", &g, err)) {
		if (strncmp(err, "gw.yaml", 7))
			__builtin_trap();
		for (const char *m = err; *m; m++)
			if ((unsigned char)*m < 0x20 || *m == 0x7f)
				__builtin_trap();
		return 0;
	}
	if (!g.name || g.nlisten > PC_API_MAX_LISTEN)
		__builtin_trap();
	for (size_t i = 0; i < g.nifaces; i++)
		if (!g.ifaces[i].name || !*g.ifaces[i].name ||
		    strlen(g.ifaces[i].name) >= IF_NAMESIZE)
			__builtin_trap();
	pc_gw_config_free(&g);
	return 0;
}
