#!/usr/bin/env bash
# Installs what tests/interop/ needs beyond the Python test extras, and only what is missing:
# the Node packages of tests/interop/node/ (from its lock file) and nginx. Safe to run again;
# quiet when there is nothing to do; any failure exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."

node_dir=tests/interop/node

as_root() {  # apt-get needs root; use sudo when we are not and it is there
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo -n "$@"
  else
    echo "interop-setup: need root (or sudo) to run: $*" >&2
    return 1
  fi
}

apt_updated=0
apt_install() {
  if [ "$apt_updated" -eq 0 ]; then
    as_root apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@" \
    >/dev/null
}

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "interop-setup: installing node and npm" >&2
  apt_install nodejs npm
fi

# npm ls fails when node_modules is missing or does not match package.json.
if ! npm ls --prefix "$node_dir" --depth=0 >/dev/null 2>&1; then
  echo "interop-setup: installing the Node packages of $node_dir" >&2
  npm ci --prefix "$node_dir" --no-audit --no-fund --loglevel=error >/dev/null
fi

# Debian puts nginx in /usr/sbin, which a non-root PATH may lack.
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  echo "interop-setup: installing nginx" >&2
  apt_install nginx
fi
