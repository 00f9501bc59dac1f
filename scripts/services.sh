#!/usr/bin/env bash
# Make sure the PostgreSQL and Redis servers the integration tests use are running (start them if not).
set -euo pipefail
pg_ready() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }
redis_ready() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

if ! pg_ready; then
  echo "Starting PostgreSQL ..."
  cluster=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
  [ -n "$cluster" ] && pg_ctlcluster --skip-systemctl-redirect "$cluster" main start || true
  for _ in $(seq 1 30); do pg_ready && break; sleep 1; done
fi
if ! redis_ready; then
  echo "Starting Redis ..."
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no || true
  for _ in $(seq 1 30); do redis_ready && break; sleep 1; done
fi
pg_ready && echo "PostgreSQL: up" || { echo "PostgreSQL is not reachable on 127.0.0.1:5432" >&2; exit 1; }
redis_ready && echo "Redis: up" || { echo "Redis is not reachable on 127.0.0.1:6379" >&2; exit 1; }
