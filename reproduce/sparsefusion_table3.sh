#!/usr/bin/env bash
# SparseFusion Table3; see reproduce/sparsefusion_table3.py for the environment variables.
# Environment and overrides: reproduce/run.sh.
exec bash "$(dirname "$0")/run.sh" sparsefusion_table3 "$@"
