// SPDX-License-Identifier: Apache-2.0
/* Unit tests: the gateway config's api block (listen, TLS, limits). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "front.h"

static char path[64];
static char err[PC_ERR_LEN];
static struct pc_gw_config cfg;

static void setup(void)
{
	int fd;

	snprintf(path, sizeof(path), "/tmp/pc-config.XXXXXX");
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	close(fd);
}

static void teardown(void)
{
	pc_gw_config_free(&cfg);
	unlink(path);
}

TestSuite(config, .init = setup, .fini = teardown);

/* Write "gateway:\n  name: gw1\n" + body and load it. */
static int load(const char *body)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f);
	fprintf(f, "gateway:\n  name: gw1\n%s", body);
	cr_assert_eq(fclose(f), 0);
	err[0] = '\0';
	return pc_gw_config_load(path, &cfg, err);
}

/* err, past "PATH:" */
static const char *where(void)
{
	size_t n = strlen(path);

	return strncmp(err, path, n) ? err : err + n + 1;
}

Test(config, defaults)
{
	/* Test that without an api block the gateway listens on its own
	 * unix socket, with the default connection limit and no TLS */
	cr_assert_eq(load(""), 0, "%s", err);
	cr_assert_eq(cfg.nlisten, 1);
	cr_assert_str_eq(cfg.listen[0], "unix:/run/portcullis/gw1.sock");
	cr_assert_eq(cfg.max_connections, PC_API_DEFAULT_MAX_CONNECTIONS);
	cr_assert_eq(cfg.tls.set, 0);
	cr_assert_eq(cfg.trust_local_root, 0);
}

Test(config, listen_one_or_a_list)
{
	/* Test that listen takes one address or a list of them */
	cr_assert_eq(load("  api:\n    listen: 127.0.0.1:9000\n"), 0, "%s",
		     err);
	cr_assert_eq(cfg.nlisten, 1);
	cr_assert_str_eq(cfg.listen[0], "127.0.0.1:9000");
	pc_gw_config_free(&cfg);
	cr_assert_eq(load("  api:\n    listen: [unix:/run/a.sock, "
			  "127.0.0.1:9000, \"[::1]:9001\"]\n"),
		     0, "%s", err);
	cr_assert_eq(cfg.nlisten, 3);
	cr_assert_str_eq(cfg.listen[2], "[::1]:9001");
}

Test(config, bad_listen_addresses)
{
	/* Test that each bad address is named at its line and column */
	cr_assert_eq(load("  api:\n    listen: unix:run/a.sock\n"), -EINVAL);
	cr_assert_str_eq(where(), "4:13: \"unix:run/a.sock\": a unix socket "
				  "needs an absolute path "
				  "(unix:/run/portcullis/GW.sock)");
	cr_assert_eq(load("  api:\n    listen: [127.0.0.1:9000, "
			  "localhost:80]\n"),
		     -EINVAL);
	cr_assert_str_eq(where(), "4:30: \"localhost:80\" is not "
				  "unix:/PATH, IPV4:PORT or [IPV6]:PORT");
	cr_assert_eq(load("  api:\n    listen: 127.0.0.1:70000\n"), -EINVAL);
	cr_assert_eq(load("  api:\n    listen: [unix:/a, unix:/b]\n"), -EINVAL);
	cr_assert_str_eq(where(), "4:23: only one unix socket");
	cr_assert_eq(load("  api:\n    listen: []\n"), -EINVAL);
	cr_assert_str_eq(where(), "4:13: listen is an empty list");
}

Test(config, plain_tcp_only_on_loopback)
{
	/* Test that plain TCP off loopback is refused, v4 and v6 */
	cr_assert_eq(load("  api:\n    listen: 0.0.0.0:9443\n"), -EINVAL);
	cr_assert_str_eq(where(),
			 "4:5: api listens on \"0.0.0.0:9443\" without TLS: "
			 "plain TCP is for loopback only; set api.tls");
	cr_assert_eq(load("  api:\n    listen: \"[::]:9443\"\n"), -EINVAL);
	cr_assert_eq(load("  api:\n    listen: \"[::1]:9443\"\n"), 0, "%s",
		     err);
}

Test(config, tls_block)
{
	/* Test a full tls block: client_auth defaults to optional with a
	 * client CA, roles are read in order */
	cr_assert_eq(load("  api:\n    listen: 0.0.0.0:9443\n    tls:\n"
			  "      cert: /etc/gw.crt\n      key: /etc/gw.key\n"
			  "      client_ca: /etc/ca.crt\n"
			  "      client_roles: { grafana: viewer, ci: "
			  "operator }\n"),
		     0, "%s", err);
	cr_assert_eq(cfg.tls.set, 1);
	cr_assert_str_eq(cfg.tls.cert, "/etc/gw.crt");
	cr_assert_str_eq(cfg.tls.key, "/etc/gw.key");
	cr_assert_eq(cfg.tls.client_auth, PC_CLIENT_AUTH_OPTIONAL);
	cr_assert_eq(cfg.tls.nroles, 2);
	cr_assert_str_eq(cfg.tls.roles[1].cn, "ci");
	cr_assert_eq(cfg.tls.roles[1].role, PC_ROLE_OPERATOR);
}

Test(config, tls_mistakes)
{
	/* Test that incomplete or contradictory tls blocks are refused */
	cr_assert_eq(load("  api:\n    listen: 0.0.0.0:1\n    tls: { cert: "
			  "/a }\n"),
		     -EINVAL);
	cr_assert_str_eq(where(), "5:10: tls needs cert and key");
	cr_assert_eq(load("  api:\n    listen: 0.0.0.0:1\n    tls: { cert: "
			  "/a, key: /b, client_auth: required }\n"),
		     -EINVAL);
	cr_assert_str_eq(where(), "5:10: client_auth required needs client_ca");
	cr_assert_eq(load("  api:\n    listen: 0.0.0.0:1\n    tls: { cert: "
			  "/a, key: /b, client_auth: maybe }\n"),
		     -EINVAL);
	cr_assert_str_eq(where(), "5:44: client_auth must be none, optional "
				  "or required");
	cr_assert_eq(load("  api:\n    listen: 0.0.0.0:1\n    tls: { cert: "
			  "/a, key: /b, client_ca: /c, client_roles: { x: "
			  "root } }\n"),
		     -EINVAL);
	cr_assert_str_eq(where(),
			 "5:65: role must be viewer, operator or admin");
	cr_assert_eq(load("  api:\n    listen: 0.0.0.0:1\n    tls: { cert: "
			  "/a, key: /b, client_ca: /c, client_roles: { x: "
			  "viewer, x: admin } }\n"),
		     -EINVAL);
	cr_assert_str_eq(where(), "5:73: duplicate key \"x\"");
	cr_assert_eq(load("  api:\n    listen: 0.0.0.0:1\n    tls: { cert: "
			  "/a, key: /b, client_roles: { x: viewer } }\n"),
		     -EINVAL);
	cr_assert_str_eq(where(), "5:10: client_roles needs client "
				  "certificates (client_ca, client_auth)");
	cr_assert_eq(load("  api:\n    listen: unix:/a\n    tls: { cert: "
			  "/a, key: /b }\n"),
		     -EINVAL);
	cr_assert_str_eq(where(), "4:5: api.tls is set but api.listen has "
				  "no TCP address");
	cr_assert_eq(load("  api:\n    tls: { cert: /a, key: /b, pin: x }\n"),
		     -EINVAL);
	cr_assert_str_eq(where(), "4:31: unknown key \"pin\" in tls (cert, "
				  "key, client_ca, client_auth, "
				  "client_roles)");
}

Test(config, max_connections)
{
	/* Test the connection limit's range */
	cr_assert_eq(load("  api:\n    max_connections: 10\n"), 0, "%s", err);
	cr_assert_eq(cfg.max_connections, 10);
	pc_gw_config_free(&cfg);
	cr_assert_eq(load("  api:\n    max_connections: 0\n"), -EINVAL);
	cr_assert_str_eq(
		where(),
		"4:22: \"max_connections\" must be a number from 1 to 65536");
	cr_assert_eq(load("  api:\n    max_connections: 100000\n"), -EINVAL);
}

Test(config, slow_client_limits)
{
	/* Test the per-address connection limit and the request timeout:
	 * their defaults, their ranges, and errors where they are written */
	cr_assert_eq(load(""), 0, "%s", err);
	cr_assert_eq(cfg.max_per_address, PC_API_DEFAULT_MAX_PER_ADDRESS);
	cr_assert_eq(cfg.request_timeout_s, PC_API_TIMEOUT_S);
	pc_gw_config_free(&cfg);
	cr_assert_eq(load("  api:\n    max_connections_per_address: 4\n"
			  "    request_timeout: 5\n"),
		     0, "%s", err);
	cr_assert_eq(cfg.max_per_address, 4);
	cr_assert_eq(cfg.request_timeout_s, 5);
	pc_gw_config_free(&cfg);
	cr_assert_eq(load("  api:\n    max_connections_per_address: 0\n"),
		     -EINVAL);
	cr_assert_str_eq(where(),
			 "4:34: \"max_connections_per_address\" must be "
			 "a number from 1 to 65536");
	cr_assert_eq(load("  api:\n    request_timeout: 0\n"), -EINVAL);
	cr_assert_str_eq(where(), "4:22: \"request_timeout\" must be a number "
				  "from 1 to 3600");
	cr_assert_eq(load("  api:\n    request_timeout: 3601\n"), -EINVAL);
}

Test(config, forwarding)
{
	/* Test that XDP forwarding is the default, that kernel turns it
	 * off, and that anything else is refused where it is written */
	cr_assert_eq(load(""), 0, "%s", err);
	cr_assert_eq(cfg.forward_kernel, 0);
	pc_gw_config_free(&cfg);
	cr_assert_eq(load("  forwarding: kernel\n"), 0, "%s", err);
	cr_assert_eq(cfg.forward_kernel, 1);
	pc_gw_config_free(&cfg);
	cr_assert_eq(load("  forwarding: xdp\n"), 0, "%s", err);
	cr_assert_eq(cfg.forward_kernel, 0);
	pc_gw_config_free(&cfg);
	cr_assert_eq(load("  forwarding: fast\n"), -EINVAL);
	cr_assert_str_eq(where(), "3:15: forwarding must be xdp or kernel");
}

Test(config, flow_log)
{
	/* Test that the flow log is off by default, takes its defaults
	 * with only a path, and refuses what is wrong where it is written */
	cr_assert_eq(load(""), 0, "%s", err);
	cr_assert_null(cfg.flow_log);
	pc_gw_config_free(&cfg);
	cr_assert_eq(load("  flow_log: { path: /var/log/f.jsonl }\n"), 0, "%s",
		     err);
	cr_assert_str_eq(cfg.flow_log, "/var/log/f.jsonl");
	cr_assert_eq(cfg.flow_log_max_mb, PC_DEFAULT_FLOW_LOG_MB);
	cr_assert_eq(cfg.flow_log_keep, PC_DEFAULT_FLOW_LOG_KEEP);
	pc_gw_config_free(&cfg);
	cr_assert_eq(load("  flow_log: { path: f, max_size_mb: 7, keep: 0 }\n"),
		     0, "%s", err);
	cr_assert_eq(cfg.flow_log_max_mb, 7);
	cr_assert_eq(cfg.flow_log_keep, 0);
	pc_gw_config_free(&cfg);
	cr_assert_eq(load("  flow_log: { max_size_mb: 7 }\n"), -EINVAL);
	cr_assert_str_eq(where(), "3:13: flow_log needs a path");
	cr_assert_eq(load("  flow_log: { path: f, max_size_mb: 0 }\n"),
		     -EINVAL);
	cr_assert_str_eq(
		where(),
		"3:37: \"max_size_mb\" must be a number from 1 to 1048576");
	cr_assert_eq(load("  flow_log: { path: f, rotate: yes }\n"), -EINVAL);
	cr_assert_str_eq(where(), "3:24: unknown key \"rotate\" in flow_log "
				  "(path, max_size_mb, keep)");
	cr_assert_eq(load("  flow_log: /var/log/f\n"), -EINVAL);
	cr_assert_str_eq(where(), "3:13: flow_log must be { path: FILE, "
				  "max_size_mb: N, keep: N }");
}

Test(config, tcp_addresses)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int lo;

	/* Test the TCP address parser and its idea of loopback */
	cr_assert_eq(pc_front_parse_addr("127.0.0.2:80", &ss, &len, &lo), 0);
	cr_assert_eq(lo, 1);
	cr_assert_eq(ss.ss_family, AF_INET);
	cr_assert_eq(pc_front_parse_addr("198.18.0.1:443", &ss, &len, &lo), 0);
	cr_assert_eq(lo, 0);
	cr_assert_eq(pc_front_parse_addr("[::1]:443", &ss, &len, &lo), 0);
	cr_assert_eq(lo, 1);
	cr_assert_eq(ss.ss_family, AF_INET6);
	cr_assert_eq(pc_front_parse_addr("[fd00::1]:443", &ss, &len, &lo), 0);
	cr_assert_eq(lo, 0);
	cr_assert_eq(pc_front_parse_addr("::1:443", &ss, &len, &lo), -EINVAL);
	cr_assert_eq(pc_front_parse_addr("[::1]443", &ss, &len, &lo), -EINVAL);
	cr_assert_eq(pc_front_parse_addr("1.2.3.4:", &ss, &len, &lo), -EINVAL);
	cr_assert_eq(pc_front_parse_addr("1.2.3.4:0", &ss, &len, &lo), -EINVAL);
	cr_assert_eq(pc_front_parse_addr(":80", &ss, &len, &lo), -EINVAL);
	cr_assert_eq(pc_front_parse_addr("1.2.3.4:8x", &ss, &len, &lo),
		     -EINVAL);
}

Test(config, wireguard_interfaces_and_peers)
{
	/* Test a WireGuard interface with its addresses and two peers */
	cr_assert_eq(load("  wireguard:\n"
			  "    userspace: /usr/bin/wireguard-go\n"
			  "    interfaces:\n"
			  "      - name: wg0\n"
			  "        private_key_file: /etc/portcullis/wg0.key\n"
			  "        listen_port: 51820\n"
			  "        address: [198.18.100.1/24, fd00:100::1/64]\n"
			  "        peers:\n"
			  "          - { name: alice, public_key: "
			  "x8FnwBbFRF6e7i+yMPyxA/mHakUV3pib/3pR51PntS0=, "
			  "allowed_ips: [198.18.100.2/32], endpoint: "
			  "\"[fd00::2]:51820\", persistent_keepalive: 25, "
			  "identity: eng }\n"
			  "          - { name: bob, public_key: "
			  "GL+f9ureUciskqbdVbx36G/qbYVxeM3JN4Qiy0PRdzk=, "
			  "allowed_ips: [198.18.100.3/32] }\n"),
		     0, "%s", err);
	cr_assert_str_eq(cfg.wg_userspace, "/usr/bin/wireguard-go");
	cr_assert_eq(cfg.nwg, 1);
	cr_assert_str_eq(cfg.wg[0].name, "wg0");
	cr_assert_eq(cfg.wg[0].listen_port, 51820);
	cr_assert_eq(cfg.wg[0].naddrs, 2);
	cr_assert_eq(cfg.wg[0].addrs[0].cidr, 24);
	cr_assert_eq(cfg.wg[0].npeers, 2);
	cr_assert_str_eq(cfg.wg[0].peers[0].identity, "eng");
	cr_assert_eq(cfg.wg[0].peers[0].keepalive, 25);
	cr_assert_eq(cfg.wg[0].peers[0].endpoint.endpoint.sa.sa_family,
		     AF_INET6);
	cr_assert_eq(cfg.wg[0].peers[1].public_key[0], 0x18);
}

Test(config, wireguard_mistakes)
{
	static const char head[] = "  wireguard:\n    interfaces:\n"
				   "      - name: wg0\n"
				   "        private_key_file: /k\n";
	char buf[512];

	/* Test that bad keys, prefixes, endpoints and twice-listed peers
	 * are refused where they are */
	snprintf(buf, sizeof(buf),
		 "%s        peers: [{ name: a, public_key: nope }]\n", head);
	cr_assert_eq(load(buf), -EINVAL);
	cr_assert_str_eq(where(), "7:40: public_key must be a WireGuard key "
				  "(44 characters of base64, as `wg pubkey` "
				  "prints)");
	snprintf(buf, sizeof(buf),
		 "%s        peers: [{ name: a, public_key: "
		 "x8FnwBbFRF6e7i+yMPyxA/mHakUV3pib/3pR51PntS0=, allowed_ips: "
		 "[198.18.100.1/24] }]\n",
		 head);
	cr_assert_eq(load(buf), -EINVAL);
	cr_assert(strstr(where(), "\"198.18.100.1/24\" is not an address or "
				  "prefix in allowed_ips"),
		  "%s", err);
	snprintf(buf, sizeof(buf),
		 "%s        peers: [{ name: a, public_key: "
		 "x8FnwBbFRF6e7i+yMPyxA/mHakUV3pib/3pR51PntS0=, endpoint: "
		 "host:1 }]\n",
		 head);
	cr_assert_eq(load(buf), -EINVAL);
	cr_assert(strstr(where(), "endpoint must be IPV4:PORT or "
				  "[IPV6]:PORT, not \"host:1\""),
		  "%s", err);
	snprintf(buf, sizeof(buf),
		 "%s        peers:\n"
		 "          - { name: a, public_key: "
		 "x8FnwBbFRF6e7i+yMPyxA/mHakUV3pib/3pR51PntS0= }\n"
		 "          - { name: b, public_key: "
		 "x8FnwBbFRF6e7i+yMPyxA/mHakUV3pib/3pR51PntS0= }\n",
		 head);
	cr_assert_eq(load(buf), -EINVAL);
	cr_assert_str_eq(where(), "9:13: peer \"b\" is listed twice (by name "
				  "or key) on wg0");
	snprintf(buf, sizeof(buf),
		 "%s        peers:\n"
		 "          - { name: a, public_key: "
		 "x8FnwBbFRF6e7i+yMPyxA/mHakUV3pib/3pR51PntS0=, allowed_ips: "
		 "[198.18.100.2/32] }\n"
		 "          - { name: b, public_key: "
		 "GL+f9ureUciskqbdVbx36G/qbYVxeM3JN4Qiy0PRdzk=, allowed_ips: "
		 "[198.18.100.3/32, 198.18.100.2/32] }\n",
		 head);
	cr_assert_eq(load(buf), -EINVAL);
	cr_assert(strstr(where(), "allowed IP 198.18.100.2/32 of peer b is "
				  "listed twice on wg0"),
		  "%s", err);
	snprintf(buf, sizeof(buf),
		 "%s        peers: [{ name: a, public_key: "
		 "x8FnwBbFRF6e7i+yMPyxA/mHakUV3pib/3pR51PntS0=, allowed_ips: "
		 "[\"::ffff:198.18.0.1/128\"] }]\n",
		 head);
	cr_assert_eq(load(buf), -EINVAL, "v4-mapped IPv6 is refused");
	cr_assert_eq(load("  wireguard:\n    interfaces:\n"
			  "      - { name: a, private_key_file: /k, "
			  "listen_port: 1 }\n"
			  "      - { name: b, private_key_file: /k, "
			  "listen_port: 1 }\n"),
		     -EINVAL);
	cr_assert(strstr(where(), "WireGuard interfaces a and b both listen "
				  "on 1"),
		  "%s", err);
	cr_assert_eq(load("  wireguard:\n    interfaces: [{ name: wg0 }]\n"),
		     -EINVAL);
	cr_assert_str_eq(where(), "4:18: WireGuard interface wg0 needs "
				  "private_key_file");
}

Test(config, store_sqlite_or_etcd)
{
	/* Test that store: sqlite:// names the state database, that
	 * etcd:// keeps the URI with the state database beside it, and
	 * that the fleet block takes its defaults */
	cr_assert_eq(load("  store: sqlite:///var/lib/x/gw1.db\n"), 0, "%s",
		     err);
	cr_assert_str_eq(cfg.state, "/var/lib/x/gw1.db");
	cr_assert_null(cfg.store_etcd);
	pc_gw_config_free(&cfg);
	cr_assert_eq(load("  store: etcd://10.0.0.5:2379/pc\n"
			  "  fleet: { site: ams1, region: eu-west, "
			  "address: 10.1.0.1 }\n"),
		     0, "%s", err);
	cr_assert_str_eq(cfg.store_etcd, "etcd://10.0.0.5:2379/pc");
	cr_assert_str_eq(cfg.state, "/var/lib/portcullis/gw1.db");
	cr_assert_str_eq(cfg.fleet.site, "ams1");
	cr_assert_str_eq(cfg.fleet.region, "eu-west");
	cr_assert_str_eq(cfg.fleet.address, "10.1.0.1");
	cr_assert_eq(cfg.fleet.lease_ttl_s, 10);
	cr_assert_eq(cfg.fleet.heartbeat_ms, 1000);
	cr_assert_eq(cfg.fleet.timeout_ms, 2000);
	cr_assert_eq(cfg.fleet.weight, 100);
}

Test(config, store_mistakes)
{
	/* Test that each wrong store or fleet key is refused at its line
	 * and column, saying what is wrong */
	static const struct {
		const char *body, *want;
	} bad[] = {
		{"  store: postgres://x\n",
		 "3:10: store must be sqlite:///PATH or "
		 "etcd://HOST:PORT/PREFIX"},
		{"  store: sqlite://rel.db\n",
		 "3:10: store: sqlite:// takes an "
		 "absolute path"},
		{"  store: etcd://:2379/x\n", "3:10: store: no host"},
		{"  store: etcd://h:99999/x\n",
		 "3:10: store: the port must be 1 to 65535"},
		{"  store: etcd://h:2379/a b\n",
		 "3:10: store: the key prefix takes letters"},
		{"  store: etcd://[fd00::1/x\n",
		 "3:10: store: unterminated [IPV6] host"},
		{"  state: /a.db\n  store: sqlite:///b.db\n",
		 "4:10: store: names /b.db but state: names /a.db"},
		{"  store: sqlite:///b.db\n  state: /a.db\n",
		 "4:10: state: names /a.db but store: names /b.db"},
		{"  fleet: [x]\n", "3:10: fleet must be a mapping"},
		{"  fleet: { zone: x }\n",
		 "3:12: unknown key \"zone\" in fleet"},
		{"  fleet: { lease_ttl: 1 }\n",
		 "3:23: \"lease_ttl\" must be a number from 2 to 3600"},
		{"  fleet: { heartbeat_ms: 50 }\n",
		 "3:26: \"heartbeat_ms\" must be a number from 100 to 600000"},
		{"  fleet: { weight: 0 }\n",
		 "3:20: \"weight\" must be a number from 1 to 1000"},
		{"  fleet: { lease_ttl: 2, heartbeat_ms: 1500 }\n",
		 "fleet: heartbeat_ms (1500) must be at most half of "
		 "lease_ttl (2 s)"},
		{"  store: etcd://h/p\n  fleet: { lease_ttl: 3, timeout_ms: "
		 "2000 }\n",
		 "fleet: timeout_ms (2000) must be at most half of lease_ttl "
		 "(3 s)"},
		{"  fleet: { site: ams1 }\n",
		 "fleet: needs store: etcd://HOST:PORT/PREFIX"},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_neq(load(bad[i].body), 0, "accepted: %s",
			      bad[i].body);
		cr_expect(strstr(where(), bad[i].want), "%s: got '%s'",
			  bad[i].body, where());
		pc_gw_config_free(&cfg);
	}
}

Test(config, duplicate_keys)
{
	/* Test that a key given twice in any mapping is refused at the
	 * second, where YAML alone would let the last one win */
	cr_assert_eq(load("  name: gw2\n"), -EINVAL);
	cr_assert_str_eq(where(), "3:3: duplicate key \"name\"");
	cr_assert_eq(
		load("  interfaces:\n"
		     "    - { name: eth0, mode: native, mode: generic }\n"),
		-EINVAL);
	cr_assert_str_eq(where(), "4:35: duplicate key \"mode\"");
	cr_assert_eq(load("  api: { max_connections: 1 }\n"
			  "gateway: { name: gw3 }\n"),
		     -EINVAL);
	cr_assert_str_eq(where(), "4:1: duplicate key \"gateway\"");
	/* the same key in two mappings is fine */
	cr_assert_eq(load("  interfaces: [{ name: eth0 }, { name: eth1 }]\n"),
		     0, "%s", err);
	cr_assert_eq(cfg.nifaces, 2);
}

Test(config, interface_names)
{
	/* Test that an interface name the kernel could never have is
	 * refused when the config loads, with the error on one line */
	static const char *const bad[] = {
		"aaaaaaaaaaaaaaaa", ".",	  "..",		"eth0/1",
		"\"eth 0\"",	    "\"eth0:1\"", "\"eth\\n0\""};

	for (size_t i = 0; i < PC_ARRAY_SIZE(bad); i++) {
		char body[128];

		snprintf(body, sizeof(body), "  interfaces: [{ name: %s }]\n",
			 bad[i]);
		cr_assert_eq(load(body), -EINVAL, "%s", bad[i]);
		cr_assert(strstr(err, "1 to 15 characters"), "%s: %s", bad[i],
			  err);
		cr_assert_null(strchr(err, '\n'), "%s", bad[i]);
	}
	cr_assert_eq(load("  interfaces: [{ name: aaaaaaaaaaaaaaa }]\n"), 0,
		     "%s", err);
	pc_gw_config_free(&cfg);
	cr_assert_eq(load("  interfaces: [{ name: eth0 }, { name: eth0 }]\n"),
		     -EINVAL);
	cr_assert_str_eq(where(), "3:32: interface \"eth0\" is listed twice");
	/* WireGuard interfaces: the same rule for the names it may make */
	static const char *const wg_bad[] = {".", "..", "aaaaaaaaaaaaaaaa"};

	for (size_t i = 0; i < PC_ARRAY_SIZE(wg_bad); i++) {
		char body[160];

		pc_gw_config_free(&cfg);
		snprintf(body, sizeof(body),
			 "  wireguard:\n    interfaces:\n      - { name: %s, "
			 "private_key_file: /k }\n",
			 wg_bad[i]);
		cr_assert_eq(load(body), -EINVAL, "%s", wg_bad[i]);
		cr_assert(strstr(err, "needs a name of up to 15"), "%s: %s",
			  wg_bad[i], err);
	}
}
