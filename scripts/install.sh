#!/usr/bin/env bash
# Installs what a2p needs on a fresh Debian machine; fast and silent when everything is already there.
#   system: ffmpeg (video), espeak-ng (synthetic voices), Mesa EGL (headless OpenGL for the renderer),
#           chromium (the demo's browser test), node and npm (the Khronos glTF validator of the glTF export's
#           test, npm package gltf-validator, installed into .node/)
#   python: .venv with requirements.txt, and this package in editable mode
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v ffmpeg >/dev/null || missing+=(ffmpeg)
command -v espeak-ng >/dev/null || missing+=(espeak-ng)
ldconfig -p | grep -q libEGL_mesa || missing+=(libegl1 libegl-mesa0 libgl1-mesa-dri)
command -v chromium >/dev/null || missing+=(chromium)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "[install] apt-get install ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}" >/dev/null
fi

GLTF_VALIDATOR=2.0.0-dev.3.10
if [ "$(cat .node/.gltf-validator 2>/dev/null)" != "$GLTF_VALIDATOR" ]; then
  echo "[install] npm install gltf-validator@$GLTF_VALIDATOR into .node/"
  npm install --silent --no-audit --no-fund --prefix .node "gltf-validator@$GLTF_VALIDATOR" >/dev/null
  echo "$GLTF_VALIDATOR" > .node/.gltf-validator
fi

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  echo "[install] creating .venv with $PYTHON"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.a2p-requirements
want=$(cat requirements.txt setup.py | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[install] pip install -r requirements.txt"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r requirements.txt
  .venv/bin/python -m pip install -q --no-deps -e . --config-settings editable_mode=compat
  echo "$want" > "$stamp"
fi
