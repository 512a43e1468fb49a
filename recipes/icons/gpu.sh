#!/usr/bin/env bash
# One GPU leg of the icon recipe (gpu.py), as the one command a lent GPU machine runs from the repository root:
#   bash recipes/icons/gpu.sh vqgan|dallebart CARRY      results into $OUT (default ./gpu-results)
# CARRY is the folder `run.py --prepare-gpu CARRY` wrote; its wheels/ (packages the machine's Python lacks,
# Pillow at the preparing machine's version) are installed into a scratch folder first. No network is used.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
if [ $# -ne 2 ] || { [ "$1" != vqgan ] && [ "$1" != dallebart ]; }; then
  echo "error: usage: gpu.sh vqgan|dallebart CARRY" >&2
  exit 2
fi
leg=$1
carry=$(cd "$2" 2>/dev/null && pwd) || { echo "error: no folder $2 (run.py --prepare-gpu $2 writes it)" >&2; exit 2; }
py=${PYTHON:-python3}
out=${OUT:-gpu-results}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
site=""
if compgen -G "$carry/wheels/*.whl" > /dev/null; then
  site=$(mktemp -d)
  "$py" -m pip install -q --no-index --no-deps --no-compile --target "$site" "$carry"/wheels/*.whl
fi
export PYTHONPATH="${site:+$site:}$root/src${PYTHONPATH:+:$PYTHONPATH}"
exec "$py" "$root/recipes/icons/gpu.py" "$leg" "$carry" --out "$out" ${BLOGART_GPU_WORK:+--work "$BLOGART_GPU_WORK"}
