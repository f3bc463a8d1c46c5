#!/usr/bin/env bash
# JacobiNeRF: reproduce/jacobinerf_figures (see reproduce/jacobinerf_figures.py and reproduce/jacobinerf_common.py).
# Data: REPLICA_SEMANTIC_ROOT / SCANNET_ROOT select real data and the paper profile; otherwise synthetic rooms, quick.
# Overrides: PROFILE=paper|quick|smoke  SCENES_REPLICA="room_0 room_1"  SCENES_SCANNET=...  FEATURES=selfsup|dino
# Environment and overrides: reproduce/run.sh.
exec bash "$(dirname "$0")/run.sh" jacobinerf_figures "$@"
