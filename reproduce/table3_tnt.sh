#!/usr/bin/env bash
# S3IM paper, Table 3: DVGO, TensoRF and NeRF on Tanks and Temples (4 scenes), standard vs multiplex.
# Real data: TNT_ROOT=/path/to/TanksAndTemple (NSVF layout). Environment and overrides: reproduce/run.sh.
exec bash "$(dirname "$0")/run.sh" s3im_table3 "$@"
