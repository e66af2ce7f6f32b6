#!/bin/sh
# crmctl 0.1.0: installs app (app, do-basic-8gb) of tier 3
# (Expand) on Debian 12 from this directory. Idempotent.
set -eu
cd "$(dirname "$0")"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Every host exports its CPU, memory, disk and swap-in rate to Prometheus (port 9100).
apt-get install -y -qq prometheus-node-exporter
id crm >/dev/null 2>&1 || useradd --system --home-dir /var/lib/crmd --shell /usr/sbin/nologin crm
install -d -o crm -g crm -m 0750 /var/lib/crmd /var/log/crmd
install -d -m 0750 /etc/crmd /etc/crmd/secrets
install -m 0600 etc/crmd/crmd.env /etc/crmd/crmd.env
install -m 0644 etc/systemd/system/crmd.service /etc/systemd/system/crmd.service
for secret in db_password stripe_secret_key stripe_webhook_secret stripe_price_id whatsapp_app_secret whatsapp_verify_token internal_token; do
  [ -f "/etc/crmd/secrets/$secret" ] || echo "install.sh: put the $secret secret in /etc/crmd/secrets/$secret (mode 0600)" >&2
done
# internal_token: one random value on every app and slice host (gateways present it to slice
# hosts), e.g. `openssl rand -hex 32`.
apt-get install -y -qq nginx certbot
install -d -m 0755 /var/www/letsencrypt /usr/share/crmd/web
install -m 0644 etc/nginx/sites-available/crm.conf /etc/nginx/sites-available/crm.conf
ln -sf /etc/nginx/sites-available/crm.conf /etc/nginx/sites-enabled/crm.conf






apt-get install -y -qq prometheus
install -m 0644 etc/prometheus/prometheus.yml /etc/prometheus/prometheus.yml
install -m 0644 etc/prometheus/alert-rules.yml /etc/prometheus/alert-rules.yml

systemctl daemon-reload
systemctl enable --now prometheus-node-exporter




nginx -t && systemctl reload nginx
systemctl restart prometheus
systemctl enable crmd.service
systemctl restart crmd.service
