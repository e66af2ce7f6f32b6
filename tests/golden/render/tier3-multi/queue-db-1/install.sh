#!/bin/sh
# crmctl 0.1.0: installs queue-db-1 (queue-db, do-basic-4gb) of tier 3
# (Expand) on Debian 12 from this directory. Idempotent.
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
SELECT 'CREATE DATABASE crm_queue OWNER crm' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'crm_queue')\gexec
SQL
else
  echo "install.sh: put crmd's database password in /etc/crmd/secrets/db_password (mode 0600) and run install.sh again" >&2
fi




