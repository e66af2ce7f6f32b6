#!/bin/sh
# crmctl 0.1.0: installs tier 1 (Start) on one Debian 12 host from this
# directory. Idempotent: safe to run again after editing the plan and re-rendering.
set -eu
cd "$(dirname "$0")"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq postgresql-15 nginx certbot pgbouncer
# crmd runs its own PgBouncer for the slices (SLICE_POOL_SIZE in crmd.env, on a socket in
# /var/lib/crmd; docs/operations.md, "Slices behind the host's pooler"): the package's service
# is not used.
systemctl disable --now pgbouncer >/dev/null 2>&1 || true
id crm >/dev/null 2>&1 || useradd --system --home-dir /var/lib/crmd --shell /usr/sbin/nologin crm
install -d -o crm -g crm -m 0750 /var/lib/crmd /var/log/crmd
install -d -m 0750 /etc/crmd /etc/crmd/secrets
install -d -m 0755 /var/www/letsencrypt /usr/share/crmd/web
install -m 0600 etc/crmd/crmd.env /etc/crmd/crmd.env
install -m 0644 etc/postgresql/15/main/conf.d/crm.conf /etc/postgresql/15/main/conf.d/crm.conf
install -m 0640 -o postgres -g postgres etc/postgresql/15/main/pg_hba.conf /etc/postgresql/15/main/pg_hba.conf
install -m 0644 etc/nginx/sites-available/crm.conf /etc/nginx/sites-available/crm.conf
ln -sf /etc/nginx/sites-available/crm.conf /etc/nginx/sites-enabled/crm.conf
install -m 0644 etc/systemd/system/crmd.service /etc/systemd/system/crmd.service
# The nightly pg_dump onto this disk that pgBackRest replaces.
if [ -f /etc/systemd/system/crm-backup.timer ]; then
  systemctl disable --now crm-backup.timer || true
  rm -f /etc/systemd/system/crm-backup.timer /etc/systemd/system/crm-backup.service
fi
for unit in crm-backup-full.service crm-backup-full.timer crm-backup-diff.service crm-backup-diff.timer; do
  install -m 0644 "etc/systemd/system/$unit" "/etc/systemd/system/$unit"
done
# pgBackRest to the off-host repository. Its secrets come from files, never from this bundle.
apt-get install -y -qq pgbackrest
install -d -m 0750 /etc/crmd /etc/crmd/secrets
install -d -m 0750 -o postgres -g postgres /etc/pgbackrest /etc/pgbackrest/conf.d /var/log/pgbackrest /var/spool/pgbackrest
install -m 0640 -o root -g postgres etc/pgbackrest/pgbackrest.conf /etc/pgbackrest/pgbackrest.conf
[ -f /etc/pgbackrest/conf.d/crm-repo.conf ] || install -m 0640 -o root -g postgres /dev/stdin /etc/pgbackrest/conf.d/crm-repo.conf <<'CONF'
# The S3-compatible bucket backups go to (another provider or region than this host's).
[global]
repo1-s3-endpoint=REPLACE-ME
repo1-s3-bucket=REPLACE-ME
repo1-s3-region=REPLACE-ME
CONF
backup_ready=yes
for secret in backup_s3_key backup_s3_key_secret backup_cipher_pass; do
  if [ ! -f "/etc/crmd/secrets/$secret" ]; then
    echo "install.sh: put the $secret secret in /etc/crmd/secrets/$secret (mode 0600)" >&2
    backup_ready=no
  fi
done
if grep -q 'REPLACE-ME' /etc/pgbackrest/conf.d/crm-repo.conf; then
  echo "install.sh: replace REPLACE-ME in /etc/pgbackrest/conf.d/crm-repo.conf with the bucket's endpoint, name and region" >&2
  backup_ready=no
fi
if [ "$backup_ready" = yes ]; then
  (umask 077 && {
    echo "[global]"
    echo "repo1-s3-key=$(cat /etc/crmd/secrets/backup_s3_key)"
    echo "repo1-s3-key-secret=$(cat /etc/crmd/secrets/backup_s3_key_secret)"
    echo "repo1-cipher-pass=$(cat /etc/crmd/secrets/backup_cipher_pass)"
  } >/etc/pgbackrest/conf.d/crm-secrets.conf)
  chown postgres:postgres /etc/pgbackrest/conf.d/crm-secrets.conf
fi
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
systemctl enable --now crmd.service
if [ "$backup_ready" = yes ]; then
  runuser -u postgres -- pgbackrest --stanza=crm stanza-create
  runuser -u postgres -- pgbackrest --stanza=crm check
  systemctl enable --now crm-backup-full.timer crm-backup-diff.timer
else
  echo "install.sh: backups are NOT running (see above); WAL is queued up to 4 GiB, then dropped" >&2
fi
