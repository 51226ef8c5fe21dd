#!/usr/bin/env bash
# Installs everything the tests need into .venv, then runs the whole suite.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/bootstrap.sh"
bash "$ROOT/scripts/install-browser.sh"  # headless Chromium for tests/test_browser.py (needs root; else they skip)
cd "$ROOT"
exec "${MAWIS_VENV:-$ROOT/.venv}/bin/python" -m pytest "$@"
