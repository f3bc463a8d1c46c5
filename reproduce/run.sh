#!/usr/bin/env bash
# Runs one reproduce script after setting up .venv:  bash reproduce/run.sh s3im_table9 [key=value ...]
#
# Environment of every table script (see reproduce/table.py): the real data root variable of the table
# (REPLICA_ROOT, TNT_ROOT, ...) selects the real data and the `paper` profile; without it the synthetic
# default is generated once (cached in data_cache/) and the `quick` profile runs.
#   PROFILE=paper|quick|smoke  SCENES="..." (cells)  DEVICE=cpu|cuda  JOBS=N  LAUNCHER=local|ray
#   RUNS_DIR=...  RESULTS_DIR=...; extra key=value arguments are config overrides of every run.
#   REUSE_RUNS_FROM=runs (default): a run whose resolved config equals a finished run of another table
#   under that folder links to it instead of training again (REUSE_RUNS_FROM= turns this off).
# Re-running skips finished runs and resumes interrupted ones from their last checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
export WANDB_SILENT=true HF_HUB_OFFLINE=1
module=$1
shift
exec .venv/bin/python -m "reproduce.$module" "$@"
