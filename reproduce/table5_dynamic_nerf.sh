#!/usr/bin/env bash
# S3IM paper, Table 5: Dynamic NeRF (Gao et al.) on Balloon1, standard vs multiplex.
# Real data: NVIDIA_DYNAMIC_ROOT=/path/to/data (DynamicNeRF layout, <root>/Balloon1). Environment and overrides: reproduce/run.sh.
exec bash "$(dirname "$0")/run.sh" s3im_table5 "$@"
