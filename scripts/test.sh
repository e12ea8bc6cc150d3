#!/usr/bin/env bash
# Installs when needed, then runs the whole test suite (two workers, one per core).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/python -m pytest -n 2 -q tests "$@"
