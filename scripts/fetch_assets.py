"""Fetch the project's test assets into the cache and list them.

    python scripts/fetch_assets.py [--dir D] [--no-build]

Downloads the ``llama-cpp-python==0.3.36`` sdist with pip (from the configured package index, no
model hub) and keeps its ``ggml-vocab-*.gguf`` vocabularies and reference tokenizations; finds
or builds a ``tokenizer.json`` for each vocabulary that has one. Idempotent: a second run only
checks hashes. The cache is ``--dir``, else ``$GRAMMARLIB_ASSETS``, else
``~/.cache/grammarlib/assets``. The logic lives in ``grammarlib.masks.assets``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

TOKENIZER_JSON_NAMES = ("gpt-2", "llama-bpe", "llama-spm", "qwen2", "phi-3", "deepseek-coder")
SHARED_ONLY = ("gemma-3",)  # no GGUF vocabulary in the sdist: only from ../shared/tokenizers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, help="cache directory (default: $GRAMMARLIB_ASSETS)")
    parser.add_argument(
        "--no-build", action="store_true", help="do not build missing tokenizer.json files"
    )
    args = parser.parse_args(argv)
    try:
        from grammarlib.masks import assets
    except ImportError as e:
        hint = "pip install -e '.[assets]'"
        print(f"grammarlib is not installed ({e}); run: {hint}", file=sys.stderr)
        return 2

    root = args.dir if args.dir is not None else assets.assets_dir()
    start = time.perf_counter()
    try:
        vocabs = assets.ensure_llama_cpp_vocabs(root)
    except assets.AssetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"llama.cpp vocabularies ({assets.LLAMA_CPP_PYTHON}): {vocabs}")
    print(f"  ready in {time.perf_counter() - start:.1f}s")
    for name in assets.vocab_names(root):
        path = assets.vocab_gguf(name, root)
        refs = path.with_name(path.name + ".inp").is_file()
        size = path.stat().st_size / 1e6
        print(f"  {name:18s} {size:6.1f} MB{'  + reference tokenizations' if refs else ''}")
    print("tokenizer.json:")
    for name in TOKENIZER_JSON_NAMES + SHARED_ONLY:
        start = time.perf_counter()
        d = assets.tokenizer_json_dir(name, root, build=not args.no_build)
        took = time.perf_counter() - start
        print(f"  {name:18s} {d if d is not None else '(not available)'}  [{took:.1f}s]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
