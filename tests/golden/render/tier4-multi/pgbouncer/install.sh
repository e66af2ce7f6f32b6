#!/bin/sh
# crmctl 0.1.0: installs pgbouncer (pgbouncer, do-basic-2gb) of tier 4
# (Scale) on Debian 12 from this directory. Idempotent.
set -eu
cd "$(dirname "$0")"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Every host exports its CPU, memory, disk and swap-in rate to Prometheus (port 9100).
apt-get install -y -qq prometheus-node-exporter





apt-get install -y -qq pgbouncer
install -m 0640 -o postgres -g postgres etc/pgbouncer/pgbouncer.ini /etc/pgbouncer/pgbouncer.ini
[ -f /etc/pgbouncer/userlist.txt ] || echo "install.sh: put the PgBouncer user list in /etc/pgbouncer/userlist.txt (mode 0600)" >&2




systemctl daemon-reload
systemctl enable --now prometheus-node-exporter

systemctl restart pgbouncer





