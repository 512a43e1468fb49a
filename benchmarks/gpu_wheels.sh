#!/usr/bin/env bash
# Run HERE (not on the GPU machine): download the wheels `gpu.sh diffusion` needs into .whl/, for the GPU
# image's Python 3.12. That image has torch and transformers but not diffusers, nor pydantic and
# pydantic-settings (blogart's settings); the rest blogart.generators.diffusion imports is there.
# Then: run(command="bash benchmarks/gpu.sh diffusion", carry=[".whl"]). About 9 MB.
set -euo pipefail
cd "$(dirname "$0")/.."
platforms=(--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  "${platforms[@]}" -d .whl \
  diffusers==0.42.1 pydantic pydantic-core pydantic-settings annotated-types typing-inspection \
  typing-extensions python-dotenv platformdirs importlib-metadata
ls .whl
