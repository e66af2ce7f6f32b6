#!/bin/sh
# crmctl 0.1.0: installs postgres-replica (postgres-replica, do-premium-32gb) of tier 4
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
# First run only: clone the primary, then follow it.
if [ ! -f /var/lib/postgresql/15/main/standby.signal ]; then
  systemctl stop postgresql
  rm -rf /var/lib/postgresql/15/main
  runuser -u postgres -- pg_basebackup -h postgres-primary -U replicator -D /var/lib/postgresql/15/main -R -S replica_1 -C -X stream
fi



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

systemctl restart prometheus-postgres-exporter






