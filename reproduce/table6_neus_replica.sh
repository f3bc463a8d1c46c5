#!/usr/bin/env bash
# S3IM paper, Table 6: NeuS on the 8 Replica scenes, standard vs multiplex (image + surface metrics, mesh renders).
# Real data: REPLICA_ROOT=/path/to/Replica (MonoSDF layout, scan1..scan8). Environment and overrides: reproduce/run.sh.
exec bash "$(dirname "$0")/run.sh" s3im_table6 "$@"
