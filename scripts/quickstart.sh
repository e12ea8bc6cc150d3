#!/usr/bin/env bash
# The main job on a fresh machine: install everything, then turn the example conversation (shipped in assets/,
# spoken by the synthetic voices) into face and body motion (results.npy) and an mp4 of the avatar with sound,
# using the small pretrained checkpoints shipped in checkpoints/ (a few minutes on a CPU).
#   A2P_AUDIO        the audio to animate (default assets/example_conversation.wav; any WAV: channel 0 = the
#                    person, 1 = the partner; mono = the person alone)
#   A2P_OUT          output folder (default outputs/quickstart)
#   A2P_CHECKPOINTS  folder of the lip/face/vq/guide/pose checkpoints (default checkpoints)
#   A2P_STEPS        denoising steps, e.g. ddim50 (default: what each model folder's sampling.json recommends;
#                    guidance and sampler always come from there)
#   A2P_VIDEO_SIZE   pixels per view of the video (default 256: frames of 512 x 256, body | face)
# To train every model yourself instead: bash scripts/train_all.sh small
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
AUDIO=$(realpath "${A2P_AUDIO:-$REPO/assets/example_conversation.wav}")
OUT=$(realpath -m "${A2P_OUT:-$REPO/outputs/quickstart}")
CKPT=$(realpath "${A2P_CHECKPOINTS:-$REPO/checkpoints}")
cd "$REPO"
bash scripts/install.sh
PY=.venv/bin/python
SAMPLE=(--audio "$AUDIO" --num_repetitions 1 --seed 10)
if [ -n "${A2P_STEPS:-}" ]; then SAMPLE+=(--timestep_respacing "$A2P_STEPS"); fi
$PY -m sample.generate --model_path "$CKPT/face" --output_dir "$OUT/face" "${SAMPLE[@]}"
$PY -m sample.generate --model_path "$CKPT/pose" --resume_trans "$CKPT/guide" \
  --output_dir "$OUT/body" "${SAMPLE[@]}" --plot --face_codes "$OUT/face/results.npy" \
  --render_size "${A2P_VIDEO_SIZE:-256}"
echo "[quickstart] face codes: $OUT/face/results.npy"
echo "[quickstart] body pose:  $OUT/body/results.npy"
echo "[quickstart] video:      $OUT/body/sample00_rep00_pred.mp4"
