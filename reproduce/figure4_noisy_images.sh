#!/usr/bin/env bash
# S3IM paper, Figure 4: DVGO on Truck with Gaussian noise in the training images.
# Real data: TNT_ROOT=/path/to/TanksAndTemple (NSVF layout). Environment and overrides: reproduce/run.sh.
exec bash "$(dirname "$0")/run.sh" s3im_figure4 "$@"
