#!/bin/sh
# crmctl 0.1.0: installs app-2 (app, do-premium-8gb) of tier 4
# (Scale) on Debian 12 from this directory. Idempotent.
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









systemctl daemon-reload
systemctl enable --now prometheus-node-exporter






systemctl enable crmd.service
systemctl restart crmd.service
