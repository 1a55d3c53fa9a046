// SPDX-License-Identifier: Apache-2.0
/* A userspace implementation (wireguard-go) started for an interface. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "wg.h"

void pc_wg_uapi_path(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s.sock", PC_WG_UAPI_DIR, name);
}

int pc_wg_get(enum pc_wg_backend b, const char *name, struct pc_wg_device *d)
{
	char sock[128];
	int rc;

	if (b == PC_WG_KERNEL)
		return pc_wg_nl_get(name, d);
	pc_wg_uapi_path(name, sock, sizeof(sock));
	rc = pc_wg_uapi_get(sock, d);
	if (!rc)
		snprintf(d->name, sizeof(d->name), "%s", name);
	return rc;
}

int pc_wg_set(enum pc_wg_backend b, const struct pc_wg_device *d)
{
	char sock[128];

	if (b == PC_WG_KERNEL)
		return pc_wg_nl_set(d);
	pc_wg_uapi_path(d->name, sock, sizeof(sock));
	return pc_wg_uapi_set(sock, d);
}

/*
 * BIN -f NAME, detached (its own session, reparented to init) so that it
 * and the tunnel outlive this daemon, as the pinned programs do; its
 * output goes to log.  Then wait until its UAPI socket answers.
 */
int pc_wg_userspace_start(const char *bin, const char *name, const char *log)
{
	char sock[128];
	pid_t pid;
	int st;

	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int fd;

		setsid();
		if (fork() != 0)
			_exit(0);
		fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (fd < 0)
			fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
		/* no output or input to give it: it does not run */
		if (dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(127);
		fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (dup2(fd, 0) < 0)
			_exit(127);
		closefrom(3);
		execlp(bin, bin, "-f", name, (char *)NULL);
		dprintf(2, "portcullisd: failed to run %s: %s\n", bin,
			strerror(errno));
		_exit(127);
	}
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
		return -ECHILD;
	pc_wg_uapi_path(name, sock, sizeof(sock));
	for (int i = 0; i < 50; i++) {
		struct pc_wg_device d = {0};
		struct timespec ts = {0, 100L * 1000 * 1000};

		if (!pc_wg_uapi_get(sock, &d)) {
			pc_wg_device_free(&d);
			return 0;
		}
		nanosleep(&ts, NULL);
	}
	return -ETIMEDOUT;
}
