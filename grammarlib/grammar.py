"""`Grammar`: a set of IR rules with a start rule, and the front-ends that build one.

The front-ends (:mod:`grammarlib.lark_frontend`, :mod:`grammarlib.gbnf`, :mod:`grammarlib.regex`,
:mod:`grammarlib.jsonschema`, :mod:`grammarlib.structural_tag`) return a
:class:`~grammarlib.ir.GrammarIR` and know nothing of this class; its constructors call them and
wrap the result (:meth:`Grammar.from_ir`), so imports only go down: front-ends -> IR."""

from __future__ import annotations

import hashlib
import json
import threading
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from .collector import collection_paused
from .errors import GrammarError
from .ir import Expr, GrammarIR, alt, content_hash, literal, rule_refs, to_text


class Grammar:
    """A context-free grammar over bytes: rules whose bodies are IR expressions.

    Build one with a front-end (:meth:`from_lark`, :meth:`from_gbnf`, :meth:`from_regex`,
    :meth:`from_choices`) or directly from IR rules (or a :class:`~grammarlib.ir.GrammarIR`,
    :meth:`from_ir`). Grammars are immutable values: equal rules and start give equal grammars
    with equal :attr:`fingerprint`.
    """

    __slots__ = (
        "_distinct_keys",
        "_fingerprint",
        "_fixed_keys",
        "_hash",
        "_positions",
        "_rules",
        "_source_key",
        "_start",
        "_unique_arrays",
    )

    def __init__(
        self,
        rules: Mapping[str, Expr],
        start: str,
        *,
        positions: Mapping[str, tuple[int, int]] | None = None,
        distinct_keys: bool = False,
        unique_arrays: Iterable[str] = (),
        fixed_keys: Iterable[str] = (),
    ):
        """``positions`` optionally maps rule names to (line, column) in the source text.
        ``distinct_keys``: the strings are JSON texts whose objects never repeat a key (checked
        beside the automaton, see :mod:`grammarlib.json_keys`; JSON Schema grammars set it).
        ``unique_arrays``: rules, each a JSON array of scalars (``[`` to ``]``), whose items
        must be pairwise different (checked the same way; needs ``distinct_keys``).
        ``fixed_keys``: rules, each one whole object key (quotes included) that the rules
        themselves write at most once per object and that no other key of that object can
        equal; the key checker does not remember them (needs ``distinct_keys``)."""
        self._rules = dict(rules)
        self._distinct_keys = distinct_keys
        self._unique_arrays = frozenset(unique_arrays)
        self._fixed_keys = frozenset(fixed_keys)
        if self._unique_arrays and not distinct_keys:
            raise GrammarError("unique_arrays needs distinct_keys (a JSON grammar)")
        if self._fixed_keys and not distinct_keys:
            raise GrammarError("fixed_keys needs distinct_keys (a JSON grammar)")
        self._start = start
        self._positions = dict(positions or {})
        self._fingerprint: str | None = None
        self._source_key: str | None = None
        self._hash: int | None = None
        if start not in self._rules:
            raise GrammarError(f"start rule {start!r} is not defined")
        for name, body in self._rules.items():
            for ref in sorted(rule_refs(body)):
                if ref not in self._rules:
                    line_col = self._positions.get(name)
                    raise GrammarError(
                        f"rule {name!r} references undefined rule {ref!r}",
                        line=line_col[0] if line_col else None,
                        column=line_col[1] if line_col else None,
                    )
        for name in sorted(self._unique_arrays - self._rules.keys()):
            raise GrammarError(f"unique array rule {name!r} is not defined")
        for name in sorted(self._fixed_keys - self._rules.keys()):
            raise GrammarError(f"fixed key rule {name!r} is not defined")

    @property
    def rules(self) -> Mapping[str, Expr]:
        """Rule name -> body expression (a read-only view)."""
        return _ReadOnly(self._rules)

    @property
    def start(self) -> str:
        return self._start

    @property
    def distinct_keys(self) -> bool:
        """Whether the language excludes JSON texts with a key repeated in one object."""
        return self._distinct_keys

    @property
    def unique_arrays(self) -> frozenset[str]:
        """The rules whose JSON arrays of scalars never repeat an item (``uniqueItems``)."""
        return self._unique_arrays

    @property
    def fixed_keys(self) -> frozenset[str]:
        """The rules, each one object key, that the grammar never repeats in an object."""
        return self._fixed_keys

    def position(self, rule: str) -> tuple[int, int] | None:
        """(line, column) where ``rule`` is defined in the source text, if known."""
        return self._positions.get(rule)

    @property
    def positions(self) -> Mapping[str, tuple[int, int]]:
        """Rule name -> (line, column) in the source text, for the rules where it is known (a
        read-only view)."""
        return MappingProxyType(self._positions)

    @classmethod
    def from_ir(cls, value: GrammarIR) -> Grammar:
        """The grammar of an IR value (what the front-ends return), checked: the start rule and
        every rule referenced must be defined."""
        return cls(
            value.rules,
            value.start,
            positions=value.positions,
            distinct_keys=value.distinct_keys,
            unique_arrays=value.unique_arrays,
            fixed_keys=value.fixed_keys,
        )

    @property
    def fingerprint(self) -> str:
        """A content hash of the rules and start rule (used as a cache key)."""
        if self._fingerprint is None:
            h = hashlib.sha256(self._start.encode())
            memo: dict[int, str] = {}
            for name in sorted(self._rules):
                body = content_hash(self._rules[name], memo)
                h.update(b"\0" + name.encode() + b"\0" + body.encode())
            if self._distinct_keys:
                h.update(b"\0distinct_keys")
            for name in sorted(self._unique_arrays):
                h.update(b"\0unique\0" + name.encode())
            for name in sorted(self._fixed_keys):
                h.update(b"\0fixed\0" + name.encode())
            self._fingerprint = h.hexdigest()
        return self._fingerprint

    @property
    def source_key(self) -> str | None:
        """A hash of what the grammar was built from (a JSON Schema's text and the options), or
        None: cheap where :attr:`fingerprint` is not, so the disk cache can name a grammar's
        bundle by it (with the fingerprint inside, checked when a bundle is read)."""
        return self._source_key

    def __eq__(self, other: object) -> bool:
        """Same rules (structurally), start rule and options. Cheap: the IR nodes cache their
        hashes and compare them first; no content hash is computed."""
        if self is other:
            return True
        if not isinstance(other, Grammar) or hash(self) != hash(other):
            return False
        return self._options() == other._options() and self._rules == other._rules

    def __hash__(self) -> int:
        if self._hash is None:
            bodies = frozenset(self._rules.items())  # the nodes' hashes are cached
            self._hash = hash((self._options(), bodies))
        return self._hash

    def _options(self) -> tuple:
        """What besides the rules makes two grammars different (equality and hash)."""
        return (self._start, self._distinct_keys, self._unique_arrays, self._fixed_keys)

    def __repr__(self) -> str:
        return f"<Grammar start={self._start!r} rules={len(self._rules)}>"

    def to_text(self) -> str:
        """The rules in a readable regex-like notation, start rule first."""
        names = [self._start, *sorted(n for n in self._rules if n != self._start)]
        return "\n".join(f"{n} ::= {to_text(self._rules[n])}" for n in names)

    def example(self) -> str:
        """A shortest string of the language (a witness that it is not empty; deterministic).

        Raises :class:`~grammarlib.EmptyLanguageError` for an empty language, and ``ValueError``
        when the shortest string is not valid UTF-8 (grammars over raw bytes): use
        :func:`grammarlib.analysis.shortest` for bytes.
        """
        from .analysis import shortest

        data = shortest(self)  # a Grammar has the rules, start and positions it reads
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(
                f"the shortest string {data!r} is not valid UTF-8; "
                "use grammarlib.analysis.shortest(grammar) for bytes"
            ) from None

    # -- front-ends ---------------------------------------------------------------------------

    @classmethod
    @collection_paused()
    def from_lark(cls, text: str, start: str = "start") -> Grammar:
        """A grammar in Lark's EBNF. Semantics: a CFG over bytes (no lexer), with ``%ignore``
        material allowed before, between and after terminals, like lark's Earley parser with
        ``lexer="dynamic_complete"``."""
        from .lark_frontend import grammar_from_lark

        return cls.from_ir(grammar_from_lark(text, start))

    @classmethod
    @collection_paused()
    def from_gbnf(cls, text: str, start: str = "root") -> Grammar:
        """A grammar in llama.cpp's GBNF notation; ``root`` is the start rule."""
        from .gbnf import grammar_from_gbnf

        return cls.from_ir(grammar_from_gbnf(text, start))

    @classmethod
    def from_regex(cls, pattern: str) -> Grammar:
        """The strings that Python's ``re.fullmatch(pattern, s)`` accepts, as UTF-8 bytes."""
        from .regex import regex_to_expr

        return cls({"root": regex_to_expr(pattern)}, "root")

    @classmethod
    def from_json_schema(
        cls,
        schema: object,
        *,
        whitespace: str | int = "dumps",
        strict: bool = True,
        escapes: str = "dumps",
        property_order: str = "schema",
        formats: bool = True,
        registry: object = None,
        draft: str | None = None,
        number_digits: int | None = 20,
        time_limit_s: float | None = 1.0,
    ) -> Grammar:
        """The JSON texts valid under ``schema`` (a dict, bool or JSON text).

        ``whitespace``: ``"dumps"`` (both ``json.dumps`` spacings), ``"compact"``, ``"default"``,
        ``"flexible"`` or a bound on blanks between tokens. ``strict=False`` drops a keyword that
        cannot be enforced, with a warning, instead of raising. ``escapes``: ``"dumps"`` (string
        escapes only where ``json.dumps`` writes them) or ``"any"``. ``property_order``:
        ``"schema"`` or ``"any"``. ``formats=False`` treats ``format`` as an annotation.
        ``registry``: a ``referencing.Registry`` for references to other documents. ``draft``:
        the draft of a schema without ``$schema`` (by default detected: 2020-12 unless it has
        older-draft forms such as array-form ``items``). Every draft from 04 on is read.
        ``number_digits``: the most digits of a number's integer part or fraction where the
        schema sets no bound (20 covers int64 and doubles; ``None``: unlimited).
        ``time_limit_s``: a schema whose compilation takes more CPU time is refused with
        :class:`GrammarTooLargeError` (naming where it stopped) soon after the limit. See
        :mod:`grammarlib.jsonschema` for the exact semantics and the supported keywords.

        Grammars are cached by the schema's content and the options (a bounded LRU; not with a
        ``registry``), so a server that sees the same schema again pays nothing; the warnings of
        the first build are repeated."""
        from .jsonschema import schema_to_grammar

        options = {
            "whitespace": whitespace,
            "strict": strict,
            "escapes": escapes,
            "property_order": property_order,
            "formats": formats,
            "draft": draft,
            "number_digits": number_digits,
        }
        key = _content_key(schema, options) if registry is None else None
        if key is not None:
            with _schema_cache_lock:
                hit = _schema_cache.get(key)
                if hit is not None:
                    _schema_cache.move_to_end(key)
            if hit is not None:
                grammar, caught = hit
                for warning in caught:
                    warnings.warn(warning.message, warning.category, stacklevel=2)
                return grammar
        with collection_paused(), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            value = schema_to_grammar(
                schema,
                registry=registry,
                time_limit_s=time_limit_s,
                **options,  # type: ignore[arg-type]
            )
            grammar = cls.from_ir(value)
        if key is not None:
            grammar._source_key = f"schema-{key}"
        for warning in caught:
            warnings.warn(warning.message, warning.category, stacklevel=2)
        if key is not None:
            with _schema_cache_lock:
                _schema_cache[key] = (grammar, list(caught))
                while len(_schema_cache) > _SCHEMA_CACHE_SIZE:
                    _schema_cache.popitem(last=False)
        return grammar

    @classmethod
    def from_pydantic(cls, model: type, **kw: object) -> Grammar:
        """The JSON texts of instances of a pydantic v2 ``model`` (via ``model_json_schema()``);
        keyword arguments are those of :meth:`from_json_schema`.

        Objects have only the fields their model declares, unless the model's config says
        ``extra="allow"``: pydantic's default (``extra="ignore"``) accepts unknown keys and drops
        them, so generating them would only waste tokens (a small model may never stop)."""
        from .jsonschema.dialects import subschemas

        schema = model.model_json_schema()  # type: ignore[attr-defined]
        for node, _ in subschemas(schema):
            if "properties" in node and "additionalProperties" not in node:
                node["additionalProperties"] = False
        return cls.from_json_schema(schema, **kw)  # type: ignore[arg-type]

    @classmethod
    def from_choices(cls, choices: Iterable[str | bytes]) -> Grammar:
        """Exactly one of the given strings."""
        items = list(choices)
        if not items:
            raise GrammarError("from_choices needs at least one choice")
        return cls({"root": alt(*(literal(c) for c in items))}, "root")

    @classmethod
    def from_structural_tag(cls, spec: object, **options: object) -> Grammar:
        """Free text with triggered, constrained segments (tool calls, reasoning): the
        structural-tag format that vLLM and SGLang send to xgrammar (a dict or JSON text,
        ``{"type": "structural_tag", "format": {...}}`` or a bare format). Options (``whitespace``,
        ``strict``) apply to its JSON Schemas. See :mod:`grammarlib.structural_tag`."""
        from .structural_tag import grammar_from_structural_tag

        return cls.from_ir(grammar_from_structural_tag(spec, **options))  # type: ignore[arg-type]


_SCHEMA_CACHE_SIZE = 64  # grammars hold thousands of objects each, which full collections walk
_schema_cache: OrderedDict[str, tuple[Grammar, list[warnings.WarningMessage]]] = OrderedDict()
_schema_cache_lock = threading.Lock()


def _content_key(schema: object, options: dict[str, object]) -> str | None:
    """A hash of a JSON schema (dict, bool or text) and the options, or None if not JSON."""
    try:
        text = schema if isinstance(schema, str) else json.dumps(schema, sort_keys=True)
    except (TypeError, ValueError):
        return None
    blob = json.dumps([text, options], sort_keys=True)
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()


class _ReadOnly(Mapping[str, Expr]):
    __slots__ = ("_data",)

    def __init__(self, data: dict[str, Expr]):
        self._data = data

    def __getitem__(self, key: str) -> Expr:
        return self._data[key]

    def __iter__(self):
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)
