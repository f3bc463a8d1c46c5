#!/usr/bin/env bash
# nerf_correspondence: see reproduce/nerf_correspondence_benchmark.py for what it runs and writes.
#
#   bash reproduce/nerf_correspondence_benchmark.sh            # quick profile on the synthetic default
#   PROFILE=smoke bash reproduce/nerf_correspondence_benchmark.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
export WANDB_SILENT=true WANDB_MODE=${WANDB_MODE:-offline} HF_HUB_OFFLINE=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} NF_TORCH_THREADS=${NF_TORCH_THREADS:-1}
exec .venv/bin/python -m reproduce.nerf_correspondence_benchmark "$@"
