#!/usr/bin/env bash
# SparseFusion Table6; see reproduce/sparsefusion_table6.py for the environment variables.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
exec .venv/bin/python -m reproduce.sparsefusion_table6 "$@"
