#!/usr/bin/env bash
# S3IM paper, Table 10: MSE vs MSE + local-patch SSIM vs MSE + S3IM, DVGO on Truck.
# Real data: TNT_ROOT=/path/to/TanksAndTemple (NSVF layout). Environment and overrides: reproduce/run.sh.
exec bash "$(dirname "$0")/run.sh" s3im_table10 "$@"
