#!/usr/bin/env bash
# Trains every model from scratch on one person of a synthetic data set, in dependency order:
#   lip regressor -> face diffusion (conditioned on its lip vertices); VQ-VAE -> guide transformer; pose diffusion.
#
#   bash scripts/train_all.sh [small|full] [RUN_DIR] [PERSON_DIR]
#
#   small       the shipped checkpoints/ (a few MB each; hours on 2 CPU cores; train/recipes.py)
#   small-gpu   the same small models on one GPU (larger batches, bf16)
#   full        the original's model sizes and step counts (the trainers' defaults; days on one GPU)
#   RUN_DIR     where the runs go: RUN_DIR/{lip,face,vq,guide,pose} (default runs/<size>)
#   PERSON_DIR  a person folder in the official format (default: RUN_DIR/dataset/SYN001, generated here
#               from the synthetic `default` preset, about an hour of conversation, when it is missing)
#
# Every run resumes where it stopped (train/loop.py), so rerunning the command continues an interrupted
# training, and a larger step count continues a finished one. A2P_THREADS=N sets torch's threads (default:
# one per core); on a CPU shared with other jobs use A2P_THREADS=1: oversubscribed cores run 10x slower.
# A2P_STAGES picks stages (default "lip face vq guide pose"): two chains that do not depend on each other,
# A2P_STAGES="lip face" and A2P_STAGES="vq guide pose", can run at once, one per core.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh

SIZE=${1:-small}
RUN=${2:-runs/$SIZE}
PERSON=${3:-$RUN/dataset/SYN001}
PY=.venv/bin/python
if [ -n "${A2P_THREADS:-}" ]; then
  export OMP_NUM_THREADS=$A2P_THREADS MKL_NUM_THREADS=$A2P_THREADS
fi

# The flags of every stage come from train/recipes.py (small: the shipped checkpoints; small-gpu: the same
# models on one GPU; full: the original's sizes). Each stage is continued, not restarted, when run again.
case "$SIZE" in
  small|small-gpu|full) ;;
  *)
    echo "usage: bash scripts/train_all.sh [small|small-gpu|full] [RUN_DIR] [PERSON_DIR]" >&2
    exit 2
    ;;
esac
flags() { $PY -m train.recipes "$SIZE" "$1" "$RUN"; }
mapfile -t LIP < <(flags lip)
mapfile -t FACE < <(flags face)
mapfile -t VQ < <(flags vq)
mapfile -t GUIDE < <(flags guide)
mapfile -t POSE < <(flags pose)

if [ ! -f "$PERSON/data_stats.pth" ]; then
  if [ "$PERSON" != "$RUN/dataset/SYN001" ]; then
    echo "[train_all] $PERSON is not a person folder with data_stats.pth" >&2
    exit 1
  fi
  $PY -m data_loaders.synthetic --preset default --out "$RUN/dataset" --seed 0
fi

STAGES=" ${A2P_STAGES:-lip face vq guide pose} "
stage() {  # stage NAME MODULE ARGS...: one training run into $RUN/NAME, timed, when NAME is in STAGES
  local name=$1 module=$2
  shift 2
  [[ "$STAGES" == *" $name "* ]] || return 0
  echo "[train_all] $name: python -m $module $*"
  local start=$SECONDS
  $PY -m "$module" --save_dir "$RUN/$name" "$@"
  echo "[train_all] $name done in $((SECONDS - start)) s"
}

stage lip train.train_lip --data_root "$PERSON" "${LIP[@]}"
stage face train.train_diffusion --data_format face --data_root "$PERSON" --lip_model_path "$RUN/lip" "${FACE[@]}"
stage vq train.train_vq --data_root "$PERSON" "${VQ[@]}"
stage guide train.train_guide --data_root "$PERSON" --resume_pth "$RUN/vq" "${GUIDE[@]}"
stage pose train.train_diffusion --data_format pose --data_root "$PERSON" "${POSE[@]}"
echo "[train_all] stages${STAGES% } of size $SIZE in $RUN"
