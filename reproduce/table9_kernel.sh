#!/usr/bin/env bash
# S3IM paper, Table 9: S3IM kernel size in {4, 16, 64}, TensoRF on Replica scene 1.
# Real data: REPLICA_ROOT=/path/to/Replica (MonoSDF layout). Environment and overrides: reproduce/run.sh.
exec bash "$(dirname "$0")/run.sh" s3im_table9 "$@"
