# shellcheck shell=bash
# Sourced by scripts/bootstrap.sh (repo root, `set -euo pipefail`, with its log/pip_q helpers): installs the
# `assistant` CLI (assistant_cli/, see pyproject [project.scripts]) into .venv as an editable package of THIS
# checkout. Redone when pyproject.toml changes or the venv was last pointed at another checkout.
cli_stamp=.venv/.bootstrap-assistant-cli
cli_want=$({ cat pyproject.toml; echo "$root"; } | sha256sum | cut -c1-16)
if [ "$(cat "$cli_stamp" 2>/dev/null)" != "$cli_want" ] || [ ! -x .venv/bin/assistant ]; then
  log "installing the assistant CLI (pip install -e .)"
  # setuptools prints an editable-install banner on success: show pip's output only when it fails.
  if ! cli_out=$(.venv/bin/python -m pip install -q --no-deps -e . 2>&1); then
    printf '%s\n' "$cli_out" >&2
    exit 1
  fi
  echo "$cli_want" > "$cli_stamp"
fi
unset cli_stamp cli_want cli_out
