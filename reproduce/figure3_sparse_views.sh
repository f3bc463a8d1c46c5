#!/usr/bin/env bash
# S3IM paper, Figure 3: DVGO on Truck with 100/80/60/40/20% of the training views.
# Real data: TNT_ROOT=/path/to/TanksAndTemple (NSVF layout). Environment and overrides: reproduce/run.sh.
exec bash "$(dirname "$0")/run.sh" s3im_figure3 "$@"
