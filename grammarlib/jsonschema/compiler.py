"""The schema compiler: a JSON Schema of any draft, read and resolved, to a grammar."""

from __future__ import annotations

import functools
import json
from typing import Any

from ..errors import SchemaError
from ..ir import EMPTY, Expr, GrammarIR
from ..normalize import Deadline
from .dialects import DRAFT4, check_shape, detect_draft, to_draft202012, translated_metaschemas
from .emit import Emitter
from .lexical import NUMBER_DIGITS, Syntax
from .normal_form import Subschema

__all__ = ["TIME_LIMIT_S", "SchemaCompiler", "schema_to_grammar"]

#: Default bound on one schema's compilation, in seconds (the slowest of the 400 real-world
#: schemas of JSONSchemaBench takes about 2.5 s on a busy 2-core machine).
TIME_LIMIT_S = 1.0


def schema_to_grammar(
    schema: Any,
    *,
    whitespace: str | int = "dumps",
    strict: bool = True,
    formats: bool = True,
    registry: Any = None,
    property_order: str = "schema",
    escapes: str = "dumps",
    draft: str | None = None,
    number_digits: int | None = NUMBER_DIGITS,
    time_limit_s: float | None = TIME_LIMIT_S,
) -> GrammarIR:
    """The grammar of the JSON texts valid under ``schema`` (a dict, bool or JSON text), as IR
    (``Grammar.from_json_schema`` wraps it, and caches).

    ``draft``: the draft to read a schema that has no ``$schema`` in (a meta-schema URI or a
    name: ``"draft-04"``, ``"draft-06"``, ``"draft-07"``, ``"2019-09"``, ``"2020-12"``); by
    default 2020-12 unless the schema uses forms only older drafts have (see
    :func:`grammarlib.jsonschema.dialects.detect_draft`).

    ``formats``: enforce ``format`` (an assertion; with False it is the annotation that draft
    2020-12 makes it by default, and ignored). ``registry``: a ``referencing.Registry`` of the
    other schemas that ``$ref`` may name (the JSON Schema meta-schemas are always there).
    ``property_order``: ``"schema"`` (declared properties in schema order, then the others) or
    ``"any"`` (members in any order; objects with more than 10 named properties are refused).
    ``whitespace``: where whitespace may go (:data:`~grammarlib.jsonschema.WHITESPACE_POLICIES`).
    ``escapes``: which string escapes are allowed (:data:`~grammarlib.jsonschema.ESCAPE_POLICIES`).
    ``number_digits``: the most digits of a number's integer part or fraction where the schema
    sets no bound (default 20, enough for int64 and doubles; ``None``: unlimited).
    ``time_limit_s``: past this many seconds of CPU time the compilation stops with
    :class:`~grammarlib.GrammarTooLargeError` naming where it was (``None``: no limit).
    """
    if isinstance(schema, (str, bytes)):
        try:
            schema = json.loads(schema)
        except ValueError as e:
            raise SchemaError(f"schema is not valid JSON: {e}") from e
    draft = detect_draft(schema, default=draft)
    check_shape(schema, draft)
    schema = to_draft202012(schema, draft)
    syntax = Syntax(whitespace, escapes, number_digits, integer_fraction=draft != DRAFT4)
    compiler = SchemaCompiler(
        schema, syntax, strict, formats, registry, property_order, time_limit_s
    )
    return compiler.grammar()


@functools.cache
def _base_registry() -> Any:
    """The JSON Schema meta-schemas (older ones also as their 2020-12 translations), crawled
    once per process: a compilation only adds and crawls its own schema."""
    from jsonschema_specifications import REGISTRY as SPECIFICATIONS
    from referencing import Registry
    from referencing.jsonschema import DRAFT202012 as SPEC_202012

    registry = Registry().combine(SPECIFICATIONS)
    registry = registry.with_resources(
        (uri, SPEC_202012.create_resource(contents)) for uri, contents in translated_metaschemas()
    )
    return registry.crawl()


class SchemaCompiler(Emitter):
    """One compilation of a draft 2020-12 schema: the options, the reference resolver and
    validator of its root, and the rules built so far."""

    def __init__(
        self,
        root: Any,
        syntax: Syntax,
        strict: bool,
        formats: bool,
        registry: Any,
        property_order: str,
        time_limit_s: float | None = None,
    ):
        from jsonschema import Draft202012Validator
        from referencing.jsonschema import DRAFT202012 as SPEC_202012

        self.root = root
        self.syntax = syntax
        self.strict = strict
        self.formats = formats
        if property_order not in ("schema", "any"):
            raise SchemaError(f"unknown property_order {property_order!r}; use 'schema' or 'any'")
        self.any_order = property_order == "any"
        self.rules: dict[str, Expr] = {}
        self.rule_names: dict[Any, str] = {}
        self.reasons: list[str] = []
        self.spec = SPEC_202012
        base = _base_registry()
        registry = base if registry is None else registry.combine(base)
        root_schema = root if isinstance(root, (dict, bool)) else {}
        resource = SPEC_202012.create_resource(root_schema)
        registry = registry.with_resource(resource.id() or "", resource).crawl()
        self.resolver = registry.resolver_with_root(resource)
        checker = Draft202012Validator.FORMAT_CHECKER if formats else None
        self.validator = Draft202012Validator(
            root_schema, registry=registry, format_checker=checker
        )
        self.inlining: list[int] = []
        self.pattern_dfas: dict[str, Any] = {}
        self.unique_arrays: set[str] = set()
        self.fixed_keys: dict[str, str] = {}
        self.canonical_terms: dict[Any, Any] = {}
        self.empty_conjunctions: dict[tuple[Any, ...], bool] = {}
        self.schema_texts: dict[int, str] = {}
        self.flattened: dict[tuple[Any, ...], list[Any]] = {}
        self.synthetic: list[Any] = []
        self.deadline = Deadline(time_limit_s, "compiling the schema")

    def grammar(self) -> GrammarIR:
        body = self.schema(Subschema(self.root, self.resolver, "#"))
        if body == EMPTY:
            why = "; ".join(dict.fromkeys(self.reasons)) or "no JSON value satisfies it"
            raise SchemaError(f"schema is unsatisfiable: {why}")
        self.rules["start"] = body
        return GrammarIR(
            self.rules,
            "start",
            distinct_keys=True,
            unique_arrays=frozenset(self.unique_arrays),
            fixed_keys=frozenset(self.fixed_keys.values()),
        )
