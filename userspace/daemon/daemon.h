/* SPDX-License-Identifier: Apache-2.0 */
/* portcullisd internals: gateway config and the gateway it runs. */
#ifndef PC_DAEMON_H
#define PC_DAEMON_H

#include <event2/event.h>
#include <stddef.h>

#include "api.h"
#include "dataplane.h"
#include "policy.h"
#include "wg.h"

struct pc_iface_config {
	char *name;
	enum pc_xdp_mode mode;
};

/* A WireGuard peer the gateway keeps on one of its interfaces. */
struct pc_wg_peer_config {
	char *name;
	uint8_t public_key[PC_WG_KEY_LEN];
	struct pc_wg_allowedip *ips;
	size_t nips;
	struct pc_wg_peer endpoint; /* endpoint and flag only */
	unsigned int keepalive;	    /* seconds, 0: off */
	char *identity;		    /* the policy identity it belongs to */
};

struct pc_wg_iface_config {
	char *name;
	char *private_key_file;
	unsigned int listen_port;
	struct pc_wg_allowedip *addrs; /* the interface's own addresses */
	size_t naddrs;
	struct pc_wg_peer_config *peers;
	size_t npeers;
};

#define PC_DEFAULT_DENY_EVENTS 1000
#define PC_DEFAULT_WG_HANDSHAKES 20 /* per second per source */
#define PC_DEFAULT_DENY_RETENTION 100000
#define PC_DEFAULT_FLOW_LOG_MB 100
#define PC_DEFAULT_FLOW_LOG_KEEP 5

struct pc_gw_config {
	char *name;
	struct pc_iface_config *ifaces;
	size_t nifaces;
	char *listen[PC_API_MAX_LISTEN]; /* api.listen: one or a list */
	size_t nlisten;
	int trust_local_root; /* api: uid 0 on the unix socket is admin */
	unsigned int max_connections;	/* api: TCP connections at once */
	unsigned int max_per_address;	/* api: of those, from one address */
	unsigned int request_timeout_s; /* api: for a request to arrive */
	/* api.console: the web console's directory; NULL: none (false, or
	 * no console installed where the build put it) */
	char *console;
	int console_set; /* given in the file (a directory or false) */
	struct pc_gw_tls {
		int set;
		char *cert, *key, *client_ca;
		enum pc_client_auth client_auth;
		struct pc_cert_role *roles; /* api.tls.client_roles */
		size_t nroles;
	} tls;
	char *state; /* the local sqlite database */
	/* store: the policy's home: NULL (sqlite: state) or an etcd URI */
	char *store_etcd;
	struct pc_fleet_config {
		char *site, *region; /* where it is: for placement and views */
		char *address;	     /* how clients reach it */
		unsigned int weight; /* placement share, 1..1000 */
		unsigned int lease_ttl_s, heartbeat_ms, timeout_ms;
	} fleet;
	int fleet_set;	/* a fleet: block was given */
	char *policy;	/* may be NULL */
	char *pin_root; /* NULL: /sys/fs/bpf/portcullis */
	int non_ip_pass;
	int forward_kernel; /* forwarding: kernel (else xdp) */
	int log_flows;
	int log_json;		       /* log_format: json */
	unsigned int deny_events;      /* per second per CPU */
	unsigned int deny_retention;   /* deny events kept in the store */
	char *flow_log;		       /* flow_log.path: JSON lines, or NULL */
	unsigned int flow_log_max_mb;  /* rotate past this size */
	unsigned int flow_log_keep;    /* rotated files kept */
	struct pc_wg_iface_config *wg; /* wireguard.interfaces */
	size_t nwg;
	char *wg_userspace; /* wireguard.userspace: the implementation */
	/* wireguard.handshakes_per_second: initiations per source, 0: off */
	unsigned int wg_hs_rate;
	enum {
		PC_WG_CFG_AUTO,
		PC_WG_CFG_KERNEL,
		PC_WG_CFG_USERSPACE
	} wg_backend;
};

int pc_gw_config_load(const char *path, struct pc_gw_config *cfg,
		      char err[PC_ERR_LEN]);
/* The same from text in memory; path names it in errors. */
int pc_gw_config_parse(const char *text, size_t len, const char *path,
		       struct pc_gw_config *cfg, char err[PC_ERR_LEN]);
void pc_gw_config_free(struct pc_gw_config *cfg);

struct pc_gateway;

int pc_gateway_start(struct event_base *base, const struct pc_gw_config *cfg,
		     struct pc_gateway **out);
/* A new token in store (printed once by the caller). */
struct pc_store;
int pc_gateway_token_create(struct pc_store *store, const char *name,
			    enum pc_role role, char token[PC_TOKEN_LEN]);

/*
 * SIGHUP: apply a re-read config.  Interfaces are attached and detached,
 * knobs set, and the policy file pushed if it changed; name, api, state
 * and pin_root need a restart.  On success the gateway uses cfg (the
 * caller keeps it alive); on failure nothing changed.
 */
int pc_gateway_reload(struct pc_gateway *gw, const struct pc_gw_config *cfg);

/* cfg's api.tls as the API takes it (in t), or NULL without one. */
const struct pc_api_tls *pc_gateway_tls_opts(const struct pc_gw_config *cfg,
					     struct pc_api_tls *t);

/* WireGuard interfaces, kept as configured (wireguard.c). */
struct pc_wgm;
struct pc_store;
/* The manager, with the peers the API added (from store) handed to the
 * data plane; nothing is started yet. */
int pc_wgm_new(struct event_base *base, const struct pc_gw_config *cfg,
	       struct pc_dp *dp, struct pc_store *store, struct pc_wgm **out);
/* Shield the ports, make the interfaces, reconcile every few seconds. */
int pc_wgm_run(struct pc_wgm *m);
/* SIGHUP: the new config (kept alive by the caller); the peers go to the
 * data plane (the caller applies), the next reconcile does the rest. */
void pc_wgm_reload(struct pc_wgm *m, const struct pc_gw_config *cfg);
int pc_wgm_reconcile(struct pc_wgm *m);
/* Hand every peer's allowed IPs to the data plane (an apply follows). */
void pc_wgm_sync_peers(struct pc_wgm *m);
/* The peers that name an identity, for the policy compile (their strings
 * borrowed until the peers change); how many, *out the caller's. */
size_t pc_wgm_members(const struct pc_wgm *m, struct pc_peer_member **out);
json_t *pc_wgm_status(const struct pc_wgm *m);
/* The WireGuard series of GET /metrics. */
void pc_wgm_metrics(const struct pc_wgm *m, struct pc_buf *b);
/* /v1/peers: list, add (HTTP status, *out), remove */
json_t *pc_wgm_peers(const struct pc_wgm *m);
int pc_wgm_peer_add(struct pc_wgm *m, json_t *req, char *summary, size_t len,
		    json_t **out);
int pc_wgm_peer_remove(struct pc_wgm *m, const char *name, char *summary,
		       size_t len, json_t **out);
void pc_wgm_stop(struct pc_wgm *m);
/* The fleet's clients placed on this gateway, as peers (an empty iface:
 * its first WireGuard interface); those gone come off their interface.
 * 1 when the set changed (the caller syncs, recompiles, reconciles). */
struct pc_wg_peer_record;
int pc_wgm_set_fleet_peers(struct pc_wgm *m, const struct pc_wg_peer_record *v,
			   size_t n);
/* The first interface's public key and listen port, for clients. */
int pc_wgm_public_key(const struct pc_wgm *m, char key[PC_WG_KEY_B64],
		      unsigned int *port);

/* The fleet (fleet.c): this gateway in etcd, and the others as it sees
 * them.  Only with store: etcd://. */
struct pc_fleet;
struct pc_policy_record;
struct pc_fleet_load {
	int64_t policy_version;
	int64_t applied_ms; /* when it went in force, ms since the epoch */
	uint64_t flows;
	double pps;
	const char *health; /* "ok" or "degraded" */
	const char *error;  /* why degraded, or NULL */
};
struct pc_fleet_hooks {
	void *ctx;
	/* a version newer than the one in force (source set) */
	void (*policy)(void *ctx, const struct pc_policy_record *r,
		       const char *by, const char *via);
	/* the version in force, 0: none */
	int64_t (*in_force)(void *ctx);
	void (*load)(void *ctx, struct pc_fleet_load *l);
	/* a client moved to another gateway: {client, from, to, at_ms,
	 * reason, after_ms} (borrowed) */
	void (*moved)(void *ctx, json_t *move);
	/* the fleet's newest version is not one this gateway can read */
	void (*refused)(void *ctx, const char *why);
	/* joined a fleet that has no policy yet */
	void (*empty)(void *ctx);
	/* the clients placed here changed (pc_fleet_peers_here) */
	void (*placed)(void *ctx);
	/* this gateway's WireGuard key and port for its clients; -ENOENT
	 * without WireGuard */
	int (*wireguard)(void *ctx, char key[PC_WG_KEY_B64],
			 unsigned int *port);
};

int pc_fleet_new(struct event_base *base, const struct pc_gw_config *cfg,
		 const struct pc_fleet_hooks *h, struct pc_fleet **out);
/* Join now (once, blocking up to the timeout), then heartbeat. */
void pc_fleet_run(struct pc_fleet *f);
/* Write this gateway's record now (after a new policy went in force). */
void pc_fleet_publish(struct pc_fleet *f);
/* 1 when joined and following; else 0 and why. */
int pc_fleet_up(const struct pc_fleet *f, const char **why);
struct pc_etcd *pc_fleet_etcd(struct pc_fleet *f);
/* The fleet's name, one spelling for one etcd and prefix: the key of
 * the local copy of its policy. */
const char *pc_fleet_id(const struct pc_fleet *f);
/* DELETE /v1/gateways/NAME: forget a gateway that is down for good. */
int pc_fleet_member_remove(struct pc_fleet *f, const char *name, char *err,
			   size_t errlen);
int64_t pc_fleet_latest(const struct pc_fleet *f);
void pc_fleet_saw_version(struct pc_fleet *f, int64_t version);
/* GET /v1/gateways */
json_t *pc_fleet_view(const struct pc_fleet *f);
void pc_fleet_metrics(const struct pc_fleet *f, struct pc_buf *b);
/* Placement: GET /v1/placements; POST (req: name, kind, strategy,
 * regions, probe) and DELETE /v1/placements/NAME answer an HTTP status,
 * with err set unless it is 2xx and *out the stored client on 201. */
json_t *pc_fleet_placements(const struct pc_fleet *f);
int pc_fleet_client_add(struct pc_fleet *f, json_t *req, char *err,
			size_t errlen, json_t **out);
int pc_fleet_client_remove(struct pc_fleet *f, const char *name, char *err,
			   size_t errlen);
/* The WireGuard clients placed on this gateway, as peer records (free
 * each with pc_wg_peer_record_free, then the array). */
struct pc_wg_peer_record;
int pc_fleet_peers_here(const struct pc_fleet *f,
			struct pc_wg_peer_record **out, size_t *n);
/* Leave (the lease revoked when etcd answers) and free. */
void pc_fleet_free(struct pc_fleet *f);

/* Stop serving; the data plane keeps enforcing from its pins. */
void pc_gateway_stop(struct pc_gateway *gw);

#endif
