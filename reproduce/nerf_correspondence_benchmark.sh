#!/usr/bin/env bash
# nerf_correspondence: see reproduce/nerf_correspondence_benchmark.py for what it runs and writes.
#
#   bash reproduce/nerf_correspondence_benchmark.sh            # quick profile on the synthetic default
#   PROFILE=smoke bash reproduce/nerf_correspondence_benchmark.sh
# Environment and overrides: reproduce/run.sh.
exec bash "$(dirname "$0")/run.sh" nerf_correspondence_benchmark "$@"
