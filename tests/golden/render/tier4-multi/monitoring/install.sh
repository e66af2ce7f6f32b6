#!/bin/sh
# crmctl 0.1.0: installs monitoring (monitoring, do-premium-8gb) of tier 4
# (Scale) on Debian 12 from this directory. Idempotent.
set -eu
cd "$(dirname "$0")"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq






apt-get install -y -qq prometheus
install -m 0644 etc/prometheus/prometheus.yml /etc/prometheus/prometheus.yml
install -d -m 0755 /etc/grafana/provisioning/datasources /etc/loki
install -m 0644 etc/grafana/provisioning/datasources/crm.yaml /etc/grafana/provisioning/datasources/crm.yaml
install -m 0644 etc/loki/config.yml /etc/loki/config.yml
systemctl daemon-reload




systemctl restart prometheus

