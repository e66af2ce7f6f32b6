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




systemctl daemon-reload
systemctl enable --now prometheus-node-exporter
systemctl restart postgresql

systemctl restart prometheus-postgres-exporter





