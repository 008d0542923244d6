"""Emitting grammar IR from the normal form: objects, arrays, strings, numbers and listed values
of each case, one rule per subschema."""

from __future__ import annotations

import functools
import itertools
import json
import math
from collections.abc import Callable
from dataclasses import replace
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, NamedTuple

from ..errors import GrammarError, SchemaError
from ..ir import EMPTY, EPSILON, Expr, Ref, alt, literal, optional, repeat, seq, star
from ..regex import char_leaf
from .lexical import (
    ALL_CHARS,
    ZERO_FRACTION,
    Syntax,
    char_literal,
    decimal_range,
    ecma_pattern,
    ecma_pattern_dfa,
    integer_range,
    json_char,
    json_number,
    json_string_except,
    json_string_literal,
    string_except,
)
from .normal_form import (
    AllOf,
    AnyOf,
    Case,
    NormalForm,
    Not,
    Subschema,
    Term,
    decimal_value,
    json_key,
    json_type,
    pointer,
    product,
    pure_ref,
    vacuous,
)

__all__ = ["Emitter"]

_MAX_UNIQUE_ARRAYS = 4096  # uniqueItems with contains: arrays listed one by one
_MAX_KEY_CLASSES = 64  # extra keys: classes of keys that the patterns tell apart
_MAX_UNIQUE_STATES = 1024  # ... otherwise one state per subset of the (at most 10) values
_EAGER_PRODUCT = 4096  # string products with at most (bound + 2) x DFA states are built whole
_MAX_ANY_ORDER = 10  # property_order="any": objects track which of these they have written
_MAX_ANY_ORDER_CONST = 5  # ... and const/enum objects list every order of their keys


class _ObjectBody(NamedTuple):
    """What an object body is made of: the named members in order (whether each is required,
    and its alternatives, each with the witnesses it is), the extra members (likewise), the
    bounds on the number of members and the witnesses that must all be met."""

    members: list[tuple[bool, list[tuple[int, Expr]]]]
    extra: list[tuple[int, Expr]]
    lo: int
    hi: int | None
    need: int


class _TooMany(Exception):
    """Internal: an enumeration passed its limit."""


class Emitter(NormalForm):
    """Terms to grammar rules through their normal form. A mixin of the compiler, which provides
    the options and the state below."""

    syntax: Syntax
    any_order: bool  # property_order="any"
    rules: dict[str, Expr]
    rule_names: dict[Any, str]  # term_key -> rule
    resolver: Any  # the root's referencing resolver
    validator: Any  # a jsonschema validator of the root (decides ``holds``)
    pattern_dfas: dict[str, Any]  # ECMA pattern -> its character DFA (``search``)
    unique_arrays: set[str]  # rules of scalar arrays whose items the matcher keeps distinct
    fixed_keys: dict[str, str]  # property name -> the rule of its key (see ``named_key``)
    synthetic: list[Any]  # schemas made up while compiling, kept alive (their ids key rules)

    # -- rules and terms --

    def share(self, expr: Expr) -> Expr:
        """``expr`` as a reference to a fresh helper rule (the normalizer inlines small ones)."""
        if isinstance(expr, Ref) or expr in (EMPTY, EPSILON):
            return expr
        name = f"helper:{len(self.rules)}"
        self.rules[name] = expr
        return Ref(name)

    def empty(self, why: str) -> Expr:
        self.reasons.append(why)
        return EMPTY

    def holds(self, term: Term, v: Any) -> bool:
        """Whether the JSON value ``v`` satisfies ``term`` (jsonschema decides)."""
        if isinstance(term, bool):
            return term
        if isinstance(term, AllOf):
            return all(self.holds(t, v) for t in term.items)
        if isinstance(term, AnyOf):
            return any(self.holds(t, v) for t in term.items)
        if isinstance(term, Not):
            return not self.holds(term.item, v)
        return self.validator.evolve(schema=term.schema, _resolver=term.resolver).is_valid(v)

    def term_key(self, t: Term) -> Any:
        """Identity of a term's meaning, for sharing one rule between its uses (and recursion):
        the subschema object, its base URI and the dynamic scope (resources by first entry),
        which a ``$dynamicRef`` below may depend on."""
        if isinstance(t, bool):
            return t
        if isinstance(t, Subschema):
            entered = [uri for uri, _ in t.resolver.dynamic_scope()][::-1]  # oldest first
            return ("s", id(t.schema), t.resolver._base_uri, tuple(dict.fromkeys(entered)))
        if isinstance(t, Not):
            return ("not", self.term_key(t.item))
        kind = "all" if isinstance(t, AllOf) else "any"
        return (kind, tuple(self.term_key(x) for x in t.items))

    def schema(self, term: Term) -> Expr:
        """The JSON texts of ``term``, as a rule shared by every use of the same term."""
        while isinstance(term, Subschema) and pure_ref(term.schema):
            term = self.lookup(term, pure_ref(term.schema))  # type: ignore[arg-type]
        key = self.term_key(term)
        name = self.rule_names.get(key)
        if name is None:
            where = getattr(term, "where", "#")
            self.check_time(where)
            name = self.rule_names[key] = (
                where if where not in self.rules else (f"{where}@{len(self.rules)}")
            )
            self.rules[name] = EPSILON  # placeholder while compiling (recursion)
            self.rules[name] = self.compile_term(term)
        if self.rules[name] == EMPTY:
            return EMPTY  # not recursive (a placeholder is EPSILON): say why at the top
        return Ref(name)

    def compile_term(self, term: Term) -> Expr:
        if isinstance(term, Subschema) and term.schema is False:
            return self.empty(f"false schema at {term.where}")
        flats = self.flatten(term)
        if not flats:
            where = getattr(term, "where", "#")
            return self.empty(f"no value satisfies the schema at {where}")
        before = len(self.unique_arrays)
        body = alt(*(self.case_expr(f) for f in flats))
        arrays = [f for f in flats if f.values is None and "array" in f.types]
        if len(self.unique_arrays) > before and len(arrays) > 1:
            # The matcher tells a unique array by the rule that reads its "[": with another
            # array form beside it, a bracket would open both.
            self.unsupported("uniqueItems", arrays[0].where, "beside another array form")
        return body

    # -- cases to expressions --

    def case_expr(self, f: Case) -> Expr:
        if f.values is not None:
            return self.values(f)
        out = []
        for t in sorted(f.types):
            if t == "null":
                if not any(v is None for v in f.excluded):
                    out.append(literal("null"))
            elif t == "boolean":
                gone = {v for v in f.excluded if isinstance(v, bool)}
                out += [literal(json.dumps(b)) for b in (True, False) if b not in gone]
            elif t == "number":
                out.append(self.number(f))
            elif t == "string":
                out.append(self.string(f))
            elif t in ("object", "array"):
                gone = [v for v in f.excluded if json_type(v) == t]
                if not gone:
                    out.append(self.object(f) if t == "object" else self.array(f))
                    continue
                # not equal to any of them: a disjunction of ways to differ from each
                rest = [v for v in f.excluded if json_type(v) != t]
                base = replace(f, types=frozenset({t}), excluded=rest)
                groups = [[base], *(self.differs(v, f.where) for v in gone)]
                for g in product(groups, self.reasons):
                    g.conjuncts = f.conjuncts
                    out.append(self.case_expr(g))
        result = alt(*out)
        if result == EMPTY:
            return self.empty(f"no value satisfies the schema at {f.where}")
        return result

    def differs(self, v: Any, where: str) -> list[Case]:
        """The objects or arrays (as ``v`` is one) that differ from ``v``, as ``jsonschema``
        compares them: another key set or length, or some member unequal."""

        def const(x: Any) -> Subschema:
            schema = {"const": x}
            self.synthetic.append(schema)  # alive, so its id() keys no other rule
            return Subschema(schema, self.resolver, where)

        if isinstance(v, dict):
            names = frozenset(v)
            o = frozenset({"object"})
            out = [Case(where=where, types=o, witnesses=[(("region", names, ()), True)])]
            for k, x in v.items():
                out.append(Case(where=where, types=o, properties={k: [False]}))
                bad = Not(const(x), where)
                out.append(Case(where=where, types=o, required=[k], properties={k: [bad]}))
            return out
        a = frozenset({"array"})
        out = [Case(where=where, types=a, min_items=len(v) + 1)]
        if v:
            out.append(Case(where=where, types=a, max_items=len(v) - 1))
        for i, x in enumerate(v):
            prefix_items: list[list[Term]] = [[] for _ in range(i)]
            prefix_items.append([Not(const(x), where)])
            out.append(Case(where=where, types=a, min_items=i + 1, prefix_items=prefix_items))
        return out

    def values(self, f: Case) -> Expr:
        """``enum``/``const``: the listed values that satisfy the rest of the schema."""
        gone = {json_key(v) for v in f.excluded}
        kept = [
            v
            for v in f.values or []
            if json_type(v) in f.types
            and json_key(v) not in gone
            and all(self.holds(c, v) for c in f.conjuncts)
        ]
        if not kept:
            return self.empty(f"no 'enum'/'const' value satisfies the other keywords at {f.where}")
        # Draft-04 integers have no fraction part: where the type is integer (a multiple of 1),
        # an integral value is written without one.
        fraction = self.syntax.integer_fraction or Decimal(1) not in f.multiples_of
        return alt(*(self.render(v, fraction) for v in kept))

    def render(self, v: Any, fraction: bool = True) -> Expr:
        """A JSON value as text: json.dumps tokens with the whitespace policy and any escapes;
        ``fraction``: an integral number may also be written with ``.0``."""
        if v is None:
            return literal("null")
        if v is True or v is False:
            return literal("true" if v else "false")
        if isinstance(v, float) and not math.isfinite(v):
            raise SchemaError(f"non-finite number {v!r} in a schema")
        if isinstance(v, int) or (isinstance(v, float) and v.is_integer()):
            n = int(v)
            return seq(integer_range(n, n), ZERO_FRACTION if fraction else EPSILON)
        if isinstance(v, float):
            return literal(json.dumps(v))
        if isinstance(v, str):
            return json_string_literal(v, self.syntax.escapes)
        if isinstance(v, list):
            items = [self.render(x) for x in v]
            body = seq(*(seq(self.syntax.comma(), x) if i else x for i, x in enumerate(items)))
            return self.syntax.bracket("[", body, "]")
        if isinstance(v, dict):
            members = [
                seq(self.render(k), self.syntax.colon(), self.render(x)) for k, x in v.items()
            ]
            orders = [members]
            if self.any_order and 1 < len(v) <= _MAX_ANY_ORDER_CONST:
                orders = [list(p) for p in itertools.permutations(members)]
            bodies = [
                seq(*(seq(self.syntax.comma(), m) if i else m for i, m in enumerate(ms)))
                for ms in orders
            ]
            return self.syntax.bracket("{", alt(*bodies), "}")
        raise SchemaError(f"not a JSON value: {v!r}")

    # -- the generic JSON value --

    def any_value(self) -> Expr:
        if "json:value" not in self.rules:
            value = Ref("json:value")
            string = seq(
                literal('"'), star(json_char(ALL_CHARS, self.syntax.escapes)), literal('"')
            )
            member = seq(string, self.syntax.colon(), value)
            obj = self.syntax.bracket(
                "{", optional(seq(member, star(seq(self.syntax.comma(), member)))), "}"
            )
            arr = self.syntax.bracket(
                "[", optional(seq(value, star(seq(self.syntax.comma(), value)))), "]"
            )
            self.rules["json:value"] = alt(
                literal("null"), literal("true"), literal("false"),
                json_number(self.syntax.number_digits), string,
                Ref("json:object"), Ref("json:array"),
            )  # fmt: skip
            self.rules["json:object"] = obj
            self.rules["json:array"] = arr
        return Ref("json:value")

    def terms_expr(self, terms: list[Term], where: str) -> Expr:
        """The conjunction of ``terms`` (a property's or an item's schemas)."""
        terms = [t for t in terms if not vacuous(t)]
        if not terms:
            return self.any_value()
        if len(terms) == 1:
            return self.schema(terms[0])
        return self.schema(AllOf(tuple(terms), where))

    # -- numbers --

    def number(self, f: Case) -> Expr:
        """Numbers in the bounds, of the ``multipleOf``s, minus the excluded values."""
        multiples_of = sorted({m for m in f.multiples_of if m != 1})
        ints = len(multiples_of) < len(set(f.multiples_of))  # multipleOf 1: integers
        base = self.number_ranges(f, ints, exponent=not f.not_multiples_of)
        if (not multiples_of and not f.not_multiples_of) or base == EMPTY:
            return base
        from ..regular import CharDFA, lower_utf8, multiple_of

        try:
            dfa = CharDFA.from_expr(base)
            for m in multiples_of:
                dfa = dfa.intersect(multiple_of(m, integer=ints))
            for m in sorted(set(f.not_multiples_of)):
                dfa = dfa.difference(multiple_of(m, integer=False))
        except GrammarError as e:
            lazy = self.lazy_multiples(f, multiples_of, ints)
            if lazy is not None:
                return lazy
            from ..divisible import MAX_AVOIDED

            why = f"{e.message}; and more than {MAX_AVOIDED} 'not'-ed multipleOf values with it"
            self.unsupported("multipleOf", f.where, why)
            return base
        if dfa.is_empty():
            return self.empty(f"no number of the 'multipleOf' in the bounds at {f.where}")
        return self.dfa_expr(dfa, lower_utf8)

    def lazy_multiples(self, f: Case, multiples_of: list[Decimal], ints: bool) -> Expr | None:
        """Numbers that are multiples of every ``multipleOf`` (with 1 for integers), as an
        automaton whose states are made as an output reaches them: for a ``multipleOf`` whose
        divisibility automaton is too large to build whole (0.123456789). Without bounds,
        excluded values or ``not``-ed multiples, a :class:`~grammarlib.divisible.MultiplesOf`
        (states by residue); with them, a :class:`~grammarlib.divisible.MultiplesIn` (states by
        exact value). None where neither applies (more ``not``-ed multiples than it takes)."""
        from fractions import Fraction

        from ..divisible import MAX_AVOIDED, MultiplesIn, MultiplesOf, fraction_lcm
        from ..ir import Lazy

        step = Fraction(1) if ints else None
        for m in multiples_of:
            step = Fraction(m) if step is None else fraction_lcm(step, Fraction(m))
        excluded = tuple(
            Fraction(decimal_value(v, "enum", f.where))
            for v in f.excluded
            if json_type(v) == "number"
        )
        machine: MultiplesOf | MultiplesIn
        if f.minimum is None and f.maximum is None and not f.not_multiples_of and not excluded:
            assert step is not None
            machine = MultiplesOf(
                step,
                integer=ints,
                zero_fraction=self.syntax.integer_fraction,
                max_digits=self.syntax.number_digits,
            )
        else:
            avoid = tuple(Fraction(n) for n in sorted(set(f.not_multiples_of)))
            if len(avoid) > MAX_AVOIDED:
                return None
            bounds = [None if b is None else (Fraction(b[0]), b[1]) for b in (f.minimum, f.maximum)]
            machine = MultiplesIn(
                step,
                low=bounds[0],
                high=bounds[1],
                avoid=avoid,
                excluded=excluded,
                integer=ints,
                zero_fraction=self.syntax.integer_fraction,
                max_digits=self.syntax.number_digits,
            )
        if machine.is_empty():
            within = "" if isinstance(machine, MultiplesOf) else " in the bounds"
            return self.empty(f"no number of the 'multipleOf'{within} at {f.where}")
        return Lazy(machine, machine.start)

    def dfa_expr(self, dfa: Any, lower: Callable[[Expr], Expr]) -> Expr:
        """A character DFA as rules of this grammar, each leaf lowered by ``lower``."""
        expr, rules = dfa.to_rules(f"dfa{len(self.rules)}:")
        for name, body in rules.items():
            self.rules[name] = lower(body)
        return lower(expr)

    def number_ranges(self, f: Case, ints: bool, exponent: bool = True) -> Expr:
        points = sorted(
            {decimal_value(v, "enum", f.where) for v in f.excluded if json_type(v) == "number"}
        )
        intervals: list[tuple[tuple[Decimal, bool] | None, tuple[Decimal, bool] | None]] = []
        lo = f.minimum
        for p in points:
            if (lo is None or p > lo[0] or (p == lo[0] and not lo[1])) and (
                f.maximum is None or p < f.maximum[0] or (p == f.maximum[0] and not f.maximum[1])
            ):
                intervals.append((lo, (p, True)))
                lo = (p, True)
        intervals.append((lo, f.maximum))
        parts = []
        for a, b in intervals:
            if ints:
                ilo = None if a is None else math.floor(a[0]) + 1 if a[1] else math.ceil(a[0])
                ihi = None if b is None else math.ceil(b[0]) - 1 if b[1] else math.floor(b[0])
                if ilo is not None and ihi is not None and ilo > ihi:
                    continue
                digits = self.syntax.number_digits
                fraction = ZERO_FRACTION if self.syntax.integer_fraction else EPSILON
                parts.append(seq(integer_range(ilo, ihi, digits), fraction))
            elif a is None and b is None and exponent:
                parts.append(json_number(self.syntax.number_digits))
            else:
                parts.append(
                    decimal_range(
                        None if a is None else a[0], bool(a and a[1]),
                        None if b is None else b[0], bool(b and b[1]),
                        self.syntax.number_digits,
                    )
                )  # fmt: skip
        result = alt(*parts)
        if result == EMPTY:
            return self.empty(f"no number between the bounds at {f.where}")
        return result

    # -- strings --

    def string(self, f: Case) -> Expr:
        lo, hi = f.min_length, f.max_length
        if hi is not None and lo > hi:
            return self.empty(f"minLength {lo} > maxLength {hi} at {f.where}")
        gone = [v for v in f.excluded if isinstance(v, str)]
        simple = lo == 0 and hi is None and not gone
        if not f.languages and not gone:
            body = repeat(char_leaf(ALL_CHARS), lo, hi)
        elif not f.languages and lo == 0 and hi is None:
            content = json_string_except(gone, self.syntax.escapes)
            return seq(literal('"'), content, literal('"'))
        elif (
            simple
            and len(f.languages) == 1
            and not f.languages[0][2]
            and not _limited(f.languages[0])
            and not _lookahead(f.languages[0])
        ):
            kind, v, _, w = f.languages[0]
            body = self.lang(kind, v, w) or star(char_leaf(ALL_CHARS))
        else:
            body = self.constrained_string(f)
            if body is None:
                body = repeat(char_leaf(ALL_CHARS), lo, hi)
            elif body == EMPTY:
                return self.empty(f"no string satisfies the constraints at {f.where}")
            else:
                return seq(literal('"'), body, literal('"'))
        return seq(literal('"'), self.syntax.lower(body), literal('"'))

    def constrained_string(self, f: Case) -> Expr | None:
        """String content (JSON-escaped, without quotes) under ``f``'s patterns, formats,
        excluded values and length bounds: their product, built whole when it is small, else a
        :class:`~grammarlib.bounded.BoundedChars` machine whose states are made as they are
        reached (a ``uri`` under a ``maxLength`` of 2083). None if the constraints are dropped."""
        from ..bounded import BoundedChars
        from ..ir import Lazy

        bounded = self.string_languages(f)
        if bounded is None:
            return None
        dfa, lo, hi = bounded
        if hi is not None and lo > hi:
            return EMPTY
        top = lo if hi is None else hi
        if (top + 2) * dfa.num_states <= _EAGER_PRODUCT:  # small: one minimal automaton
            product = self.with_lengths(f, dfa, lo, hi)
            if product is None:
                return None
            return EMPTY if product.is_empty() else self.dfa_expr(product, self.syntax.lower)
        escapes = self.syntax.escapes
        lower = functools.partial(json_char, escapes=escapes)
        machine = BoundedChars(dfa, lo, hi, lower, f"json:{escapes}")
        return EMPTY if machine.is_empty() else Lazy(machine, machine.start)

    def string_dfa(self, f: Case) -> Any:
        """The decoded strings allowed by ``f`` as one character DFA (None: dropped)."""
        bounded = self.string_languages(f)
        return None if bounded is None else self.with_lengths(f, *bounded)

    def with_lengths(self, f: Case, dfa: Any, lo: int, hi: int | None) -> Any:
        """``dfa`` cut to the lengths ``lo``..``hi`` (None: too large, dropped by keyword)."""
        from ..regular import CharDFA

        if hi is not None and lo > hi:
            return CharDFA.from_expr(EMPTY)
        try:
            return dfa.intersect(CharDFA.length_between(lo, hi))
        except GrammarError as e:
            self.unsupported("maxLength" if hi is not None else "minLength", f.where, e.message)
            return None

    def string_languages(self, f: Case) -> tuple[Any, int, int | None] | None:
        """``(dfa, lo, hi)``: the character DFA of ``f``'s patterns, formats and excluded
        values (lengths aside) and the length bounds, with the limit of a length-limited format
        (``hostname``: 253) folded into ``hi``. None: dropped."""
        from ..formats import MAX_LENGTH
        from ..regular import CharDFA

        lo, hi = f.min_length, f.max_length
        for kind, v, neg, _ in f.languages:
            if not neg and _limited((kind, v, neg, "")):
                hi = MAX_LENGTH[v] if hi is None else min(hi, MAX_LENGTH[v])
        kind, where = "pattern", f.where
        try:
            dfa = CharDFA.everything()
            for kind, v, neg, where in f.languages:
                if neg and _limited((kind, v, neg, where)) and (hi is None or hi > MAX_LENGTH[v]):
                    self.unsupported(
                        "format",
                        where,
                        f"'not' of {v!r} (at most {MAX_LENGTH[v]} characters) needs a maxLength "
                        f"of at most {MAX_LENGTH[v]}",
                    )
                    continue
                if kind == "pattern":
                    lang = ecma_pattern_dfa(v)  # (a GrammarError is reported below)
                else:
                    expr = self.lang(kind, v, where)
                    if expr is None:
                        continue
                    lang = CharDFA.from_expr(expr)  # (its length limit is folded into hi)
                dfa = dfa.difference(lang) if neg else dfa.intersect(lang)
            kind = "enum"
            for v in f.excluded:
                if isinstance(v, str):
                    dfa = dfa.difference(CharDFA.from_expr(char_literal(v)))
        except GrammarError as e:
            self.unsupported(kind, where, e.message)
            return None
        return dfa, lo, hi

    def lang(self, kind: str, v: str, where: str) -> Expr | None:
        """The character-level language of a ``pattern`` or ``format``; None if dropped."""
        if kind == "pattern":
            try:
                return ecma_pattern(v)
            except GrammarError as e:
                self.unsupported("pattern", where, e.message)
                return None
        from ..formats import FORMATS, format_expr

        if v not in FORMATS:  # (a negated unknown format: an annotation, no value is excluded)
            return None
        return format_expr(v)

    # -- objects --

    def object(self, f: Case) -> Expr:
        names = list(f.properties)
        names += [r for r in f.required if r not in f.properties]
        named = {n for ns, _, _ in f.regions for n in ns}
        named |= {n for (kind, *rest), _ in f.witnesses if kind == "region" for n in rest[0]}
        names += sorted(named - set(names))
        if len(f.witnesses) > 3:
            self.unsupported("not", f.where, "more than 3 negated object keywords at once")
        colon = self.syntax.colon()
        members: list[tuple[bool, list[tuple[int, Expr]]]] = []
        for name in names:
            terms = list(f.properties.get(name, []))
            terms += [
                x for ns, pats, x in f.regions if name not in ns and not self.search(pats, name)
            ]
            terms += [x for p, x in f.pattern_properties if self.search((p,), name)]
            if not all(self.holds(t, name) for t in f.property_names):
                terms = [False]
            ptr = pointer(f.where, "properties", name)
            req = name in f.required
            key = self.named_key(name)
            claims = [j for j, (cls, _) in enumerate(f.witnesses) if self.key_in(cls, name)]
            alts = []
            for mask in _submasks(claims):
                extra_terms = [f.witnesses[j][1] for j in claims if mask >> j & 1]
                value = EMPTY if False in terms else self.terms_expr(terms + extra_terms, ptr)
                if value != EMPTY:
                    alts.append((mask, self.share(seq(key, colon, value))))
            if not alts:
                if not req:
                    continue
                banned = [
                    t.where.rsplit("/", 1)[-1]
                    for t in terms
                    if isinstance(t, Subschema) and t.schema is False
                    and t.where.endswith(("/additionalProperties", "/unevaluatedProperties"))
                ]  # fmt: skip
                if banned:
                    return self.empty(
                        f"required property {name!r} is forbidden by {banned[0]!r} at {f.where}"
                    )
                return self.empty(f"required property {name!r} can have no value at {f.where}")
            members.append((req, alts))
        extra = self.extra_members(f, names)
        need = (1 << len(f.witnesses)) - 1
        lo, hi = f.min_properties, f.max_properties
        if self.any_order:
            if len(members) > _MAX_ANY_ORDER:
                self.unsupported("properties", f.where, f"more than {_MAX_ANY_ORDER} in any order")
            else:
                body = self.members_any(_ObjectBody(members, extra, lo, hi, need))
                return self.syntax.bracket("{", body, "}")
        return self.syntax.bracket(
            "{", self.members(_ObjectBody(members, extra, lo, hi, need)), "}"
        )

    def named_key(self, name: str) -> Expr:
        """The key of the property ``name`` (quotes included) as a rule of its own, listed in
        the grammar's ``fixed_keys``: an object body writes each named key at most once and its
        extra keys are never a named one, so the matcher need not remember named keys to keep
        the keys distinct (it remembers the others)."""
        rule = self.fixed_keys.get(name)
        if rule is None:
            rule = self.fixed_keys[name] = f"key:{len(self.rules)}"
            self.rules[rule] = json_string_literal(name, self.syntax.escapes)
        return Ref(rule)

    def key_in(self, cls: tuple[Any, ...], name: str) -> bool:
        """Whether a key belongs to a witness class (see ``Case.witnesses``)."""
        if cls[0] == "region":
            return name not in cls[1] and not self.search(cls[2], name)
        if cls[0] == "pattern":
            return self.search((cls[1],), name)
        return not all(self.holds(t, name) for t in cls[1])

    def extra_members(self, f: Case, names: list[str]) -> list[tuple[int, Expr]]:
        """The members whose key is none of ``names``, with the witnesses each one is: one
        per class of keys that the patterns (and witnessed name languages) tell apart."""
        patterns = sorted(
            {p for p, _ in f.pattern_properties} | {p for _, ps, _ in f.regions for p in ps}
        )
        for cls, _ in f.witnesses:
            if cls[0] != "names":
                more = cls[2] if cls[0] == "region" else (cls[1],)
                patterns += sorted(set(more) - set(patterns))
        names_ok = self.names_dfa(f.property_names, f.where)
        if not patterns and names_ok is None and not f.witnesses:
            terms = [x for _, _, x in f.regions]
            if False in terms:
                return []
            value = self.terms_expr(terms, pointer(f.where, "additionalProperties"))
            if value == EMPTY:
                return []
            key = seq(literal('"'), json_string_except(names, self.syntax.escapes), literal('"'))
            return [(0, self.share(seq(key, self.syntax.colon(), value)))]
        from ..regular import CharDFA

        try:
            keys = CharDFA.from_expr(string_except(names))
            if names_ok is not None:
                keys = keys.intersect(names_ok)
            atoms = {p: ecma_pattern_dfa(p) for p in patterns}
            languages = [
                self.names_dfa(list(cls[1]), f.where) if cls[0] == "names" else None
                for cls, _ in f.witnesses
            ]
        except GrammarError as e:
            self.unsupported("patternProperties", f.where, e.message)
            return []
        # Split the keys by each pattern in turn, dropping empty classes as soon as they
        # appear: the work follows the classes that exist, not the 2**k combinations.
        classes: list[tuple[int, Any]] = [(0, keys)] if not keys.is_empty() else []
        for i, p in enumerate(patterns):
            split = []
            for mask, cls in classes:
                for part_mask, part in (
                    (mask | 1 << i, cls.intersect(atoms[p])),
                    (mask, cls.difference(atoms[p])),
                ):
                    if not part.is_empty():
                        split.append((part_mask, part))
            classes = split
            if len(classes) > _MAX_KEY_CLASSES:
                self.unsupported(
                    "patternProperties",
                    f.where,
                    f"the patterns split the keys into more than {_MAX_KEY_CLASSES} classes",
                )
                return []
        out = []
        for mask, cls in sorted(classes, key=lambda c: c[0]):
            inside = {p for i, p in enumerate(patterns) if mask >> i & 1}
            terms = [x for p, x in f.pattern_properties if p in inside]
            terms += [x for _, ps, x in f.regions if not inside & set(ps)]
            if False in terms:
                continue
            # witness classes: region and pattern ones are decided by ``inside``; a names one
            # splits the class once more
            for part, claims in self.split_names(cls, f, inside, languages):
                for sub in _submasks(claims):
                    extra = [f.witnesses[j][1] for j in claims if sub >> j & 1]
                    value = self.terms_expr(terms + extra, pointer(f.where, "additionalProperties"))
                    if value == EMPTY:
                        continue
                    key = seq(literal('"'), self.dfa_expr(part, self.syntax.lower), literal('"'))
                    out.append((sub, self.share(seq(key, self.syntax.colon(), value))))
        return out

    def split_names(
        self, cls: Any, f: Case, inside: set[str], languages: list[Any]
    ) -> list[tuple[Any, list[int]]]:
        """``cls`` split by the witnessed name languages, with the witnesses each part can be."""
        fixed = [
            j
            for j, (w, _) in enumerate(f.witnesses)
            if (w[0] == "region" and not inside & set(w[2]))
            or (w[0] == "pattern" and w[1] in inside)
        ]
        parts = [(cls, fixed)]
        for j, lang in enumerate(languages):
            if lang is None:
                continue
            nxt = []
            for part, claims in parts:
                outside = part.difference(lang)  # a key the name schemas reject: a witness
                if not outside.is_empty():
                    nxt.append((outside, [*claims, j]))
                rest = part.intersect(lang)
                if not rest.is_empty():
                    nxt.append((rest, claims))
            parts = nxt
        return parts

    def search(self, patterns: tuple[str, ...], name: str) -> bool:
        """Whether one of ``patterns`` matches somewhere in ``name`` (read as the key grammar
        reads it)."""
        from ..regular import CharDFA

        for p in patterns:
            if p not in self.pattern_dfas:
                try:
                    self.pattern_dfas[p] = ecma_pattern_dfa(p)
                except GrammarError as e:
                    self.unsupported("patternProperties", p, e.message)
                    self.pattern_dfas[p] = CharDFA.from_expr(EMPTY)
            if self.pattern_dfas[p].accepts(name):
                return True
        return False

    def names_dfa(self, property_names: list[Term], where: str) -> Any:
        """The key strings the ``propertyNames`` schemas allow, as a DFA (None: none given)."""
        if not property_names:
            return None
        from ..regular import CharDFA

        result = None
        for fl in self.flatten(AllOf(tuple(property_names), where)):
            if "string" not in fl.types:
                continue
            if fl.values is not None:
                gone = {json_key(v) for v in fl.excluded}
                lits = [
                    v for v in fl.values
                    if isinstance(v, str) and json_key(v) not in gone
                    and all(self.holds(c, v) for c in fl.conjuncts)
                ]  # fmt: skip
                dfa = CharDFA.from_expr(alt(*(char_literal(v) for v in lits)))
            else:
                dfa = self.string_dfa(fl)
                if dfa is None:
                    continue
            result = dfa if result is None else result.union(dfa)
        if result is None:
            return CharDFA.from_expr(EMPTY)
        return result

    def members(self, shape: _ObjectBody) -> Expr:
        """Object bodies: the named members in order (the required ones always), then extra
        members, with between ``lo`` and ``hi`` members in all; each member alternative names
        the witnesses it is, and all of ``need`` must be met."""
        members, extra, lo, hi, need = shape
        comma = self.syntax.comma()
        n = len(members)
        cap = hi if hi is not None else lo
        memo: dict[tuple[int, int, bool, int], Expr] = {}
        plain = [e for w, e in extra if w == 0]
        if need == 0 and len(plain) == len(extra):
            one = alt(*plain)

            def extras(c: int, started: bool, got: int) -> Expr:
                k_lo = max(lo - c, 0)
                k_hi = None if hi is None else hi - c
                if one == EMPTY or k_hi == 0:
                    return EPSILON if k_lo == 0 else EMPTY
                if started:
                    return repeat(seq(comma, one), k_lo, k_hi)
                more = repeat(seq(comma, one), max(k_lo - 1, 0), None if k_hi is None else k_hi - 1)
                body = seq(one, more)
                return body if k_lo else optional(body)

        else:

            def extras(c: int, started: bool, got: int) -> Expr:
                return self.members_any(shape._replace(members=[]), (c, started, got))

        # States (members counted, one written, witnesses met) reachable before member i, then
        # the bodies from the last member back to the first: no recursion, so objects with
        # hundreds of properties are fine.
        reachable: list[list[tuple[int, bool, int]]] = [[(0, False, 0)]]
        for i in range(n):
            req, alts = members[i]
            found: dict[tuple[int, bool, int], None] = {}
            for c, started, got in reachable[i]:
                nxt = c + 1 if hi is not None else min(c + 1, cap)
                if hi is None or nxt <= hi:
                    for w, _ in alts:
                        found[(nxt, True, got | w)] = None
                if not req:
                    found[(c, started, got)] = None
            reachable.append(list(found))
        for i in range(n, -1, -1):
            for c, started, got in reachable[i]:
                if i == n:
                    result = extras(c, started, got)
                else:
                    req, alts = members[i]
                    nxt = c + 1 if hi is not None else min(c + 1, cap)
                    parts = []
                    if hi is None or nxt <= hi:
                        for w, m in alts:
                            after = memo[(i + 1, nxt, True, got | w)]
                            parts.append(seq(comma if started else EPSILON, m, after))
                    if not req:
                        parts.append(memo[(i + 1, c, started, got)])
                    result = alt(*parts)
                memo[(i, c, started, got)] = self.share(result)
        return memo[(0, 0, False, 0)]

    def members_any(self, shape: _ObjectBody, start: tuple[int, bool, int] = (0, False, 0)) -> Expr:
        """Object bodies: the named members (the required ones always) and extra members in
        any order, with between ``lo`` and ``hi`` members in all and every witness of ``need``
        (``start``: members counted, whether one was written, witnesses met so far)."""
        members, extra, lo, hi, need = shape
        comma = self.syntax.comma()
        cap = hi if hi is not None else lo
        req = sum(1 << i for i, (r, _) in enumerate(members) if r)
        memo: dict[tuple[int, int, bool, int], Expr] = {}

        def state(mask: int, c: int, started: bool, got: int) -> Expr:
            key = (mask, c, started, got)
            if key in memo:
                return memo[key]
            name = f"object:{len(self.rules)}"
            self.rules[name] = EPSILON
            memo[key] = Ref(name)
            done = mask & req == req and c >= lo and got & need == need
            parts = [EPSILON] if done else []
            nc = c + 1 if hi is not None else min(c + 1, cap)
            sep = comma if started else EPSILON
            if hi is None or nc <= hi:
                for i, (_, alts) in enumerate(members):
                    if not mask >> i & 1:
                        for w, m in alts:
                            parts.append(seq(sep, m, state(mask | 1 << i, nc, True, got | w)))
                for w, m in extra:
                    parts.append(seq(sep, m, state(mask, nc, True, (got | w) & need)))
            self.rules[name] = alt(*parts)
            return memo[key]

        c0, started0, got0 = start
        return state(0, c0, started0, got0)

    # -- arrays --

    def array(self, f: Case) -> Expr:
        start = max([0, *(c[3] for c in f.contains)])
        prefix_items = f.padded(start)
        k = len(prefix_items)
        lo, hi = f.min_items, f.max_items
        rest_expr = (
            None
            if False in f.rest_items
            else self.terms_expr(f.rest_items, pointer(f.where, "items"))
        )
        if rest_expr is None or rest_expr == EMPTY:
            hi = k if hi is None else min(hi, k)
        if hi is not None and lo > hi:
            return self.empty(f"no array length fits the bounds at {f.where} ({lo} > {hi})")
        checked_by_matcher = f.unique_items and self.checked_at_run_time(f, prefix_items, lo)
        if f.unique_items and not checked_by_matcher:
            sets = [self.finite(p, f.where) for p in [*prefix_items, f.rest_items]]
            if all(x is not None for x in sets):
                result = self.unique_array(f, sets, lo, hi)
                if result is not None:
                    return result
        prefix_items = prefix_items[:hi] if hi is not None else prefix_items
        k = len(prefix_items)
        comma = self.syntax.comma()
        if not f.contains:
            elems = [
                self.terms_expr(p, pointer(f.where, "prefixItems", i))
                for i, p in enumerate(prefix_items)
            ]
            for i, e in enumerate(elems):
                if e == EMPTY:  # no array reaches past position i
                    hi = i if hi is None else min(hi, i)
                    elems = elems[:i]
                    break
            if hi is not None and lo > hi:
                return self.empty(f"no array length fits the bounds at {f.where}")
            item = rest_expr if rest_expr is not None else EMPTY
            k = len(elems)

            def rest(j: int) -> Expr:
                """Elements ``j..`` (each after a comma) once ``j`` elements are written."""
                if j >= k:
                    if item == EMPTY:
                        return EPSILON if j >= lo else EMPTY
                    return repeat(seq(comma, item), max(lo - j, 0), None if hi is None else hi - j)
                step = seq(comma, elems[j], rest(j + 1))
                return step if j < lo else optional(step)

            if hi == 0:
                body = EPSILON
            elif k:
                body = seq(elems[0], rest(1))
            else:
                body = EMPTY if item == EMPTY else seq(item, rest(1))
            if lo == 0:
                body = optional(body)
            array = self.syntax.bracket("[", body, "]")
            return self.unique_rule(f, array) if checked_by_matcher else array
        return self.syntax.bracket("[", self.counted_items(f, prefix_items, lo, hi), "]")

    def counted_items(
        self, f: Case, prefix_items: list[list[Term]], lo: int, hi: int | None
    ) -> Expr:
        """Array bodies counting the items that match each ``contains``."""
        comma = self.syntax.comma()
        cs = f.contains
        k = max(len(prefix_items), 1)
        caps = [mn if mx is None else mx + 1 for _, mn, mx, _ in cs]
        icap = hi if hi is not None else max(k, lo)
        item_cache: dict[tuple[int, tuple[bool, ...]], Expr] = {}
        memo: dict[tuple[int, tuple[int, ...]], Expr] = {}

        def item(i: int, bits: tuple[bool, ...]) -> Expr:
            cls = min(i, len(prefix_items))
            key = (cls, bits)
            if key not in item_cache:
                terms = list(f.item_terms(i))
                for (c, _, _, start), b in zip(cs, bits, strict=True):
                    if i >= start:  # (before its start an item neither counts nor must miss)
                        terms.append(c if b else Not(c, f.where))
                item_cache[key] = self.share(self.terms_expr(terms, pointer(f.where, "items", i)))
            return item_cache[key]

        def state(i: int, counts: tuple[int, ...]) -> Expr:
            key = (i, counts)
            if key in memo:
                return memo[key]
            name = f"array:{len(self.rules)}"
            self.rules[name] = EPSILON
            memo[key] = Ref(name)
            end_ok = i >= lo and all(
                mn <= n and (mx is None or n <= mx)
                for (_, mn, mx, _), n in zip(cs, counts, strict=True)
            )
            parts = [EPSILON] if end_ok else []
            if hi is None or i < hi:
                for mask in range(1 << len(cs)):
                    bits = tuple(bool(mask >> j & 1) for j in range(len(cs)))
                    new = tuple(
                        min(n + (b and i >= c[3]), cap)
                        for n, b, c, cap in zip(counts, bits, cs, caps, strict=True)
                    )
                    if any(c[2] is not None and n > c[2] for n, c in zip(new, cs, strict=True)):
                        continue
                    if any(b and i < c[3] for b, c in zip(bits, cs, strict=True)):
                        continue
                    e = item(i, bits)
                    if e == EMPTY:
                        continue
                    nxt = i + 1 if hi is not None else min(i + 1, icap)
                    parts.append(seq(comma if i else EPSILON, e, state(nxt, new)))
            self.rules[name] = alt(*parts)
            return memo[key]

        return state(0, tuple(0 for _ in cs))

    def checked_at_run_time(self, f: Case, prefix_items: list[list[Term]], lo: int) -> bool:
        """Whether ``uniqueItems`` is left to the matcher (:mod:`grammarlib.json_keys`): every
        item is a string, number, boolean or null, no ``prefixItems`` or ``contains``, at least
        ``lo`` distinct items exist (so no array runs out of fresh items before it may end), and
        the items are not a set of at most 10 values (those get one grammar state per subset
        written, with no run-time cost)."""
        if prefix_items or f.contains or not f.rest_items or False in f.rest_items:
            return False
        where = pointer(f.where, "items")
        cases = self.flatten(AllOf(tuple(f.rest_items), where))
        if not cases:
            return False
        values: set[str] = set()
        unbounded = uncounted = False
        counted = 0  # items of the cases counted one by one (patterned strings, integer ranges)
        for case in cases:
            gone = {json_key(v) for v in case.excluded}
            if case.values is not None:
                if any(isinstance(v, (dict, list)) for v in case.values):
                    return False
                values.update(
                    json_key(v)
                    for v in case.values
                    if json_type(v) in case.types
                    and json_key(v) not in gone
                    and all(self.holds(c, v) for c in case.conjuncts)
                )
                continue
            if case.types - {"string", "number", "boolean", "null"}:
                return False
            for v in ([None] if "null" in case.types else []) + (
                [True, False] if "boolean" in case.types else []
            ):
                if json_key(v) not in gone and all(self.holds(c, v) for c in case.conjuncts):
                    values.add(json_key(v))
            if "string" in case.types:
                if not case.languages and (case.max_length is None or case.max_length >= 1):
                    unbounded = True  # a million one-character strings, or more
                elif lo > 1:  # a pattern or format: count its strings, as far as needed
                    dfa = self.string_dfa(replace(case, types=frozenset({"string"})))
                    counted += lo if dfa is None else dfa.count(lo)
                    uncounted = uncounted or dfa is None
                else:
                    uncounted = True
            if "number" in case.types:
                low, high = case.minimum, case.maximum
                if low is None or high is None or (not case.multiples_of and low[0] < high[0]):
                    unbounded = True  # numbers without end, or with 20 fraction digits
                else:
                    many = _multiples_between(case)
                    counted += 0 if many is None else many
                    uncounted = uncounted or many is None
        if not unbounded and not uncounted and not counted and len(values) <= 10:
            return False
        return lo <= 1 or unbounded or (not uncounted and len(values) + counted >= lo)

    def unique_rule(self, f: Case, array: Expr) -> Expr:
        """``array`` (arrays of scalars whose items the matcher keeps distinct) as a rule of its
        own, so the matcher knows its ``[``, listed in the grammar's ``unique_arrays``."""
        name = f"{f.where}#uniqueItems"
        while name in self.rules:
            name += "'"
        self.rules[name] = array
        self.unique_arrays.add(name)
        return Ref(name)

    def unique_array(self, f: Case, sets: list[Any], lo: int, hi: int | None) -> Expr | None:
        """``uniqueItems`` where every item comes from a finite set: all arrays, listed
        (None: too many, dropped)."""
        npos = len(sets) - 1
        if hi is None:
            hi = npos + len(sets[-1])
        universe: dict[str, Any] = {}
        for values in sets:
            for v in values:
                universe.setdefault(json_key(v), v)
        if not f.contains and 1 << len(universe) <= _MAX_UNIQUE_STATES:
            return self.unique_subsets(f, sets, lo, hi, universe)
        arrays: list[list[Any]] = []

        def walk(prefix: list[Any], keys: set[str]) -> None:
            if len(arrays) > _MAX_UNIQUE_ARRAYS:
                raise _TooMany
            if len(prefix) >= lo and all(
                mn <= sum(self.holds(c, v) for v in prefix[st:])
                and (mx is None or sum(self.holds(c, v) for v in prefix[st:]) <= mx)
                for c, mn, mx, st in f.contains
            ):
                arrays.append(list(prefix))
            if len(prefix) >= hi:
                return
            for v in sets[min(len(prefix), npos)]:
                key = json_key(v)
                if key not in keys:
                    walk([*prefix, v], keys | {key})

        try:
            walk([], set())
        except _TooMany:
            self.unsupported("uniqueItems", f.where, "too many distinct arrays")
            return None
        if not arrays:
            return self.empty(f"no array of distinct items fits at {f.where}")
        return alt(*(self.render(a) for a in arrays))

    def unique_subsets(
        self, f: Case, sets: list[Any], lo: int, hi: int, universe: dict[str, Any]
    ) -> Expr:
        """Arrays of distinct items from finite sets, one state per set of items written."""
        npos = len(sets) - 1
        bit = {k: 1 << i for i, k in enumerate(universe)}
        rendered = {k: self.share(self.render(v)) for k, v in universe.items()}
        comma = self.syntax.comma()
        memo: dict[int, Expr] = {}

        def state(used: int) -> Expr:
            if used in memo:
                return memo[used]
            n = used.bit_count()
            parts = [EPSILON] if n >= lo else []
            if n < hi:
                for v in sets[min(n, npos)]:
                    k = json_key(v)
                    if not used & bit[k]:
                        nxt = state(used | bit[k])
                        parts.append(seq(comma if n else EPSILON, rendered[k], nxt))
            memo[used] = result = self.share(alt(*parts))
            return result

        body = state(0)
        if body == EMPTY:
            return self.empty(f"no array of distinct items fits at {f.where}")
        return self.syntax.bracket("[", body, "]")

    def finite(self, terms: list[Term], where: str) -> list[Any] | None:
        """The values allowed by ``terms`` when they are finitely many (else refuse: None)."""
        out: dict[str, Any] = {}
        for fl in self.flatten(AllOf(tuple(terms), where)):
            cands = fl.values
            if cands is None:
                if fl.types - {"null", "boolean"}:
                    self.unsupported("uniqueItems", where, "items are not from a finite set")
                    return None
                cands = [None, True, False]
            gone = {json_key(v) for v in fl.excluded}
            for v in cands:
                if (
                    json_type(v) in fl.types
                    and json_key(v) not in gone
                    and all(self.holds(c, v) for c in fl.conjuncts)
                ):
                    out.setdefault(json_key(v), v)
        return list(out.values())


def _submasks(bits: list[int]) -> list[int]:
    """Every mask over the given bit positions (0 first)."""
    out = [0]
    for b in bits:
        out += [m | 1 << b for m in out]
    return out


def _multiples_between(case: Case) -> int | None:
    """How many numbers a bounded case with one ``multipleOf`` (integers: 1) allows, or None
    when that is not evident (other exclusions, several divisors)."""
    if len(case.multiples_of) != 1 or case.not_multiples_of or case.excluded:
        return None
    assert case.minimum is not None and case.maximum is not None
    (low, low_open), (high, high_open) = case.minimum, case.maximum
    step = case.multiples_of[0]
    first = (low / step).to_integral_value(rounding=ROUND_CEILING)
    if low_open and first * step == low:
        first += 1
    last = (high / step).to_integral_value(rounding=ROUND_FLOOR)
    if high_open and last * step == high:
        last -= 1
    return max(0, int(last - first) + 1)


def _lookahead(lang: tuple[str, str, bool, str]) -> bool:
    """Whether a ``pattern`` may hold a lookahead (read through its character DFA)."""
    return lang[0] == "pattern" and ("(?=" in lang[1] or "(?!" in lang[1])


def _limited(lang: tuple[str, str, bool, str]) -> bool:
    """Whether a ``format`` has a length limit its expression leaves out."""
    from ..formats import MAX_LENGTH

    return lang[0] == "format" and lang[1] in MAX_LENGTH
