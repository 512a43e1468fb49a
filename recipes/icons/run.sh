#!/usr/bin/env bash
# The bundled icon model's recipe (see run.py): ./recipes/icons/run.sh --out WORK [--size test|full|large]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
export PYTHONPATH="$root/src${PYTHONPATH:+:$PYTHONPATH}"
exec "${PYTHON:-python3}" "$root/recipes/icons/run.py" "$@"
