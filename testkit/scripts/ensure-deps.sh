#!/usr/bin/env bash
# Installs what building and testing Dispatch needs, when it is missing:
# Node.js packages (npm ci), nats-server, python3, bubblewrap and openssl (apt-get). Safe to run repeatedly.
set -euo pipefail
cd "$(dirname "$0")/../.."

need_node="20.19.0"
if ! command -v node >/dev/null 2>&1; then
  echo "error: Node.js ${need_node} or newer is required and was not found." >&2
  echo "Install it from https://nodejs.org (or your distribution's nodejs 20+ package), then run this again." >&2
  exit 1
fi
if ! node -e "const [a,b]=process.versions.node.split('.').map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)"; then
  echo "error: Node.js ${need_node} or newer is required; this is $(node --version)." >&2
  exit 1
fi

# npm ci when node_modules is missing or older than the lockfile (always in CI).
if [ -n "${CI:-}" ] || [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "installing Node.js packages (npm ci)..." >&2
  npm ci --no-audit --no-fund --loglevel=error
fi

# Debian packages the tests need: nats-server, python3 for the Python worker, and bubblewrap,
# which sandboxes function workers (without it they run as plain processes, and the isolation
# tests check only what that mode promises).
missing=""
# Debian installs nats-server in /usr/sbin, which is not on a normal user's PATH.
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || [ -x /usr/local/sbin/nats-server ] || missing="$missing nats-server"
command -v python3 >/dev/null 2>&1 || missing="$missing python3"
command -v bwrap >/dev/null 2>&1 || [ -x /usr/bin/bwrap ] || missing="$missing bubblewrap"
# openssl makes the TLS certificates of the NATS-over-TLS tests, the fake Kubernetes API server and
# the HTTPS listener of dispatch up's gateway.
command -v openssl >/dev/null 2>&1 || missing="$missing openssl"
if [ -n "$missing" ]; then
  echo "installing$missing (apt-get)..." >&2
  sudo=""
  if [ "$(id -u)" != "0" ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
      echo "error:$missing missing and this user cannot run apt-get. Install:$missing" >&2
      exit 1
    fi
  fi
  $sudo apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
fi
