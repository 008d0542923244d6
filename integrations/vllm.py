"""grammarlib as a vLLM structured-outputs backend.

    pip install 'grammarlib[vllm]'
    vllm serve MODEL --structured-outputs-config.backend grammarlib
    LLM(model, structured_outputs_config={"backend": "grammarlib"})

vLLM (tested with 0.32.x) has no registry of structured-output backends: the backend name is a
pydantic ``Literal`` in ``StructuredOutputsConfig``, requests are checked in
``SamplingParams._validate_structured_outputs`` and ``StructuredOutputManager.grammar_init``
builds the backend with an if/elif. :func:`register` (run by vLLM in every process it starts,
through the ``vllm.general_plugins`` entry point) extends those three places, and only for the
name ``"grammarlib"``: every other backend takes vLLM's own code path unchanged. Before it
patches anything it checks vLLM's version and the signatures of the functions it wraps, and
logs what differs instead of failing later inside vLLM.

``LLM(...)`` validates its ``structured_outputs_config`` before it loads the general plugins, so
the package also declares a ``vllm.platform_plugins`` entry point (:func:`early_register`) that
vLLM calls while it detects the platform, when ``vllm`` is imported: it registers the backend
and returns ``None`` ("not a platform"). Where platform plugins are skipped
(``VLLM_TARGET_DEVICE=cpu``), call ``grammarlib.integrations.vllm.register()`` before ``LLM(...)``
or pass the backend on the command line.

The grammar objects are exact (grammarlib's contract): a stop token is allowed only where the
output is complete, drafts from speculative decoding are checked token by token
(``validate_tokens``) and ``rollback`` is unbounded. This module imports without vLLM: the
backend and grammar classes can be driven directly (the tests do).
"""

from __future__ import annotations

import contextvars
import dataclasses
import functools
import importlib.abc
import importlib.util
import inspect
import json
import logging
import re
import sys
import threading
import typing
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

import grammarlib as gl
from grammarlib.errors import GrammarError

__all__ = [
    "BACKEND_NAME",
    "SUPPORTED_VLLM",
    "GrammarlibBackend",
    "GrammarlibGrammar",
    "check_vllm_compatibility",
    "early_register",
    "grammar_for_request",
    "grammar_syntax",
    "register",
]

BACKEND_NAME = "grammarlib"
SUPPORTED_VLLM = ((0, 32), (0, 33))  # [lowest, highest) major.minor releases tested
# JSON whitespace: "dumps" allows exactly the two json.dumps spacings (compact and default), so a
# model cannot loop on blanks; disable_any_whitespace gives the compact one only.
JSON_WHITESPACE = "dumps"
_COMPILED_CACHE_SIZE = 256  # compiled grammars kept per backend, by request text

logger = logging.getLogger("grammarlib.vllm")

# Options of the request whose grammar is being compiled (vLLM passes only the grammar text to
# compile_grammar; the per-request disable_any_whitespace travels here).
_request_options: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "grammarlib_vllm_request_options", default=None
)

# vLLM's abstract base classes, when vLLM has already loaded them (it has wherever vLLM loads this
# module as its plugin). Importing vLLM from here instead would start vLLM's own initialisation,
# which loads this module's entry points while it is half-imported. vLLM only duck-types the
# backend and grammar objects, so plain classes work as well.
_types = sys.modules.get("vllm.v1.structured_output.backend_types")
_BackendBase = getattr(_types, "StructuredOutputBackend", object)
_GrammarBase = getattr(_types, "StructuredOutputGrammar", object)


# ---------------------------------------------------------------------------------------------
# requests -> grammars (no vLLM needed)


_GBNF_RULE = re.compile(r"^\s*<?[A-Za-z_][\w.-]*>?\s*::=", re.MULTILINE)
_LARK_RULE = re.compile(r"^\s*[?!]?[A-Za-z_][\w]*(\.-?\d+)?\s*:(?!:)", re.MULTILINE)


def _strip_comments_and_strings(text: str) -> str:
    """``text`` with quoted literals, character classes and comments blanked out, so that
    ``::=`` or ``:`` inside them do not count."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            out.append(" ")
            i = j + 1
        elif c == "[":
            j = i + 1
            while j < n and text[j] != "]" and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            out.append(" ")
            i = j + 1
        elif c == "#" or text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def grammar_syntax(text: str) -> str:
    """``"gbnf"`` or ``"lark"``: which notation a ``grammar`` request is written in.

    GBNF (llama.cpp) defines rules with ``::=``, Lark with ``name:``; comments and quoted
    literals are ignored when looking. A text with neither is taken as Lark (vLLM's rule)."""
    bare = _strip_comments_and_strings(text)
    gbnf = _GBNF_RULE.search(bare)
    lark = _LARK_RULE.search(bare)
    if gbnf and (not lark or gbnf.start() <= lark.start()):
        return "gbnf"
    return "lark"


def _grammar_from_text(text: str) -> gl.Grammar:
    syntax = grammar_syntax(text)
    first, second = (
        (gl.Grammar.from_gbnf, gl.Grammar.from_lark)
        if syntax == "gbnf"
        else (gl.Grammar.from_lark, gl.Grammar.from_gbnf)
    )
    try:
        return first(text)
    except GrammarError as error:
        # A grammar the heuristic misread parses in the other notation; otherwise the error of
        # the notation it looks like is the useful one.
        try:
            return second(text)
        except GrammarError:
            raise GrammarError(f"{syntax.upper()} grammar: {error}") from None


def _json_value(spec: Any, what: str) -> Any:
    if not isinstance(spec, str):
        return spec
    try:
        return json.loads(spec)
    except json.JSONDecodeError as e:
        raise GrammarError(f"the {what} is not valid JSON: {e}") from None


def grammar_for_request(
    kind: Any, spec: Any, *, disable_any_whitespace: bool = False
) -> gl.Grammar:
    """The grammar of one structured-output request.

    ``kind`` is a vLLM ``StructuredOutputOptions`` member or its name (``"JSON"``,
    ``"JSON_OBJECT"``, ``"REGEX"``, ``"CHOICE"``, ``"GRAMMAR"``, ``"STRUCTURAL_TAG"``, any case);
    ``spec`` is what vLLM passes with it (schema text or dict, pattern, JSON list of choices,
    Lark or GBNF text, structural-tag JSON). Raises :class:`grammarlib.GrammarError` (a
    ``ValueError``) with grammarlib's message for anything it cannot compile."""
    name = getattr(kind, "name", kind)
    name = str(name).upper()
    whitespace = "compact" if disable_any_whitespace else JSON_WHITESPACE
    if name == "JSON":
        return gl.Grammar.from_json_schema(_json_value(spec, "JSON schema"), whitespace=whitespace)
    if name == "JSON_OBJECT":
        return gl.Grammar.from_json_schema({"type": "object"}, whitespace=whitespace)
    if name == "REGEX":
        return gl.Grammar.from_regex(str(spec))
    if name == "CHOICE":
        choices = _json_value(spec, "choice list")
        if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
            raise GrammarError("choice must be a list of strings")
        return gl.Grammar.from_choices(choices)
    if name == "GRAMMAR":
        return _grammar_from_text(str(spec))
    if name == "STRUCTURAL_TAG":
        from_tag = getattr(gl.Grammar, "from_structural_tag", None)
        if from_tag is None:
            raise GrammarError("structural_tag requests are not supported by grammarlib yet")
        return from_tag(_json_value(spec, "structural tag"), whitespace=whitespace)
    raise GrammarError(f"unknown structured-output request type {name!r}")


# ---------------------------------------------------------------------------------------------
# the grammar (one request) and the backend (one engine)


class GrammarlibGrammar(_GrammarBase):  # type: ignore[misc,valid-type]
    """One request's grammar state, with vLLM's ``StructuredOutputGrammar`` interface.

    ``stop_token_ids`` are the request's stop tokens (vLLM passes its EOS and user stop-token
    ids); ``None`` or an empty set keeps the tokenizer's. Every stop token is allowed exactly
    where the output is a complete string of the language and ends it; the tokenizer's stop
    tokens that are not the request's are never allowed.
    """

    __slots__ = ("_extra", "_extra_ids", "_matcher", "_not_allowed", "_stopped", "_validate")

    def __init__(
        self, compiled: gl.CompiledGrammar, stop_token_ids: Iterable[int] | None = None
    ) -> None:
        tokenizer = compiled.tokenizer_info
        if tokenizer is None:
            raise ValueError("the grammar must be compiled with the model's tokenizer")
        self._matcher = compiled.matcher()
        base = tokenizer.stop_token_ids
        # no ids (None or empty, as xgrammar's backend reads it): the tokenizer's stop tokens
        stops = frozenset(int(t) for t in stop_token_ids) if stop_token_ids else base
        # stop ids the tokenizer info does not know as stops: handled here, not by the matcher
        self._extra = frozenset(t for t in stops - base if 0 <= t < tokenizer.vocab_size)
        self._extra_ids = np.array(sorted(self._extra), dtype=np.int64)
        # tokenizer stops that this request does not stop on, and the extra ones: the matcher
        # must never see them as content
        self._not_allowed = (base - stops) | self._extra
        self._stopped = False  # an extra stop token was accepted
        self._validate = getattr(self._matcher, "validate_tokens", None)

    @property
    def matcher(self) -> gl.GrammarMatcher:
        return self._matcher

    # -- vLLM's interface ------------------------------------------------------------------

    def accept_tokens(self, request_id: str, tokens: Sequence[int]) -> bool:
        """Advance by ``tokens``; False (state unchanged from the refused token on) when one is
        not allowed. Tokens after the end of the output are ignored, as vLLM expects."""
        matcher = self._matcher
        for token in tokens:
            if self._stopped or matcher.is_terminated():
                return True
            if token in self._not_allowed:
                if token in self._extra and matcher.can_terminate():
                    self._stopped = True
                    continue
                ok = False
            else:
                ok = matcher.accept_token(token)
            if not ok:
                logger.error(
                    "grammarlib: request %s: token %d is not allowed by its grammar",
                    request_id,
                    token,
                )
                return False
        return True

    def validate_tokens(self, tokens: Sequence[int]) -> list[int]:
        """The longest prefix of ``tokens`` that ``accept_tokens`` would take; no state change."""
        tokens = list(tokens)
        if self._stopped or self._matcher.is_terminated():
            return []
        cut = len(tokens)
        if self._not_allowed:
            cut = next((i for i, t in enumerate(tokens) if t in self._not_allowed), cut)
        n = self._valid_prefix(tokens[:cut])
        if n == cut < len(tokens) and tokens[cut] in self._extra:
            probe = self._matcher.copy()
            if all(probe.accept_token(t) for t in tokens[:cut]) and probe.can_terminate():
                n += 1
        return tokens[:n]

    def rollback(self, num_tokens: int) -> None:
        """Undo the last ``num_tokens`` accepted tokens."""
        if num_tokens <= 0:
            return
        if self._stopped:
            self._stopped = False
            num_tokens -= 1
        self._matcher.rollback(num_tokens)

    def fill_bitmask(self, bitmask: Any, batch_index: int) -> None:
        """Write the allowed next tokens into row ``batch_index`` (vLLM's int32 layout)."""
        self._matcher.fill_next_token_bitmask(bitmask, batch_index)
        if self._not_allowed:
            row = _numpy(bitmask)[batch_index]
            for t in self._not_allowed:
                row[t >> 5] &= ~np.int32(_bit(t & 31))
            if len(self._extra_ids) and self.can_terminate():
                for t in self._extra_ids.tolist():
                    row[t >> 5] |= np.int32(_bit(t & 31))

    def is_terminated(self) -> bool:
        return self._stopped or self._matcher.is_terminated()

    def reset(self) -> None:
        self._matcher.reset()
        self._stopped = False

    # -- extras ----------------------------------------------------------------------------

    def can_terminate(self) -> bool:
        """The output so far is complete (a stop token may come next)."""
        return not self._stopped and self._matcher.can_terminate()

    def _valid_prefix(self, tokens: list[int]) -> int:
        if not tokens:
            return 0
        if self._validate is not None:
            return int(self._validate(tokens))
        probe = self._matcher.copy()  # grammarlib without GrammarMatcher.validate_tokens
        n = 0
        for t in tokens:
            if not probe.accept_token(t):
                break
            n += 1
        return n

    def __repr__(self) -> str:
        return f"<GrammarlibGrammar {self._matcher!r} stopped={self._stopped}>"


def _bit(i: int) -> int:
    """Bit ``i`` of an int32 word as a Python int in int32 range."""
    return (1 << i) - (1 << 32) if i == 31 else 1 << i


def _numpy(bitmask: Any) -> np.ndarray:
    return bitmask if isinstance(bitmask, np.ndarray) else bitmask.numpy()


@dataclasses.dataclass
class GrammarlibBackend(_BackendBase):  # type: ignore[misc,valid-type]
    """vLLM's engine-level backend: one tokenizer, grammars compiled per request.

    ``tokenizer`` is the model's Hugging Face tokenizer (what vLLM passes) or a ready
    ``gl.TokenizerInfo``; ``vocab_size`` is the model's output size (bitmask width).
    """

    vllm_config: Any
    tokenizer: Any
    vocab_size: int

    def __post_init__(self) -> None:
        so_config = getattr(self.vllm_config, "structured_outputs_config", None)
        self.disable_any_whitespace = bool(getattr(so_config, "disable_any_whitespace", False))
        self.tokenizer_info = _tokenizer_info(self.tokenizer, self.vocab_size)
        self._compiled: OrderedDict[tuple, gl.CompiledGrammar] = OrderedDict()
        self._lock = threading.Lock()  # vLLM compiles grammars in a thread pool
        try:  # the vocabulary index (cached on disk): built now rather than by the first request
            from grammarlib.compiler import vocab_index

            vocab_index(self.tokenizer_info)
        except ImportError:  # pragma: no cover - a grammarlib without it builds it on compile
            pass

    def compile_grammar(
        self,
        request_type: Any,
        grammar_spec: str,
        stop_token_ids: set[int] | None = None,
    ) -> GrammarlibGrammar:
        options = _request_options.get() or {}
        disable_ws = self.disable_any_whitespace or bool(
            options.get("disable_any_whitespace", False)
        )
        kind = str(getattr(request_type, "name", request_type)).upper()
        text = grammar_spec if isinstance(grammar_spec, str) else json.dumps(grammar_spec)
        key = (kind, text, disable_ws)
        with self._lock:
            compiled = self._compiled.get(key)
            if compiled is not None:
                self._compiled.move_to_end(key)
        if compiled is None:
            # building the IR (a schema's conversion: tens of ms) is cached here by request text;
            # gl.compile caches the automata and masks by grammar content
            grammar = grammar_for_request(kind, grammar_spec, disable_any_whitespace=disable_ws)
            compiled = gl.compile(grammar, self.tokenizer_info)
            with self._lock:
                self._compiled[key] = compiled
                while len(self._compiled) > _COMPILED_CACHE_SIZE:
                    self._compiled.popitem(last=False)
        return GrammarlibGrammar(compiled, stop_token_ids)

    def allocate_token_bitmask(self, max_num_seqs: int) -> Any:
        width = (self.vocab_size + 31) // 32
        try:
            import torch
        except ImportError:  # outside vLLM (tests): numpy, the same layout
            return np.full((max_num_seqs, width), -1, dtype=np.int32)
        return torch.full((max_num_seqs, width), -1, dtype=torch.int32)

    def destroy(self) -> None:
        pass


def _tokenizer_info(tokenizer: Any, vocab_size: int) -> gl.TokenizerInfo:
    if isinstance(tokenizer, gl.TokenizerInfo):
        if tokenizer.vocab_size < vocab_size:
            tokenizer = dataclasses.replace(tokenizer, vocab_size=vocab_size)
        return tokenizer
    try:
        info = gl.TokenizerInfo.from_huggingface(tokenizer)
    except TypeError as e:
        raise ValueError(
            f"the grammarlib backend needs a Hugging Face fast tokenizer: {e} "
            f"(Mistral tokenizers: start vLLM with --tokenizer-mode hf)"
        ) from None
    # The model's output layer may be wider than the tokenizer (padding, never allowed); a
    # tokenizer wider than the model keeps its size (ids past the model are never sampled).
    if info.vocab_size < vocab_size:
        info = dataclasses.replace(info, vocab_size=vocab_size)
    return info


# ---------------------------------------------------------------------------------------------
# registration in vLLM


_registered = False
_RequestError: type[Exception] = ValueError


def _vllm_version() -> str:
    import vllm

    return str(getattr(vllm, "__version__", "unknown"))


def _version_tuple(version: str) -> tuple[int, int] | None:
    m = re.match(r"(\d+)\.(\d+)", version)
    return (int(m.group(1)), int(m.group(2))) if m else None


_EXPECTED_SIGNATURES = {
    "SamplingParams._validate_structured_outputs": [
        "self",
        "model_config",
        "structured_outputs_config",
        "tokenizer",
    ],
    "StructuredOutputManager.grammar_init": ["self", "request"],
    "StructuredOutputManager._create_grammar": ["self", "request"],
    "StructuredOutputBackend.compile_grammar": [
        "self",
        "request_type",
        "grammar_spec",
        "stop_token_ids",
    ],
}


def check_vllm_compatibility() -> tuple[list[str], list[str]]:
    """``(problems, warnings)`` for the installed vLLM: problems stop :func:`register` (a
    function it wraps is missing or has another signature), warnings do not (a vLLM release
    outside the tested range whose signatures still match)."""
    problems: list[str] = []
    warnings: list[str] = []
    try:
        version = _vllm_version()
    except ImportError as e:
        return [f"vLLM is not installed ({e})"], []
    vt = _version_tuple(version)
    low, high = SUPPORTED_VLLM
    if vt is None or not low <= vt < high:
        warnings.append(
            f"vLLM {version} is outside the range grammarlib's backend was tested with "
            f"({low[0]}.{low[1]}.x); its private hooks still match, so it is registered"
        )
    try:
        from vllm.config import structured_outputs as so_mod
        from vllm.sampling_params import SamplingParams
        from vllm.v1.structured_output import StructuredOutputManager
        from vllm.v1.structured_output.backend_types import (
            StructuredOutputBackend,
            StructuredOutputOptions,
        )
    except Exception as e:
        return [f"a vLLM module grammarlib hooks into cannot be imported: {e}"], warnings
    owners = {
        "SamplingParams": SamplingParams,
        "StructuredOutputManager": StructuredOutputManager,
        "StructuredOutputBackend": StructuredOutputBackend,
    }
    for qualname, expected in _EXPECTED_SIGNATURES.items():
        owner, attr = qualname.split(".")
        func = getattr(owners[owner], attr, None)
        if func is None:
            problems.append(f"vLLM {version} has no {qualname}")
            continue
        try:
            params = list(inspect.signature(func).parameters)
        except (TypeError, ValueError):
            problems.append(f"the signature of {qualname} cannot be read")
            continue
        if params != expected:
            problems.append(
                f"{qualname} takes ({', '.join(params)}), grammarlib expects "
                f"({', '.join(expected)})"
            )
    members = {m.name for m in StructuredOutputOptions}
    missing = {"JSON", "JSON_OBJECT", "REGEX", "GRAMMAR", "CHOICE"} - members
    if missing:
        problems.append(f"StructuredOutputOptions lacks {sorted(missing)}")
    cls = getattr(so_mod, "StructuredOutputsConfig", None)
    field = None
    if cls is not None and dataclasses.is_dataclass(cls):
        field = next((f for f in dataclasses.fields(cls) if f.name == "backend"), None)
    if field is None:
        problems.append("StructuredOutputsConfig has no dataclass field 'backend'")
    elif typing.get_origin(field.type) is not typing.Literal:
        problems.append(
            f"StructuredOutputsConfig.backend is {field.type!r}, grammarlib expects a Literal"
        )
    if cls is not None and "_validate_structured_output_config" not in getattr(
        getattr(cls, "__pydantic_decorators__", None), "model_validators", {}
    ):
        problems.append(
            "StructuredOutputsConfig has no model validator _validate_structured_output_config"
        )
    return problems, warnings


def register() -> bool:
    """Make ``"grammarlib"`` a structured-outputs backend of the installed vLLM (idempotent).

    Run by vLLM through the ``vllm.general_plugins`` entry point. Returns whether the backend
    is registered; when vLLM's private hooks are not what this version expects, logs an error
    that names what differs and changes nothing (vLLM then rejects the backend name)."""
    global _registered
    if _registered:
        return True
    problems, warnings = check_vllm_compatibility()
    for w in warnings:
        logger.warning("grammarlib: %s", w)
    if problems:
        logger.error(
            "grammarlib: the vLLM structured-outputs backend is NOT registered: %s. "
            "Install a tested vLLM (pip install 'grammarlib[vllm]') or a grammarlib release "
            "made for this vLLM.",
            "; ".join(problems),
        )
        return False
    _patch_config()
    _patch_sampling_params()
    _patch_manager()
    _registered = True
    logger.debug("grammarlib: registered as vLLM structured-outputs backend %r", BACKEND_NAME)
    return True


def early_register() -> None:
    """The ``vllm.platform_plugins`` hook: vLLM calls it while it detects the platform, which
    happens while ``vllm`` itself is being imported, before ``LLM(...)`` validates its config.
    vLLM is half-imported then, so this only makes ``StructuredOutputsConfig`` accept the name
    (now, or as soon as its module is loaded); the first config that names the backend runs
    :func:`register`. Returns ``None``: "not a platform"."""
    try:
        module = sys.modules.get(_CONFIG_MODULE)
        if module is not None and hasattr(module, "StructuredOutputsConfig"):
            _patch_config_class(module)
        elif not any(isinstance(f, _ConfigModuleHook) for f in sys.meta_path):
            sys.meta_path.insert(0, _ConfigModuleHook())
    except Exception:  # never break vLLM's platform detection
        logger.exception("grammarlib: preparing the vLLM backend name failed")
    return None


_CONFIG_MODULE = "vllm.config.structured_outputs"


class _ConfigModuleHook(importlib.abc.MetaPathFinder):
    """Patches ``StructuredOutputsConfig`` right after its module is executed (once)."""

    def find_spec(self, fullname, path, target=None):  # type: ignore[no-untyped-def]
        if fullname != _CONFIG_MODULE:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader = spec.loader
        exec_module = loader.exec_module

        def exec_and_patch(module):  # type: ignore[no-untyped-def]
            exec_module(module)
            try:
                _patch_config_class(module)
            except Exception:
                logger.exception("grammarlib: extending StructuredOutputsConfig failed")

        loader.exec_module = exec_and_patch  # type: ignore[method-assign]
        return spec


def _patch_config() -> None:
    from vllm.config import structured_outputs as so_mod

    _patch_config_class(so_mod)
    # VllmConfig embeds the schema of StructuredOutputsConfig (for dict input): rebuild it too
    try:
        from pydantic.dataclasses import rebuild_dataclass
        from vllm.config import VllmConfig

        rebuild_dataclass(VllmConfig, force=True)
    except Exception as e:  # instances still pass; only dicts given to VllmConfig would not
        logger.debug("grammarlib: VllmConfig not rebuilt: %s", e)


def _patch_config_class(so_mod: Any) -> None:
    """Add the backend name to ``StructuredOutputsConfig.backend`` (a pydantic Literal) and let
    its validator accept ``disable_any_whitespace`` for it. Needs only the config module, so
    it can run while vLLM is still being imported. The validator registers the rest on the
    first config that names the backend, and fails there if vLLM is not compatible."""
    from pydantic.dataclasses import rebuild_dataclass

    cls = so_mod.StructuredOutputsConfig
    if getattr(cls, "_grammarlib_patched", False):
        return
    field = next(f for f in dataclasses.fields(cls) if f.name == "backend")
    names = typing.get_args(field.type)
    if typing.get_origin(field.type) is not typing.Literal or not names:
        logger.error(
            "grammarlib: StructuredOutputsConfig.backend is %r, not a Literal of names; "
            "the grammarlib backend cannot be added",
            field.type,
        )
        return
    if BACKEND_NAME not in names:
        extended = typing.Literal[(*names, BACKEND_NAME)]  # type: ignore[valid-type]
        field.type = extended
        cls.__annotations__["backend"] = extended
        if hasattr(so_mod, "StructuredOutputsBackend"):
            so_mod.StructuredOutputsBackend = extended
        if "backend" in getattr(cls, "__pydantic_fields__", {}):
            cls.__pydantic_fields__["backend"].annotation = extended

    decorators = cls.__pydantic_decorators__.model_validators
    name = "_validate_structured_output_config"
    original = decorators[name].func if name in decorators else None

    def validate(self):  # type: ignore[no-untyped-def]
        if self.backend != BACKEND_NAME:
            return original(self) if original is not None else self
        if self.disable_additional_properties:
            raise ValueError(
                "disable_additional_properties is only supported for the guidance backend"
            )
        if not register():
            problems, _ = check_vllm_compatibility()
            raise ValueError(
                "the grammarlib structured-outputs backend cannot run on this vLLM: "
                + "; ".join(problems)
            )
        return self

    if original is not None:
        decorators[name] = dataclasses.replace(decorators[name], func=validate)
    else:
        logger.warning(
            "grammarlib: StructuredOutputsConfig has no validator %s; the backend is "
            "registered when vLLM loads its plugins",
            name,
        )
    rebuild_dataclass(cls, force=True)
    cls._grammarlib_patched = True


def _patch_sampling_params() -> None:
    global _RequestError
    from vllm.sampling_params import SamplingParams

    try:
        from vllm.exceptions import VLLMValidationError
    except ImportError:  # pragma: no cover
        VLLMValidationError = ValueError  # type: ignore[assignment,misc]

    class GrammarlibRequestError(VLLMValidationError, ValueError):  # type: ignore[misc,valid-type]
        """A structured-output request grammarlib cannot serve (HTTP 400)."""

    _RequestError = GrammarlibRequestError
    original = SamplingParams._validate_structured_outputs
    if getattr(original, "_grammarlib", False):
        return

    @functools.wraps(original)
    def _validate_structured_outputs(self, model_config, structured_outputs_config, tokenizer):  # type: ignore[no-untyped-def]
        if (
            structured_outputs_config is None
            or self.structured_outputs is None
            or structured_outputs_config.backend != BACKEND_NAME
        ):
            return original(self, model_config, structured_outputs_config, tokenizer)
        _validate_request(self, model_config, tokenizer)

    _validate_structured_outputs._grammarlib = True  # type: ignore[attr-defined]
    SamplingParams._validate_structured_outputs = _validate_structured_outputs


def _validate_request(params: Any, model_config: Any, tokenizer: Any) -> None:
    """The checks vLLM makes for every backend, then grammarlib's: the request's grammar is
    built and compiled (without the tokenizer) so that a schema, regex or grammar grammarlib
    refuses is a request error with its message, before the request reaches the engine."""
    error = _RequestError
    so = params.structured_outputs
    if getattr(model_config, "is_diffusion", False):
        raise error("structured outputs are not supported for diffusion language models")
    if tokenizer is None:
        raise error("structured outputs need a tokenizer (not with skip_tokenizer_init)")
    if not hasattr(tokenizer, "backend_tokenizer"):
        raise error(
            "the grammarlib backend needs a Hugging Face fast tokenizer "
            "(for Mistral models start vLLM with --tokenizer-mode hf)"
        )
    chosen = so._backend
    if chosen and chosen != BACKEND_NAME:
        raise error(
            f"the request asks for the structured-output backend {chosen!r}, but vLLM was "
            f"started with {BACKEND_NAME!r}; per-request backends are not supported"
        )
    so._backend = BACKEND_NAME
    for name in ("grammar", "json", "structural_tag"):
        value = getattr(so, name)
        if isinstance(value, str) and not value.strip():
            raise error(f"structured_outputs.{name} cannot be an empty string")
    if isinstance(so.choice, list) and not so.choice:
        raise error("structured_outputs.choice cannot be an empty list")
    if so.json_object is False:
        raise error("structured_outputs.json_object must be True when given")
    if so.regex and "\x00" in so.regex:
        raise error("structured_outputs.regex must not contain a NUL character")
    if getattr(so, "disable_additional_properties", False):
        raise error("disable_additional_properties is only supported by the guidance backend")
    if getattr(so, "whitespace_pattern", None):
        raise error(
            "whitespace_pattern is not supported by the grammarlib backend "
            "(use disable_any_whitespace for compact JSON)"
        )
    try:  # vLLM's nesting limit, where this version has it
        from vllm.sampling_params import check_json_nesting

        check_json_nesting(so.json)
        check_json_nesting(so.structural_tag, structural_tag=True)
    except ImportError:  # pragma: no cover
        pass
    kind, spec = _request_kind(so)
    try:
        gl.compile(
            grammar_for_request(kind, spec, disable_any_whitespace=bool(so.disable_any_whitespace))
        )
    except ValueError as e:  # GrammarError, SchemaError, EmptyLanguageError, ...
        raise error(f"grammarlib cannot compile the {kind.lower()} constraint: {e}") from None
    so.__post_init__()


def _request_kind(so: Any) -> tuple[str, Any]:
    if so.json is not None:
        return "JSON", so.json
    if so.json_object:
        return "JSON_OBJECT", ""
    if so.regex is not None:
        return "REGEX", so.regex
    if so.choice is not None:
        return "CHOICE", so.choice
    if so.grammar is not None:
        return "GRAMMAR", so.grammar
    if so.structural_tag is not None:
        return "STRUCTURAL_TAG", so.structural_tag
    raise _RequestError("no structured-output constraint in the request")


def _patch_manager() -> None:
    from vllm.v1.structured_output import StructuredOutputManager

    original_init = StructuredOutputManager.grammar_init
    if getattr(original_init, "_grammarlib", False):
        return
    original_create = StructuredOutputManager._create_grammar

    @functools.wraps(original_init)
    def grammar_init(self, request):  # type: ignore[no-untyped-def]
        so_request = request.structured_output_request
        if self.backend is None and so_request is not None:
            params = request.sampling_params
            so = getattr(params, "structured_outputs", None)
            if getattr(so, "_backend", None) == BACKEND_NAME:
                self.backend = GrammarlibBackend(
                    self.vllm_config,
                    tokenizer=self.tokenizer,
                    vocab_size=self.vllm_config.model_config.get_vocab_size(),
                )
        return original_init(self, request)

    @functools.wraps(original_create)
    def _create_grammar(self, request):  # type: ignore[no-untyped-def]
        if not isinstance(self.backend, GrammarlibBackend):
            return original_create(self, request)
        so = request.sampling_params.structured_outputs
        token = _request_options.set(
            {"disable_any_whitespace": bool(getattr(so, "disable_any_whitespace", False))}
        )
        try:
            return original_create(self, request)
        finally:
            _request_options.reset(token)

    grammar_init._grammarlib = True  # type: ignore[attr-defined]
    StructuredOutputManager.grammar_init = grammar_init
    StructuredOutputManager._create_grammar = _create_grammar
