#!/usr/bin/env bash
# SparseFusion Figure8; see reproduce/sparsefusion_figure8.py for the environment variables.
# Environment and overrides: reproduce/run.sh.
exec bash "$(dirname "$0")/run.sh" sparsefusion_figure8 "$@"
