/* SPDX-License-Identifier: Apache-2.0 */
/* WireGuard devices and peers, and the backends that configure them. */
#ifndef PC_WG_H
#define PC_WG_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "pclib.h"

#define PC_WG_NAME_LEN 16 /* IFNAMSIZ */

struct pc_wg_allowedip {
	uint8_t family; /* AF_INET or AF_INET6 */
	uint8_t cidr;
	union {
		struct in_addr ip4;
		struct in6_addr ip6;
	};
};

/* What was set, for a peer (and a device below). */
enum {
	PC_WG_PEER_REMOVE = 1u << 0,	    /* remove this peer */
	PC_WG_PEER_REPLACE_IPS = 1u << 1,   /* its allowed IPs are these */
	PC_WG_PEER_HAS_PSK = 1u << 2,	    /* preshared_key */
	PC_WG_PEER_HAS_ENDPOINT = 1u << 3,  /* endpoint */
	PC_WG_PEER_HAS_KEEPALIVE = 1u << 4, /* keepalive */
};

struct pc_wg_peer {
	uint8_t public_key[PC_WG_KEY_LEN];
	uint8_t preshared_key[PC_WG_KEY_LEN];
	unsigned int flags;
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
	} endpoint;
	uint16_t keepalive; /* seconds, 0: off */
	/* read back only */
	int64_t last_handshake_sec;
	uint64_t rx_bytes, tx_bytes;
	struct pc_wg_allowedip *ips;
	size_t nips;
};

enum {
	PC_WG_DEV_HAS_PRIVATE_KEY = 1u << 0,
	PC_WG_DEV_HAS_LISTEN_PORT = 1u << 1,
	PC_WG_DEV_HAS_FWMARK = 1u << 2,
	PC_WG_DEV_REPLACE_PEERS = 1u << 3, /* peers not listed go */
};

struct pc_wg_device {
	char name[PC_WG_NAME_LEN];
	unsigned int flags;
	uint8_t private_key[PC_WG_KEY_LEN];
	uint8_t public_key[PC_WG_KEY_LEN]; /* read back only */
	uint16_t listen_port;
	uint32_t fwmark;
	struct pc_wg_peer *peers;
	size_t npeers;
};

/* "198.18.100.2/32", "fd00::/64", a bare address (a host); with
 * host_bits, "198.18.100.1/24" too (an interface's address).  IPv4-mapped
 * IPv6 (::ffff:a.b.c.d) is refused: write IPv4 as IPv4. */
#define PC_WG_MAX_PEER_IPS 128 /* allowed IPs of one peer */
int pc_wg_same_ip(const struct pc_wg_allowedip *a,
		  const struct pc_wg_allowedip *b);
int pc_wg_parse_ip(const char *s, int host_bits, struct pc_wg_allowedip *out);
void pc_wg_format_ip(const struct pc_wg_allowedip *a, char *buf, size_t len);
/* As a pc_prefix (IPv4 mapped into IPv6). */
void pc_wg_ip_prefix(const struct pc_wg_allowedip *a, struct pc_prefix *p);
/* "198.18.0.2:51820" or "[fd00::2]:51820" into p->endpoint; -EPROTO. */
int pc_wg_parse_endpoint(const char *v, struct pc_wg_peer *p);
void pc_wg_format_endpoint(const struct pc_wg_peer *p, char *buf, size_t len);

void pc_wg_device_free(struct pc_wg_device *d);
/* A new peer at the end of d's list (zeroed), and an allowed IP on p. */
struct pc_wg_peer *pc_wg_add_peer(struct pc_wg_device *d);
struct pc_wg_allowedip *pc_wg_add_ip(struct pc_wg_peer *p);

/* ---- keys (key.c): Curve25519 through mbedTLS -------------------------- */

/* A new private key, clamped as X25519 wants. */
int pc_wg_genkey(uint8_t key[PC_WG_KEY_LEN]);
/* The public key of a private key. */
int pc_wg_pubkey(const uint8_t priv[PC_WG_KEY_LEN], uint8_t pub[PC_WG_KEY_LEN]);

/* ---- the cross-platform UAPI (uapi.c): wireguard-go, boringtun ---------- */

/* Where a userspace implementation listens: DIR/NAME.sock. */
#define PC_WG_UAPI_DIR "/var/run/wireguard"

/*
 * Set what d says on the device at sock (a path), in one transaction.
 * 0, a negative errno from the implementation ("errno=N"), or one of the
 * socket's.
 */
int pc_wg_uapi_set(const char *sock, const struct pc_wg_device *d);
/* Read the device at sock into *d (name left to the caller). */
int pc_wg_uapi_get(const char *sock, struct pc_wg_device *d);

/*
 * The protocol's text, without the socket, for tests and for other
 * transports: the "set=1" request for d, and a "get=1" reply parsed
 * (it must end with "errno=N" and a blank line).
 */
int pc_wg_uapi_format_set(const struct pc_wg_device *d, struct pc_buf *out);
int pc_wg_uapi_parse_get(const char *text, size_t len, struct pc_wg_device *d);

/* ---- the kernel module (netlink.c): generic netlink "wireguard" -------- */

/* Is the module there (its genl family resolves)? */
int pc_wg_nl_available(void);
/* Make a kernel WireGuard link NAME. */
int pc_wg_nl_create(const char *name);
/* Set what d says on d->name (in as many messages as its peers take). */
int pc_wg_nl_set(const struct pc_wg_device *d);
/* Read the device name into *d. */
int pc_wg_nl_get(const char *name, struct pc_wg_device *d);
/*
 * The messages, apart from the socket: a WG_CMD_SET_DEVICE for d's peers
 * from first on into buf (len bytes), the device's own settings in the
 * first message only; returns its length and sets *next to the first
 * peer it did not hold, or -EMSGSIZE.  pc_wg_nl_parse reads one message
 * of a reply (or of a request) into d, merging a peer continued from the
 * message before.
 */
int pc_wg_nl_build_set(const struct pc_wg_device *d, uint16_t family,
		       uint32_t seq, size_t first, void *buf, size_t len,
		       size_t *next);
int pc_wg_nl_parse(const void *msg, size_t len, struct pc_wg_device *d);

/* ---- one door for both ------------------------------------------------- */

enum pc_wg_backend { PC_WG_USERSPACE, PC_WG_KERNEL };
int pc_wg_get(enum pc_wg_backend b, const char *name, struct pc_wg_device *d);
/* d->name says which device */
int pc_wg_set(enum pc_wg_backend b, const struct pc_wg_device *d);

/* ---- userspace implementations (userspace.c) ---------------------------- */

/* PC_WG_UAPI_DIR/NAME.sock */
void pc_wg_uapi_path(const char *name, char *buf, size_t len);
/* Start bin (wireguard-go) for name, detached, output to log; 0 once its
 * UAPI socket answers (5 s at most). */
int pc_wg_userspace_start(const char *bin, const char *name, const char *log);

/* ---- links (link.c, rtnetlink) ------------------------------------------ */

int pc_link_up(const char *name);
int pc_link_down(const char *name);
/* Add (or keep) an address with its prefix length on the link. */
int pc_link_add_addr(const char *name, const struct pc_wg_allowedip *a);
int pc_link_del(const char *name);

#endif
