#!/usr/bin/env bash
# The project's test command: sets up .venv on first use, runs the test suite, then ruff.
#   bash scripts/test.sh                 # the CI suite (tests marked slow are excluded)
#   bash scripts/test.sh -m slow         # only the slow tests; any pytest arguments work
# Exit status: pytest's, except that "no tests collected" (pytest exit 5) is a failure.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh || exit 1
export WANDB_MODE=${WANDB_MODE:-offline} WANDB_SILENT=true HF_HUB_OFFLINE=1 PYTHONHASHSEED=0
args=("$@")
[ ${#args[@]} -eq 0 ] && args=(-m "not slow")
start=$(date +%s)
.venv/bin/python -m pytest "${args[@]}"
rc=$?
echo "tests took $(( $(date +%s) - start )) s"
if [ $rc -eq 5 ]; then
  echo "test.sh: pytest collected no tests (exit 5): failing" >&2
  exit 1
fi
[ $rc -ne 0 ] && exit $rc
.venv/bin/ruff check . || { echo "test.sh: ruff check failed" >&2; exit 1; }
