/* SPDX-License-Identifier: Apache-2.0 */
/* The API's TCP front: listeners, connection limit, TLS, relay to evhttp. */
#ifndef PC_FRONT_H
#define PC_FRONT_H

#include <sys/socket.h>
#include <sys/un.h>

#include "api.h"

/*
 * evhttp serves only unix sockets.  TCP clients connect to the front,
 * which counts them, speaks TLS with them when configured, and relays
 * each connection's plaintext over its own unix socket to evhttp's
 * internal (abstract, autobound) listener.  The relay socket's own
 * autobound name tells the server which TCP client a request came from.
 */
struct pc_front;

/* Who is at the far end of a relayed connection. */
struct pc_front_peer {
	char addr[64];	   /* the TCP client's address, without port */
	char cert[72];	   /* its certificate's CN, "" without one */
	enum pc_role role; /* what that certificate maps to, or NONE */
	int tls;
};

/* fd: evhttp's internal listener, whose address the front connects to. */
int pc_front_start(struct event_base *base, const struct pc_api_opts *o,
		   int internal_fd, struct pc_front **out);
void pc_front_stop(struct pc_front *f);
/* See pc_api_tls_load. */
int pc_front_tls_load(struct pc_front *f, const struct pc_api_tls *o,
		      struct pc_tls_ctx **out);
void pc_front_tls_use(struct pc_front *f, struct pc_tls_ctx *t);
void pc_front_tls_drop(struct pc_tls_ctx *t);
/* The peer of a relay connection, by the relay socket's name; NULL if
 * no front connection has that name (a stranger on the abstract socket). */
/* The request on that relay connection has arrived whole: its deadline
 * (request_timeout) is met, whatever the handler takes. */
void pc_front_arrived(struct pc_front *f, const struct sockaddr_un *sa,
		      socklen_t len);
const struct pc_front_peer *pc_front_peer(const struct pc_front *f,
					  const struct sockaddr_un *sa,
					  socklen_t len);

struct pc_front_stats {
	unsigned int connections, max_connections;
	unsigned long accepted, refused, handshake_failures, cert_rejected;
	unsigned long refused_per_address, request_timeouts;
	unsigned int max_per_address;
};
void pc_front_stats(const struct pc_front *f, struct pc_front_stats *s);

/* Pause l for a second when accept fails (EMFILE) instead of spinning;
 * free the guard after the listener. */
struct evconnlistener;
struct pc_listen_guard;
struct pc_listen_guard *pc_listen_guard(struct event_base *base,
					struct evconnlistener *l);
void pc_listen_guard_free(struct pc_listen_guard *g);

/* Parse "IPV4:PORT" or "[IPV6]:PORT"; 1 if the address is loopback. */
int pc_front_parse_addr(const char *s, struct sockaddr_storage *ss,
			socklen_t *len, int *loopback);

#endif
