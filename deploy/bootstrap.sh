#!/usr/bin/env bash
# Idempotent set-up on a fresh Debian machine, as root: Debian's Chromium and redis-server, the
# looqta-browser user, a virtualenv in .venv, and the pinned requirements. Re-running it does nothing
# when everything is already there. Never downloads a browser of its own.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[setup] %s\n' "$*"; }

missing=()
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || missing+=(chromium)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
# looqta starts its own redis-server under LOOQTA_DATA_DIR when REDIS_URL is empty (docs/redis.md).
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    say "missing Debian packages: ${missing[*]}; run this as root (apt-get install -y ${missing[*]})" >&2
    exit 1
  fi
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The package also starts a system Redis on 127.0.0.1:6379 with no password. looqta never uses
  # it (it runs its own, with a password, under LOOQTA_DATA_DIR), so an open door nobody needs is
  # closed: stopped and disabled, only when this script installed the package (a Redis that was
  # already there is someone else's). On machines without systemd (containers) nothing started.
  if [[ " ${missing[*]} " == *" redis-server "* ]] && [ -d /run/systemd/system ]; then
    say "stopping and disabling the package's own redis-server service (looqta runs its own)"
    systemctl disable --now redis-server >/dev/null 2>&1 \
      || say "could not disable redis-server.service; looqta never connects to it" >&2
  fi
fi

# Chromium keeps its sandbox when the crawl runs as root by running as this user
# (looqta/browser_user.py, LOOQTA_BROWSER_USER).
if [ "$(id -u)" -eq 0 ] && ! id -u looqta-browser >/dev/null 2>&1; then
  say "creating the system user looqta-browser (Chromium runs as it, sandbox on)"
  useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin looqta-browser
fi

if [ ! -x .venv/bin/python ]; then
  say "creating virtualenv .venv"
  python3 -m venv .venv
fi

stamp=.venv/.requirements.sha256
want=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  say "installing requirements into .venv (log: .venv/pip.log)"
  if ! .venv/bin/python -m pip install --disable-pip-version-check -r requirements.txt -r requirements-dev.txt \
      >.venv/pip.log 2>&1; then
    tail -n 30 .venv/pip.log >&2
    say "pip install failed; full log in .venv/pip.log" >&2
    exit 1
  fi
  echo "$want" >"$stamp"
fi
say "ready: $(.venv/bin/python --version), $(chromium --version 2>/dev/null | head -n1), $(redis-server --version | cut -d' ' -f1-3)"
