#!/usr/bin/env bash
# S3IM paper, Table 4: D-NeRF on Lego and Mutant, standard vs multiplex.
# Real data: DNERF_ROOT=/path/to/data (D-NeRF layout, <root>/{lego,mutant}). Environment and overrides: reproduce/run.sh.
exec bash "$(dirname "$0")/run.sh" s3im_table4 "$@"
