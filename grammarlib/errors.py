"""Exceptions raised by grammarlib.

Every error a user can cause derives from :class:`GrammarlibError` (a ``ValueError``), with a
message that says where (line:column, rule name or JSON pointer) and what. Internal invariants use
plain assertions.
"""

from __future__ import annotations


class GrammarlibError(ValueError):
    """The root of every error grammarlib raises for something the user gave it."""


class GrammarError(GrammarlibError):
    """A grammar, regex or schema that cannot be compiled.

    ``line`` and ``column`` (1-based) point into the grammar text when the error has a place
    there; ``message`` is the description without the place; ``context`` is an optional excerpt
    of the source shown under the message.
    """

    def __init__(
        self,
        message: str,
        *,
        line: int | None = None,
        column: int | None = None,
        context: str | None = None,
    ):
        self.message = message
        self.line = line
        self.column = column
        self.context = context
        text = message
        if line is not None:
            text += (
                f" (at line {line}, column {column})"
                if column is not None
                else f" (at line {line})"
            )
        if context:
            text += "\n" + context
        super().__init__(text)


class EmptyLanguageError(GrammarError):
    """The grammar accepts no string at all, so constrained generation could never finish."""


class GrammarTooLargeError(GrammarError):
    """An automaton grew past the configured state limit."""


class SchemaError(GrammarError):
    """A JSON Schema that cannot be compiled: an unsupported keyword, a malformed or
    unsatisfiable schema. The message names the keyword and the JSON pointer where it applies."""


class IncompleteOutputError(GrammarlibError, RuntimeError):
    """The token budget ran out before the output was a complete string of the language.

    ``partial_text`` holds what was generated (a valid prefix)."""

    def __init__(self, message: str, partial_text: str):
        super().__init__(message)
        self.partial_text = partial_text


class InvalidOutputError(GrammarlibError):
    """A complete output that the schema's validator rejects (a grammarlib bug: please report it
    with ``text`` and the schema)."""

    def __init__(self, message: str, text: str):
        super().__init__(message)
        self.text = text


class ModelError(GrammarlibError, RuntimeError):
    """A model that cannot be loaded: a missing package or file, or an unknown kind of path."""


def line_column(text: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of a character offset in ``text``."""
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column


def excerpt(text: str, offset: int, width: int = 20) -> str:
    """The text at ``offset``, cut to one line, for error messages."""
    rest = text[offset : offset + width].split("\n", 1)[0]
    return repr(rest) if rest else "end of line" if offset < len(text) else "end of input"
