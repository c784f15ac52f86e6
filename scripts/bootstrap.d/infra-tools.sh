# shellcheck shell=bash
# Sourced by scripts/bootstrap.sh (from the repo root, with `set -euo pipefail`): installs the offline infra
# checker (checkov) into its own venv, .venv-tools/. checkov pins a large dependency tree of its own; keeping it
# apart from .venv means the app's pins (azure-*, openai, aiohttp) never get resolved against it.
# Skipped while the pin below hashes the same as the stamp, so a repeated bootstrap costs nothing.
infra_tools_pin='checkov==3.3.30'
infra_tools_stamp=.venv-tools/.bootstrap-infra-tools
infra_tools_want=$(printf '%s\n' "$infra_tools_pin" | sha256sum | cut -c1-16)
if [ "$(cat "$infra_tools_stamp" 2>/dev/null)" != "$infra_tools_want" ] || [ ! -x .venv-tools/bin/checkov ]; then
  printf '[bootstrap] %s\n' "installing $infra_tools_pin into .venv-tools" >&2
  [ -x .venv-tools/bin/python ] || "${py:-python3.11}" -m venv .venv-tools
  .venv-tools/bin/python -m pip install -q --upgrade pip 2>&1 | { grep -v 'is ignored: it is neither' || true; }
  .venv-tools/bin/python -m pip install -q "$infra_tools_pin" 2>&1 | { grep -v 'is ignored: it is neither' || true; }
  .venv-tools/bin/checkov --version >/dev/null
  echo "$infra_tools_want" > "$infra_tools_stamp"
fi
unset infra_tools_pin infra_tools_stamp infra_tools_want
