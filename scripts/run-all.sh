#!/usr/bin/env bash
# Serves the site with a Celery worker and Celery beat beside it. Ctrl-C stops all three.
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

"$BIN/celery" -A config worker --loglevel=INFO --concurrency=2 --hostname="worker@%h" &
pids+=($!)
"$BIN/celery" -A config beat --loglevel=INFO --schedule=var/celerybeat-schedule --pidfile= &
pids+=($!)
"$BIN/python" manage.py runserver "127.0.0.1:$PORT" &
pids+=($!)

echo "Petitions is running on http://127.0.0.1:$PORT/ (admin: /admin/). Press Ctrl-C to stop."
# Stop everything as soon as any one of the three exits.
wait -n
