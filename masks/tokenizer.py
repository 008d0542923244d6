"""`TokenizerInfo`: the exact bytes of every token of a vocabulary, and which ids are special.

Masks are computed over bytes, so every token id needs the bytes it adds to the output. They are
read from the raw token strings of the vocabulary, never by decoding ids one at a time (decoders
strip leading spaces and replace partial UTF-8 with U+FFFD):

- byte-level BPE (GPT-2, Llama 3, Qwen2, DeepSeek Coder): each character stands for one byte
  through GPT-2's byte-to-unicode table;
- SentencePiece and SentencePiece-style BPE (Llama 2, Phi-3, Gemma): ``▁`` is a space and the
  byte-fallback tokens ``<0xNN>`` are that single byte;
- added tokens that are not special (``\\n\\n``, ``<table>``, ...) are their text, as written;
- tiktoken encodings and plain lists carry bytes already.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import re
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["STOP_TOKEN_NAMES", "TokenizerInfo"]

#: Texts of end-of-sequence / end-of-turn tokens that are stop tokens by default when the
#: vocabulary has them as special (control) tokens. After llama.cpp's end-of-generation list.
STOP_TOKEN_NAMES: tuple[str, ...] = (
    "</s>",
    "<eos>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<|eot_id|>",
    "<|eom_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<turn|>",
    "<｜end▁of▁sentence｜>",
    "<|EOT|>",
    "<EOT>",
    "<end_of_utterance>",
    "<|return|>",
)

# Tokens that only reserve an id: never text, whatever flag the vocabulary gives them
# (Qwen2 and Phi-3 mark their `[PADn]` as user-defined or as ordinary vocabulary entries).
_PLACEHOLDER = re.compile(
    r"\[PAD\d+\]|<unused\d+>|<\|placeholder\d+\|>|<\|reserved_special_token_\d+\|>"
)
_BYTE_TOKEN = re.compile(r"<0x([0-9A-Fa-f]{2})>")


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from the 256 byte values to printable characters."""
    keep = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    table = {b: chr(b) for b in keep}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(0x100 + extra)
            extra += 1
    return table


_BYTE_TO_CHAR = _bytes_to_unicode()
# str.translate table: a byte-level character -> the Latin-1 character of its byte, any other
# character below U+0100 -> U+FFFF, so that `.encode("latin-1")` fails on a non-byte-level string.
_CHAR_TO_LATIN1 = {c: "\uffff" for c in range(0x100)}
_CHAR_TO_LATIN1.update({ord(ch): chr(b) for b, ch in _BYTE_TO_CHAR.items()})


def _byte_level_bytes(token: str) -> bytes:
    """Bytes of a byte-level BPE token; a token with other characters is its UTF-8 text (as the
    ``ByteLevel`` decoder of `tokenizers` does)."""
    try:
        return token.translate(_CHAR_TO_LATIN1).encode("latin-1")
    except UnicodeEncodeError:
        return token.encode("utf-8")


def _sentencepiece_bytes(token: str, space: str | None, byte_fallback: bool) -> bytes:
    """Bytes of a SentencePiece token: `space` (``▁``) is a space, ``<0xNN>`` is one byte."""
    if byte_fallback and len(token) == 6:
        m = _BYTE_TOKEN.fullmatch(token)
        if m:
            return bytes((int(m.group(1), 16),))
    if space is not None:
        token = token.replace(space, " ")
    return token.encode("utf-8")


def _default_stops(
    names: Mapping[str, int], special: set[int], explicit: Iterable[int | None]
) -> set[int]:
    """Explicit end ids (EOS, EOT, ...) plus the special tokens named in `STOP_TOKEN_NAMES`."""
    stops = {i for i in explicit if i is not None}
    for text in STOP_TOKEN_NAMES:
        i = names.get(text)
        if i is not None and i in special:
            stops.add(i)
    return stops


def _id_set(ids: Iterable[int] | int | None, what: str) -> frozenset[int]:
    if ids is None:
        return frozenset()
    if isinstance(ids, int | np.integer):
        ids = (ids,)
    out = set()
    for i in ids:
        if isinstance(i, bool) or not isinstance(i, int | np.integer):
            raise TypeError(f"{what} must be integer token ids, got {i!r}")
        out.add(int(i))
    return frozenset(out)


@dataclass(frozen=True, eq=False)
class TokenizerInfo:
    """What the mask machinery needs to know about a tokenizer.

    ``token_bytes[i]`` is exactly what token ``i`` appends to the output. ``vocab_size`` is the
    size of the model's output layer, which may exceed the tokenizer's (the extra ids are padding
    and never allowed). ``special_ids`` are never allowed inside a grammar (control, unknown,
    placeholder and stop tokens, and tokens with no bytes); ``stop_token_ids`` are allowed exactly
    where the output is a complete string of the language. Stop tokens are always special.

    SentencePiece vocabularies that add a dummy prefix (Llama 2, Phi-3) encode a text with a
    leading ``▁``, so the first token of a generation usually starts with a space that their
    decoders strip; the bytes here keep it.
    """

    token_bytes: tuple[bytes, ...]
    vocab_size: int
    special_ids: frozenset[int]
    stop_token_ids: frozenset[int]
    name: str = ""

    def __post_init__(self) -> None:
        tokens = self.token_bytes
        if not isinstance(tokens, tuple):
            tokens = tuple(tokens)
        for i, t in enumerate(tokens):
            if not isinstance(t, bytes):
                raise TypeError(f"token_bytes[{i}] must be bytes, got {type(t).__name__}")
        n = len(tokens)
        if n == 0:
            raise ValueError("a tokenizer needs at least one token")
        vocab_size = self.vocab_size
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int | np.integer):
            raise TypeError(f"vocab_size must be an int, got {vocab_size!r}")
        vocab_size = int(vocab_size)
        if vocab_size < n:
            raise ValueError(
                f"vocab_size {vocab_size} is smaller than the tokenizer's {n} tokens; the model's "
                f"output layer must cover every token id"
            )
        stops = _id_set(self.stop_token_ids, "stop_token_ids")
        special = _id_set(self.special_ids, "special_ids")
        for what, ids in (("stop_token_ids", stops), ("special_ids", special)):
            bad = sorted(i for i in ids if not 0 <= i < n)
            if bad:
                raise ValueError(f"{what} {bad[:5]} out of range: the tokenizer has ids 0..{n - 1}")
        special |= stops | {i for i, t in enumerate(tokens) if not t}
        object.__setattr__(self, "token_bytes", tokens)
        object.__setattr__(self, "vocab_size", vocab_size)
        object.__setattr__(self, "special_ids", frozenset(special))
        object.__setattr__(self, "stop_token_ids", stops)

    def __repr__(self) -> str:
        return (
            f"TokenizerInfo(name={self.name!r}, tokens={len(self.token_bytes)}, "
            f"vocab_size={self.vocab_size}, special={len(self.special_ids)}, "
            f"stop={sorted(self.stop_token_ids)})"
        )

    @cached_property
    def fingerprint(self) -> str:
        """sha256 (hex) of the token bytes, vocab size, special and stop ids: the cache key of
        everything computed for this vocabulary. The name does not count."""
        h = hashlib.sha256(b"grammarlib.TokenizerInfo/1\0")
        h.update(struct.pack("<QQ", self.vocab_size, len(self.token_bytes)))
        h.update(np.fromiter(map(len, self.token_bytes), dtype="<u4").tobytes())
        h.update(b"".join(self.token_bytes))
        for ids in (self.special_ids, self.stop_token_ids):
            h.update(struct.pack("<Q", len(ids)))
            h.update(np.array(sorted(ids), dtype="<u8").tobytes())
        return h.hexdigest()

    # ------------------------------------------------------------------ constructors

    @classmethod
    def from_vocab(
        cls,
        tokens: Sequence[bytes | str],
        *,
        stop_token_ids: Iterable[int] | int | None,
        special_ids: Iterable[int] = (),
        vocab_size: int | None = None,
        name: str = "",
    ) -> TokenizerInfo:
        """A vocabulary given as a list: ``tokens[i]`` is the bytes of token ``i`` (a ``str`` is
        taken as its UTF-8 text, no byte-level or ``▁`` decoding). Empty tokens are special."""
        out = []
        for i, t in enumerate(tokens):
            if isinstance(t, str):
                out.append(t.encode("utf-8"))
            elif isinstance(t, bytes | bytearray | memoryview):
                out.append(bytes(t))
            else:
                raise TypeError(f"tokens[{i}] must be bytes or str, got {type(t).__name__}")
        return cls(
            tuple(out),
            len(out) if vocab_size is None else vocab_size,
            _id_set(special_ids, "special_ids"),
            _id_set(stop_token_ids, "stop_token_ids"),
            name,
        )

    @classmethod
    def from_tiktoken(
        cls,
        enc: Any,
        stop_token_ids: Iterable[int] | int | None = None,
        vocab_size: int | None = None,
    ) -> TokenizerInfo:
        """A `tiktoken.Encoding`. Its special tokens are special; the stop tokens default to
        ``<|endoftext|>`` and the other end-of-turn tokens of `STOP_TOKEN_NAMES` it has. Ids
        below ``n_vocab`` that map to no token are special (they have no bytes)."""
        for attr in ("n_vocab", "decode_single_token_bytes", "special_tokens_set"):
            if not hasattr(enc, attr):
                raise TypeError(f"expected a tiktoken.Encoding, got {type(enc).__name__}")
        tokens = []
        for i in range(enc.n_vocab):
            try:
                tokens.append(bytes(enc.decode_single_token_bytes(i)))
            except KeyError:
                tokens.append(b"")  # a hole in the id space
        names = {s: enc.encode_single_token(s) for s in enc.special_tokens_set}
        special = set(names.values())
        if stop_token_ids is None:
            stops = _default_stops(names, special, ())
        else:
            stops = set(_id_set(stop_token_ids, "stop_token_ids"))
        return cls(
            tuple(tokens),
            len(tokens) if vocab_size is None else vocab_size,
            frozenset(special),
            frozenset(stops),
            str(getattr(enc, "name", "")),
        )

    @classmethod
    def from_huggingface(
        cls,
        tok: Any,
        vocab_size: int | None = None,
        stop_token_ids: Iterable[int] | int | None = None,
    ) -> TokenizerInfo:
        """A `transformers` fast tokenizer (``PreTrainedTokenizerFast``/``TokenizersBackend``)
        or a `tokenizers.Tokenizer`.

        The decoding rule comes from the tokenizer's decoder (``ByteLevel``, or ``Metaspace`` /
        ``Replace ▁`` with ``ByteFallback``), not from the model name. Added tokens flagged
        special, the unknown token and placeholders (``[PADn]``, ``<unusedN>``, ...) are special.
        Stop tokens default to the tokenizer's EOS plus the special tokens of
        `STOP_TOKEN_NAMES` it has (``<|eot_id|>``, ``<|im_end|>``, ``<end_of_turn>``, ...).
        `vocab_size` is the model's output size, when larger than the tokenizer.
        """
        backend = tok
        eos: list[int | None] = []
        extra_special: set[int] = set()
        name = ""
        if hasattr(tok, "backend_tokenizer"):  # transformers, fast tokenizer
            backend = tok.backend_tokenizer
            eos_id = getattr(tok, "eos_token_id", None)
            eos.extend(eos_id if isinstance(eos_id, list) else [eos_id])
            extra_special.update(getattr(tok, "all_special_ids", ()) or ())
            name = str(getattr(tok, "name_or_path", "") or "")
        if not all(hasattr(backend, a) for a in ("get_vocab", "get_added_tokens_decoder", "model")):
            raise TypeError(
                f"from_huggingface needs a tokenizers-backed (fast) tokenizer or a "
                f"tokenizers.Tokenizer, got {type(tok).__name__}"
            )
        decoder = backend.decoder
        if decoder is None:
            raise ValueError(
                "the tokenizer has no decoder, so the bytes of its tokens are unknown "
                "(tokenizers joins them with spaces); use TokenizerInfo.from_vocab"
            )
        kind, space, byte_fallback = _decoder_kind(json.loads(decoder.__getstate__()))
        model = backend.model
        byte_fallback = byte_fallback or bool(getattr(model, "byte_fallback", False))

        vocab: dict[str, int] = backend.get_vocab(with_added_tokens=True)
        n = max(vocab.values(), default=-1) + 1
        texts: list[str | None] = [None] * n
        for text, i in vocab.items():
            texts[i] = text
        added = backend.get_added_tokens_decoder()

        special = {i for i, t in added.items() if t.special} | extra_special
        unk = getattr(model, "unk_token", None)
        if isinstance(unk, str) and unk in vocab:
            special.add(vocab[unk])
        unk_id = getattr(model, "unk_id", None)
        if isinstance(unk_id, int) and 0 <= unk_id < n:
            special.add(unk_id)

        tokens = []
        for i, text in enumerate(texts):
            if text is None:
                tokens.append(b"")  # a hole in the id space
            elif i in added:
                tokens.append(added[i].content.encode("utf-8"))
            elif kind == "byte_level":
                tokens.append(_byte_level_bytes(text))
            else:
                tokens.append(_sentencepiece_bytes(text, space, byte_fallback))
            if text is not None and _PLACEHOLDER.fullmatch(text):
                special.add(i)

        if stop_token_ids is None:
            stops = _default_stops(vocab, special, eos)
        else:
            stops = set(_id_set(stop_token_ids, "stop_token_ids"))
        return cls(
            tuple(tokens),
            n if vocab_size is None else vocab_size,
            frozenset(special),
            frozenset(stops),
            name,
        )

    @classmethod
    def from_gguf(
        cls,
        path: str | PathLike[str],
        vocab_size: int | None = None,
        stop_token_ids: Iterable[int] | int | None = None,
    ) -> TokenizerInfo:
        """The vocabulary of a GGUF file (vocab-only or a whole model; only the metadata is read).

        ``tokenizer.ggml.model`` says how tokens decode: ``gpt2`` is byte-level BPE; ``llama``
        (SentencePiece), ``t5`` (Unigram) and ``gemma4`` use ``▁`` for spaces and ``<0xNN>``
        byte tokens. Control, unknown and unused tokens are special, user-defined tokens are
        their text. Stop tokens default to the EOS / EOT / EOM ids of the file plus the control
        tokens of `STOP_TOKEN_NAMES`. `vocab_size` defaults to the rows of the model's
        ``token_embd.weight`` when the file has it, else to the number of tokens.
        """
        path = Path(path)
        meta, embd_rows = _read_gguf(path)
        model = meta.get("tokenizer.ggml.model")
        tokens_raw = meta.get("tokenizer.ggml.tokens")
        if not isinstance(model, str) or not isinstance(tokens_raw, list):
            raise ValueError(f"{path}: no tokenizer in this GGUF file (tokenizer.ggml.* missing)")
        pre = meta.get("tokenizer.ggml.pre", "")
        if model == "gpt2" and pre not in _GGUF_BPE_ESCAPED_PRE:
            kind = "byte_level"
        elif model in ("llama", "t5", "gemma4", "gpt2"):
            kind = "sentencepiece"
        else:
            raise ValueError(
                f"{path}: tokenizer model {model!r} is not supported (supported: gpt2, llama, "
                f"t5, gemma4)"
            )
        n = len(tokens_raw)
        types = meta.get("tokenizer.ggml.token_type")
        if types is None:
            types = np.full(n, _NORMAL, dtype=np.int32)
        elif len(types) != n:
            raise ValueError(f"{path}: {len(types)} token types for {n} tokens")

        texts = []
        for i, raw in enumerate(tokens_raw):
            try:
                texts.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                raise ValueError(f"{path}: token {i} is not valid UTF-8: {raw!r}") from None
        tokens = []
        special = set()
        for i, (text, ty) in enumerate(zip(texts, types.tolist(), strict=True)):
            if ty in (_CONTROL, _UNKNOWN, _UNUSED) or _PLACEHOLDER.fullmatch(text):
                special.add(i)
            if ty == _BYTE:
                m = _BYTE_TOKEN.fullmatch(text)
                if m is None:
                    raise ValueError(f"{path}: byte token {i} is {text!r}, expected <0xNN>")
                tokens.append(bytes((int(m.group(1), 16),)))
            elif ty in (_USER_DEFINED, _CONTROL, _UNKNOWN, _UNUSED):
                tokens.append(text.encode("utf-8"))
            elif kind == "byte_level":
                tokens.append(_byte_level_bytes(text))
            else:
                tokens.append(_sentencepiece_bytes(text, "▁", False))

        def role(key: str) -> int | None:
            v = meta.get(f"tokenizer.ggml.{key}_token_id")
            return int(v) if isinstance(v, int) and 0 <= v < n else None

        ends = [role("eos"), role("eot"), role("eom")]
        special.update(i for i in (*ends, role("bos"), role("unknown")) if i is not None)
        if stop_token_ids is None:
            names = {t: i for i, t in enumerate(texts)}
            stops = _default_stops(names, special, ends)
        else:
            stops = set(_id_set(stop_token_ids, "stop_token_ids"))
        if vocab_size is None:
            vocab_size = max(n, embd_rows or 0)
        name = meta.get("general.name")
        return cls(
            tuple(tokens),
            vocab_size,
            frozenset(special),
            frozenset(stops),
            name if isinstance(name, str) and name else path.stem,
        )


def _decoder_kind(config: dict) -> tuple[str, str | None, bool]:
    """(kind, space character, byte fallback) from a `tokenizers` decoder configuration."""
    steps = config["decoders"] if config.get("type") == "Sequence" else [config]
    kind: str | None = None
    space: str | None = None
    byte_fallback = False
    for step in steps:
        t = step.get("type")
        if t == "ByteLevel":
            kind = "byte_level"
        elif t == "Metaspace":
            kind, space = "sentencepiece", step.get("replacement", "▁")
        elif t == "Replace" and step.get("content") == " " and "String" in step.get("pattern", {}):
            kind, space = "sentencepiece", step["pattern"]["String"]
        elif t == "ByteFallback":
            byte_fallback = True
        elif t in ("Fuse", "Strip"):
            pass  # whole-sequence effects (Strip drops the dummy-prefix space at the start)
        else:
            raise ValueError(f"decoder {t!r} is not supported: its tokens have no exact bytes")
    if kind is None:
        if not byte_fallback:
            raise ValueError(f"cannot tell how this decoder maps tokens to bytes: {config}")
        kind = "sentencepiece"  # ByteFallback alone: tokens are their text
    return kind, space, byte_fallback


# ---------------------------------------------------------------------------- GGUF metadata

# llama.cpp token types (`tokenizer.ggml.token_type`)
_NORMAL, _UNKNOWN, _CONTROL, _USER_DEFINED, _UNUSED, _BYTE = 1, 2, 3, 4, 5, 6
# gpt2-model vocabularies whose pre-tokenizer makes llama.cpp escape spaces as ▁ (SPM-style BPE)
_GGUF_BPE_ESCAPED_PRE = frozenset({"gemma4", "granite-embed-multi-311m", "sarvam-moe"})
# GGUF value types: scalar struct formats and array dtypes; 8 = string, 9 = array
_SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?"}
_SCALAR.update({10: "<Q", 11: "<q", 12: "<d"})
_DTYPE = {0: "<u1", 1: "<i1", 2: "<u2", 3: "<i2", 4: "<u4", 5: "<i4", 6: "<f4", 7: "<u1"}
_DTYPE.update({10: "<u8", 11: "<i8", 12: "<f8"})


def _read_gguf(path: Path) -> tuple[dict[str, Any], int | None]:
    """The key/value metadata of a GGUF file (v2 or v3) and the rows of ``token_embd.weight``.

    Strings stay `bytes` inside arrays (token lists) and become `str` as scalar values; numeric
    arrays are numpy arrays. The file is memory-mapped and only its header is touched, so a
    multi-gigabyte model costs no more than its vocabulary. (The `gguf` package's reader builds
    an object per array element and takes ~10 s on a 128k-token vocabulary.)
    """
    try:
        f = open(path, "rb")  # noqa: SIM115 (closed below, mmap outlives it)
    except OSError as e:
        raise ValueError(f"cannot read GGUF file {path}: {e}") from e
    with f:
        try:
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:  # empty file
            raise ValueError(f"{path} is not a GGUF file (empty)") from None
    buf = memoryview(mm)
    try:
        return _parse_gguf(buf, path)
    except (struct.error, IndexError, KeyError, ValueError, UnicodeDecodeError) as e:
        if isinstance(e, ValueError) and str(e).startswith(str(path)):
            raise
        raise ValueError(f"{path}: malformed GGUF metadata ({e})") from e
    finally:
        buf.release()
        mm.close()


def _parse_gguf(buf: memoryview, path: Path) -> tuple[dict[str, Any], int | None]:
    if bytes(buf[:4]) != b"GGUF":
        raise ValueError(f"{path} is not a GGUF file (magic {bytes(buf[:4])!r})")
    (version,) = struct.unpack_from("<I", buf, 4)
    if version not in (2, 3):
        raise ValueError(
            f"{path}: GGUF version {version} is not supported (little-endian v2 or v3 only)"
        )
    n_tensors, n_kv = struct.unpack_from("<QQ", buf, 8)
    off = 24
    u64 = struct.Struct("<Q").unpack_from
    u32 = struct.Struct("<I").unpack_from
    end = len(buf)

    def string(off: int) -> tuple[bytes, int]:
        (k,) = u64(buf, off)
        off += 8
        if off + k > end:
            raise ValueError("string runs past the end of the file")
        return bytes(buf[off : off + k]), off + k

    def value(t: int, off: int) -> tuple[Any, int]:
        if t == 8:
            s, off = string(off)
            return s.decode("utf-8"), off
        if t == 9:
            item, count = struct.unpack_from("<IQ", buf, off)
            off += 12
            if item == 8:
                items = []
                append = items.append
                for _ in range(count):
                    (k,) = u64(buf, off)
                    off += 8
                    append(bytes(buf[off : off + k]))
                    off += k
                if off > end:
                    raise ValueError("string array runs past the end of the file")
                return items, off
            if item in _DTYPE:
                dt = np.dtype(_DTYPE[item])
                arr = np.frombuffer(buf, dtype=dt, count=count, offset=off).copy()
                return arr, off + count * dt.itemsize
            if item == 9:  # array of arrays: walk and keep them as lists
                out = []
                for _ in range(count):
                    v, off = value(9, off)
                    out.append(v)
                return out, off
            raise ValueError(f"unknown GGUF array item type {item}")
        fmt = _SCALAR[t]
        (v,) = struct.unpack_from(fmt, buf, off)
        return v, off + struct.calcsize(fmt)

    meta: dict[str, Any] = {}
    for _ in range(n_kv):
        key, off = string(off)
        (t,) = u32(buf, off)
        v, off = value(t, off + 4)
        meta[key.decode("utf-8")] = v

    embd_rows = None
    for _ in range(n_tensors):
        tname, off = string(off)
        (n_dims,) = u32(buf, off)
        dims = struct.unpack_from(f"<{n_dims}Q", buf, off + 4)
        off += 4 + 8 * n_dims + 4 + 8  # dims, ggml type, data offset
        if tname == b"token_embd.weight" and n_dims >= 2:
            embd_rows = int(dims[1])
    return meta, embd_rows
