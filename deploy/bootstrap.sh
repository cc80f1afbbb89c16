#!/usr/bin/env bash
# Idempotent set-up on a fresh Debian machine, as root: Debian's Chromium, the
# looqta-browser user, a virtualenv in .venv, and the pinned requirements. Re-running it does nothing
# when everything is already there. Never downloads a browser of its own.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[setup] %s\n' "$*"; }

missing=()
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || missing+=(chromium)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    say "missing Debian packages: ${missing[*]}; run this as root (apt-get install -y ${missing[*]})" >&2
    exit 1
  fi
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
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
say "ready: $(.venv/bin/python --version), $(chromium --version 2>/dev/null | head -n1)"
