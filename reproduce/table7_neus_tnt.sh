#!/usr/bin/env bash
# S3IM paper, Table 7: NeuS on four Tanks and Temples scenes, standard vs multiplex (image metrics).
# Real data: TNT_ROOT=/path/to/TanksAndTemple (NSVF layout). Environment and overrides: reproduce/run.sh.
exec bash "$(dirname "$0")/run.sh" s3im_table7 "$@"
