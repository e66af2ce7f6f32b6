#!/bin/sh
# crmctl 0.1.0: the backup service: creates the pgBackRest stanza, then takes a full backup
# on Sundays and a differential one on other days at 03:30 UTC. Runs as root only to install the
# repository's secrets for the postgres user.
set -eu
if [ ! -f /run/secrets/backup/pgbackrest-repo.conf ]; then
  echo "backup: put the repository's settings and secrets in ./secrets/pgbackrest-repo.conf (see docs/operations.md)" >&2
  exit 1
fi
install -o postgres -g postgres -m 0600 /run/secrets/backup/pgbackrest-repo.conf /etc/pgbackrest/conf.d/crm-repo.conf
exec gosu postgres sh -eu -c '
pgbackrest --stanza=crm stanza-create
while :; do
  now=$(date -u +%s)
  sleep $(( (86400 + 12600 - now % 86400) % 86400 + 1 ))
  if [ "$(date -u +%u)" = 7 ]; then type=full; else type=diff; fi
  pgbackrest --stanza=crm --type=$type backup || echo "backup: $type backup failed" >&2
done'
