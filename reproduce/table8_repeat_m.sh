#!/usr/bin/env bash
# S3IM paper, Table 8: S3IM repeat M in {0, 1, 10}, TensoRF on Replica scene 1, with training times.
# Real data: REPLICA_ROOT=/path/to/Replica (MonoSDF layout). Environment and overrides: reproduce/run.sh.
exec bash "$(dirname "$0")/run.sh" s3im_table8 "$@"
