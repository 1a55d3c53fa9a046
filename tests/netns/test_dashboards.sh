#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Test the Grafana dashboards against a real Prometheus (Debian's) that
# scrapes a real daemon in the lab: a gateway with a balanced service, a
# WireGuard interface and traffic; every PromQL expression of every
# dashboard must parse and return data through Prometheus' HTTP API.
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${BUILD:-$SRC/build}
LAB=pd$$
export LAB_TRUST_ROOT=true
. "$SRC/tests/netns/lib.sh"
trap '[ -n "$PROM_PID" ] && kill $PROM_PID 2>/dev/null && wait $PROM_PID 2>/dev/null; t_cleanup' EXIT

for tool in prometheus wireguard-go wg; do
	command -v $tool >/dev/null ||
		{ echo "1..0 # SKIP $tool missing (ci/setup.sh installs it)"; exit 0; }
done

t_setup
PORT=9464
WG=dg$$
(umask 077; wg genkey >"$T_DIR/gw.key"; wg genkey | wg pubkey >"$T_DIR/peer.pub")
cat >"$T_DIR/policy.yaml" <<EOP
apiVersion: portcullis/v1
kind: Policy
identities:
  clients: { cidrs: [198.18.1.0/24] }
  laptops: { peers: [$(cat "$T_DIR/peer.pub")] }
services:
  web: { cidrs: [198.18.2.2/32], ports: [8080/tcp, icmp] }
  ssh: { cidrs: [198.18.2.2/32], ports: [22/tcp] }
  vip:
    cidrs: [198.18.0.80/32]
    ports: [80/tcp]
    backends: ["198.18.2.2:8080"]
    health: { type: tcp, interval: 200ms }
rules:
  - { name: no-ssh, from: [clients], to: [ssh], action: deny }
  - { name: clients-to-web, from: [clients, laptops], to: [web, vip], action: allow }
EOP
sed -i "s|^  policy: .*|  policy: $T_DIR/policy.yaml|; s|    listen: unix:$T_DIR/api.sock|    listen: [unix:$T_DIR/api.sock, 127.0.0.1:$PORT]|" "$T_DIR/gateway.yaml"
cat >>"$T_DIR/gateway.yaml" <<EOC
  wireguard:
    interfaces:
      - name: $WG
        private_key_file: $T_DIR/gw.key
        listen_port: 51821
        address: [198.18.101.1/24]
        peers:
          - { name: laptop, public_key: $(cat "$T_DIR/peer.pub"), allowed_ips: [198.18.101.2/32] }
EOC
daemon_start || { not_ok "daemon starts"; t_done; exit 1; }
ok "daemon starts with a balanced service, WireGuard and a TCP listener"
expect 0 "a viewer token for Prometheus" cli token create --name prometheus --role viewer
(umask 077; cp "$T_DIR/last.out" "$T_DIR/prom.token")

cat >"$T_DIR/prometheus.yml" <<EOP
global: { scrape_interval: 1s, evaluation_interval: 1s }
scrape_configs:
  - job_name: portcullis
    authorization: { credentials_file: $T_DIR/prom.token }
    static_configs: [ { targets: ["127.0.0.1:$PORT"] } ]
EOP
expect 0 "promtool checks the Prometheus config" promtool check config "$T_DIR/prometheus.yml"
nsenter --net="/var/run/netns/$(lab_ns gw)" prometheus \
	--config.file="$T_DIR/prometheus.yml" --storage.tsdb.path="$T_DIR/tsdb" \
	--web.listen-address=127.0.0.1:19090 --log.level=warn \
	>"$T_DIR/prometheus.log" 2>&1 &
PROM_PID=$!
PROMQ="http://127.0.0.1:19090"
up() {
	lab_in gw curl -sf "$PROMQ/api/v1/query?query=up" >"$T_DIR/up.json" 2>/dev/null &&
		python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))["data"]["result"]
sys.exit(not r or r[0]["value"][1] != "1")' "$T_DIR/up.json"
}
for _ in $(seq 100); do up && break; sleep 0.2; done
expect 0 "Prometheus scrapes the daemon (up = 1)" up

# traffic for every panel: allowed, denied, balanced, pings
for _ in 1 2 3; do lab_in client $PROBE tcp 198.18.2.2 8080 >/dev/null; done
lab_in client $PROBE tcp 198.18.2.2 22 --timeout 0.5 >/dev/null
lab_in client $PROBE tcp 198.18.0.80 80 >/dev/null
lab_in client ping -c3 -i0.2 -W1 198.18.2.2 >/dev/null
sleep 4 # a few more scrapes, so rates have two samples

lab_in gw python3 "$SRC/tests/netns/dashboards.py" "$PROMQ" \
	"$SRC"/tools/grafana/*.json >"$T_DIR/dash.out" 2>&1
while IFS=$'\t' read -r st what; do
	case $st in
	ok) ok "$what" ;;
	"not ok") not_ok "$what" ;;
	*) not_ok "dashboards.py: $st $what" ;;
	esac
done <"$T_DIR/dash.out"
expect 0 "the committed dashboards are what tools/grafana/gen.py writes" \
	python3 "$SRC/tools/grafana/gen.py" --check
t_done
