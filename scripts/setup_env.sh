#!/usr/bin/env bash
# Create (once) the project-local virtual environment .venv and install the project into it.
#
# Idempotent: a stamp file records the hash of everything that decides the install
# (pyproject.toml, requirements/constraints.txt, the torch choice); when it matches, nothing runs.
#
# Torch:
#   * If the python that runs this script can already import torch (for example a CUDA build in
#     a conda env), the venv is created with --system-site-packages and that torch is kept.
#   * Otherwise torch is installed as NF_TORCH (default: torch==2.13.0, the CPU build on a
#     machine without CUDA) when the venv has none. For a CUDA build set NF_TORCH_INDEX_URL, e.g.
#       NF_TORCH_INDEX_URL=https://download.pytorch.org/whl/cu126 bash scripts/setup_env.sh
#     which also replaces a CPU-only torch already in the venv. (To change NF_TORCH after the
#     first setup, delete .venv.)
#   * A kept torch keeps its numpy too: the numpy/scipy pins of requirements/constraints.txt are
#     dropped then (the project accepts numpy >= 1.26).
#   * Every later install is constrained to the torch that is present, so no dependency
#     (lpips, timm, ...) can pull a different torch or gigabytes of CUDA wheels.
# Variables: NF_PYTHON (interpreter, default python3), NF_VENV (default .venv), NF_TORCH,
#            NF_TORCH_INDEX_URL, NF_EXTRAS (pip extras, default "dev").
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=${NF_PYTHON:-python3}
VENV=${NF_VENV:-$ROOT/.venv}
TORCH_SPEC=${NF_TORCH:-torch==2.13.0}
EXTRAS=${NF_EXTRAS:-dev}

"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
  || { echo "setup_env: Python >= 3.11 is needed ($PY is $("$PY" -V 2>&1)); set NF_PYTHON." >&2; exit 1; }

have_torch=$("$PY" -c 'import torch; print(torch.__version__)' 2>/dev/null || true)
key=$(cat pyproject.toml requirements/constraints.txt | sha256sum | cut -c1-16)-$TORCH_SPEC-${have_torch:-none}-$EXTRAS-${NF_TORCH_INDEX_URL:-}
stamp="$VENV/.nf-installed"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$key" ]; then
  exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup_env: creating $VENV (first run only; about 1-2 minutes)" >&2
  if [ -n "$have_torch" ]; then
    echo "setup_env: keeping the torch $have_torch of $PY (venv with --system-site-packages)" >&2
    "$PY" -m venv --system-site-packages "$VENV"
  else
    "$PY" -m venv "$VENV"
  fi
fi
VPY="$VENV/bin/python"
log="$VENV/setup.log"
: >"$log"
pip_install() {  # quiet pip; its full output goes to $log and is shown when it fails
  "$VPY" -m pip install "$@" >>"$log" 2>&1 || { cat "$log" >&2; echo "setup_env: pip install failed (log: $log)" >&2; exit 1; }
}
pip_install -q --upgrade pip

cpu_only_torch() { "$VPY" -W ignore -c 'import sys, torch; sys.exit(0 if torch.version.cuda is None else 1)' 2>/dev/null; }
if ! "$VPY" -c 'import torch' 2>/dev/null; then
  echo "setup_env: installing $TORCH_SPEC" >&2
  if [ -n "${NF_TORCH_INDEX_URL:-}" ]; then
    pip_install -q "$TORCH_SPEC" --index-url "$NF_TORCH_INDEX_URL" --extra-index-url https://pypi.org/simple
  else
    pip_install -q "$TORCH_SPEC"
  fi
elif [ -n "${NF_TORCH_INDEX_URL:-}" ] && [ -z "$have_torch" ] && cpu_only_torch; then
  echo "setup_env: replacing the CPU-only torch of $VENV by $TORCH_SPEC from $NF_TORCH_INDEX_URL" >&2
  pip_install -q --force-reinstall "$TORCH_SPEC" --index-url "$NF_TORCH_INDEX_URL" \
    --extra-index-url https://pypi.org/simple
fi
torch_now=$("$VPY" -W ignore -c 'import torch; print(torch.__version__)' 2>/dev/null)
tmpc=$(mktemp)
trap 'rm -f "$tmpc"' EXIT
if [ -n "$have_torch" ]; then
  grep -v -E '^(numpy|scipy)==' requirements/constraints.txt >"$tmpc"
else
  cat requirements/constraints.txt >"$tmpc"
fi
echo "torch==${torch_now%%+*}" >>"$tmpc"
echo "setup_env: installing the project (torch $torch_now kept)" >&2
pip_install -q -c "$tmpc" -e ".[$EXTRAS]"
echo "$key" >"$stamp"
echo "setup_env: ready ($VENV)" >&2
