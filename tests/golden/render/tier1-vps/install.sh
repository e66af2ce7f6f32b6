#!/bin/sh
# crmctl 0.1.0: installs tier 1 (Start) on one Debian 12 host from this
# directory. Idempotent: safe to run again after editing the plan and re-rendering.
set -eu
cd "$(dirname "$0")"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq postgresql-15 nginx certbot
id crm >/dev/null 2>&1 || useradd --system --home-dir /var/lib/crmd --shell /usr/sbin/nologin crm
install -d -o crm -g crm -m 0750 /var/lib/crmd /var/log/crmd
install -d -m 0750 /etc/crmd /etc/crmd/secrets
install -d -o postgres -g postgres -m 0750 /var/backups/crm
install -d -m 0755 /var/www/letsencrypt /usr/share/crmd/web
install -m 0600 etc/crmd/crmd.env /etc/crmd/crmd.env
install -m 0644 etc/postgresql/15/main/conf.d/crm.conf /etc/postgresql/15/main/conf.d/crm.conf
install -m 0640 -o postgres -g postgres etc/postgresql/15/main/pg_hba.conf /etc/postgresql/15/main/pg_hba.conf
install -m 0644 etc/nginx/sites-available/crm.conf /etc/nginx/sites-available/crm.conf
ln -sf /etc/nginx/sites-available/crm.conf /etc/nginx/sites-enabled/crm.conf
for unit in crmd.service crm-backup.service crm-backup.timer; do
  install -m 0644 "etc/systemd/system/$unit" "/etc/systemd/system/$unit"
done
for secret in db_password stripe_secret_key stripe_webhook_secret stripe_price_id whatsapp_app_secret whatsapp_verify_token; do
  [ -f "/etc/crmd/secrets/$secret" ] || echo "install.sh: put the $secret secret in /etc/crmd/secrets/$secret (mode 0600)" >&2
done
systemctl daemon-reload
systemctl restart postgresql
# crmd's database role: it creates one role and one schema per tenant slice, hence CREATEROLE.
if [ -f /etc/crmd/secrets/db_password ]; then
  runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -v pw="$(cat /etc/crmd/secrets/db_password)" <<'SQL'
SELECT 'CREATE ROLE crm LOGIN CREATEROLE' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'crm')\gexec
SELECT format('ALTER ROLE crm WITH LOGIN CREATEROLE PASSWORD %L', :'pw')\gexec
SELECT 'CREATE DATABASE crm OWNER crm' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'crm')\gexec
SQL
fi
[ -f /etc/letsencrypt/live/crm.example.com/fullchain.pem ] || certbot certonly --webroot -w /var/www/letsencrypt -d crm.example.com --non-interactive --agree-tos --register-unsafely-without-email || true
nginx -t && systemctl reload nginx
systemctl enable --now crmd.service crm-backup.timer
