#!/usr/bin/env bash
# S3IM paper, Table 2: TensoRF on the 8 Replica scenes, standard vs multiplex training.
# Real data: REPLICA_ROOT=/path/to/Replica (MonoSDF layout). Environment and overrides: reproduce/run.sh.
exec bash "$(dirname "$0")/run.sh" s3im_table2 "$@"
