"""The normal form of a schema: a disjunction of cases, each a conjunction of per-type
constraints (``allOf`` merged; ``anyOf``/``oneOf``/``if``/``dependent*`` distributed; ``not``
pushed down keyword by keyword)."""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal
from fractions import Fraction
from typing import Any

from ..errors import SchemaError
from ..normalize import Deadline
from .dialects import ANNOTATION_KEYWORDS, DRAFT202012, DRAFTS, detect_draft, known_keywords

__all__ = [
    "ALL_TYPES",
    "ANNOTATIONS",
    "JSON_TYPES",
    "AllOf",
    "AnyOf",
    "Case",
    "NormalForm",
    "Not",
    "Subschema",
    "Term",
    "decimal_value",
    "impossible",
    "json_key",
    "json_type",
    "pointer",
    "product",
    "pure_ref",
    "vacuous",
]

JSON_TYPES = ("null", "boolean", "object", "array", "string", "number", "integer")

# A schema is brought into a disjunctive normal form: a list of `Case` conjunctions, each a set
# of per-type constraints with no combinators left. `allOf` merges, `anyOf`/`oneOf`/`if`/
# `dependent*` distribute, `not` is pushed inwards keyword by keyword (each keyword's negation is
# again a per-type constraint). Subschemas of properties and items stay as terms (`Subschema`,
# `Not`, `AllOf`, `AnyOf`) and are compiled on their own. Annotations (which properties/items a
# successful schema evaluated) travel with each conjunction, so `unevaluated*` becomes an ordinary
# constraint.


def pointer(base: str, *parts: object) -> str:
    for p in parts:
        base += "/" + str(p).replace("~", "~0").replace("/", "~1")
    return base


def json_key(v: Any) -> str:
    """Equality key for JSON values as jsonschema compares them (1 == 1.0, True != 1)."""
    return json.dumps(_canon(v), sort_keys=True)


def _canon(v: Any) -> Any:
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, (int, float)):
        return ["#num", repr(Fraction(v))]
    if isinstance(v, list):
        return [_canon(x) for x in v]
    return {k: _canon(x) for k, x in v.items()}


def json_type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    return "array" if isinstance(v, list) else "object"


ALL_TYPES = frozenset({"null", "boolean", "number", "string", "object", "array"})
_MAX_BRANCHES = 256


@dataclass(frozen=True, eq=False)
class Subschema:
    """A subschema in its context: the reference resolver (base URI, dynamic scope) and pointer."""

    schema: Any
    resolver: Any
    where: str


@dataclass(frozen=True, eq=False)
class Not:
    """The negation of a term."""

    item: Any
    where: str


@dataclass(frozen=True, eq=False)
class AllOf:
    """The conjunction of terms."""

    items: tuple[Any, ...]
    where: str


@dataclass(frozen=True, eq=False)
class AnyOf:
    """The disjunction of terms."""

    items: tuple[Any, ...]
    where: str


Term = Any  # bool | Subschema | Not | AllOf | AnyOf


@dataclass
class Case:
    """One conjunction of per-type constraints (plus the annotations it produces)."""

    where: str
    types: frozenset[str] = ALL_TYPES
    values: list[Any] | None = None  # the value is one of these
    excluded: list[Any] = field(default_factory=list)  # ... and none of these
    conjuncts: list[Term] = field(
        default_factory=list
    )  # terms whose conjunction holds (for values)
    minimum: tuple[Decimal, bool] | None = None  # number bounds (value, exclusive)
    maximum: tuple[Decimal, bool] | None = None
    multiples_of: list[Decimal] = field(default_factory=list)
    not_multiples_of: list[Decimal] = field(default_factory=list)
    min_length: int = 0
    max_length: int | None = None
    languages: list[tuple[str, str, bool, str]] = field(default_factory=list)  # kind, v, neg, where
    properties: dict[str, list[Term]] = field(default_factory=dict)
    required: list[str] = field(default_factory=list)
    regions: list[tuple[frozenset[str], tuple[str, ...], Term]] = field(default_factory=list)
    pattern_properties: list[tuple[str, Term]] = field(default_factory=list)
    property_names: list[Term] = field(default_factory=list)
    # some member has a key of the class and a value of the term: ("region", names, patterns)
    # (a key outside both), ("pattern", p) (a key matching p), ("names", terms) (a key that
    # fails the propertyNames terms; the term is then True)
    witnesses: list[tuple[tuple[Any, ...], Term]] = field(default_factory=list)
    min_properties: int = 0
    max_properties: int | None = None
    prefix_items: list[list[Term]] = field(default_factory=list)
    rest_items: list[Term] = field(default_factory=list)
    min_items: int = 0
    max_items: int | None = None
    contains: list[tuple[Term, int, int | None, int]] = field(default_factory=list)
    unique_items: bool = False
    evaluated_names: frozenset[str] = frozenset()
    evaluated_patterns: frozenset[str] = frozenset()
    evaluated_all_properties: bool = False
    evaluated_prefix: int = 0
    evaluated_all_items: bool = False
    evaluated_contains: tuple[Term, ...] = ()

    def item_terms(self, i: int) -> list[Term]:
        return self.prefix_items[i] if i < len(self.prefix_items) else self.rest_items

    def padded(self, n: int) -> list[list[Term]]:
        return [self.item_terms(i) for i in range(max(n, len(self.prefix_items)))]

    def merge(self, o: Case) -> Case:
        values = self.values
        if o.values is not None:
            if values is None:
                values = o.values
            else:
                keys = {json_key(x) for x in o.values}
                values = [x for x in values if json_key(x) in keys]
        n = max(len(self.prefix_items), len(o.prefix_items))
        # A new dict (callers may assign to it); the term lists are shared, never changed in
        # place. Copying each list made merges a quarter of the JSON Schema front-end's time.
        properties = dict(self.properties)
        for k, v in o.properties.items():
            have = properties.get(k)
            properties[k] = v if have is None else have + v
        # Built through the instance dict: the dataclass __init__ (35 arguments, default
        # factories) was most of a merge's cost, and merges are most of the normal form's.
        out = object.__new__(Case)
        out.__dict__ = {
            "where": self.where or o.where,
            "types": self.types & o.types,
            "values": values,
            "excluded": self.excluded + o.excluded,
            "conjuncts": self.conjuncts + o.conjuncts,
            "minimum": _tighter(self.minimum, o.minimum, 1),
            "maximum": _tighter(self.maximum, o.maximum, -1),
            "multiples_of": self.multiples_of + o.multiples_of,
            "not_multiples_of": self.not_multiples_of + o.not_multiples_of,
            "min_length": max(self.min_length, o.min_length),
            "max_length": _min_opt(self.max_length, o.max_length),
            "languages": self.languages + o.languages,
            "properties": properties,
            "required": list(dict.fromkeys(self.required + o.required)),
            "regions": self.regions + o.regions,
            "pattern_properties": self.pattern_properties + o.pattern_properties,
            "property_names": self.property_names + o.property_names,
            "witnesses": self.witnesses + o.witnesses,
            "min_properties": max(self.min_properties, o.min_properties),
            "max_properties": _min_opt(self.max_properties, o.max_properties),
            "prefix_items": _merged_items(self, o, n),
            "rest_items": self.rest_items + o.rest_items,
            "min_items": max(self.min_items, o.min_items),
            "max_items": _min_opt(self.max_items, o.max_items),
            "contains": self.contains + o.contains,
            "unique_items": self.unique_items or o.unique_items,
            "evaluated_names": self.evaluated_names | o.evaluated_names,
            "evaluated_patterns": self.evaluated_patterns | o.evaluated_patterns,
            "evaluated_all_properties": self.evaluated_all_properties or o.evaluated_all_properties,
            "evaluated_prefix": max(self.evaluated_prefix, o.evaluated_prefix),
            "evaluated_all_items": self.evaluated_all_items or o.evaluated_all_items,
            "evaluated_contains": self.evaluated_contains + o.evaluated_contains,
        }
        return out

    def trivially_empty(self) -> bool:
        return self.why_empty() is not None

    def why_empty(self) -> str | None:
        """Why no value can satisfy this conjunction, when that is evident; else None."""
        w = self.where
        if not self.types:
            return f"the allowed types exclude each other at {w}"
        if self.values is not None:
            keys = {json_key(x) for x in self.excluded}
            if not any(json_type(v) in self.types and json_key(v) not in keys for v in self.values):
                return f"no 'enum'/'const' value has an allowed type at {w}"
        if self.types == {"number"} and self.minimum and self.maximum:
            (a, sa), (b, sb) = self.minimum, self.maximum
            if a > b or (a == b and (sa or sb)):
                return f"no number between the bounds at {w} ({a} {'>=' if a == b else '>'} {b})"
        if self.types <= {"number", "integer"}:
            for n in self.not_multiples_of:
                if any(m % n == 0 for m in self.multiples_of):
                    return f"a multiple of {n} is required and excluded at {w}"
        if (
            self.types == {"string"}
            and self.max_length is not None
            and self.min_length > self.max_length
        ):
            return f"minLength {self.min_length} > maxLength {self.max_length} at {w}"
        if self.types == {"object"}:
            for r in self.required:
                if any(impossible(t) for t in self.properties.get(r, [])):
                    return f"required property {r!r} can have no value at {w}"
                for names, patterns, term in self.regions:  # additionalProperties: false
                    if r not in names and not patterns and impossible(term):
                        banned = "'additionalProperties'"
                        return f"required property {r!r} is forbidden by {banned} at {w}"
            if self.max_properties is not None and self.min_properties > self.max_properties:
                low, high = self.min_properties, self.max_properties
                return f"minProperties {low} > maxProperties {high} at {w}"
            if self.max_properties is not None and len(self.required) > self.max_properties:
                many, high = len(self.required), self.max_properties
                return f"{many} required properties > maxProperties {high} at {w}"
        lo, hi = self.min_items, self.max_items
        if self.types == {"array"} and hi is not None and lo > hi:
            return f"no array length fits the bounds at {w} ({lo} > {hi})"
        return None


def _merged_items(a: Case, b: Case, n: int) -> list[list[Term]]:
    """The first ``n`` item positions of two conjoined cases (a side without any item
    constraint adds nothing, and its lists are not copied)."""
    if not b.prefix_items and not b.rest_items:
        return list(a.prefix_items)
    if not a.prefix_items and not a.rest_items:
        return list(b.prefix_items)
    return [a.item_terms(i) + b.item_terms(i) for i in range(n)]


def _min_opt(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def _tighter(
    a: tuple[Decimal, bool] | None, b: tuple[Decimal, bool] | None, sign: int
) -> tuple[Decimal, bool] | None:
    if a is None or b is None:
        return a or b
    if a[0] == b[0]:
        return (a[0], a[1] or b[1])
    return a if (a[0] - b[0]) * sign > 0 else b


def decimal_value(v: Any, key: str, where: str) -> Decimal:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise SchemaError(f"{key!r} at {where} must be a finite number")
    return Decimal(repr(v)) if isinstance(v, float) else Decimal(v)


def _count(s: dict[str, Any], key: str, where: str) -> int | None:
    """A non-negative integer keyword (``2.0`` counts as ``2``), or ``None`` when absent."""
    v = s.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 or v != int(v):
        raise SchemaError(f"{key!r} at {where} must be a non-negative integer, not {v!r}")
    return int(v)


def product(groups: list[list[Case]], reasons: list[str]) -> list[Case]:
    """The conjunction of disjunctions, as a disjunction (evidently empty parts dropped, with
    the reason added to ``reasons``)."""
    out: list[Case] | None = None
    for g in groups:
        # (the first group is merged with nothing: copies of its cases are that merge)
        out = [_copy(y) for y in g] if out is None else [x.merge(y) for x in out for y in g]
        kept = []
        for f in out:
            why = f.why_empty()
            if why is None:
                kept.append(f)
            else:
                reasons.append(why)
        out = kept
        if len(out) > _MAX_BRANCHES:
            raise SchemaError(
                f"the combinators ('anyOf', 'oneOf', 'not', 'if', 'dependent*') at "
                f"{g[0].where or '#'} expand to more than {_MAX_BRANCHES} cases"
            )
    return [Case(where="")] if out is None else out


def _named_witnesses(case: Case) -> list[Case]:
    """``case`` with each witness "some key outside these names has a value in t" (a negated
    ``additionalProperties``) that ``case`` allows only for finitely many named keys (its own
    ``additionalProperties: false``) replaced by the choice of one of those keys, required with
    a value in t: one case per choice. The emitter builds few witnesses at once; required keys,
    any number."""
    allowed: set[str] | None = None
    for names, patterns, term in case.regions:
        if not patterns and impossible(term):
            allowed = set(names) if allowed is None else allowed & set(names)
    if allowed is None or case.types != {"object"}:
        return [case]
    out = [replace(case, witnesses=[])]
    for w in case.witnesses:
        (kind, *cls), term = w
        if kind != "region" or cls[1]:  # patterns: which names match them is not known here
            out = [replace(c, witnesses=[*c.witnesses, w]) for c in out]
            continue
        keys = sorted(allowed - set(cls[0]))
        any_value = vacuous(term)
        out = [
            replace(
                c,
                required=list(dict.fromkeys([*c.required, k])),
                properties=c.properties
                if any_value
                else {**c.properties, k: [*c.properties.get(k, []), term]},
            )
            for c in out
            for k in keys
        ]
    return out


def _absorbed(cases: list[Case], most: int) -> list[Case] | None:
    """``cases`` (a disjunction) without those whose constraints include all of another's: their
    values are the other's too. Fewest constraints first, so of equal cases one stays. None as
    soon as more than ``most`` are kept (a kept case is never dropped again, so the answer
    would be longer too): the pairwise comparison stops there rather than going on over
    thousands of cases."""
    kept: list[Case] = []
    for c in sorted(cases, key=_size):
        if not any(_subsumes(k, c) for k in kept):
            kept.append(c)
            if len(kept) > most:
                return None
    return kept


def _size(c: Case) -> int:
    return (
        len(c.required)
        + sum(len(ts) for ts in c.properties.values())
        + len(c.witnesses)
        + len(c.conjuncts)
    )


_SUBSUMPTION_SETS = ("where", "required", "properties", "witnesses", "conjuncts")


def _subsumes(a: Case, b: Case) -> bool:
    """Whether every constraint of ``a`` is one of ``b``'s: the same in every field, except that
    ``a``'s required keys, property terms, witnesses and conjuncts may be fewer."""
    if not set(a.required) <= set(b.required):
        return False
    for name, terms in a.properties.items():
        theirs = b.properties.get(name, ())
        if not all(any(t is u for u in theirs) for t in terms):
            return False
    if not all(any(w[1] is v[1] and w[0] == v[0] for v in b.witnesses) for w in a.witnesses):
        return False
    if not all(any(t is u for u in b.conjuncts) for t in a.conjuncts):
        return False
    return all(
        getattr(a, f.name) == getattr(b, f.name)
        for f in fields(Case)
        if f.name not in _SUBSUMPTION_SETS
    )


def _distinct_terms(terms: tuple[Term, ...]) -> list[Term]:
    """``terms`` without repeats (a conjunction is idempotent): the same subschema reached twice,
    e.g. the items of a property matched by its name and by a pattern in several merged cases,
    would otherwise multiply the cases of its combinators."""
    seen: set[Any] = set()
    out = []
    for t in terms:
        key = _context_key(t) if isinstance(t, Subschema) else id(t)
        if key not in seen:
            seen.add(key)
            out.append(t)
    return out


def _context_key(t: Subschema) -> tuple[Any, ...]:
    """What decides a subschema's meaning: the schema object, its base URI and dynamic scope
    (two resolvers made separately for the same place compare equal here)."""
    scope = tuple(uri for uri, _ in t.resolver.dynamic_scope())
    return (id(t.schema), str(t.resolver._base_uri), scope)


def _copy(case: Case) -> Case:
    """A shallow copy of ``case`` (its lists and dicts are replaced, never changed in place)."""
    out = object.__new__(Case)
    out.__dict__.update(case.__dict__)
    return out


def _dnf_conj(flats: list[Case], term: Term) -> list[Case]:
    for f in flats:
        f.conjuncts = [term]
    return flats


_IGNORED = frozenset(
    {"title", "description", "$schema", "$id", "$comment", "default", "examples", "$defs",
     "definitions", "deprecated", "readOnly", "writeOnly", "$anchor", "$dynamicAnchor",
     "contentMediaType", "contentEncoding", "contentSchema", "$vocabulary", "minContains",
     "maxContains", "then", "else", "discriminator"}
)  # fmt: skip
"""Annotations (``discriminator``: OpenAPI's, as pydantic writes it next to the ``oneOf`` that
enforces it), and keywords that only matter next to another one (read there)."""
ANNOTATIONS = frozenset(
    {"title", "description", "$comment", "default", "examples", "deprecated", "readOnly",
     "writeOnly"}
)  # fmt: skip
_SUPPORTED = frozenset(
    {"type", "enum", "const", "properties", "required", "additionalProperties", "items",
     "prefixItems", "minItems", "maxItems", "minLength", "maxLength", "pattern", "minimum",
     "maximum", "exclusiveMinimum", "exclusiveMaximum", "anyOf", "oneOf", "allOf", "$ref",
     "$dynamicRef", "not", "if", "format", "multipleOf", "patternProperties", "propertyNames",
     "minProperties", "maxProperties", "dependentRequired", "dependentSchemas",
     "unevaluatedProperties", "unevaluatedItems", "contains", "uniqueItems"}
)  # fmt: skip
_ALL_KEYWORDS = sorted(  # what a typo may have meant: keywords that assert something
    (set().union(*(known_keywords(d) for d in DRAFTS)) | _SUPPORTED) - ANNOTATION_KEYWORDS
)
_NUMERIC = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")


def pure_ref(s: Any) -> str | None:
    """``$ref``/``$dynamicRef`` when it is the only assertion of ``s``, else None."""
    if not isinstance(s, dict):
        return None
    keys = [k for k in s if k in _SUPPORTED or k in ("then", "else")]
    if keys == ["$ref"] or keys == ["$dynamicRef"]:
        return keys[0]
    return None


def _unknown_keyword(key: str, where: str) -> None:
    """An unknown keyword is an annotation (the specification says so); one that is a single
    edit away from a keyword is probably a typo, which deserves a warning (vendor prefixes such
    as ``x-`` and ``_`` are deliberate)."""
    if key.startswith(("x-", "_")):
        return
    close = [k for k in _ALL_KEYWORDS if _one_edit(key, k)]
    if close:
        warnings.warn(
            f"unknown keyword {key!r} at {where} is ignored (an annotation); "
            f"did you mean {close[0]!r}?",
            stacklevel=4,
        )


def _one_edit(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` differ by one insertion, deletion, substitution or swap."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and a[diff[0]] == b[diff[1]]
            and a[diff[1]] == b[diff[0]]
        )
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))


def vacuous(t: Term) -> bool:
    """Whether ``t`` evidently allows every value (``true``, ``{}`` or only annotations)."""
    return _evidently(t, every=True)


def impossible(t: Term) -> bool:
    """Whether ``t`` evidently allows no value."""
    return _evidently(t, every=False)


def _evidently(t: Term, every: bool) -> bool:
    """Whether ``t`` evidently allows every value (``every``) or none."""
    if isinstance(t, Not):
        return _evidently(t.item, not every)
    if isinstance(t, AllOf):
        return (all if every else any)(_evidently(x, every) for x in t.items)
    if isinstance(t, Subschema):
        t = t.schema
    if every:
        return t is True or (isinstance(t, dict) and all(k in ANNOTATIONS for k in t))
    return t is False


def _list(s: dict[str, Any], key: str, where: str) -> list[Any]:
    v = s.get(key, [])
    if not isinstance(v, list):
        raise SchemaError(f"{key!r} at {pointer(where, key)} must be an array")
    return v


def _dict(s: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    v = s.get(key, {})
    if not isinstance(v, dict):
        raise SchemaError(f"{key!r} at {pointer(where, key)} must be an object")
    return v


class NormalForm:
    """Schemas (terms) to their normal form, a list of :class:`Case`. A mixin of the compiler,
    which provides the options and the state below."""

    strict: bool
    formats: bool
    spec: Any  # referencing's draft 2020-12 specification
    reasons: list[str]  # why parts turned out empty (for the unsatisfiable-schema error)
    inlining: list[int]  # ids of the $ref targets being flattened (recursion is refused)
    deadline: Deadline  # the time limit of the compilation
    canonical_terms: dict[Any, Term]  # meaning -> the first term seen with it (see canonical)
    empty_conjunctions: dict[tuple[Any, ...], bool]  # meanings -> conjunction_empty
    schema_texts: dict[int, str]  # id of a schema object (alive in the root) -> its JSON text
    flattened: dict[tuple[Any, ...], list[Case]]  # (context key, annotations) -> its cases

    # -- errors and references --

    def check_time(self, where: str) -> None:
        """Stop with :class:`GrammarTooLargeError` once the time limit has passed."""
        self.deadline.check(where)

    def unsupported(self, keyword: str, where: str, why: str = "") -> None:
        msg = f"unsupported keyword {keyword!r} at {where}" + (f" ({why})" if why else "")
        if self.strict:
            raise SchemaError(msg)
        warnings.warn(msg + "; dropped (strict=False)", stacklevel=4)

    def child(self, parent: Subschema, schema: Any, *parts: object) -> Subschema:
        """A subschema of ``parent``, entered as jsonschema enters it (a nested ``$id`` moves
        the base URI and joins the dynamic scope)."""
        resolver = parent.resolver
        if isinstance(schema, dict):
            resolver = resolver.in_subresource(self.spec.create_resource(schema))
        return Subschema(schema, resolver, pointer(parent.where, *parts))

    def lookup(self, sub: Subschema, key: str) -> Subschema:
        ref = sub.schema[key]
        where = pointer(sub.where, key)
        if not isinstance(ref, str):
            raise SchemaError(f"{key!r} at {where} must be a string")
        try:
            resolved = sub.resolver.lookup(ref)
        except Exception as e:  # referencing.exceptions.Unresolvable and its kind
            raise SchemaError(f"{key!r} {ref!r} at {where} does not resolve ({e})") from None
        target = ref if ref.startswith("#") else f"{resolved.resolver._base_uri}"
        return Subschema(resolved.contents, resolved.resolver, target)

    # -- the normal form --

    def flatten(self, t: Term, annotations: bool = False) -> list[Case]:
        """``t`` as a disjunction of conjunctions; ``annotations``: the annotations will be read (an
        enclosing ``unevaluated*``), so ``anyOf`` must list which branches hold."""
        if t is True:
            return [Case(where="#")]
        if t is False:
            return []
        if isinstance(t, AllOf):
            items = _distinct_terms(t.items)
            return _dnf_conj(
                product([self.flatten(x, annotations) for x in items], self.reasons), t
            )
        if isinstance(t, AnyOf):
            return _dnf_conj([f for x in t.items for f in self.flatten(x, annotations)], t)
        if isinstance(t, Not):
            if not isinstance(t.item, Subschema):
                return _dnf_conj(self.negate(self.flatten(t.item), t.where), t)
            key = ("not", *_context_key(t.item))  # (memoised like a subschema, below)
            known = self.flattened.get(key)
            if known is None:
                known = self.flattened[key] = self.negate(self.flatten(t.item), t.where)
            return _dnf_conj([_copy(f) for f in known], t)
        s = t.schema
        if isinstance(s, bool):
            return self.flatten(s, annotations)
        if not isinstance(s, dict):
            raise SchemaError(f"a schema must be an object or a boolean at {t.where}")
        # A subschema means the same wherever it is used from ($ref'd definitions are flattened
        # again at every use, and conjunctions of property schemas are asked about again and
        # again): its cases are memoised, and copied out, since callers set a copy's fields.
        key = (*_context_key(t), annotations)
        known = self.flattened.get(key)
        if known is None:
            known = self.flattened[key] = _dnf_conj(self.flatten_dict(t, annotations), t)
        return [_copy(f) for f in known]

    def flatten_dict(self, sub: Subschema, annotations: bool) -> list[Case]:
        s, where = sub.schema, sub.where
        self.check_time(where)
        embedded = s.get("$schema") if where != "#" else None
        if isinstance(embedded, str) and detect_draft({"$schema": embedded}) != DRAFT202012:
            self.unsupported("$schema", where, "an embedded resource of another draft")
        for k in s:
            if k not in _SUPPORTED and k not in _IGNORED:
                _unknown_keyword(k, where)
        annotations = annotations or "unevaluatedProperties" in s or "unevaluatedItems" in s
        groups: list[list[Case]] = [[self.own(sub)]]
        for key in ("$ref", "$dynamicRef"):
            if key in s:
                target = self.lookup(sub, key)
                ident = id(target.schema)
                if ident in self.inlining:
                    raise SchemaError(
                        f"recursive {key!r} at {where} next to other keywords cannot be enforced"
                    )
                self.inlining.append(ident)
                try:
                    groups.append(self.flatten(target, annotations))
                finally:
                    self.inlining.pop()
        for i, x in enumerate(_list(s, "allOf", where)):
            groups.append(self.flatten(self.child(sub, x, "allOf", i), annotations))
        if "anyOf" in s:
            branches = [
                self.child(sub, x, "anyOf", i) for i, x in enumerate(_list(s, "anyOf", where))
            ]
            groups.append(self.any_of(branches, annotations, pointer(where, "anyOf")))
        if "oneOf" in s:
            branches = [
                self.child(sub, x, "oneOf", i) for i, x in enumerate(_list(s, "oneOf", where))
            ]
            groups.append(self.one_of(branches, annotations, pointer(where, "oneOf")))
        if "not" in s:
            groups.append(
                self.flatten(Not(self.child(sub, s["not"], "not"), pointer(where, "not")))
            )
        if "if" in s:
            cond = self.child(sub, s["if"], "if")
            then = self.child(sub, s.get("then", True), "then")
            else_ = self.child(sub, s.get("else", True), "else")
            no = Not(cond, pointer(where, "if"))
            if annotations:  # the annotations of 'if' count where it holds
                yes_case = self.flatten(AllOf((cond, then), where), annotations)
                groups.append(yes_case + self.flatten(AllOf((no, else_), where), annotations))
            elif "then" in s and "else" in s:
                yes_case = self.flatten(AllOf((cond, then), where))
                groups.append(yes_case + self.flatten(AllOf((no, else_), where)))
            elif "then" in s:  # not if, or (if and then): not if, or then
                groups.append(self.flatten(no) + self.flatten(then))
            elif "else" in s:  # (if) or (not if and else): if, or else
                groups.append(self.flatten(cond) + self.flatten(else_))
        for name, x in _dict(s, "dependentSchemas", where).items():
            dep = self.child(sub, x, "dependentSchemas", name)
            objects = frozenset({"object"})  # (a non-object is in ``absent``: no annotations)
            present = Case(where=where, types=objects, required=[name])
            absent = Case(where=where, properties={name: [False]})
            groups.append([f.merge(present) for f in self.flatten(dep, annotations)] + [absent])
        for name, deps in _dict(s, "dependentRequired", where).items():
            if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
                raise SchemaError(f"'dependentRequired' at {where} must list property names")
            present = Case(where=where, types=frozenset({"object"}), required=[name, *deps])
            groups.append([present, Case(where=where, properties={name: [False]})])
        flats = product(groups, self.reasons)
        if "unevaluatedProperties" in s:
            x = self.child(sub, s["unevaluatedProperties"], "unevaluatedProperties")
            for f in flats:
                if not f.evaluated_all_properties:
                    f.regions = [
                        *f.regions,
                        (f.evaluated_names, tuple(sorted(f.evaluated_patterns)), x),
                    ]
                    f.evaluated_all_properties = True
        if "unevaluatedItems" in s:
            x = self.child(sub, s["unevaluatedItems"], "unevaluatedItems")
            for f in flats:
                if not f.evaluated_all_items:
                    term = AnyOf((x, *f.evaluated_contains), x.where) if f.evaluated_contains else x
                    prefix_items = f.padded(f.evaluated_prefix)
                    f.prefix_items = [
                        [*p, term] if i >= f.evaluated_prefix else p
                        for i, p in enumerate(prefix_items)
                    ]
                    f.rest_items = [*f.rest_items, term]
                    f.evaluated_all_items = True
        return flats

    def any_of(self, branches: list[Subschema], annotations: bool, where: str) -> list[Case]:
        if not branches:
            raise SchemaError(f"'anyOf' at {where} must not be empty")
        if not annotations or len(branches) == 1:
            return [f for b in branches for f in self.flatten(b)]
        if len(branches) > 4:
            self.unsupported("anyOf", where, "more than 4 branches under 'unevaluated*'")
        # Which branches hold decides the annotations: one case per nonempty subset.
        out: list[Case] = []
        for mask in range(1, 1 << len(branches)):
            parts = [b if mask >> i & 1 else Not(b, b.where) for i, b in enumerate(branches)]
            out += self.flatten(AllOf(tuple(parts), where), True)
        return out

    def one_of(self, branches: list[Subschema], annotations: bool, where: str) -> list[Case]:
        if not branches:
            raise SchemaError(f"'oneOf' at {where} must not be empty")
        flats = [self.flatten(b, annotations) for b in branches]
        disjoint = all(
            self.exclusive(x.merge(y))
            for i in range(len(flats))
            for j in range(i)
            for x in flats[i]
            for y in flats[j]
        )
        if disjoint:
            return [f for fs in flats for f in fs]
        out: list[Case] = []
        for i, b in enumerate(branches):
            others = tuple(Not(c, c.where) for j, c in enumerate(branches) if j != i)
            if annotations:
                out += self.flatten(AllOf((b, *others), where), annotations)
                continue
            cases = flats[i]
            for j, other in enumerate(flats):
                if j == i or all(self.exclusive(x.merge(y)) for x in cases for y in other):
                    continue  # branch i already excludes branch j
                for case in other:  # not(a or b) = not a and not b: one case at a time
                    cases = self.without(cases, self.negate_case(case, where), where)
            out += _dnf_conj(cases, AllOf((b, *others), where))
        return out

    def without(self, cases: list[Case], negation: list[Case], where: str) -> list[Case]:
        """``cases`` and ``negation`` (the complement of another ``oneOf`` branch), as few cases
        as evidence allows: conjunctions that evidently have no value are dropped, a negated
        property value that the case's own value for it already rules out is dropped from the
        conjunction, and a conjunction that another one's constraints are part of (so its
        values are the other's) is left out. Without this, a branch that overlaps ten others
        (objects that differ in optional keys) expands to thousands of cases."""
        out = []
        for x in cases:
            for y in negation:
                z = x.merge(y)
                if z.why_empty() is not None or self.exclusive(z):
                    continue
                for name, terms in y.properties.items():
                    own = x.properties.get(name)
                    for t in terms:
                        if own and isinstance(t, Not) and self.excludes(own, t.item, where):
                            z.properties[name] = [u for u in z.properties[name] if u is not t]
                    # the same negation met again (two cases of one branch): one term
                    kept = {id(c): c for c in map(self.canonical, z.properties[name])}
                    z.properties[name] = list(kept.values())
                out += [c for c in _named_witnesses(z) if c.why_empty() is None]
            self.check_time(where)
        absorbed = _absorbed(out, _MAX_BRANCHES)
        if absorbed is None:
            raise SchemaError(
                f"the combinators ('anyOf', 'oneOf', 'not', 'if', 'dependent*') at "
                f"{where or '#'} expand to more than {_MAX_BRANCHES} cases"
            )
        self.check_time(where)
        return absorbed

    def canonical(self, t: Term) -> Term:
        """The first term seen that evidently means the same as ``t`` (equal subschemas as
        JSON, with the same base URI and dynamic scope; their negations), else ``t``: so equal
        constraints reached along two paths compare identical."""
        key = self.meaning(t)
        return t if key is None else self.canonical_terms.setdefault(key, t)

    def same_meaning(self, a: Term, b: Term) -> bool:
        """Whether two terms evidently mean the same (see :meth:`meaning`)."""
        if a is b:
            return True
        key = self.meaning(a)
        return key is not None and key == self.meaning(b)

    def meaning(self, t: Term) -> Any:
        """A hashable key of what ``t`` means, where that is evident (else None)."""
        while isinstance(t, AllOf) and len(t.items) == 1:
            t = t.items[0]
        if isinstance(t, bool):
            return t
        if isinstance(t, Not):
            inner = self.meaning(t.item)
            return None if inner is None else ("not", inner)
        if isinstance(t, (AllOf, AnyOf)):  # (the order of the terms does not matter)
            parts = [self.meaning(x) for x in t.items]
            if any(p is None for p in parts):
                return None
            return ("all" if isinstance(t, AllOf) else "any", frozenset(parts))
        if isinstance(t, Subschema):
            text = self.schema_texts.get(id(t.schema))
            if text is None:
                try:
                    text = json.dumps(t.schema, sort_keys=True)
                except (TypeError, ValueError):
                    return None
                self.schema_texts[id(t.schema)] = text
            return ("s", text, *_context_key(t)[1:])
        return None

    def excludes(self, terms: list[Term], other: Term, where: str) -> bool:
        """Whether no value satisfies all of ``terms`` and ``other`` (evidently)."""
        return self.conjunction_empty([*terms, other], where)

    def exclusive(self, both: Case) -> bool:
        """Whether a conjunction of two branches evidently has no value: a contradiction at the
        top, or between the schemas of a property both require (``const`` tags, say)."""
        if both.trivially_empty():
            return True
        if both.types != {"object"}:
            return False
        for name in both.required:
            terms = both.properties.get(name, [])
            if any(
                self.same_meaning(t, u.item) for t in terms for u in terms if isinstance(u, Not)
            ):
                return True  # a value and its own negation (equal subschemas in two branches)
            if len(terms) > 1 and self.conjunction_empty(terms, both.where):
                return True
        return False

    def conjunction_empty(self, terms: list[Term], where: str) -> bool:
        """Whether the conjunction of ``terms`` evidently has no value (its normal form is
        empty). Memoised by what the terms mean: overlapping ``oneOf`` branches ask about the
        same property schemas again and again."""
        key = tuple(self.meaning(t) for t in terms)
        if None not in key:
            known = self.empty_conjunctions.get(key)
            if known is not None:
                return known
        try:
            empty = not self.flatten(AllOf(tuple(terms), where))
        except SchemaError:
            empty = False
        if None not in key:
            self.empty_conjunctions[key] = empty
        return empty

    def own(self, sub: Subschema) -> Case:
        """The constraints of the keywords of ``sub`` itself (no applicators)."""
        s, where = sub.schema, sub.where
        f = Case(where=where)
        if "type" in s:
            t = s["type"]
            ts = {t} if isinstance(t, str) else set(t) if isinstance(t, list) else {None}
            if not ts <= set(JSON_TYPES):
                raise SchemaError(f"bad 'type' {t!r} at {where}")
            if "integer" in ts and "number" not in ts:
                f.multiples_of = [Decimal(1)]
            f.types = frozenset("number" if x == "integer" else x for x in ts)
        if "const" in s:
            f.values = [s["const"]]
        if "enum" in s:
            if not isinstance(s["enum"], list):
                raise SchemaError(f"'enum' at {where} must be an array")
            keys = {json_key(x) for x in f.values} if f.values is not None else None
            f.values = [x for x in s["enum"] if keys is None or json_key(x) in keys]
        for k in _NUMERIC:
            if k in s:
                bound = (decimal_value(s[k], k, where), k.startswith("exclusive"))
                if k.endswith("inimum"):
                    f.minimum = _tighter(f.minimum, bound, 1)
                else:
                    f.maximum = _tighter(f.maximum, bound, -1)
        if "multipleOf" in s:
            m = decimal_value(s["multipleOf"], "multipleOf", where)
            if m <= 0:
                raise SchemaError(f"'multipleOf' at {where} must be positive")
            f.multiples_of = [*f.multiples_of, m]
        f.min_length = _count(s, "minLength", where) or 0
        f.max_length = _count(s, "maxLength", where)
        if "pattern" in s:
            if not isinstance(s["pattern"], str):
                raise SchemaError(f"'pattern' at {where} must be a string")
            f.languages.append(("pattern", s["pattern"], False, pointer(where, "pattern")))
        if "format" in s and self.formats:
            from ..formats import FORMATS

            if s["format"] in FORMATS:
                f.languages.append(("format", s["format"], False, pointer(where, "format")))
            else:
                warnings.warn(
                    f"unknown format {s['format']!r} at {pointer(where, 'format')} is an "
                    f"annotation (not enforced); known formats: {', '.join(sorted(FORMATS))}",
                    stacklevel=2,
                )
        properties = _dict(s, "properties", where)
        f.properties = {n: [self.child(sub, x, "properties", n)] for n, x in properties.items()}
        f.evaluated_names = frozenset(properties)
        pattern_properties = _dict(s, "patternProperties", where)
        f.pattern_properties = [
            (p, self.child(sub, x, "patternProperties", p)) for p, x in pattern_properties.items()
        ]
        f.evaluated_patterns = frozenset(pattern_properties)
        if "additionalProperties" in s:
            x = self.child(sub, s["additionalProperties"], "additionalProperties")
            f.regions = [(frozenset(properties), tuple(pattern_properties), x)]
            f.evaluated_all_properties = True
        req = s.get("required", [])
        if not isinstance(req, list) or not all(isinstance(r, str) for r in req):
            raise SchemaError(f"'required' at {where} must list property names")
        f.required = list(dict.fromkeys(req))
        if "propertyNames" in s:
            f.property_names = [self.child(sub, s["propertyNames"], "propertyNames")]
        f.min_properties = _count(s, "minProperties", where) or 0
        f.max_properties = _count(s, "maxProperties", where)
        prefix = _list(s, "prefixItems", where)
        f.prefix_items = [[self.child(sub, x, "prefixItems", i)] for i, x in enumerate(prefix)]
        f.evaluated_prefix = len(prefix)
        if "items" in s:
            f.rest_items = [self.child(sub, s["items"], "items")]
            f.evaluated_all_items = True
        f.min_items = _count(s, "minItems", where) or 0
        f.max_items = _count(s, "maxItems", where)
        if "contains" in s:
            c = self.child(sub, s["contains"], "contains")
            lo = _count(s, "minContains", where)
            f.contains = [(c, 1 if lo is None else lo, _count(s, "maxContains", where), 0)]
            f.evaluated_contains = (c,)
        if s.get("uniqueItems", False) is True:
            f.unique_items = True
        return f

    def negate(self, flats: list[Case], where: str) -> list[Case]:
        """The complement of a disjunction, as a disjunction."""
        return product([self.negate_case(f, where) for f in flats], self.reasons)

    def negate_case(self, f: Case, where: str) -> list[Case]:
        out = []
        if ALL_TYPES - f.types:
            out.append(Case(where=where, types=ALL_TYPES - f.types))
        ts = f.types
        if f.values is not None:
            out.append(Case(where=where, types=ts, excluded=list(f.values)))
        if f.excluded:
            out.append(Case(where=where, types=ts, values=list(f.excluded)))
        if "number" in ts:
            n = frozenset({"number"})
            if f.minimum:
                out.append(Case(where=where, types=n, maximum=(f.minimum[0], not f.minimum[1])))
            if f.maximum:
                out.append(Case(where=where, types=n, minimum=(f.maximum[0], not f.maximum[1])))
            out += [Case(where=where, types=n, not_multiples_of=[m]) for m in f.multiples_of]
            out += [Case(where=where, types=n, multiples_of=[m]) for m in f.not_multiples_of]
        if "string" in ts:
            st_ = frozenset({"string"})
            if f.min_length:
                out.append(Case(where=where, types=st_, max_length=f.min_length - 1))
            if f.max_length is not None:
                out.append(Case(where=where, types=st_, min_length=f.max_length + 1))
            for kind, v, neg, w in f.languages:
                out.append(Case(where=where, types=st_, languages=[(kind, v, not neg, w)]))
        if "object" in ts:
            o = frozenset({"object"})
            for name, terms in f.properties.items():
                if all(vacuous(t) for t in terms):
                    continue
                bad = Not(AllOf(tuple(terms), where), where)
                out.append(Case(where=where, types=o, required=[name], properties={name: [bad]}))
            for name in f.required:
                out.append(Case(where=where, types=o, properties={name: [False]}))
            for ns, pats, x in f.regions:  # some key outside both has a value outside x
                if not vacuous(x):
                    w = (("region", ns, pats), Not(x, where))
                    out.append(Case(where=where, types=o, witnesses=[w]))
            for pat, x in f.pattern_properties:
                if not vacuous(x):
                    w = (("pattern", pat), Not(x, where))
                    out.append(Case(where=where, types=o, witnesses=[w]))
            if f.property_names and not all(vacuous(x) for x in f.property_names):
                w = (("names", tuple(f.property_names)), True)
                out.append(Case(where=where, types=o, witnesses=[w]))
            for cls, x in f.witnesses:  # every key of the class has a value outside x
                if cls[0] == "region":
                    nf = Case(where=where, types=o, regions=[(cls[1], cls[2], Not(x, where))])
                elif cls[0] == "pattern":
                    nf = Case(where=where, types=o, pattern_properties=[(cls[1], Not(x, where))])
                else:
                    nf = Case(where=where, types=o, property_names=[AllOf(cls[1], where)])
                out.append(nf)
            if f.min_properties:
                out.append(Case(where=where, types=o, max_properties=f.min_properties - 1))
            if f.max_properties is not None:
                out.append(Case(where=where, types=o, min_properties=f.max_properties + 1))
        if "array" in ts:
            a = frozenset({"array"})
            for i, terms in enumerate(f.prefix_items):
                if terms:
                    prefix_items: list[list[Term]] = [[] for _ in range(i)]
                    prefix_items.append([Not(AllOf(tuple(terms), where), where)])
                    out.append(
                        Case(where=where, types=a, min_items=i + 1, prefix_items=prefix_items)
                    )
            if f.rest_items:
                bad = Not(AllOf(tuple(f.rest_items), where), where)
                out.append(
                    Case(where=where, types=a, contains=[(bad, 1, None, len(f.prefix_items))])
                )
            if f.min_items:
                out.append(Case(where=where, types=a, max_items=f.min_items - 1))
            if f.max_items is not None:
                out.append(Case(where=where, types=a, min_items=f.max_items + 1))
            for c, lo, hi, start in f.contains:
                if lo:
                    out.append(Case(where=where, types=a, contains=[(c, 0, lo - 1, start)]))
                if hi is not None:
                    out.append(Case(where=where, types=a, contains=[(c, hi + 1, None, start)]))
            if f.unique_items:
                self.unsupported("not", where, "negating uniqueItems")
        return [x for x in out if not x.trivially_empty()]
