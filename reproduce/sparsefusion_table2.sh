#!/usr/bin/env bash
# SparseFusion Table2; see reproduce/sparsefusion_table2.py for the environment variables.
# Environment and overrides: reproduce/run.sh.
exec bash "$(dirname "$0")/run.sh" sparsefusion_table2 "$@"
