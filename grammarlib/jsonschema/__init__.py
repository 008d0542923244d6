"""JSON Schema (draft-04 to 2020-12, read as 2020-12) to grammar IR, enforcing every keyword it
accepts exactly.

The language of a schema is the JSON texts (UTF-8) whose value is valid under the schema, within
a fixed surface syntax:

* **Whitespace** follows a policy (see :data:`WHITESPACE_POLICIES`): by default exactly what
  ``json.dumps(v)`` and ``json.dumps(v, separators=(",", ":"))`` produce, i.e. an optional single
  space after ``,`` and ``:`` and nothing else; no whitespace before or after the value.
* **Strings** follow an escape policy (see :data:`ESCAPE_POLICIES`). By default (``"dumps"``)
  they are written as ``json.dumps`` writes them, with ``ensure_ascii`` on or off: raw UTF-8 for
  every character except ``"``, ``\\`` and controls below U+0020, which are escaped (``\\"``,
  ``\\\\``, ``\\b\\f\\n\\r\\t``, else ``\\u00XX``), and non-ASCII characters may also be
  ``\\uXXXX`` escapes (surrogate pairs for astral ones); hex digits in either case. So an ASCII
  key is spelled one way only, and the grammar forces it (jump-forward) instead of letting a
  model write ``"\\u0061ge"``. ``escapes="any"`` allows every JSON escape for every character
  (``\\/``, ``\\u0041``, ...). Lone surrogates are never accepted. Every string constraint
  (``minLength``, ``pattern``, property names, ``const``) is applied to the *decoded* string, so
  ``"\\u00e9"`` and ``"é"`` are treated alike: strings are built at the character level (one
  leaf per decoded character) and then lowered, each character to its allowed JSON encodings.
* **Numbers** follow RFC 8259. An integer is written without leading zeros and never as ``-0``
  (``json.dumps`` never writes it); ``type: integer`` also accepts integral numbers written with a
  zero fraction as ``json.dumps`` writes integral floats (``1.0``, which ``jsonschema`` counts
  as an integer; not ``1.00``, so a model cannot spin on zeros) and not with an exponent.
* **Numbers** under ``minimum``/``maximum``/``exclusive*`` or ``multipleOf`` are written without
  an exponent (their exact decimal value decides); unconstrained numbers may use one.
* **Objects** (``property_order="schema"``, the default) list the declared ``properties`` in the
  schema's order (``allOf`` branches merged in order); optional ones may be left out. Other named
  keys (in ``required``, ``dependentRequired``, ...) follow. Extra keys (where
  ``additionalProperties``/``patternProperties``/``unevaluatedProperties`` allow them) come after
  all named ones and are exactly the strings that, decoded, differ from every named key.
  ``property_order="any"`` allows the members in any order (each key at most once), for objects
  with at most 10 named keys.
* ``const``/``enum`` values are rendered like ``json.dumps`` (object keys in the value's order;
  with ``property_order="any"`` in every order, up to 5 keys), with the whitespace policy between
  tokens and any string escapes.
* ``format`` is enforced (draft 2020-12's format-assertion vocabulary; the formats of
  :mod:`grammarlib.formats`, an unknown one is refused) unless ``formats=False``, which treats it
  as the annotation the draft makes it by default.

How (one module each): :mod:`~grammarlib.jsonschema.dialects` reads a schema of any draft
(meta-schema check, translation into 2020-12); :mod:`~grammarlib.jsonschema.normal_form` brings
it into a disjunctive normal form over JSON types (``allOf`` and ``$ref`` merge,
``anyOf``/``oneOf``/``if``/``dependent*`` distribute, ``oneOf`` as branch-and-not-the-others
where branches can overlap, ``not`` is pushed down keyword by keyword, and which
properties/items each case evaluated is tracked, so ``unevaluated*`` become plain constraints);
:mod:`~grammarlib.jsonschema.emit` turns each case into IR, combining string languages
(``pattern``, ``format``, lengths, property names, excluded values) exactly as character DFAs and
numbers with ``multipleOf`` as digit DFAs (:mod:`grammarlib.regular`), from the lexical pieces of
:mod:`~grammarlib.jsonschema.lexical`; :mod:`~grammarlib.jsonschema.compiler` drives it.
References resolve with the ``referencing`` library as ``jsonschema`` resolves them (``$id`` base
URIs, ``$anchor``, ``$dynamicRef`` against the dynamic scope of the path that reaches it).
:mod:`~grammarlib.jsonschema.validation` has validators that judge numbers as grammarlib does.

Keywords that cannot be enforced exactly raise :class:`SchemaError` naming the keyword and its
JSON pointer (or, with ``strict=False``, are dropped with a warning): ``uniqueItems`` unless the
items are scalars (checked by the matcher) or come from a finite set (at most 10 values, or 4096
arrays next to ``contains``), ``not``
around ``uniqueItems`` or around more than 3 object-wide keywords at once, a recursive ``$ref``
next to other keywords, ``anyOf`` with more than 4 branches under ``unevaluated*``, schemas whose
normal form passes 256 cases, other ``$schema`` dialects, unknown keywords and formats, patterns
with lookaround, more than 8 ``not``-ed ``multipleOf`` next to one whose divisibility automaton
is too large to build whole (those are made on demand), ``hostname`` without a
``maxLength`` of at most 64. Unsatisfiable schemas raise
:class:`SchemaError` saying why.
"""

from __future__ import annotations

from ..errors import SchemaError
from .compiler import SchemaCompiler, schema_to_grammar
from .lexical import (
    ESCAPE_POLICIES,
    FLEXIBLE_MAX,
    WHITESPACE_POLICIES,
    Syntax,
    char_literal,
    decimal_range,
    ecma_pattern,
    integer_range,
    lower_chars,
)
from .normal_form import JSON_TYPES
from .validation import exact_number, exact_validator

__all__ = [
    "ESCAPE_POLICIES",
    "FLEXIBLE_MAX",
    "JSON_TYPES",
    "WHITESPACE_POLICIES",
    "SchemaCompiler",
    "SchemaError",
    "Syntax",
    "char_literal",
    "decimal_range",
    "ecma_pattern",
    "exact_number",
    "exact_validator",
    "integer_range",
    "lower_chars",
    "schema_to_grammar",
]
