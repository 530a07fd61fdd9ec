#!/usr/bin/env bash
# Installs the Debian packages the integration tests need and starts the
# shared PostgreSQL server on 127.0.0.1.  Idempotent: on a machine that has
# everything it only checks and returns.  Servers that belong to one test
# (Postfix, Dovecot, DNS, SMTP peers) are started by that test's fixtures.
set -euo pipefail

need=()
command -v tmux >/dev/null || need+=(tmux)
[ -x /usr/lib/postgresql/15/bin/postgres ] || ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
[ -x /usr/sbin/postfix ] || need+=(postfix)
[ -x /usr/sbin/dovecot ] || need+=(dovecot-imapd)
command -v sqlite3 >/dev/null || need+=(sqlite3)

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "system.sh: missing Debian packages (${need[*]}) and not root: install them first" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  echo "postfix postfix/main_mailer_type select Local only" | debconf-set-selections
  echo "postfix postfix/mailname string bouncedesk.localdomain" | debconf-set-selections
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # Debian starts services on install where it can; the tests start their own.
  postfix stop >/dev/null 2>&1 || true
  service dovecot stop >/dev/null 2>&1 || true
fi

bash "$(dirname "$0")/postgres.sh"
