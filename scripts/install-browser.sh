#!/usr/bin/env bash
# Installs headless Chromium and its WebDriver (Debian packages chromium, chromium-driver) for the
# browser tests (tests/test_browser.py, marker "browser"). Does nothing when both are on PATH already.
# Without root it only says how to install them and exits 0: those tests then skip, unless
# MAWIS_REQUIRE_BROWSER=1 (as in CI), where they fail.
set -euo pipefail

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  exit 0
fi
if [[ "$(id -u)" != "0" ]] || ! command -v apt-get >/dev/null 2>&1; then
  echo "mawis: browser tests need Chromium; install it with: sudo apt-get install chromium chromium-driver" >&2
  exit 0
fi
echo "mawis: installing chromium and chromium-driver with apt-get (about a minute) ..." >&2
LOG="$(mktemp -t mawis-browser-install.XXXXXX.log)"
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -q && apt-get install -y -q --no-install-recommends chromium chromium-driver; } >"$LOG" 2>&1; then
  tail -n 30 "$LOG" >&2
  echo "mawis: installing chromium failed; full log in $LOG" >&2
  exit 1
fi
rm -f "$LOG"
command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 \
  || { echo "mawis: chromium or chromedriver still not on PATH after apt-get install" >&2; exit 1; }
