#!/usr/bin/env bash
# Trains every model from scratch on one person of a synthetic data set, in dependency order:
#   lip regressor -> face diffusion (conditioned on its lip vertices); VQ-VAE -> guide transformer; pose diffusion.
#
#   bash scripts/train_all.sh [small|full] [RUN_DIR] [PERSON_DIR]
#
#   small       the shipped checkpoints/ (a few MB each, about 1.5 hours on 2 CPU cores; see SMALL_* below)
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

# Small models: d 128, 4 layers, log-mel 64 + audio convs 64 wide; 8 s windows for the diffusion models and
# the guide; a short, hot learning-rate schedule (warm-up 100 steps, cosine to 0) and a short EMA. The small
# pose model sees its guide poses through the VQ-VAE in training (--guide_vq_path), as it does at sampling:
# the decoded keyframes of a small codebook lose detail that a model trained on exact keyframes would copy.
SMALL_AUDIO=(--n_mels 64 --audio_hidden 64 --audio_channel_dim 64)
SMALL_TRAIN=(--num_workers 0 --warm_up_iter 100 --schedule cosine --log_interval 50
             --save_interval 1000000 --eval_interval 0 --keep_checkpoints 1)
SMALL_DIFFUSION=(--latent_dim 128 --layers 4 --heads 4 --ff_size 256 --max_seq_length 240 --min_seq_length 180
                 --batch_size 8 --lr 5e-4 --ema_decay 0.99 "${SMALL_AUDIO[@]}")
case "$SIZE" in
  small)
    LIP=(--lip_latent_dim 128 --lip_encoder_layers 1 --lip_decoder_layers 2 --lip_ff_size 256 --batch_size 16
         --lr 5e-4 --ema_decay 0.99 --num_steps 1200 "${SMALL_AUDIO[@]}" "${SMALL_TRAIN[@]}")
    FACE=("${SMALL_DIFFUSION[@]}" --num_cond_layers 1 --num_steps 1200 "${SMALL_TRAIN[@]}")
    VQ=(--codebook_size 256 --depth 4 --emb_width 64 --translation_weight 10 --batch_size 32 --num_steps 3000 --warm_up_iter 100
        --num_workers 0 --log_interval 100 --save_interval 1000000 --eval_interval 0 --keep_checkpoints 1)
    GUIDE=(--layers 4 --dim 64 --heads 4 --ff_size 256 --audio_layers 1 --max_seq_length 240 --batch_size 16
           --lr 1e-3 --ema_decay 0.99 --num_steps 2400 "${SMALL_AUDIO[@]}" "${SMALL_TRAIN[@]}")
    POSE=("${SMALL_DIFFUSION[@]}" --lambda_vel 2.0 --guide_vq_path "$RUN/vq" --num_steps 1500 "${SMALL_TRAIN[@]}")
    ;;
  full)
    LIP=(); FACE=(); VQ=(); GUIDE=()
    POSE=(--lambda_vel 2.0)
    ;;
  *)
    echo "usage: bash scripts/train_all.sh [small|full] [RUN_DIR] [PERSON_DIR]" >&2
    exit 2
    ;;
esac

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
