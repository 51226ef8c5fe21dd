#!/usr/bin/env bash
# The main job on the embedded default: installs mawis into .venv if needed, simulates
# an inspection campaign (the virtual test lab), ingests and measures it, renders a contact
# sheet, pretrains a SimCLR encoder on the unlabeled crops, fits a lifetime model on it and
# compares SSL, SL and feature-only lifetime models on held-out boards.
# Outputs: data/demo/batch (contract-v1 batch), data/demo/batch-truth (ground truth),
#          data/demo/dataset (ingested data set), reports/contact_sheet.png,
#          models/demo-simclr (encoder, model.json, curves.png), models/demo-lifetime,
#          reports/demo-evaluation (metrics.json, comparison.html)
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
"$MAWIS" train data/demo/dataset --encoder models/demo-simclr --out models/demo-lifetime --overwrite
"$MAWIS" evaluate data/demo/dataset --out reports/demo-evaluation --config scripts/evaluate-demo.toml \
  --truth data/demo/batch-truth --overwrite
echo "demo done: batch in data/demo/batch, truth in data/demo/batch-truth, data set in data/demo/dataset," \
     "joint verdicts in reports/measurements.csv (overlays in reports/overlays), contact sheet in" \
     "reports/contact_sheet.png, SimCLR encoder with training curves in models/demo-simclr," \
     "lifetime model in models/demo-lifetime, SSL vs SL comparison in reports/demo-evaluation/comparison.html"
