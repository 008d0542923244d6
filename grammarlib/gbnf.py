"""llama.cpp's GBNF grammar notation, parsed into the grammar IR.

GBNF (see llama.cpp's ``grammars/README.md``) is BNF with regex-like extras::

    root  ::= "[" ws (item ("," ws item)*)? "]"   # a comment
    item  ::= [a-z_] [a-z0-9_]{0,15} | "\\u00e9"+
    ws    ::= [ \\t\\n]*

Terminals are Unicode code points; they become their UTF-8 bytes in the IR, so ``[^"]`` or ``.``
match one whole (possibly multi-byte) character. Groups, repetitions and character classes are
inlined into the rule bodies (the IR is a regex per rule); only named rules become :class:`Ref`.

A rule ends at the end of its line unless the line ends inside parentheses, or right after ``|``
or ``::=``. As a leniency over llama.cpp, a line that starts with ``|`` also continues the rule
above it. Token references (``<[123]>``, ``<think>``, ``!<...>``) are not supported: grammarlib
grammars describe bytes, not token ids.
"""

from __future__ import annotations

from .charsets import MAX_CODE_POINT, SURROGATES, CharSet, complement, normalize, utf8_expr
from .errors import GrammarError, excerpt, line_column
from .ir import Expr, GrammarIR, Ref, alt, literal, repeat, seq

__all__ = ["grammar_from_gbnf"]

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
_SIMPLE_ESCAPES = {
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "\\": "\\",
    '"': '"',
    "[": "[",
    "]": "]",
    "-": "-",
}
_DIGITS = frozenset("0123456789")
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}
_ANY_CHAR: CharSet = ((0, MAX_CODE_POINT),)


def grammar_from_gbnf(text: str, start: str = "root") -> GrammarIR:
    """Parse llama.cpp GBNF ``text`` into rules whose start rule is ``start``
    (``Grammar.from_gbnf``).

    Raises :class:`GrammarError` with the line and column of the problem for malformed text,
    rules defined twice, references to undefined rules and a missing start rule.
    """
    return _Parser(text).parse(start)


class _Parser:
    """Recursive descent over ``text``; ``pos`` is the index of the next unread character."""

    def __init__(self, text: str):
        self.text = text
        self.pos = 0
        self.rules: dict[str, Expr] = {}
        self.positions: dict[str, tuple[int, int]] = {}
        # First reference of each rule name, for "undefined rule" errors.
        self.references: dict[str, tuple[int, str]] = {}
        self.rule_name = ""

    # -- errors and low-level scanning ----------------------------------------------------------

    def error(self, message: str, offset: int | None = None) -> GrammarError:
        line, column = line_column(self.text, self.pos if offset is None else offset)
        return GrammarError(message, line=line, column=column)

    def peek(self, k: int = 0) -> str:
        i = self.pos + k
        return self.text[i] if i < len(self.text) else ""

    def skip_space(self, newlines: bool) -> None:
        """Skip blanks and ``#`` comments, and line breaks too if ``newlines``."""
        text, n = self.text, len(self.text)
        while self.pos < n:
            c = text[self.pos]
            if c in " \t" or (newlines and c in "\r\n"):
                self.pos += 1
            elif c == "#":
                while self.pos < n and text[self.pos] not in "\r\n":
                    self.pos += 1
            else:
                break

    def at_line_end(self) -> bool:
        return self.pos >= len(self.text) or self.text[self.pos] in "\r\n"

    def name(self) -> str:
        begin = self.pos
        while self.peek() in _NAME_CHARS:
            self.pos += 1
        return self.text[begin : self.pos]

    # -- grammar structure ------------------------------------------------------------------------

    def parse(self, start: str) -> GrammarIR:
        if self.text.startswith("\ufeff"):
            self.pos = 1  # a byte order mark left by a UTF-8 editor
        self.skip_space(newlines=True)
        while self.pos < len(self.text):
            self.rule()
            self.skip_space(newlines=True)
        for name, (offset, referrer) in self.references.items():
            if name not in self.rules:
                raise self.error(
                    f"undefined rule {name!r} (referenced in rule {referrer!r})", offset
                )
        if start not in self.rules:
            if not self.rules:
                raise GrammarError(f"empty grammar: no rules, so no start rule {start!r}")
            raise GrammarError(
                f"no start rule: define {start!r} (rules defined: {', '.join(self.rules)})"
            )
        return GrammarIR(self.rules, start, positions=self.positions)

    def rule(self) -> None:
        begin = self.pos
        name = self.name()
        if not name:
            found = excerpt(self.text, self.pos)
            hint = ""
            if self.rules:
                hint = (
                    "; a rule ends at the end of its line unless the line ends inside "
                    "parentheses or after '|' or '::='"
                )
            raise self.error(f"expected a rule name, found {found}{hint}")
        self.skip_space(newlines=False)
        if not self.text.startswith("::=", self.pos):
            raise self.error(
                f"expected '::=' after rule name {name!r}, found {excerpt(self.text, self.pos)}"
            )
        if name in self.rules:
            line, column = self.positions[name]
            raise self.error(
                f"rule {name!r} defined twice (first at line {line}, column {column})", begin
            )
        self.pos += 3
        self.skip_space(newlines=True)
        self.rule_name = name
        self.positions[name] = line_column(self.text, begin)
        body = self.alternatives(nested=False)
        if not self.at_line_end():
            raise self.unexpected()
        self.rules[name] = body

    def unexpected(self) -> GrammarError:
        c = self.peek()
        where = f"in rule {self.rule_name!r}"
        if c == ")":
            return self.error(f"unexpected ')' {where}: no '(' to close")
        if c == ":" and self.text.startswith("::=", self.pos):
            return self.error(
                f"unexpected '::=' {where}; the previous line may end with '|' or '::=' "
                "or be missing a line break"
            )
        return self.error(f"unexpected character {c!r} {where}: {excerpt(self.text, self.pos)}")

    def alternatives(self, nested: bool) -> Expr:
        """``sequence ("|" sequence)*``; stops at ``)``, or at a line end when not ``nested``."""
        options = [self.sequence(nested)]
        while True:
            if self.peek() == "|":
                self.pos += 1
                self.skip_space(newlines=True)
                options.append(self.sequence(nested))
            elif not nested and self.pos < len(self.text) and self.at_line_end():
                # Leniency: a following line that starts with "|" continues this rule.
                save = self.pos
                self.skip_space(newlines=True)
                if self.peek() != "|":
                    self.pos = save
                    return alt(*options)
            else:
                return alt(*options)

    def sequence(self, nested: bool) -> Expr:
        """Items and their repetition suffixes, up to ``|``, ``)`` or a top-level line end."""
        items: list[Expr] = []
        while True:
            c = self.peek()
            begin = self.pos
            if c == '"':
                items.append(self.string())
            elif c == "[":
                items.append(self.char_class())
            elif c == ".":
                self.pos += 1
                items.append(utf8_expr(_ANY_CHAR))
            elif c == "(":
                self.pos += 1
                self.skip_space(newlines=True)
                inner = self.alternatives(nested=True)
                if not self.peek():
                    line, column = line_column(self.text, begin)
                    raise self.error(
                        f"expected ')' to close the '(' at line {line}, column {column}, "
                        "found end of input"
                    )
                if self.peek() != ")":
                    raise self.unexpected()
                self.pos += 1
                items.append(inner)
            elif c in _NAME_CHARS:
                name = self.name()
                self.references.setdefault(name, (begin, self.rule_name))
                items.append(Ref(name))
            elif c in ("*", "+", "?", "{"):
                if not items:
                    raise self.error(
                        f"{c!r} must follow an item to repeat, in rule {self.rule_name!r}"
                    )
                low, high = self.repetition()
                items[-1] = repeat(items[-1], low, high)
            elif c in ("<", "!"):
                raise self.token_reference()
            else:
                return seq(*items)
            self.skip_space(newlines=nested)

    def repetition(self) -> tuple[int, int | None]:
        """``*``, ``+``, ``?``, ``{m}``, ``{m,}``, ``{m,n}`` or ``{,n}`` -> (min, max or None)."""
        c = self.peek()
        self.pos += 1
        if c == "*":
            return 0, None
        if c == "+":
            return 1, None
        if c == "?":
            return 0, 1
        begin = self.pos - 1
        self.skip_space(newlines=False)
        low = self.integer()
        self.skip_space(newlines=False)
        if self.peek() == "}":
            if low is None:
                raise self.error("expected a repetition count in '{}'", begin)
            self.pos += 1
            return low, low
        if self.peek() != ",":
            raise self.error(
                f"expected ',' or '}}' in repetition bounds, found {excerpt(self.text, self.pos)}"
            )
        self.pos += 1
        self.skip_space(newlines=False)
        high = self.integer()
        self.skip_space(newlines=False)
        if self.peek() != "}":
            raise self.error(
                f"expected '}}' to close repetition bounds, found {excerpt(self.text, self.pos)}"
            )
        self.pos += 1
        if low is None and high is None:
            raise self.error("repetition bounds '{,}' need at least one number", begin)
        low = low or 0
        if high is not None and high < low:
            bounds = self.text[begin : self.pos]
            raise self.error(f"bad repetition bounds {bounds}: maximum is below minimum", begin)
        return low, high

    def integer(self) -> int | None:
        begin = self.pos
        while self.peek() in _DIGITS:
            self.pos += 1
        return int(self.text[begin : self.pos]) if self.pos > begin else None

    # -- terminals --------------------------------------------------------------------------------

    def string(self) -> Expr:
        """``"..."``: the UTF-8 bytes of its code points."""
        begin = self.pos
        self.pos += 1
        chars: list[str] = []
        while True:
            c = self.peek()
            if c == '"':
                self.pos += 1
                return literal("".join(chars))
            if not c or c in "\r\n":
                raise self.error(
                    "unterminated string literal (write a line break inside a string as \\n)",
                    begin,
                )
            chars.append(chr(self.char(in_class=False)))

    def char_class(self) -> Expr:
        """``[...]`` or ``[^...]``: one code point in (or not in) the listed chars and ranges."""
        begin = self.pos
        self.pos += 1
        negated = self.peek() == "^"
        if negated:
            self.pos += 1
        ranges: list[tuple[int, int]] = []
        while self.peek() != "]":
            if not self.peek() or self.peek() in "\r\n":
                raise self.error("unterminated character class (missing ']')", begin)
            lo_at = self.pos
            lo = self.char(in_class=True)
            hi = lo
            if self.peek() == "-" and self.peek(1) not in ("]", ""):
                self.pos += 1
                if self.peek() in "\r\n":
                    raise self.error("unterminated character class (missing ']')", begin)
                hi = self.char(in_class=True)
                if hi < lo:
                    raise self.error(
                        f"bad character range {self.text[lo_at : self.pos]!r}: "
                        f"U+{lo:04X} is above U+{hi:04X}",
                        lo_at,
                    )
            ranges.append((lo, hi))
        self.pos += 1
        if not ranges:
            raise self.error(f"empty character class {self.text[begin : self.pos]!r}", begin)
        chars = normalize(ranges)
        return utf8_expr(complement(chars) if negated else chars)

    def char(self, in_class: bool) -> int:
        """One literal character or escape inside a string or class, as a code point."""
        begin = self.pos
        c = self.peek()
        if c != "\\":
            self.pos += 1
            code = ord(c)
            if not in_class and SURROGATES[0] <= code <= SURROGATES[1]:
                raise self.error(f"surrogate U+{code:04X} has no UTF-8 encoding", begin)
            return code
        e = self.peek(1)
        if e in _SIMPLE_ESCAPES:
            self.pos += 2
            return ord(_SIMPLE_ESCAPES[e])
        if e in _HEX_ESCAPES:
            digits = _HEX_ESCAPES[e]
            hex_text = self.text[self.pos + 2 : self.pos + 2 + digits]
            if len(hex_text) != digits or any(h not in "0123456789abcdefABCDEF" for h in hex_text):
                raise self.error(
                    f"escape '\\{e}' needs {digits} hex digits, found "
                    f"{excerpt(self.text, self.pos + 2, digits)}",
                    begin,
                )
            self.pos += 2 + digits
            code = int(hex_text, 16)
            if code > MAX_CODE_POINT:
                raise self.error(f"escape '\\{e}{hex_text}' is beyond U+10FFFF", begin)
            if not in_class and SURROGATES[0] <= code <= SURROGATES[1]:
                raise self.error(
                    f"escape '\\{e}{hex_text}' is a surrogate, which has no UTF-8 encoding", begin
                )
            return code
        if not e or e in "\r\n":
            raise self.error("unterminated escape at end of line", begin)
        raise self.error(f"unknown escape '\\{e}'", begin)

    def token_reference(self) -> GrammarError:
        begin = self.pos
        end = self.text.find(">", begin)
        line_end = len(self.text)
        for stop in ("\n", "\r"):
            found = self.text.find(stop, begin)
            if found != -1:
                line_end = min(line_end, found)
        construct = self.text[begin : end + 1] if end != -1 and end < line_end else None
        if construct is None or not (construct.startswith("<") or construct.startswith("!<")):
            return self.error(
                f"unexpected character {self.peek()!r} in rule {self.rule_name!r}: "
                f"{excerpt(self.text, begin)}"
            )
        return self.error(
            f"token reference {construct!r} is not supported: grammarlib grammars match "
            "bytes, not token ids; write the text as a string literal instead",
            begin,
        )
