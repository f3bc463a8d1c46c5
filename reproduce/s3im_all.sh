#!/usr/bin/env bash
# S3IM: every table and figure, in the order in which later scripts reuse earlier runs (reproduce/table.py,
# REUSE_RUNS_FROM): Table 1 before Figure 6, Table 9 before Table 8, Figure 3 before Figure 4 and Table 10.
# Prints the wall time of each script. Environment and overrides: reproduce/run.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
for s in table1_dvgo_replica figure6_lambda table2_tensorf_replica table9_kernel table8_repeat_m table3_tnt \
    figure3_sparse_views figure4_noisy_images table10_nonlocal table4_dnerf table5_dynamic_nerf \
    table6_neus_replica table7_neus_tnt; do
    start=$(date +%s)
    bash "reproduce/$s.sh" "$@"
    echo "reproduce/$s.sh: $(( ($(date +%s) - start) / 60 )) min"
done
