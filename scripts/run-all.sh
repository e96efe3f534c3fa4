#!/usr/bin/env bash
# Serves the site with Celery workers (email and other jobs; the tally) and Celery beat beside it. Ctrl-C stops them all.
set -euo pipefail
BIN=${BIN:-.venv/bin}
PORT=${PORT:-8000}
mkdir -p var/broker/queue var/broker/processed

pids=()
cleanup() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

# The tally has a worker of its own, so that a notice keeping both email processes busy never holds up counts
# (thresholds are due within seconds of a count crossing them).
"$BIN/celery" -A config worker -Q celery --loglevel=INFO --concurrency=2 --hostname="worker@%h" &
pids+=($!)
"$BIN/celery" -A config worker -Q counts --loglevel=INFO --concurrency=1 --hostname="counts@%h" &
pids+=($!)
"$BIN/celery" -A config beat --loglevel=INFO --schedule=var/celerybeat-schedule --pidfile= &
pids+=($!)
"$BIN/python" manage.py runserver "127.0.0.1:$PORT" &
pids+=($!)

echo "Petitions is running on http://127.0.0.1:$PORT/ (admin: /admin/). Press Ctrl-C to stop."
# Stop everything as soon as any one of them exits.
wait -n
