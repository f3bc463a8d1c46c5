#!/usr/bin/env bash
# SparseFusion: every table and Figure 8 in one go (they share the trained models and the per-scene evaluations).
# Same environment as reproduce/sparsefusion_table2.sh (CO3D_ROOT, PROFILE, CATEGORIES, RUNS_DIR, RESULTS_DIR).
# Prints the wall time of each script.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
for t in table2 figure8 table4 table5 table6 table3; do
  start=$(date +%s)
  .venv/bin/python -m reproduce.sparsefusion_$t "$@"
  echo "sparsefusion_$t: $(( $(date +%s) - start )) s"
done
