#!/usr/bin/env bash
# SparseFusion Table4; see reproduce/sparsefusion_table4.py for the environment variables.
# Environment and overrides: reproduce/run.sh.
exec bash "$(dirname "$0")/run.sh" sparsefusion_table4 "$@"
