#!/usr/bin/env bash
# S3IM paper, Table 1: DVGO on the 8 Replica scenes, standard vs multiplex training.
#
#   bash reproduce/table1_dvgo_replica.sh
#
# Data: REPLICA_ROOT=/path/to/Replica (MonoSDF layout, scan1..scan8) selects the real data and the
#       `paper` profile; without it the synthetic 8-scene Replica-like set is generated once (cached
#       in data_cache/) and the `quick` profile runs (about 20 min on a 2-core CPU).
# Environment and overrides: reproduce/run.sh (PROFILE, SCENES, DEVICE, JOBS, LAUNCHER, RUNS_DIR, RESULTS_DIR).
exec bash "$(dirname "$0")/run.sh" s3im_table1 "$@"
