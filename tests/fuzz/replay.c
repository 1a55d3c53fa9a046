// SPDX-License-Identifier: Apache-2.0
/* Run a fuzz target over files (a corpus), without libFuzzer: TAP out. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pclib.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
	int n = 0;

	for (int i = 1; i < argc; i++) {
		DIR *dir = opendir(argv[i]);
		struct dirent *de;

		if (!dir) {
			fprintf(stderr, "replay: %s: cannot open\n", argv[i]);
			return 1;
		}
		while ((de = readdir(dir))) {
			char path[4096];
			struct pc_buf b = {0};

			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", argv[i],
				 de->d_name);
			if (pc_read_file(path, 1 << 24, &b)) {
				printf("not ok %d - %s unreadable\n", ++n,
				       path);
				closedir(dir);
				return 1;
			}
			/* a crash ends the run: meson reports it */
			LLVMFuzzerTestOneInput((const uint8_t *)b.data, b.len);
			printf("ok %d - %s\n", ++n, de->d_name);
			pc_buf_free(&b);
		}
		closedir(dir);
	}
	printf("1..%d\n", n);
	return n ? 0 : 1;
}
