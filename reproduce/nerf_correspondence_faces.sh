#!/usr/bin/env bash
# nerf_correspondence: BDF on the official pi-GAN CelebA generator (paper Figs. 5 and 8); see
# reproduce/nerf_correspondence_faces.py.
#
#   PIGAN_CHECKPOINT_DIR=/path/holding/generator.pth+ema.pth bash reproduce/nerf_correspondence_faces.sh
#   PROFILE=smoke|quick|paper (default quick)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
export WANDB_SILENT=true WANDB_MODE=${WANDB_MODE:-offline} HF_HUB_OFFLINE=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} NF_TORCH_THREADS=${NF_TORCH_THREADS:-1}
exec .venv/bin/python -m reproduce.nerf_correspondence_faces "$@"
