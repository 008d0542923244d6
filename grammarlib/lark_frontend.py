"""Lark EBNF -> grammar IR.

lark's own grammar loader reads the text (so ``%import``, templates, ``?rule``, ``!rule``,
``_rule``, aliases and ``%ignore`` mean exactly what they mean in lark) and compiles it to BNF
rules and terminal patterns; we turn those into IR rules. Terminals are regular languages inside the
CFG (no lexer): a terminal occurrence matches any string of its pattern, as with lark's Earley
parser and ``lexer="dynamic_complete"``. ``%ignore`` terminals may appear any number of times before
the first terminal, between terminals and after the last. Priorities are ignored.
"""

from __future__ import annotations

import re

from lark.exceptions import LarkError
from lark.grammar import NonTerminal
from lark.lexer import PatternStr
from lark.load_grammar import load_grammar

from .errors import GrammarError, line_column
from .ir import Expr, GrammarIR, Ref, alt, literal, seq, star
from .regex import regex_to_expr

IGNORE_RULE = "__ignore__"
START_RULE = "__start__"

_LINE_COL = re.compile(r"at line (\d+),? column (\d+)")
_UNDEFINED = re.compile(
    r"(?:Rule|Terminal) '([^']+)' used but not defined(?: \(in rule ([^)]+)\))?"
)
_UNDEFINED_TEMPLATE = re.compile(r"Template '([^']+)' used but not defined")


def grammar_from_lark(text: str, start: str = "start") -> GrammarIR:
    """The rules of Lark grammar text, starting at rule ``start`` (``Grammar.from_lark``)."""
    try:
        lark_grammar, _ = load_grammar(text, "<grammar>", [], False)
        terminals, rules, ignore = lark_grammar.compile([start], set())
    except LarkError as e:
        raise _translate_error(e, text) from None
    except KeyError as e:
        raise GrammarError(f"start rule {e.args[0]!r} is not defined") from None

    ir_rules: dict[str, Expr] = {}
    ignore_ref = Ref(IGNORE_RULE) if ignore else None
    for terminal in terminals:
        ir_rules[str(terminal.name)] = _terminal_expr(terminal, text)
    if ignore:
        ir_rules[IGNORE_RULE] = star(alt(*(Ref(str(name)) for name in ignore)))

    alternatives: dict[str, list[Expr]] = {}
    for rule in rules:
        items = []
        for symbol in rule.expansion:
            if isinstance(symbol, NonTerminal):
                items.append(Ref(str(symbol.name)))
            elif ignore_ref is not None:
                items.append(seq(Ref(str(symbol.name)), ignore_ref))
            else:
                items.append(Ref(str(symbol.name)))
        alternatives.setdefault(str(rule.origin.name), []).append(seq(*items))
    for name, options in alternatives.items():
        if name in ir_rules:
            raise GrammarError(f"{name!r} is defined both as a rule and as a terminal")
        ir_rules[name] = alt(*options)
    if start not in ir_rules:
        raise GrammarError(f"start rule {start!r} is not defined")

    positions = _rule_positions(text, ir_rules)
    if ignore_ref is not None:
        ir_rules[START_RULE] = seq(ignore_ref, Ref(start))
        return GrammarIR(ir_rules, START_RULE, positions=positions)
    return GrammarIR(ir_rules, start, positions=positions)


def _terminal_expr(terminal, text: str) -> Expr:
    pattern = terminal.pattern
    if pattern is None:
        raise GrammarError(f"terminal {terminal.name} is declared but has no definition")
    if isinstance(pattern, PatternStr) and not pattern.flags:
        return literal(pattern.value)
    try:
        return regex_to_expr(pattern.to_regexp())
    except GrammarError as e:
        shown = terminal.name if not terminal.name.startswith("__ANON") else repr(pattern.value)
        line, column = _find(text, pattern.value) or (None, None)
        raise GrammarError(f"in terminal {shown}: {e.message}", line=line, column=column) from None


def _translate_error(error: LarkError, text: str) -> GrammarError:
    message = str(error).strip()
    first_line = message.split("\n", 1)[0]
    match = _LINE_COL.search(first_line)
    if match:
        head = _LINE_COL.sub("", first_line).rstrip(" ,")
        context = message.split("\n", 1)[1].strip("\n") if "\n" in message else None
        return GrammarError(
            head, line=int(match.group(1)), column=int(match.group(2)), context=context
        )
    match = _UNDEFINED.search(first_line)
    if match:
        name, in_rule = match.group(1), match.group(2)
        kind = (
            "terminal"
            if name.isupper() or (name.startswith("_") and name[1:].isupper())
            else "rule"
        )
        where = _find_word(text, name, after_rule=in_rule)
        note = f" (used in rule {in_rule!r})" if in_rule else ""
        line, column = where or (None, None)
        return GrammarError(f"undefined {kind} {name!r}{note}", line=line, column=column)
    match = _UNDEFINED_TEMPLATE.search(first_line)
    if match:
        where = _find_word(text, match.group(1))
        line, column = where or (None, None)
        return GrammarError(f"undefined template {match.group(1)!r}", line=line, column=column)
    return GrammarError(first_line)


def _strip_literals(text: str) -> str:
    """``text`` with string literals, regexes and comments blanked out (same offsets)."""

    def blank(m: re.Match) -> str:
        return re.sub(r"[^\n]", " ", m.group(0))

    return re.sub(r'"(?:\\.|[^"\\\n])*"|/(?:\\.|[^/\\\n])+/[imslux]*|//[^\n]*', blank, text)


def _find_word(text: str, name: str, after_rule: str | None = None) -> tuple[int, int] | None:
    """(line, column) of the first use of ``name`` as a symbol, in ``after_rule`` if given."""
    code = _strip_literals(text)
    start = 0
    if after_rule:
        definition = re.search(rf"^\s*[?!]?{re.escape(after_rule)}\b", code, re.MULTILINE)
        if definition:
            start = definition.end()
    match = re.compile(rf"(?<![\w.]){re.escape(name)}(?!\w)").search(code, start)
    if match is None and start:
        match = re.compile(rf"(?<![\w.]){re.escape(name)}(?!\w)").search(code)
    return line_column(text, match.start()) if match else None


def _find(text: str, fragment: str) -> tuple[int, int] | None:
    offset = text.find(fragment)
    return line_column(text, offset) if offset >= 0 else None


def _rule_positions(text: str, rules: dict[str, Expr]) -> dict[str, tuple[int, int]]:
    positions = {}
    for match in re.finditer(
        r"^[ \t]*[?!]?([A-Za-z_]\w*)\s*(?:\{[^}]*\})?\s*(?:\.\s*-?\d+)?\s*:", text, re.M
    ):
        name = match.group(1)
        if name in rules and name not in positions:
            positions[name] = line_column(text, match.start(1))
    return positions
