#!/usr/bin/env bash
# S3IM paper, Figure 6: S3IM weight lambda sweep, DVGO on Replica scene 4.
# Real data: REPLICA_ROOT=/path/to/Replica (MonoSDF layout). Environment and overrides: reproduce/run.sh.
exec bash "$(dirname "$0")/run.sh" s3im_figure6 "$@"
