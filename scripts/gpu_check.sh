#!/usr/bin/env bash
# GPU checks for a CUDA machine with torch but no package index (the lent device machine):
# installs the wheels carried in .whl (scripts/gpu_wheels.sh downloads them) and grammarlib into
# /tmp/site, runs the device tests, then scripts/gpu_bench.py. Tokenizers come from
# $GRAMMARLIB_ASSETS/tokenizers (gpt-2 for the tests, llama-bpe for the generate benchmark).
set -u
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-compile \
    --target /tmp/site . || exit 1
export PYTHONPATH=/tmp/site
python3 -c "import torch, grammarlib; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
python3 -m pytest -q -p no:cacheprovider tests/test_bitmask_devices.py \
    "tests/test_transformers.py::test_cuda_generate" 2>&1 | tail -15
python3 scripts/gpu_bench.py --tokenizer "$GRAMMARLIB_ASSETS/tokenizers/llama-bpe" \
    --out "${OUT:-/tmp}/gpu_bench.txt"
