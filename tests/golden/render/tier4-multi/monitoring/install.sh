#!/bin/sh
# crmctl 0.1.0: installs monitoring (monitoring, do-premium-8gb) of tier 4
# (Scale) on Debian 12 from this directory. Idempotent.
set -eu
cd "$(dirname "$0")"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Every host exports its CPU, memory, disk and swap-in rate to Prometheus (port 9100).
apt-get install -y -qq prometheus-node-exporter








apt-get install -y -qq prometheus
install -m 0644 etc/prometheus/prometheus.yml /etc/prometheus/prometheus.yml
install -m 0644 etc/prometheus/alert-rules.yml /etc/prometheus/alert-rules.yml
install -d -m 0755 /etc/grafana/provisioning/datasources /etc/grafana/provisioning/dashboards /etc/grafana/dashboards/crm /etc/loki
install -m 0644 etc/grafana/provisioning/datasources/crm.yaml /etc/grafana/provisioning/datasources/crm.yaml
install -m 0644 etc/grafana/provisioning/dashboards/crm.yaml /etc/grafana/provisioning/dashboards/crm.yaml
install -m 0644 etc/grafana/dashboards/crm/crm-overview.json /etc/grafana/dashboards/crm/crm-overview.json
install -m 0644 etc/loki/config.yml /etc/loki/config.yml
systemctl daemon-reload
systemctl enable --now prometheus-node-exporter





systemctl restart prometheus

