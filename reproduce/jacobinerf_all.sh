#!/usr/bin/env bash
# JacobiNeRF: every table and figure (Tables 1-5, Figures 6-8); the runs are shared, so later scripts reuse them.
set -euo pipefail
cd "$(dirname "$0")/.."
for s in table1_replica table2_scannet table3 table4_5 figures; do bash "reproduce/jacobinerf_$s.sh"; done
