#!/usr/bin/env bash
# Creates (or refreshes) the project's virtual environment in .venv.
# Re-installs only when pyproject.toml or scripts/constraints.txt changed since the last install.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MAWIS_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
STAMP="$VENV/.mawis-install-stamp"
WANT="$(cat "$ROOT/pyproject.toml" "$ROOT/scripts/constraints.txt" | sha256sum | cut -d' ' -f1)"

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" && -x "$VENV/bin/mawis" ]]; then
  exit 0
fi
echo "mawis: setting up $VENV (first run takes about 2 minutes) ..." >&2
[[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
LOG="$VENV/install.log"
# torch/torchvision are pinned to the builds available on the project's machines; the
# constraints file keeps the second install (e.g. lightly, which depends on torch) from upgrading them.
if ! { "$VENV/bin/python" -m pip install "torch==2.14.1" "torchvision==0.29.1" \
       && "$VENV/bin/python" -m pip install -c "$ROOT/scripts/constraints.txt" -e "$ROOT[test]"; } >"$LOG" 2>&1; then
  tail -n 30 "$LOG" >&2
  echo "mawis: installation into $VENV failed; full log in $LOG" >&2
  exit 1
fi
"$VENV/bin/python" -c "import mawis, torch, torchvision, cv2, skimage, pandas, pyarrow, typer" \
  || { echo "mawis: installed packages do not import; full log in $LOG" >&2; exit 1; }
echo "$WANT" > "$STAMP"
