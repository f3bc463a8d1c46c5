#!/usr/bin/env bash
# SparseFusion Table5; see reproduce/sparsefusion_table5.py for the environment variables.
# Environment and overrides: reproduce/run.sh.
exec bash "$(dirname "$0")/run.sh" sparsefusion_table5 "$@"
