#!/bin/sh
# crmctl 0.1.0: installs postgres-primary (postgres-primary, do-premium-32gb) of tier 4
# (Scale) on Debian 12 from this directory. Idempotent.
set -eu
cd "$(dirname "$0")"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Every host exports its CPU, memory, disk and swap-in rate to Prometheus (port 9100).
apt-get install -y -qq prometheus-node-exporter


apt-get install -y -qq postgresql-15
install -m 0644 etc/postgresql/15/main/conf.d/crm.conf /etc/postgresql/15/main/conf.d/crm.conf
install -m 0640 -o postgres -g postgres etc/postgresql/15/main/pg_hba.conf /etc/postgresql/15/main/pg_hba.conf
apt-get install -y -qq prometheus-postgres-exporter
install -m 0644 etc/default/prometheus-postgres-exporter /etc/default/prometheus-postgres-exporter



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



systemctl daemon-reload
systemctl enable --now prometheus-node-exporter
systemctl restart postgresql
# postgres_exporter's role (a replica gets it from its primary).
runuser -u postgres -- psql -qtAc "SELECT 1 FROM pg_roles WHERE rolname = 'prometheus'" | grep -q 1 ||
  runuser -u postgres -- psql -qc "CREATE ROLE prometheus LOGIN IN ROLE pg_monitor"
systemctl restart prometheus-postgres-exporter

# crmd's login role: CREATEROLE (a role and a schema per tenant slice); NOINHERIT, since behind
# PgBouncer every slice logs in as it and becomes its own role per transaction: without SET ROLE
# it reaches no slice's tables (docs/operations.md, "PostgreSQL behind PgBouncer"). The same
# login and password on the queue store, whose database holds each slice's queue
# (docs/operations.md, "The queue database").
if [ -f /etc/crmd/secrets/db_password ]; then
  runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -v pw="$(cat /etc/crmd/secrets/db_password)" <<'SQL'
SELECT 'CREATE ROLE crm LOGIN NOINHERIT CREATEROLE' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'crm')\gexec
SELECT format('ALTER ROLE crm WITH LOGIN NOINHERIT CREATEROLE PASSWORD %L', :'pw')\gexec
SELECT 'CREATE DATABASE crm OWNER crm' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'crm')\gexec
SQL
else
  echo "install.sh: put crmd's database password in /etc/crmd/secrets/db_password (mode 0600) and run install.sh again" >&2
fi
if [ "$backup_ready" = yes ]; then
  runuser -u postgres -- pgbackrest --stanza=crm stanza-create
  runuser -u postgres -- pgbackrest --stanza=crm check
  systemctl enable --now crm-backup-full.timer crm-backup-diff.timer
else
  echo "install.sh: backups are NOT running (see above); WAL is queued up to 4 GiB, then dropped" >&2
fi



