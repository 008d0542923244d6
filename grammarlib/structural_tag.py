"""Structural tags: free text with triggered, constrained segments (tool calls, reasoning).

:func:`grammar_from_structural_tag` (``Grammar.from_structural_tag``) reads the structural-tag
JSON format that vLLM and SGLang users send to xgrammar, ``{"type": "structural_tag", "format":
{...}}`` or a bare format object, and the older vLLM form ``{"type": "structural_tag",
"structures": [{"begin", "schema", "end"}], "triggers": [...]}``. The functions at the end
(:func:`tag`, :func:`triggered_tags`, :func:`any_text`, ...) build the same plain dicts by hand.

Formats and their languages (byte strings; a string is its UTF-8 bytes):

- ``const_string`` ``value``; ``json_schema`` ``json_schema`` (grammarlib's JSON Schema
  compiler, exact; ``any_order``, ``max_whitespace_cnt``); ``regex`` ``pattern`` (Python ``re``
  syntax, like :meth:`Grammar.from_regex`); ``grammar`` ``grammar`` (GBNF with a ``root`` rule,
  as xgrammar's EBNF, or Lark with ``start``).
- ``sequence`` / ``or`` ``elements``; ``optional`` / ``plus`` / ``star`` ``content``; ``repeat``
  ``min``, ``max`` (``-1``: unbounded), ``content``.
- ``tag``: ``begin`` + ``content`` + ``end`` (``end`` a string or a list of strings).
- ``any_text``: any text (valid UTF-8) not containing one of ``excludes``, nor the end strings
  of the nearest enclosing ``tag`` (so ``tag("<think>", any_text(), "</think>")`` stops at
  ``</think>``).
- ``triggered_tags``: free text until a trigger occurs; the text from the trigger on must then be
  one of the tags whose ``begin`` starts with that trigger; after its ``end``, free text again.
  The free text never contains a trigger except where a tag begins, nor one of ``excludes`` or
  the enclosing tag's end strings. ``at_least_one``: the output starts with a tag (no leading free
  text); ``stop_after_first``: the format ends after the first tag; both: exactly one tag.
- ``tags_with_separator``: tags separated by ``separator``, nothing else; the same two flags.
- ``dispatch``: free text in which each occurrence of a rule's pattern is followed by that rule's
  format; ``loop`` (default true) goes back to free text afterwards; ``excludes``.

"Occurs" is decided by scanning: a trigger fires at the first position where an occurrence of a
trigger ends (an Aho-Corasick automaton over bytes), exactly as a streaming parser would see it.
Free text is any valid UTF-8 text (as in xgrammar), so its token mask is nearly that of an
unconstrained step: every token except those that would start a trigger or an excluded string
wrongly (a token that contains the start of a trigger is allowed when what follows in it is a
valid start of a tag) and those that would break UTF-8 (a lone continuation byte). Tokens that end
inside a character are fine.

Not supported (a :class:`StructuralTagError` naming the place): token-level formats (``token``,
``exclude_token``, ``any_tokens``, ``token_triggered_tags``, ``token_dispatch``, a ``token``
begin or end), ``any_text`` with ``max_tokens`` or ``max_chars``, and ``json_schema`` styles
other than ``"json"`` (``qwen_xml``, ...).
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Sequence
from typing import Any

from . import ir
from .charsets import MAX_CODE_POINT, SURROGATES, utf8_expr
from .errors import GrammarError
from .ir import EMPTY, EPSILON, Bytes, Expr, GrammarIR, Ref, alt, literal, seq, size, substitute

__all__ = [
    "FORMAT_TYPES",
    "StructuralTagError",
    "any_text",
    "const_string",
    "dispatch",
    "grammar",
    "grammar_from_structural_tag",
    "json_schema",
    "optional",
    "or_",
    "plus",
    "regex",
    "repeat",
    "sequence",
    "star",
    "structural_tag",
    "tag",
    "tags_with_separator",
    "triggered_tags",
    "with_reasoning",
]

FORMAT_TYPES = (
    "const_string",
    "json_schema",
    "regex",
    "grammar",
    "any_text",
    "sequence",
    "or",
    "optional",
    "plus",
    "star",
    "repeat",
    "tag",
    "triggered_tags",
    "tags_with_separator",
    "dispatch",
)
_VALID_CHARS = ((0, SURROGATES[0] - 1), (SURROGATES[1] + 1, MAX_CODE_POINT))
_TOKEN_TYPES = ("token", "exclude_token", "any_tokens", "token_triggered_tags", "token_dispatch")

# Free text whose regular expression (state elimination over the trigger automaton) grows past
# this many IR nodes is emitted as one rule per automaton state instead (same language).
_FREE_TEXT_MAX_SIZE = 20_000


class StructuralTagError(GrammarError):
    """A structural tag that cannot be compiled; ``path`` is where in the spec (``$.format...``)."""

    def __init__(self, message: str, path: str):
        self.path = path
        super().__init__(f"{path}: {message}")


def grammar_from_structural_tag(
    spec: Any, *, whitespace: str | int = "dumps", strict: bool = True
) -> GrammarIR:
    """The grammar of a structural tag (a dict or JSON text; see the module docstring), as IR
    (``Grammar.from_structural_tag`` wraps it).

    ``whitespace`` and ``strict`` are the options of :meth:`Grammar.from_json_schema` for the
    ``json_schema`` formats (a format's ``max_whitespace_cnt`` makes it ``"flexible"`` with that
    bound). Errors are :class:`StructuralTagError` (or the JSON Schema or grammar error, its
    message prefixed with the place in the spec)."""
    if isinstance(spec, (str, bytes)):
        try:
            spec = json.loads(spec)
        except ValueError as e:
            raise StructuralTagError(f"not valid JSON: {e}", "$") from None
    if not isinstance(spec, dict):
        raise StructuralTagError(f"expected a JSON object, got {_kind(spec)}", "$")
    converter = _Converter(whitespace, strict)
    kind = spec.get("type")
    if kind == "structural_tag":
        if "format" in spec:
            body = converter.visit(spec["format"], "$.format", ())
        elif "structures" in spec:
            body = converter.legacy(spec)
        else:
            raise StructuralTagError("a structural_tag needs a 'format' (or 'structures')", "$")
    else:
        body = converter.visit(spec, "$", ())
    return GrammarIR({"root": body, **converter.rules}, "root")


def with_reasoning(
    answer: GrammarIR, begin: str = "<think>", end: str = "</think>", *, opened: bool = False
) -> GrammarIR:
    """A reasoning section, then a string of ``answer``: ``begin``, free text (valid UTF-8) that
    does not contain ``end``, ``end``, at most two blanks (space or newline), then the answer.
    ``opened=True`` leaves ``begin`` out (the prompt already wrote it, as the chat templates of
    many reasoning models do). The answer's rules are copied in under fresh names. ``answer``: a
    :class:`GrammarIR` or a :class:`~grammarlib.Grammar` (its ``rules`` and ``start`` are read);
    the result is IR, for ``Grammar.from_ir``."""
    if not begin or not end:
        raise StructuralTagError("the reasoning delimiters must not be empty", "$reasoning")
    converter = _Converter("dumps", True)
    answer_start = converter.merge(answer, "answer")
    thoughts = converter.free_text([], True, [end.encode()], "$reasoning")
    blanks = ir.repeat(ir.byte_set(b" \n"), 0, 2)
    opening = () if opened else (literal(begin),)
    body = seq(*opening, thoughts, literal(end), blanks, answer_start)
    return GrammarIR({"root": body, **converter.rules}, "root")


# -- conversion ----------------------------------------------------------------------------------


class _Tag:
    """A ``tag`` read from the spec: begin and end strings, content format and places."""

    __slots__ = ("begin", "content", "ends", "path")

    def __init__(self, begin: bytes, content: Any, ends: tuple[bytes, ...], path: str):
        self.begin = begin
        self.content = content
        self.ends = ends
        self.path = path


class _Converter:
    def __init__(self, whitespace: str | int, strict: bool):
        self.whitespace = whitespace
        self.strict = strict
        self.rules: dict[str, Expr] = {}
        self.memo: dict[tuple[str, tuple[bytes, ...]], Expr] = {}
        self.count = 0

    def fresh(self, kind: str) -> str:
        self.count += 1
        return f"st{self.count}_{kind}"

    # -- dispatch on the format type --

    def visit(self, fmt: Any, path: str, ends: tuple[bytes, ...]) -> Expr:
        """The expression of format ``fmt`` at ``path``; ``ends``: the end strings of the
        nearest enclosing tag (excluded from free text)."""
        if not isinstance(fmt, dict):
            raise StructuralTagError(f"a format must be an object, got {_kind(fmt)}", path)
        kind = fmt.get("type")
        if kind in _TOKEN_TYPES:
            raise StructuralTagError(
                f"token-level format {kind!r} is not supported (use string begin/end)", path
            )
        if kind == "qwen_xml_parameter":
            raise StructuralTagError("format 'qwen_xml_parameter' is not supported", path)
        if kind not in FORMAT_TYPES:
            raise StructuralTagError(
                f"unknown format type {kind!r}; expected one of {', '.join(FORMAT_TYPES)}", path
            )
        try:
            key = (json.dumps(fmt), ends)  # key order matters (property order)
        except (TypeError, ValueError):
            key = None
        if key is not None and key in self.memo:
            return self.memo[key]
        expr = getattr(self, f"_{kind}")(fmt, path, ends)
        if key is not None:
            self.memo[key] = expr
        return expr

    def _const_string(self, fmt: dict, path: str, ends: tuple[bytes, ...]) -> Expr:
        return literal(_string(fmt, "value", path))

    def _json_schema(self, fmt: dict, path: str, ends: tuple[bytes, ...]) -> Expr:
        from .jsonschema import schema_to_grammar

        if "json_schema" not in fmt:
            raise StructuralTagError("missing field 'json_schema'", path)
        schema = fmt["json_schema"]
        style = fmt.get("style", "json")
        if style != "json":
            raise StructuralTagError(
                f"json_schema style {style!r} is not supported (only 'json')", f"{path}.style"
            )
        any_order = _bool(fmt, "any_order", path)
        whitespace: str | int = self.whitespace
        bound = fmt.get("max_whitespace_cnt")
        if bound is not None:
            if not isinstance(bound, int) or isinstance(bound, bool) or bound < 0:
                raise StructuralTagError(
                    "max_whitespace_cnt must be a non-negative integer",
                    f"{path}.max_whitespace_cnt",
                )
            whitespace = bound
        try:
            g = schema_to_grammar(
                schema,
                whitespace=whitespace,
                strict=self.strict,
                property_order="any" if any_order else "schema",
            )
        except GrammarError as e:
            raise _placed(e, f"{path}.json_schema") from e
        return self.merge(g, "json", f"{path}.json_schema")

    def _regex(self, fmt: dict, path: str, ends: tuple[bytes, ...]) -> Expr:
        from .regex import regex_to_expr

        pattern = _string(fmt, "pattern", path, text=True)
        try:
            g = GrammarIR({"root": regex_to_expr(pattern)}, "root")
        except GrammarError as e:
            raise _placed(e, f"{path}.pattern") from e
        return self.merge(g, "regex")

    def _grammar(self, fmt: dict, path: str, ends: tuple[bytes, ...]) -> Expr:
        from .gbnf import grammar_from_gbnf
        from .lark_frontend import grammar_from_lark

        text = _string(fmt, "grammar", path, text=True)
        parsers = [grammar_from_gbnf, grammar_from_lark]
        if not _looks_like_gbnf(text):
            parsers.reverse()
        try:
            try:
                g = parsers[0](text)
            except GrammarError as first:
                try:
                    g = parsers[1](text)
                except GrammarError:
                    raise first from None
        except GrammarError as e:
            raise _placed(e, f"{path}.grammar") from e
        return self.merge(g, "grammar")

    def _any_text(self, fmt: dict, path: str, ends: tuple[bytes, ...]) -> Expr:
        for budget in ("max_tokens", "max_chars"):
            if fmt.get(budget) is not None:
                raise StructuralTagError(
                    f"any_text with {budget} is not supported", f"{path}.{budget}"
                )
        excludes = _strings(fmt, "excludes", path, default=[])
        return self.free_text([], True, [*excludes, *(e for e in ends if e)], path)

    def _sequence(self, fmt: dict, path: str, ends: tuple[bytes, ...]) -> Expr:
        elements = _list(fmt, "elements", path)
        return seq(*(self.visit(e, f"{path}.elements[{i}]", ends) for i, e in enumerate(elements)))

    def _or(self, fmt: dict, path: str, ends: tuple[bytes, ...]) -> Expr:
        elements = _list(fmt, "elements", path)
        if not elements:
            raise StructuralTagError("'or' needs at least one element", f"{path}.elements")
        return alt(*(self.visit(e, f"{path}.elements[{i}]", ends) for i, e in enumerate(elements)))

    def _optional(self, fmt: dict, path: str, ends: tuple[bytes, ...]) -> Expr:
        return ir.optional(self.visit(_field(fmt, "content", path), f"{path}.content", ends))

    def _plus(self, fmt: dict, path: str, ends: tuple[bytes, ...]) -> Expr:
        return ir.repeat(self.visit(_field(fmt, "content", path), f"{path}.content", ends), 1, None)

    def _star(self, fmt: dict, path: str, ends: tuple[bytes, ...]) -> Expr:
        return ir.star(self.visit(_field(fmt, "content", path), f"{path}.content", ends))

    def _repeat(self, fmt: dict, path: str, ends: tuple[bytes, ...]) -> Expr:
        lo, hi = fmt.get("min"), fmt.get("max")
        if not isinstance(lo, int) or isinstance(lo, bool) or lo < 0:
            raise StructuralTagError("'min' must be a non-negative integer", f"{path}.min")
        if not isinstance(hi, int) or isinstance(hi, bool) or (hi != -1 and hi < lo):
            raise StructuralTagError("'max' must be an integer >= min, or -1", f"{path}.max")
        content = self.visit(_field(fmt, "content", path), f"{path}.content", ends)
        return ir.repeat(content, lo, None if hi == -1 else hi)

    def _tag(self, fmt: dict, path: str, ends: tuple[bytes, ...]) -> Expr:
        return self.tag_expr(_read_tag(fmt, path))

    def _triggered_tags(self, fmt: dict, path: str, ends: tuple[bytes, ...]) -> Expr:
        triggers = _strings(fmt, "triggers", path)
        tags = [_read_tag(t, f"{path}.tags[{i}]") for i, t in enumerate(_list(fmt, "tags", path))]
        excludes = _strings(fmt, "excludes", path, default=[])
        return self.triggered(
            triggers,
            tags,
            at_least_one=_bool(fmt, "at_least_one", path),
            stop_after_first=_bool(fmt, "stop_after_first", path),
            excludes=[*excludes, *(e for e in ends if e)],
            path=path,
        )

    def _tags_with_separator(self, fmt: dict, path: str, ends: tuple[bytes, ...]) -> Expr:
        tags = [_read_tag(t, f"{path}.tags[{i}]") for i, t in enumerate(_list(fmt, "tags", path))]
        if not tags:
            raise StructuralTagError("needs at least one tag", f"{path}.tags")
        separator = literal(_string(fmt, "separator", path))
        one = alt(*(self.tag_expr(t) for t in tags))
        if _bool(fmt, "stop_after_first", path):
            body = one
        else:
            body = seq(one, ir.star(seq(separator, one)))
        return body if _bool(fmt, "at_least_one", path) else ir.optional(body)

    def _dispatch(self, fmt: dict, path: str, ends: tuple[bytes, ...]) -> Expr:
        pairs = []
        for i, rule in enumerate(_list(fmt, "rules", path)):
            where = f"{path}.rules[{i}]"
            if not isinstance(rule, (list, tuple)) or len(rule) != 2:
                raise StructuralTagError("a rule must be a [pattern, format] pair", where)
            pattern = rule[0]
            if not isinstance(pattern, str) or not pattern:
                raise StructuralTagError("a pattern must be a non-empty string", f"{where}[0]")
            pairs.append((pattern.encode(), self.visit(rule[1], f"{where}[1]", ends)))
        loop = fmt.get("loop", True)
        if not isinstance(loop, bool):
            raise StructuralTagError("'loop' must be a boolean", f"{path}.loop")
        excludes = _strings(fmt, "excludes", path, default=[])
        return self.free_text(pairs, loop, excludes, path)

    # -- the older vLLM form --

    def legacy(self, spec: dict) -> Expr:
        triggers = _strings(spec, "triggers", "$")
        tags = []
        for i, item in enumerate(_list(spec, "structures", "$")):
            where = f"$.structures[{i}]"
            if not isinstance(item, dict):
                raise StructuralTagError(f"expected an object, got {_kind(item)}", where)
            schema = _field(item, "schema", where)
            content = {"type": "json_schema", "json_schema": schema}
            begin, end = _string(item, "begin", where), _string(item, "end", where)
            tags.append(_Tag(begin, content, (end,), where))
        return self.triggered(
            triggers, tags, at_least_one=False, stop_after_first=False, excludes=[], path="$"
        )

    # -- building blocks --

    def merge(self, g: GrammarIR, kind: str, path: str = "$") -> Expr:
        """Copy the rules of ``g`` in under fresh names; a reference to its start rule."""
        if g.unique_arrays:
            raise StructuralTagError(
                "uniqueItems over scalars is checked beside the automaton from the start of "
                "the output, so it cannot be part of a larger grammar; compile the schema "
                "with Grammar.from_json_schema on its own",
                path,
            )
        prefix = self.fresh(kind) + "_"
        mapping: dict[str, Expr] = {name: Ref(prefix + name) for name in g.rules}
        for name, body in g.rules.items():
            self.rules[prefix + name] = substitute(body, mapping)
        return Ref(prefix + g.start)

    def tag_expr(self, t: _Tag, skip: int = 0) -> Expr:
        """``begin content end``, without the first ``skip`` bytes of ``begin``."""
        content = self.visit(t.content, f"{t.path}.content", t.ends)
        return seq(literal(t.begin[skip:]), content, alt(*(literal(e) for e in t.ends)))

    def triggered(
        self,
        triggers: list[bytes],
        tags: list[_Tag],
        *,
        at_least_one: bool,
        stop_after_first: bool,
        excludes: list[bytes],
        path: str,
    ) -> Expr:
        if not tags:
            raise StructuralTagError("needs at least one tag", f"{path}.tags")
        for i, trigger in enumerate(triggers):
            if not trigger:
                raise StructuralTagError("a trigger must not be empty", f"{path}.triggers[{i}]")
        groups: dict[bytes, list[Expr]] = {t: [] for t in triggers}
        whole: list[Expr] = []
        for t in tags:
            matching = [trigger for trigger in triggers if t.begin.startswith(trigger)]
            if len(matching) != 1:
                problem = "matches no trigger" if not matching else "matches several triggers"
                raise StructuralTagError(
                    f"the tag's begin {t.begin.decode(errors='replace')!r} {problem} "
                    "(each tag's begin must start with exactly one trigger)",
                    f"{t.path}.begin",
                )
            whole.append(self.tag_expr(t))
            groups[matching[0]].append(self.tag_expr(t, len(matching[0])))
        first = alt(*whole)
        if at_least_one and stop_after_first:
            return first
        body = self.free_text(
            [(trigger, alt(*conts)) for trigger, conts in groups.items()],
            not stop_after_first,
            excludes,
            path,
        )
        return seq(first, body) if at_least_one else body

    def free_text(
        self, pairs: Sequence[tuple[bytes, Expr]], loop: bool, excludes: list[bytes], path: str
    ) -> Expr:
        """Bytes scanned for the ``pairs``' patterns: where one occurs (the first position where
        an occurrence ends) its expression follows, then free text again if ``loop``, else the
        end. The text never contains one of ``excludes``; it may end anywhere."""
        for e in excludes:
            if not e:
                raise StructuralTagError("an excluded string must not be empty", f"{path}.excludes")
        if not pairs and not excludes:
            return ir.star(utf8_expr(_VALID_CHARS))
        automaton = _Scanner([p for p, _ in pairs], excludes)
        conts = [c for _, c in pairs]
        return self.emit(automaton, conts, loop)

    def emit(self, sc: _Scanner, conts: list[Expr], loop: bool) -> Expr:
        """The free-text language of scanner ``sc`` (valid UTF-8 text) as IR: by state
        elimination when small, else as one right-linear rule per state.

        The automaton is the product of the scanner and a UTF-8 validator: a state is
        ``(scanner state, utf-8 state)``, and the text may end where the UTF-8 state is at a
        character boundary. The start state is ``(0, 0)``."""
        start = (0, 0)
        a: dict[tuple[int, int], dict[tuple[int, int], Expr]] = {}
        b: dict[tuple[int, int], Expr] = {}
        todo = [start]
        while todo:
            q = todo.pop()
            if q in a:
                continue
            node, u = q
            targets: dict[tuple[int, int] | int, int] = {}
            for byte in range(256):
                u2 = _UTF8[u][byte]
                r = sc.delta[node][byte]
                if u2 < 0 or sc.excluded[r]:
                    continue
                key: tuple[int, int] | int = (r, u2) if sc.live[r] else r
                targets[key] = targets.get(key, 0) | (1 << byte)
            row: dict[tuple[int, int], Expr] = {}
            exits: list[Expr] = [EPSILON] if u == 0 else []
            for key, mask in targets.items():
                if isinstance(key, tuple):
                    row[key] = Bytes(mask)
                    todo.append(key)
                    continue
                cont = seq(Bytes(mask), alt(*(conts[i] for i in sc.fires[key])))
                if loop:
                    row[start] = alt(row.get(start, EMPTY), cont)
                else:
                    exits.append(cont)
            a[q] = row
            b[q] = alt(*exits)
        states = list(a)
        original = ({q: dict(row) for q, row in a.items()}, dict(b))
        # Eliminate the states inside a character first, then the deepest scanner states.
        order = sorted(
            (q for q in states if q != start), key=lambda q: (q[1] == 0, -sc.depth[q[0]])
        )
        for r in order:
            loop_r = a[r].pop(r, None)
            head = ir.star(loop_r) if loop_r is not None else EPSILON
            for q in a:
                if q == r or r not in a[q]:
                    continue
                via = seq(a[q].pop(r), head)
                for s, e in a[r].items():
                    a[q][s] = alt(a[q].get(s, EMPTY), seq(via, e))
                b[q] = alt(b[q], seq(via, b[r]))
            del a[r]
            if sum(size(e) for row in a.values() for e in row.values()) > _FREE_TEXT_MAX_SIZE:
                return self.emit_rules(states, *original)
        loop_0 = a[start].get(start)
        result = seq(ir.star(loop_0), b[start]) if loop_0 is not None else b[start]
        if size(result) > _FREE_TEXT_MAX_SIZE:
            return self.emit_rules(states, *original)
        return result

    def emit_rules(
        self,
        states: list[tuple[int, int]],
        a: dict[tuple[int, int], dict[tuple[int, int], Expr]],
        b: dict[tuple[int, int], Expr],
    ) -> Expr:
        prefix = self.fresh("text")

        def name(q: tuple[int, int]) -> str:
            return f"{prefix}_{q[0]}_{q[1]}"

        for q in states:
            branches = [seq(e, Ref(name(s))) for s, e in a[q].items()]
            self.rules[name(q)] = alt(b[q], *branches)
        return Ref(name((0, 0)))


def _utf8_table() -> list[list[int]]:
    """A DFA for valid UTF-8 (no surrogates, nothing past U+10FFFF): state 0 is a character
    boundary; -1 is an error. States 1-7 wait for continuation bytes."""
    table = [[-1] * 256 for _ in range(8)]

    def put(state: int, lo: int, hi: int, target: int) -> None:
        for byte in range(lo, hi + 1):
            table[state][byte] = target

    put(0, 0x00, 0x7F, 0)
    put(0, 0xC2, 0xDF, 1)  # one continuation byte left
    put(0, 0xE0, 0xE0, 2)  # A0-BF, then one
    put(0, 0xE1, 0xEC, 3)  # 80-BF, then one
    put(0, 0xEE, 0xEF, 3)
    put(0, 0xED, 0xED, 4)  # 80-9F (no surrogates), then one
    put(0, 0xF0, 0xF0, 5)  # 90-BF, then two
    put(0, 0xF1, 0xF3, 6)  # 80-BF, then two
    put(0, 0xF4, 0xF4, 7)  # 80-8F (up to U+10FFFF), then two
    put(1, 0x80, 0xBF, 0)
    put(2, 0xA0, 0xBF, 1)
    put(3, 0x80, 0xBF, 1)
    put(4, 0x80, 0x9F, 1)
    put(5, 0x90, 0xBF, 3)
    put(6, 0x80, 0xBF, 3)
    put(7, 0x80, 0x8F, 3)
    return table


_UTF8 = _utf8_table()


class _Scanner:
    """An Aho-Corasick automaton over bytes for the trigger patterns and excluded strings.

    States are trie nodes (prefixes of patterns); ``delta[q][b]`` is the longest suffix of
    ``q + b`` that is a node. A state is live when no pattern or excluded string ends there
    (as a suffix); ``fires[q]`` lists the patterns that end at ``q``, ``excluded[q]`` says an
    excluded string does (which wins)."""

    def __init__(self, patterns: list[bytes], excludes: list[bytes]):
        children: list[dict[int, int]] = [{}]
        depth = [0]
        own_fires: list[list[int]] = [[]]
        own_excluded = [False]

        def insert(word: bytes) -> int:
            q = 0
            for byte in word:
                nxt = children[q].get(byte)
                if nxt is None:
                    nxt = len(children)
                    children.append({})
                    depth.append(depth[q] + 1)
                    own_fires.append([])
                    own_excluded.append(False)
                    children[q][byte] = nxt
                q = nxt
            return q

        for i, p in enumerate(patterns):
            own_fires[insert(p)].append(i)
        for e in excludes:
            own_excluded[insert(e)] = True
        n = len(children)
        fail = [0] * n
        delta = [[0] * 256 for _ in range(n)]
        fires: list[list[int]] = [list(f) for f in own_fires]
        excluded = list(own_excluded)
        order = deque([0])
        while order:
            u = order.popleft()
            row = delta[u]
            back = delta[fail[u]]
            for byte in range(256):
                child = children[u].get(byte)
                if child is None:
                    row[byte] = back[byte] if u else 0
                else:
                    row[byte] = child
                    f = back[byte] if u else 0
                    fail[child] = f
                    fires[child] = sorted(set(fires[child]) | set(fires[f]))
                    excluded[child] = excluded[child] or excluded[f]
                    order.append(child)
        self.depth = depth
        self.delta = delta
        self.fires = fires
        self.excluded = excluded
        self.live = [not excluded[q] and not fires[q] for q in range(n)]


# -- reading the spec ----------------------------------------------------------------------------


def _read_tag(fmt: Any, path: str) -> _Tag:
    if not isinstance(fmt, dict):
        raise StructuralTagError(f"a tag must be an object, got {_kind(fmt)}", path)
    if fmt.get("type", "tag") != "tag":
        raise StructuralTagError(f"expected a format of type 'tag', got {fmt.get('type')!r}", path)
    if isinstance(fmt.get("begin"), dict):
        raise StructuralTagError("a token begin is not supported (use a string)", f"{path}.begin")
    begin = _string(fmt, "begin", path)
    end = _field(fmt, "end", path)
    if isinstance(end, dict):
        raise StructuralTagError("a token end is not supported (use a string)", f"{path}.end")
    if isinstance(end, str):
        ends = (end.encode(),)
    elif isinstance(end, list) and end and all(isinstance(e, str) for e in end):
        ends = tuple(e.encode() for e in end)
    else:
        raise StructuralTagError("'end' must be a string or a non-empty list of strings", path)
    return _Tag(begin, _field(fmt, "content", path), ends, path)


def _field(fmt: dict, name: str, path: str) -> Any:
    if name not in fmt:
        raise StructuralTagError(f"missing field {name!r}", path)
    return fmt[name]


def _string(fmt: dict, name: str, path: str, *, text: bool = False) -> Any:
    value = _field(fmt, name, path)
    if not isinstance(value, str):
        raise StructuralTagError(f"{name!r} must be a string, got {_kind(value)}", f"{path}.{name}")
    return value if text else value.encode()


def _strings(fmt: dict, name: str, path: str, default: list | None = None) -> list[bytes]:
    if name not in fmt and default is not None:
        return list(default)
    value = _field(fmt, name, path)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise StructuralTagError(f"{name!r} must be a list of strings", f"{path}.{name}")
    return [v.encode() for v in value]


def _list(fmt: dict, name: str, path: str) -> list:
    value = _field(fmt, name, path)
    if not isinstance(value, list):
        raise StructuralTagError(f"{name!r} must be a list, got {_kind(value)}", f"{path}.{name}")
    return value


def _bool(fmt: dict, name: str, path: str) -> bool:
    value = fmt.get(name, False)
    if not isinstance(value, bool):
        raise StructuralTagError(f"{name!r} must be a boolean", f"{path}.{name}")
    return value


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "null" if value is None else type(value).__name__
    )


def _placed(error: GrammarError, path: str) -> GrammarError:
    """``error`` again, of the same class, its message prefixed with the place in the spec."""
    message = f"{path}: {getattr(error, 'message', str(error))}"
    try:
        placed = type(error)(message, line=error.line, column=error.column, context=error.context)
    except TypeError:
        placed = StructuralTagError(getattr(error, "message", str(error)), path)
    return placed


_GBNF_RULE = re.compile(r"^\s*<?[A-Za-z_][\w.-]*>?\s*::=", re.MULTILINE)


def _looks_like_gbnf(text: str) -> bool:
    """xgrammar's EBNF and GBNF define rules with ``::=``; Lark with ``name:``."""
    return bool(_GBNF_RULE.search(text))


# -- a builder for hand-written specs (plain dicts in the JSON format) ----------------------------


def structural_tag(fmt: dict) -> dict:
    """``{"type": "structural_tag", "format": fmt}``: the request form."""
    return {"type": "structural_tag", "format": fmt}


def const_string(value: str) -> dict:
    """Exactly ``value``."""
    return {"type": "const_string", "value": value}


def json_schema(
    schema: Any, *, any_order: bool = False, max_whitespace_cnt: int | None = None
) -> dict:
    """JSON valid under ``schema`` (a dict or bool)."""
    fmt: dict[str, Any] = {"type": "json_schema", "json_schema": schema}
    if any_order:
        fmt["any_order"] = True
    if max_whitespace_cnt is not None:
        fmt["max_whitespace_cnt"] = max_whitespace_cnt
    return fmt


def regex(pattern: str) -> dict:
    """The strings ``pattern`` matches in full."""
    return {"type": "regex", "pattern": pattern}


def grammar(text: str) -> dict:
    """A GBNF (``root ::= ...``) or Lark grammar."""
    return {"type": "grammar", "grammar": text}


def any_text(excludes: Sequence[str] = ()) -> dict:
    """Any text not containing one of ``excludes`` (nor the enclosing tag's end)."""
    fmt: dict[str, Any] = {"type": "any_text"}
    if excludes:
        fmt["excludes"] = list(excludes)
    return fmt


def sequence(*elements: dict) -> dict:
    """The elements one after another."""
    return {"type": "sequence", "elements": list(elements)}


def or_(*elements: dict) -> dict:
    """One of the elements."""
    return {"type": "or", "elements": list(elements)}


def optional(content: dict) -> dict:
    return {"type": "optional", "content": content}


def plus(content: dict) -> dict:
    return {"type": "plus", "content": content}


def star(content: dict) -> dict:
    return {"type": "star", "content": content}


def repeat(content: dict, min: int, max: int | None) -> dict:
    """``content`` ``min`` to ``max`` times (``None``: unbounded)."""
    return {"type": "repeat", "min": min, "max": -1 if max is None else max, "content": content}


def tag(begin: str, content: dict | str, end: str | Sequence[str]) -> dict:
    """``begin`` + ``content`` + ``end``; a ``str`` content is a :func:`const_string`."""
    if isinstance(content, str):
        content = const_string(content)
    return {
        "type": "tag",
        "begin": begin,
        "content": content,
        "end": end if isinstance(end, str) else list(end),
    }


def triggered_tags(
    triggers: Sequence[str] | None,
    tags: Sequence[dict],
    *,
    at_least_one: bool = False,
    stop_after_first: bool = False,
    excludes: Sequence[str] = (),
) -> dict:
    """Free text with the ``tags`` wherever one of ``triggers`` occurs. ``triggers=None``: the
    distinct begins of the tags (each tag is its own trigger)."""
    if triggers is None:
        triggers = list(dict.fromkeys(t["begin"] for t in tags))
    fmt: dict[str, Any] = {
        "type": "triggered_tags",
        "triggers": list(triggers),
        "tags": list(tags),
        "at_least_one": at_least_one,
        "stop_after_first": stop_after_first,
    }
    if excludes:
        fmt["excludes"] = list(excludes)
    return fmt


def tags_with_separator(
    tags: Sequence[dict],
    separator: str,
    *,
    at_least_one: bool = False,
    stop_after_first: bool = False,
) -> dict:
    """The tags separated by ``separator``, nothing else."""
    return {
        "type": "tags_with_separator",
        "tags": list(tags),
        "separator": separator,
        "at_least_one": at_least_one,
        "stop_after_first": stop_after_first,
    }


def dispatch(
    rules: Sequence[tuple[str, dict]], *, loop: bool = True, excludes: Sequence[str] = ()
) -> dict:
    """Free text in which each ``pattern`` is followed by its format."""
    fmt: dict[str, Any] = {"type": "dispatch", "rules": [[p, f] for p, f in rules], "loop": loop}
    if excludes:
        fmt["excludes"] = list(excludes)
    return fmt
