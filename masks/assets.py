"""Real tokenizer vocabularies for tests and benchmarks, fetched from PyPI into a cache directory.

The sdist of ``llama-cpp-python==0.3.36`` ships llama.cpp's vocabulary-only GGUF files
(``vendor/llama.cpp/models/ggml-vocab-<name>.gguf``) together with reference tokenizations made
by the original Hugging Face tokenizers (``.gguf.inp`` texts, ``.gguf.out`` token ids). Only those
files are kept, with a manifest of their sha256, so a second call costs a hash check. No model hub
is contacted: pip downloads the sdist from the configured package index.

``tokenizer.json`` files for the same vocabularies come from ``../shared/tokenizers/<name>/``
next to a source checkout when present, and are otherwise built from the GGUF files (a
`tokenizers` pipeline per llama.cpp pre-tokenizer; see `build_tokenizer_json`).

The cache is ``$GRAMMARLIB_ASSETS``, else ``~/.cache/grammarlib/assets``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "AssetError",
    "assets_dir",
    "build_tokenizer_json",
    "ensure_llama_cpp_vocabs",
    "reference_tokenizations",
    "tokenizer_json_dir",
    "vocab_gguf",
    "vocab_names",
]

LLAMA_CPP_PYTHON = "llama-cpp-python==0.3.36"
_SDIST_FILE = "llama_cpp_python-0.3.36.tar.gz"
_SDIST_SHA256 = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
_VOCAB_DIR = "llama-cpp-python-0.3.36-vocabs"
_MANIFEST = "MANIFEST.json"
_MEMBER = re.compile(r"[^/]+/vendor/llama\.cpp/models/(ggml-vocab-[\w.-]+\.gguf(?:\.inp|\.out)?)")
# present in the sdist; a manifest without them is from a broken extraction
_REQUIRED = ("gpt-2", "llama-bpe", "llama-spm", "qwen2", "phi-3", "deepseek-coder", "gemma-4")
_TEST_SEPARATOR = "\n__ggml_vocab_test__\n"


class AssetError(RuntimeError):
    """A test asset could not be fetched or failed verification."""


_checked: set[Path] = set()  # vocabulary directories verified by this process


def assets_dir() -> Path:
    """The cache directory: ``$GRAMMARLIB_ASSETS`` or ``~/.cache/grammarlib/assets``."""
    env = os.environ.get("GRAMMARLIB_ASSETS")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "grammarlib" / "assets"


def ensure_llama_cpp_vocabs(root: str | os.PathLike[str] | None = None) -> Path:
    """The directory of llama.cpp's vocabulary GGUF files and reference tokenizations,
    downloading and extracting the ``llama-cpp-python`` sdist first if they are missing or do
    not match their manifest. Safe to call from several processes at once."""
    root = Path(root) if root is not None else assets_dir()
    target = root / _VOCAB_DIR
    if target in _checked and (target / _MANIFEST).is_file():
        return target  # verified earlier in this process
    if _verified(target):
        _checked.add(target)
        return target
    root.mkdir(parents=True, exist_ok=True)
    with _lock(root / ".lock"):
        if _verified(target):  # another process did it meanwhile
            _checked.add(target)
            return target
        with tempfile.TemporaryDirectory(dir=root, prefix=".fetch-") as tmp:
            sdist = _download_sdist(Path(tmp))
            staging = Path(tmp) / "vocabs"
            _extract_vocabs(sdist, staging)
            if target.exists():
                shutil.rmtree(target)
            staging.rename(target)
        if not _verified(target):
            raise AssetError(f"{target}: files do not match their manifest right after extraction")
    _checked.add(target)
    return target


def vocab_names(root: str | os.PathLike[str] | None = None) -> list[str]:
    """Names of the GGUF vocabularies in the cache (``gpt-2``, ``llama-bpe``, ...)."""
    d = ensure_llama_cpp_vocabs(root)
    return sorted(p.name[len("ggml-vocab-") : -len(".gguf")] for p in d.glob("ggml-vocab-*.gguf"))


def vocab_gguf(name: str, root: str | os.PathLike[str] | None = None) -> Path:
    """Path of ``ggml-vocab-<name>.gguf`` (e.g. ``"llama-bpe"`` for Llama 3)."""
    path = ensure_llama_cpp_vocabs(root) / f"ggml-vocab-{name}.gguf"
    if not path.is_file():
        raise ValueError(f"no vocabulary {name!r}; available: {', '.join(vocab_names(root))}")
    return path


def reference_tokenizations(
    name: str, root: str | os.PathLike[str] | None = None
) -> list[tuple[str, list[int]]]:
    """llama.cpp's reference tokenizations of a vocabulary: (text, token ids) pairs.

    The ids are what the original Hugging Face tokenizer gave with ``add_special_tokens=False``:
    no BOS, but SentencePiece vocabularies with a dummy prefix (Llama 2, Phi-3) tokenize
    ``" " + text``. Parsed as llama.cpp's ``test-tokenizer-0`` does: texts are separated by
    ``"\\n__ggml_vocab_test__\\n"``, the last one may lack it; one line of ids per text.
    """
    gguf = vocab_gguf(name, root)
    inp = gguf.with_name(gguf.name + ".inp")
    out = gguf.with_name(gguf.name + ".out")
    if not inp.is_file() or not out.is_file():
        raise ValueError(f"vocabulary {name!r} has no reference tokenizations")
    raw = inp.read_bytes().decode("utf-8")
    texts = []
    pos = 0
    while pos < len(raw):
        nxt = raw.find(_TEST_SEPARATOR, pos)
        if nxt < 0:
            texts.append(raw[pos:])
            break
        texts.append(raw[pos:nxt])
        pos = nxt + len(_TEST_SEPARATOR)
    lines = out.read_text(encoding="utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) != len(texts):
        raise AssetError(f"{inp.name}: {len(texts)} texts but {len(lines)} lines of token ids")
    return [(t, [int(x) for x in line.split()]) for t, line in zip(texts, lines, strict=True)]


def tokenizer_json_dir(
    name: str, root: str | os.PathLike[str] | None = None, *, build: bool = True
) -> Path | None:
    """A directory with ``tokenizer.json`` (and ``tokenizer_config.json``) for a vocabulary.

    Looks in ``../shared/tokenizers/<name>`` beside the source checkout, then in the cache;
    otherwise builds it from the GGUF vocabulary when `build` and a recipe exists for it
    (gpt-2, llama-bpe, qwen2, deepseek-coder, llama-spm, phi-3). None when there is none.
    """
    shared = _shared_tokenizers() / name
    if (shared / "tokenizer.json").is_file():
        return shared
    root = Path(root) if root is not None else assets_dir()
    built = root / "tokenizers" / name
    if (built / "tokenizer.json").is_file() and (built / "tokenizer_config.json").is_file():
        return built
    if not build or name not in _PRE_TOKENIZERS:
        return None
    gguf = vocab_gguf(name, root)
    root.mkdir(parents=True, exist_ok=True)
    with _lock(root / ".lock"), tempfile.TemporaryDirectory(dir=root, prefix=".build-") as tmp:
        if (built / "tokenizer_config.json").is_file():
            return built
        staging = Path(tmp) / name
        build_tokenizer_json(gguf, staging)
        built.parent.mkdir(parents=True, exist_ok=True)
        if built.exists():
            shutil.rmtree(built)
        staging.rename(built)
    return built


def _shared_tokenizers() -> Path:
    """``$GRAMMARLIB_SHARED_DIR/tokenizers``, else ``../shared/tokenizers`` beside the source
    checkout (``masks/`` is in the repository)."""
    env = os.environ.get("GRAMMARLIB_SHARED_DIR")
    if env:
        return Path(env) / "tokenizers"
    return Path(__file__).resolve().parents[1].parent / "shared" / "tokenizers"


# ---------------------------------------------------------------------------- download


def _verified(target: Path) -> bool:
    """Whether `target` holds every file of its manifest with the recorded size and sha256."""
    try:
        manifest = json.loads((target / _MANIFEST).read_text(encoding="utf-8"))
        if manifest.get("source") != LLAMA_CPP_PYTHON:
            return False
        files = manifest["files"]
        if any(f"ggml-vocab-{n}.gguf" not in files for n in _REQUIRED):
            return False
        for fname, info in files.items():
            path = target / fname
            if path.stat().st_size != info["size"] or _sha256(path) != info["sha256"]:
                return False
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False
    return True


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """An exclusive lock between processes sharing the cache (POSIX; a no-op elsewhere)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# Finds the sdist through pip's own index machinery (configuration, index URLs, certificates and
# cache as `pip download` would use them) and streams it, without preparing its metadata: `pip
# download` of an sdist installs the build backend and runs it, which can take minutes here.
_PIP_FETCH = r"""
import hashlib, logging, sys
from pathlib import Path
from pip._internal.commands import create_command
from pip._vendor.packaging.requirements import Requirement
logging.getLogger("pip").setLevel(logging.ERROR)
dest, req, want = Path(sys.argv[1]), Requirement(sys.argv[2]), sys.argv[3]
cmd = create_command("download")
options, _ = cmd.parse_args(["--no-deps", "--no-binary", ":all:", str(req)])
with cmd.main_context():
    session = cmd.get_default_session(options)
    finder = cmd._build_package_finder(options=options, session=session)
    best = finder.find_best_candidate(req.name, specifier=req.specifier).best_candidate
    if best is None:
        sys.exit(f"no distribution found for {req}")
    link = best.link
    path = dest / link.filename
    h = hashlib.sha256()
    with session.get(link.url, stream=True) as r, open(path, "wb") as f:
        r.raise_for_status()
        for chunk in r.iter_content(1 << 20):
            h.update(chunk)
            f.write(chunk)
    if h.hexdigest() != want:
        sys.exit(f"sha256 mismatch for {link.filename}: {h.hexdigest()}")
    print(path)
"""


def _download_sdist(dest: Path) -> Path:
    """Download the sdist into `dest` with pip and check its sha256."""
    errors = []
    fast = subprocess.run(
        [sys.executable, "-c", _PIP_FETCH, str(dest), LLAMA_CPP_PYTHON, _SDIST_SHA256],
        capture_output=True,
        text=True,
    )
    path = dest / _SDIST_FILE
    if fast.returncode == 0 and path.is_file() and _sha256(path) == _SDIST_SHA256:
        return path
    errors.append(f"pip index lookup: {(fast.stderr or fast.stdout).strip()[-1500:]}")
    path.unlink(missing_ok=True)
    # the documented, slower way: pip prepares the sdist's metadata before saving it
    pip_download = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
    slow = subprocess.run(
        [*pip_download, "--progress-bar", "off", "-d", str(dest), LLAMA_CPP_PYTHON],
        capture_output=True,
        text=True,
    )
    if slow.returncode == 0 and path.is_file():
        digest = _sha256(path)
        if digest == _SDIST_SHA256:
            return path
        errors.append(f"pip download: sha256 {digest}, expected {_SDIST_SHA256}")
    else:
        errors.append(f"pip download: {(slow.stderr or slow.stdout).strip()[-1500:]}")
    raise AssetError(
        f"cannot download {LLAMA_CPP_PYTHON} (sdist) from the package index; the tokenizer "
        f"tests need it. Tried:\n" + "\n".join(errors)
    )


def _extract_vocabs(sdist: Path, staging: Path) -> None:
    """Extract only the ``ggml-vocab-*`` files of the sdist into `staging`, with a manifest."""
    staging.mkdir(parents=True)
    files = {}
    try:
        with tarfile.open(sdist, "r:gz") as tar:
            for member in tar:
                m = _MEMBER.fullmatch(member.name)
                if m is None or not member.isfile():
                    continue
                data = tar.extractfile(member).read()
                (staging / m.group(1)).write_bytes(data)
                files[m.group(1)] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    except (tarfile.TarError, OSError, EOFError) as e:
        raise AssetError(f"{sdist.name}: cannot extract ({e})") from e
    missing = [n for n in _REQUIRED if f"ggml-vocab-{n}.gguf" not in files]
    if missing:
        raise AssetError(f"{sdist.name} has no vocabulary {', '.join(missing)}")
    manifest = {"source": LLAMA_CPP_PYTHON, "sdist_sha256": _SDIST_SHA256, "files": files}
    (staging / _MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


# ---------------------------------------------------------------------------- tokenizer.json

_BYTE_LEVEL = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True}


def _split(regex: str) -> dict:
    return {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": False}


_LLAMA3_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_QWEN2_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
# Pre-tokenization (and BPE options) of each vocabulary: those of the original Hugging Face
# tokenizers, which llama.cpp's reference tokenizations come from.
_PRE_TOKENIZERS: dict[str, tuple[dict | None, dict]] = {
    "gpt-2": ({**_BYTE_LEVEL, "use_regex": True}, {}),
    "llama-bpe": (
        {
            "type": "Sequence",
            "pretokenizers": [_split(_LLAMA3_REGEX), {**_BYTE_LEVEL, "use_regex": False}],
        },
        {"ignore_merges": True},
    ),
    "qwen2": (
        {
            "type": "Sequence",
            "pretokenizers": [_split(_QWEN2_REGEX), {**_BYTE_LEVEL, "use_regex": False}],
        },
        {},
    ),
    "deepseek-coder": (
        {
            "type": "Sequence",
            "pretokenizers": [
                _split("[\r\n]"),
                _split(r"\s?\p{L}+"),
                _split(r"\s?\p{P}+"),
                _split("[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+"),
                {"type": "Digits", "individual_digits": True},
                {**_BYTE_LEVEL, "use_regex": False},
            ],
        },
        {},
    ),
    "llama-spm": (None, {}),  # SentencePiece: see _spm_pipeline
    "phi-3": (None, {}),
}


def build_tokenizer_json(gguf: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> Path:
    """Write ``tokenizer.json`` and ``tokenizer_config.json`` for a llama.cpp vocabulary GGUF.

    Byte-level BPE vocabularies keep their merges; SentencePiece ones (``llama`` model) become a
    byte-fallback BPE whose merges are derived from the piece scores, as `transformers` converts
    them, with a normalizer for the dummy prefix (not a ``Metaspace`` pre-tokenizer, which
    splits whitespace runs differently from SentencePiece). Control, unknown and unused tokens
    become special added tokens, user-defined ones plain added tokens. Needs only the standard
    library; load the result with `tokenizers` or `transformers`.
    """
    from .tokenizer import _BYTE_TOKEN, _CONTROL, _UNKNOWN, _UNUSED, _USER_DEFINED, _read_gguf

    gguf = Path(gguf)
    name = gguf.name.removeprefix("ggml-vocab-").removesuffix(".gguf")
    meta, _ = _read_gguf(gguf)
    model = meta.get("tokenizer.ggml.model")
    pre = meta.get("tokenizer.ggml.pre", "default")
    tokens = [t.decode("utf-8") for t in meta["tokenizer.ggml.tokens"]]
    types = meta["tokenizer.ggml.token_type"].tolist()
    vocab = {t: i for i, t in enumerate(tokens)}
    if len(vocab) != len(tokens):
        raise ValueError(f"{gguf}: duplicate token strings")

    def role(key: str) -> str | None:
        i = meta.get(f"tokenizer.ggml.{key}_token_id")
        return tokens[i] if isinstance(i, int) and 0 <= i < len(tokens) else None

    added = []
    for i, (t, ty) in enumerate(zip(tokens, types, strict=True)):
        if ty in (_CONTROL, _UNKNOWN, _UNUSED, _USER_DEFINED):
            special = ty != _USER_DEFINED
            added.append(
                {"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False}
                | {"normalized": False, "special": special}
            )
    bos = role("bos")
    add_bos = bool(meta.get("tokenizer.ggml.add_bos_token", model == "llama"))
    post = None
    if add_bos and bos is not None:
        post = {
            "type": "TemplateProcessing",
            "single": [
                {"SpecialToken": {"id": bos, "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
            ],
            "pair": [
                {"SpecialToken": {"id": bos, "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": bos, "type_id": 1}},
                {"Sequence": {"id": "B", "type_id": 1}},
            ],
            "special_tokens": {bos: {"id": bos, "ids": [vocab[bos]], "tokens": [bos]}},
        }

    bpe = {"type": "BPE", "dropout": None, "unk_token": None}
    if model == "gpt2" and pre in _PRE_TOKENIZERS and _PRE_TOKENIZERS[pre][0] is not None:
        pre_tokenizer, options = _PRE_TOKENIZERS[pre]
        merges = [m.decode("utf-8").split(" ", 1) for m in meta["tokenizer.ggml.merges"]]
        normalizer = None
        decoder = {**_BYTE_LEVEL, "add_prefix_space": True, "use_regex": True}
        bpe |= {"continuing_subword_prefix": "", "end_of_word_suffix": "", "fuse_unk": False}
        bpe |= {"byte_fallback": False, "ignore_merges": options.get("ignore_merges", False)}
    elif model == "llama":
        pre_tokenizer = None
        scores = meta["tokenizer.ggml.scores"].tolist()
        pieces = {
            t: s
            for t, s, ty in zip(tokens, scores, types, strict=True)
            if ty not in (_CONTROL, _UNKNOWN, _UNUSED) and not _BYTE_TOKEN.fullmatch(t)
        }
        merges = _merges_from_scores(vocab, pieces)
        steps = [{"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]
        dummy_prefix = bool(meta.get("tokenizer.ggml.add_space_prefix", True))
        if dummy_prefix:
            steps.insert(0, {"type": "Prepend", "prepend": "▁"})
        normalizer = {"type": "Sequence", "normalizers": steps}
        decoder = {
            "type": "Sequence",
            "decoders": [
                {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
                {"type": "ByteFallback"},
                {"type": "Fuse"},
            ]
            + ([{"type": "Strip", "content": " ", "start": 1, "stop": 0}] if dummy_prefix else []),
        }
        bpe |= {"continuing_subword_prefix": None, "end_of_word_suffix": None, "fuse_unk": True}
        bpe |= {"byte_fallback": True, "ignore_merges": False}
    else:
        raise ValueError(
            f"{gguf}: no tokenizer.json recipe for model {model!r} with pre-tokenizer {pre!r}"
        )
    tokenizer = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": normalizer,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": post,
        "decoder": decoder,
        "model": bpe | {"vocab": vocab, "merges": merges},
    }
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 1 << 62}
    for key, field in (("bos", "bos_token"), ("eos", "eos_token"), ("unknown", "unk_token")):
        if role(key) is not None:
            config[field] = role(key)
    if role("padding") is not None:
        config["pad_token"] = role("padding")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "tokenizer.json").write_text(
        json.dumps(tokenizer, ensure_ascii=False, indent=1), encoding="utf-8"
    )
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=1) + "\n")
    (out / "SOURCE").write_text(f"built from {gguf.name} ({LLAMA_CPP_PYTHON}) for {name}\n")
    return out


def _merges_from_scores(vocab: dict[str, int], pieces: dict[str, float]) -> list[list[str]]:
    """BPE merges reproducing a SentencePiece BPE model: every split of a piece into two
    vocabulary pieces, best score first (as `transformers`' ``generate_merges``)."""
    merges = []
    for piece, score in pieces.items():
        local = [
            (piece[:k], piece[k:], score)
            for k in range(1, len(piece))
            if piece[:k] in vocab and piece[k:] in vocab
        ]
        local.sort(key=lambda m: (vocab[m[0]], vocab[m[1]]))
        merges.extend(local)
    merges.sort(key=lambda m: (m[2], len(m[0]), len(m[1])), reverse=True)
    return [[left, right] for left, right, _ in merges]
