#!/usr/bin/env bash
# Install Debian's nginx for the cluster (`make run-cluster`, tests/integration/test_cluster.py) when it is missing.
# nginx-light is enough: proxy, upstream hashing, map and websocket upgrade are in its core modules.
set -euo pipefail
nginx_bin() { command -v nginx 2>/dev/null || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true; }
if [ -z "$(nginx_bin)" ]; then
  echo "Installing Debian's nginx-light for the cluster ..."
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx-light >/dev/null
  # the cluster runs its own nginx with its own configuration: the package's service is not wanted
  if [ -f /run/nginx.pid ] && kill -0 "$(cat /run/nginx.pid)" 2>/dev/null; then
    "$(nginx_bin)" -s stop 2>/dev/null || true
  fi
fi
bin="$(nginx_bin)"
[ -n "$bin" ] || { echo "nginx is not installed" >&2; exit 1; }
"$bin" -v
