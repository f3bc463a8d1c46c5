#!/usr/bin/env bash
# S3IM paper, Table 1: DVGO on the 8 Replica scenes, standard vs multiplex training.
#
#   bash reproduce/table1_dvgo_replica.sh
#
# Data: REPLICA_ROOT=/path/to/Replica (MonoSDF layout, scan1..scan8) selects the real data and the
#       `paper` profile; without it the synthetic 8-scene Replica-like set is generated once (cached
#       in data_cache/) and the `quick` profile runs (about 15 min on a 2-core CPU).
# Overrides: PROFILE=paper|quick|smoke  SCENES="scan1 scan2"  DEVICE=cpu|cuda  JOBS=N (parallel local runs)
#            LAUNCHER=local|ray  RUNS_DIR=...  RESULTS_DIR=...  (see reproduce/s3im_table1.py)
# Re-running skips finished runs and resumes interrupted ones from their last checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
export WANDB_SILENT=true HF_HUB_OFFLINE=1
exec .venv/bin/python -m reproduce.s3im_table1 "$@"
