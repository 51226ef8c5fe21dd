#!/usr/bin/env bash
# The main job: installs mawis into .venv if needed, then runs `mawis demo` on the embedded
# virtual test lab (simulate a campaign, ingest and measure it, pretrain, train and register a
# lifetime model, evaluate SSL vs SL on held-out boards, predict a fresh batch with its lifetime
# report, check a batch from another X-ray station for drift). Arguments go to `mawis demo`,
# e.g. `bash scripts/demo.sh --quick` (about 2 minutes) or `--out DIR` (default: demo/).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/bootstrap.sh"
cd "$ROOT"
exec "${MAWIS_VENV:-$ROOT/.venv}/bin/mawis" demo --overwrite "$@"
