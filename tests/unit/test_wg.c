// SPDX-License-Identifier: Apache-2.0
/* Unit tests: WireGuard keys and the UAPI protocol (text and socket). */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "wg.h"

static void unhex(const char *h, uint8_t *out)
{
	for (size_t i = 0; i < strlen(h) / 2; i++) {
		char two[3] = {h[2 * i], h[2 * i + 1], '\0'}, *end;
		unsigned long x = strtoul(two, &end, 16);

		cr_assert(!*end, "not hex: %s", two);
		out[i] = (uint8_t)x;
	}
}

Test(wg, x25519_public_key_matches_rfc7748)
{
	uint8_t priv[32], pub[32], want[32];

	/* Test that the public key of RFC 7748's Alice is the RFC's */
	unhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2"
	      "a",
	      priv);
	unhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6"
	      "a",
	      want);
	cr_assert_eq(pc_wg_pubkey(priv, pub), 0);
	cr_assert_arr_eq(pub, want, 32);
}

Test(wg, generated_keys_are_clamped_and_differ)
{
	uint8_t a[32], b[32], pa[32];

	/* Test that two new keys differ, are clamped, and have a public key */
	cr_assert_eq(pc_wg_genkey(a), 0);
	cr_assert_eq(pc_wg_genkey(b), 0);
	cr_assert_neq(memcmp(a, b, 32), 0);
	cr_assert_eq(a[0] & 7, 0);
	cr_assert_eq(a[31] & 0xc0, 0x40);
	cr_assert_eq(pc_wg_pubkey(a, pa), 0);
}

Test(wg, base64_round_trip_and_refusals)
{
	uint8_t k[32], back[32];
	char text[PC_WG_KEY_B64];

	/* Test that keys survive base64 and that near-misses are refused */
	for (int i = 0; i < 32; i++)
		k[i] = (uint8_t)(i * 37 + 11);
	pc_wg_key_to_base64(k, text);
	cr_assert_eq(strlen(text), 44);
	cr_assert_eq(pc_wg_key_from_base64(text, back), 0);
	cr_assert_arr_eq(k, back, 32);
	cr_assert_eq(pc_wg_key_from_base64("short=", back), -EINVAL);
	text[10] = '*';
	cr_assert_eq(pc_wg_key_from_base64(text, back), -EINVAL);
	/* the last character before '=' may carry only 4 bits */
	cr_assert_eq(
		pc_wg_key_from_base64(
			"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=", back),
		-EINVAL);
}

static void demo_device(struct pc_wg_device *d)
{
	struct pc_wg_peer *p;
	struct pc_wg_allowedip *a;

	memset(d, 0, sizeof(*d));
	d->flags = PC_WG_DEV_HAS_PRIVATE_KEY | PC_WG_DEV_HAS_LISTEN_PORT |
		   PC_WG_DEV_REPLACE_PEERS;
	memset(d->private_key, 0x11, 32);
	d->listen_port = 51820;
	p = pc_wg_add_peer(d);
	memset(p->public_key, 0xab, 32);
	p->flags = PC_WG_PEER_REPLACE_IPS | PC_WG_PEER_HAS_ENDPOINT |
		   PC_WG_PEER_HAS_KEEPALIVE;
	p->endpoint.in6.sin6_family = AF_INET6;
	p->endpoint.in6.sin6_port = htons(51821);
	inet_pton(AF_INET6, "fd00::2", &p->endpoint.in6.sin6_addr);
	p->keepalive = 25;
	a = pc_wg_add_ip(p);
	a->family = AF_INET;
	a->cidr = 32;
	inet_pton(AF_INET, "198.18.100.2", &a->ip4);
	a = pc_wg_add_ip(p);
	a->family = AF_INET6;
	a->cidr = 64;
	inet_pton(AF_INET6, "fd00:100::", &a->ip6);
	p = pc_wg_add_peer(d);
	memset(p->public_key, 0xcd, 32);
	p->flags = PC_WG_PEER_REMOVE;
}

static const char demo_set[] =
	"set=1\n"
	"private_key="
	"1111111111111111111111111111111111111111111111111111111111111111\n"
	"listen_port=51820\n"
	"replace_peers=true\n"
	"public_key="
	"abababababababababababababababababababababababababababababababab\n"
	"endpoint=[fd00::2]:51821\n"
	"persistent_keepalive_interval=25\n"
	"replace_allowed_ips=true\n"
	"allowed_ip=198.18.100.2/32\n"
	"allowed_ip=fd00:100::/64\n"
	"public_key="
	"cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd\n"
	"remove=true\n"
	"\n";

Test(wg, set_request_text)
{
	struct pc_wg_device d;
	struct pc_buf b = {0};

	/* Test the exact "set=1" text for a device, a peer and a removal */
	demo_device(&d);
	pc_wg_uapi_format_set(&d, &b);
	cr_assert_str_eq(b.data, demo_set);
	pc_buf_free(&b);
	pc_wg_device_free(&d);
}

static const char demo_get[] =
	"private_key="
	"77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a\n"
	"listen_port=51820\n"
	"public_key="
	"abababababababababababababababababababababababababababababababab\n"
	"endpoint=198.18.0.9:40000\n"
	"last_handshake_time_sec=1700000000\n"
	"last_handshake_time_nsec=5\n"
	"tx_bytes=1234\n"
	"rx_bytes=5678\n"
	"persistent_keepalive_interval=0\n"
	"allowed_ip=198.18.100.2/32\n"
	"protocol_version=1\n"
	"public_key="
	"cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd\n"
	"allowed_ip=fd00:100::/64\n"
	"allowed_ip=198.18.101.0/24\n"
	"errno=0\n"
	"\n";

Test(wg, get_reply_parsed)
{
	struct pc_wg_device d = {0};
	char a[64];
	uint8_t want[32];

	/* Test a "get=1" reply: device, two peers, endpoint, counters, IPs,
	 * the public key derived from the private one, unknown keys skipped */
	cr_assert_eq(pc_wg_uapi_parse_get(demo_get, strlen(demo_get), &d), 0);
	cr_assert_eq(d.listen_port, 51820);
	unhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6"
	      "a",
	      want);
	cr_assert_arr_eq(d.public_key, want, 32);
	cr_assert_eq(d.npeers, 2);
	cr_assert_eq(d.peers[0].public_key[0], 0xab);
	cr_assert_eq(d.peers[0].endpoint.sa.sa_family, AF_INET);
	cr_assert_eq(ntohs(d.peers[0].endpoint.in.sin_port), 40000);
	cr_assert_eq(d.peers[0].last_handshake_sec, 1700000000);
	cr_assert_eq(d.peers[0].tx_bytes, 1234);
	cr_assert_eq(d.peers[0].rx_bytes, 5678);
	cr_assert_eq(d.peers[1].nips, 2);
	inet_ntop(AF_INET, &d.peers[1].ips[1].ip4, a, sizeof(a));
	cr_assert_str_eq(a, "198.18.101.0");
	cr_assert_eq(d.peers[1].ips[1].cidr, 24);
	pc_wg_device_free(&d);
}

Test(wg, get_reply_errors)
{
	struct pc_wg_device d = {0};
	static const char no_errno[] = "listen_port=1\n";
	static const char failed[] = "errno=19\n\n";
	static const char bad_key[] = "public_key=zz\nerrno=0\n\n";
	static const char bad_ip[] = "public_key="
				     "abababababababababababababababababababab"
				     "abababababababababababab\n"
				     "allowed_ip=198.18.0.0/33\nerrno=0\n\n";

	/* Test that a reply without errno=, with an error, or with a
	 * malformed value is refused, and leaves nothing behind */
	cr_assert_eq(pc_wg_uapi_parse_get(no_errno, strlen(no_errno), &d),
		     -EPROTO);
	cr_assert_eq(pc_wg_uapi_parse_get(failed, strlen(failed), &d), -19);
	cr_assert_eq(pc_wg_uapi_parse_get(bad_key, strlen(bad_key), &d),
		     -EPROTO);
	cr_assert_eq(pc_wg_uapi_parse_get(bad_ip, strlen(bad_ip), &d), -EPROTO);
	cr_assert_eq(d.npeers, 0);
}

/* A fake implementation: reads one request, answers reply in pieces of
 * chunk bytes (0: closes without answering). */
struct fake {
	char path[108];
	int lfd;
	const char *reply;
	size_t chunk;
	char req[4096];
};

static void *serve(void *arg)
{
	struct fake *f = arg;
	int fd = accept(f->lfd, NULL, NULL);
	size_t got = 0;

	while (got < sizeof(f->req) - 1 && !strstr(f->req, "\n\n")) {
		ssize_t n = read(fd, f->req + got, sizeof(f->req) - 1 - got);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	for (size_t off = 0; f->chunk && off < strlen(f->reply);
	     off += f->chunk) {
		size_t n = strlen(f->reply) - off;

		if (write(fd, f->reply + off, n < f->chunk ? n : f->chunk) < 0)
			break;
		usleep(1000);
	}
	close(fd);
	return NULL;
}

static void fake_start(struct fake *f, pthread_t *t)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	snprintf(f->path, sizeof(f->path), "/tmp/pc-uapi-%d.sock", getpid());
	unlink(f->path);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
	f->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert_eq(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(f->lfd, 1), 0);
	cr_assert_eq(pthread_create(t, NULL, serve, f), 0);
}

static void fake_stop(struct fake *f, pthread_t t)
{
	pthread_join(t, NULL);
	close(f->lfd);
	unlink(f->path);
}

Test(wg, socket_get_in_one_byte_pieces)
{
	struct fake f = {.reply = demo_get, .chunk = 1};
	struct pc_wg_device d = {0};
	pthread_t t;

	/* Test that a reply arriving a byte at a time is read whole */
	fake_start(&f, &t);
	cr_assert_eq(pc_wg_uapi_get(f.path, &d), 0);
	fake_stop(&f, t);
	cr_assert_str_eq(f.req, "get=1\n\n");
	cr_assert_eq(d.npeers, 2);
	pc_wg_device_free(&d);
}

Test(wg, socket_set_and_its_errno)
{
	struct fake f = {.reply = "errno=22\n\n", .chunk = 3};
	struct pc_wg_device d;
	pthread_t t;

	/* Test that set sends the request and returns the errno= answer */
	demo_device(&d);
	fake_start(&f, &t);
	cr_assert_eq(pc_wg_uapi_set(f.path, &d), -22);
	fake_stop(&f, t);
	cr_assert_str_eq(f.req, demo_set);
	pc_wg_device_free(&d);
}

Test(wg, socket_closed_early_or_missing)
{
	struct fake f = {.reply = "listen_port=1\n", .chunk = 4};
	struct pc_wg_device d = {0};
	pthread_t t;

	/* Test that a reply cut off before errno= and a missing socket are
	 * errors, not an empty device */
	(void)signal(SIGPIPE, SIG_IGN);
	fake_start(&f, &t);
	cr_assert_eq(pc_wg_uapi_get(f.path, &d), -ECONNRESET);
	fake_stop(&f, t);
	cr_assert_eq(pc_wg_uapi_get("/tmp/pc-no-such.sock", &d), -ENOENT);
}
