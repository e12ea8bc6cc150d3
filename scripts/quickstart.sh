#!/usr/bin/env bash
# The main job on a fresh machine: install everything, make the embedded synthetic data set (tiny preset),
# check it against the official format. Later stages (train/sample/render) are added as they land.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
PY=.venv/bin/python
OUT=${A2P_OUT:-outputs/quickstart}
mkdir -p "$OUT"
$PY -m data_loaders.synthetic --preset tiny --out "$OUT/dataset" --seed 0
for person in "$OUT"/dataset/*/; do
  $PY -m data_loaders.validate "$person"
done
echo "[quickstart] synthetic data set in $OUT/dataset"
