#!/usr/bin/env bash
# Bitmask application on a CUDA GPU: the device-parametrised tests plus throughput (run on a GPU machine).
set -x
nvidia-smi --query-gpu=name,driver_version --format=csv
python3 -c "import torch, numpy; print(torch.__version__, numpy.__version__, torch.cuda.is_available())"
python3 -m pip install --no-deps --no-index --no-build-isolation -q -e . 2>&1 | tail -2
python3 -c "import lark" 2>&1 | tail -1
python3 -m pytest -q -p no:cacheprovider tests/test_bitmask_devices.py 2>&1 | tail -5
python3 - <<'PY'
import time, torch, numpy as np, grammarlib as gl
from grammarlib.masks.bitmask import bool_to_bits
for batch in (1, 16, 64):
    vocab = 128256
    allowed = np.random.default_rng(0).random((batch, vocab)) < 0.5
    bits = torch.from_numpy(bool_to_bits(allowed)).cuda()
    logits = torch.randn(batch, vocab, device="cuda", dtype=torch.bfloat16)
    for _ in range(10): gl.apply_token_bitmask(logits, bits)
    torch.cuda.synchronize(); t = time.perf_counter()
    for _ in range(200): gl.apply_token_bitmask(logits, bits)
    torch.cuda.synchronize(); dt = (time.perf_counter() - t) / 200
    cpu_bits = bool_to_bits(allowed)
    torch.cuda.synchronize(); t = time.perf_counter()
    for _ in range(200): gl.apply_token_bitmask(logits, cpu_bits)
    torch.cuda.synchronize(); dt2 = (time.perf_counter() - t) / 200
    print(f"batch {batch}: apply on H100 {dt*1e6:.1f} us (bitmask already on GPU), {dt2*1e6:.1f} us (numpy bitmask copied each call)")
PY
