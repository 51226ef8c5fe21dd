#!/usr/bin/env bash
# The main job on the embedded default: installs mawis into .venv if needed, simulates
# an inspection campaign (the virtual test lab), ingests and measures it, renders a contact
# sheet and pretrains a SimCLR encoder on the unlabeled crops.
# Outputs: data/demo/batch (contract-v1 batch), data/demo/batch-truth (ground truth),
#          data/demo/dataset (ingested data set), reports/contact_sheet.png,
#          models/demo-simclr (encoder, model.json, curves.png)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/bootstrap.sh"
MAWIS="${MAWIS_VENV:-$ROOT/.venv}/bin/mawis"
cd "$ROOT"
"$MAWIS" simulate data/demo/batch --joints "${MAWIS_DEMO_JOINTS:-300}" --seed 0 --overwrite
"$MAWIS" ingest data/demo/batch --out data/demo/dataset --overwrite
"$MAWIS" measure data/demo/dataset --out reports/measurements.csv --overlays reports/overlays
"$MAWIS" contact-sheet data/demo/batch --out reports/contact_sheet.png
"$MAWIS" pretrain data/demo/dataset --method simclr --epochs "${MAWIS_DEMO_EPOCHS:-8}" --batch-size 64 \
  --out models/demo-simclr --overwrite
echo "demo done: batch in data/demo/batch, truth in data/demo/batch-truth, data set in data/demo/dataset," \
     "joint verdicts in reports/measurements.csv (overlays in reports/overlays), contact sheet in" \
     "reports/contact_sheet.png, SimCLR encoder with training curves in models/demo-simclr"
