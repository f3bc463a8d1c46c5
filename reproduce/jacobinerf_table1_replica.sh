#!/usr/bin/env bash
# JacobiNeRF: reproduce/jacobinerf_table1_replica (see reproduce/jacobinerf_table1.py and reproduce/jacobinerf_common.py).
# Data: REPLICA_SEMANTIC_ROOT / SCANNET_ROOT select real data and the paper profile; otherwise synthetic rooms, quick.
# Overrides: PROFILE=paper|quick|smoke  SCENES_REPLICA="room_0 room_1"  SCENES_SCANNET=...  FEATURES=selfsup|dino
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
export WANDB_SILENT=true HF_HUB_OFFLINE=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
exec .venv/bin/python -m reproduce.jacobinerf_table1 replica "$@"
