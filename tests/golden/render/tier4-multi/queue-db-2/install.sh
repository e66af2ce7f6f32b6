#!/bin/sh
# crmctl 0.1.0: installs queue-db-2 (queue-db, do-premium-8gb) of tier 4
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

# First run only: clone the queue store on queue-db-1, then follow it as a hot standby (crmd
# writes to queue-db-1; promote this one if it fails).
if [ ! -f /var/lib/postgresql/15/main/standby.signal ]; then
  systemctl stop postgresql
  rm -rf /var/lib/postgresql/15/main
  runuser -u postgres -- pg_basebackup -h queue-db-1 -p 5432 -U replicator -D /var/lib/postgresql/15/main -R -S queue_standby_2 -C -X stream
fi





systemctl daemon-reload
systemctl enable --now prometheus-node-exporter
systemctl restart postgresql
# postgres_exporter's role (a replica gets it from its primary).
runuser -u postgres -- psql -qtAc "SELECT 1 FROM pg_roles WHERE rolname = 'prometheus'" | grep -q 1 ||
  runuser -u postgres -- psql -qc "CREATE ROLE prometheus LOGIN IN ROLE pg_monitor"
systemctl restart prometheus-postgres-exporter






