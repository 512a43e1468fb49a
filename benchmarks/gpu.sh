#!/usr/bin/env bash
# The GPU benchmark runs, prepared as one script for a lent GPU machine (no install step: it uses the
# machine's own jax/flax, with blogart from the source tree). Results go to $OUT (or ./gpu-results).
#   bash benchmarks/gpu.sh            generation (DalleBart sampling, VQGAN decode)
#   bash benchmarks/gpu.sh train      training steps (DalleBart fine-tuning, VQGAN training)
#   bash benchmarks/gpu.sh diffusion  SD-Turbo and Z-Image-Turbo (carry .whl from benchmarks/gpu_wheels.sh)
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
if [ "${1:-generate}" = diffusion ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || { echo "no wheels: run benchmarks/gpu_wheels.sh here and carry .whl"; exit 1; }
  export PYTHONPATH=src:/tmp/site
  # Z-Image first: its build writes ~20 GB, so it gets the time; each run is its own process.
  timeout 420 python3 benchmarks/diffusers.py --model z-image-turbo --device cuda --dtype bfloat16 --batch 1 4 \
    --timeout 150 --json > "$out/z-image.json" 2> "$out/z-image.err"; echo "z-image rc=$? $(cat "$out/z-image.json")"
  timeout 150 python3 benchmarks/diffusers.py --device cuda --dtype bfloat16 float16 --batch 1 4 --timeout 60 \
    --json > "$out/sd-turbo.json" 2> "$out/sd-turbo.err"; echo "sd-turbo rc=$? $(cat "$out/sd-turbo.json")"
elif [ "${1:-generate}" = train ]; then
  run train-d256-64-b32 benchmarks/train.py --model dallebart --config d256-64 --batch 32 --steps 5
  run train-d256-64-b32-bf16 benchmarks/train.py --model dallebart --config d256-64 --batch 32 --steps 5 --bf16
  run train-d384-256-b16 benchmarks/train.py --model dallebart --config d384-256 --batch 16 --steps 5
  run train-vqgan-64-b32 benchmarks/train_vqgan.py --size 64 --batch 32 --runs 5
  run train-vqgan-128-b16 benchmarks/train_vqgan.py --size 128 --batch 16 --runs 5
else
  run mega-b9-bf16 benchmarks/generate.py --config mega --batch 9 --dtype bfloat16 --condition-scale 10
  run mini-b9-bf16 benchmarks/generate.py --config mini --batch 9 --dtype bfloat16 --condition-scale 10
  # Cross-post batches (issue 29): the sampler is all they change, so batch 64 against 9 is their gain.
  run mini-b64-bf16 benchmarks/generate.py --config mini --batch 64 --dtype bfloat16 --condition-scale 10
  run mega-b64-bf16 benchmarks/generate.py --config mega --batch 64 --dtype bfloat16 --condition-scale 10
  run mini-b9-fp32 benchmarks/generate.py --config mini --batch 9 --dtype float32 --condition-scale 10
  run mini-b1-bf16 benchmarks/generate.py --config mini --batch 1 --dtype bfloat16 --condition-scale 10
  run vqgan-b9 benchmarks/vqgan.py --batch 9
fi
tail -n 3 "$out"/*.err
