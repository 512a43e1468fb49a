#!/usr/bin/env bash
# The GPU benchmark run, prepared as one script for a lent GPU machine (no install step: it uses the
# machine's own jax/flax, with blogart from the source tree). Results go to $OUT (or ./gpu-results).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-gpu-results}; mkdir -p "$out"
export PYTHONPATH=src PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
python3 -c "import jax, flax; print('jax', jax.__version__, 'flax', flax.__version__, jax.devices())" | tee -a "$out/gpu.txt"
run() {  # name, then the benchmark's arguments
  local name=$1; shift
  timeout 240 python3 "$@" --json > "$out/$name.json" 2> "$out/$name.err"
  echo "$name rc=$? $(cat "$out/$name.json")"
}
run mega-b9-bf16 benchmarks/generate.py --config mega --batch 9 --dtype bfloat16 --condition-scale 10
run mini-b9-bf16 benchmarks/generate.py --config mini --batch 9 --dtype bfloat16 --condition-scale 10
run mini-b9-fp32 benchmarks/generate.py --config mini --batch 9 --dtype float32 --condition-scale 10
run mini-b1-bf16 benchmarks/generate.py --config mini --batch 1 --dtype bfloat16 --condition-scale 10
run vqgan-b9 benchmarks/vqgan.py --batch 9
tail -n 3 "$out"/*.err
