# shellcheck shell=bash
# Sourced by scripts/bootstrap.sh: Debian's chromium and chromium-driver, which the monitor's browser tests drive
# through selenium (tests/monitor). Nothing is downloaded outside the Debian archive; skipped when both exist.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing chromium and chromium-driver (apt-get)"
    # Other jobs may hold the dpkg lock for a while: wait for it instead of failing. Output only on failure.
    if ! browser_out=$( { DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -qq update &&
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -qq install -y --no-install-recommends \
          chromium chromium-driver fonts-liberation; } 2>&1); then
      printf '%s\n' "$browser_out" >&2
      exit 1
    fi
    unset browser_out
  else
    log "chromium/chromedriver are missing and apt-get needs root: install them, or the browser tests fail"
  fi
fi
