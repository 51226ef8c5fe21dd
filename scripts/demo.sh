#!/usr/bin/env bash
# The main job on the embedded default: installs mawis into .venv if needed, simulates
# an inspection campaign (the virtual test lab) and renders a contact sheet of it.
# Outputs: data/demo/batch (contract-v1 batch), data/demo/batch-truth (ground truth),
#          reports/contact_sheet.png
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/bootstrap.sh"
MAWIS="${MAWIS_VENV:-$ROOT/.venv}/bin/mawis"
cd "$ROOT"
"$MAWIS" simulate data/demo/batch --joints "${MAWIS_DEMO_JOINTS:-300}" --seed 0 --overwrite
"$MAWIS" contact-sheet data/demo/batch --out reports/contact_sheet.png
echo "demo done: batch in data/demo/batch, truth in data/demo/batch-truth, contact sheet in reports/contact_sheet.png"
