#!/usr/bin/env bash
# Starts the machine's PostgreSQL cluster on 127.0.0.1 and makes sure the
# test role exists.  The tests create one database each from it.
set -euo pipefail
ver=$(ls /usr/lib/postgresql | sort -V | tail -1)
if ! pg_lsclusters -h | awk -v v="$ver" '$1==v && $2=="main"' | grep -q .; then
  pg_createcluster "$ver" main >/dev/null
fi
if ! pg_lsclusters -h | awk -v v="$ver" '$1==v && $2=="main" && $4=="online"' | grep -q .; then
  pg_ctlcluster "$ver" main start
fi
port=$(pg_lsclusters -h | awk -v v="$ver" '$1==v && $2=="main" {print $3}')
su postgres -c "psql -q -p $port -tAc \"SELECT 1 FROM pg_roles WHERE rolname='bouncedesk'\"" | grep -q 1 ||
  su postgres -c "psql -q -p $port -c \"CREATE ROLE bouncedesk LOGIN SUPERUSER PASSWORD 'bouncedesk'\""
echo "postgresql://bouncedesk:bouncedesk@127.0.0.1:$port/postgres" > "$(dirname "$0")/../../.pg-url"
