#!/bin/sh
# crmctl 0.1.0: installs lb (lb, do-basic-4gb) of tier 4
# (Scale) on Debian 12 from this directory. Idempotent.
set -eu
cd "$(dirname "$0")"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Every host exports its CPU, memory, disk and swap-in rate to Prometheus (port 9100).
apt-get install -y -qq prometheus-node-exporter

apt-get install -y -qq nginx certbot
install -d -m 0755 /var/www/letsencrypt /usr/share/crmd/web
install -m 0644 etc/nginx/sites-available/crm.conf /etc/nginx/sites-available/crm.conf
ln -sf /etc/nginx/sites-available/crm.conf /etc/nginx/sites-enabled/crm.conf








systemctl daemon-reload
systemctl enable --now prometheus-node-exporter




nginx -t && systemctl reload nginx


