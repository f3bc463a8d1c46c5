#!/usr/bin/env bash
# SparseFusion Table6; see reproduce/sparsefusion_table6.py for the environment variables.
# Environment and overrides: reproduce/run.sh.
exec bash "$(dirname "$0")/run.sh" sparsefusion_table6 "$@"
