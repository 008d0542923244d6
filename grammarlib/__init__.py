"""grammarlib: exact constrained generation for language models.

Grammars (Lark, GBNF, regular expressions, choice lists) and JSON Schemas compile to byte-level
automata; a matcher tracks, byte by byte, whether the output so far can still become a string of
the language.
"""

import os as _os

# Installed, grammarlib.masks and grammarlib.integrations come from masks/ and integrations/
# (setuptools package-dir). Run from a source checkout without installing, they sit beside this
# package: let the package's path reach them there.
_checkout = _os.path.dirname(__path__[0])
if not _os.path.isdir(_os.path.join(__path__[0], "masks")) and _os.path.isfile(
    _os.path.join(_checkout, "masks", "__init__.py")
):
    __path__.append(_checkout)

from grammarlib.masks.bitmask import allocate_token_bitmask, apply_token_bitmask
from grammarlib.masks.tokenizer import TokenizerInfo

from .compiler import CompiledGrammar, compile
from .errors import (
    EmptyLanguageError,
    GrammarError,
    GrammarlibError,
    GrammarTooLargeError,
    IncompleteOutputError,
    InvalidOutputError,
    ModelError,
    SchemaError,
)
from .grammar import Grammar
from .matcher import GrammarMatcher, fill_bitmasks


def generate(model, tokenizer, prompt, **kwargs):  # type: ignore[no-untyped-def]
    """Generate under a constraint and return a validated value: see
    :func:`grammarlib.integrations.generate.generate` (needs torch and transformers)."""
    from grammarlib.integrations.generate import generate as _generate

    return _generate(model, tokenizer, prompt, **kwargs)


__all__ = [
    "CompiledGrammar",
    "EmptyLanguageError",
    "Grammar",
    "GrammarError",
    "GrammarMatcher",
    "GrammarTooLargeError",
    "GrammarlibError",
    "IncompleteOutputError",
    "InvalidOutputError",
    "ModelError",
    "SchemaError",
    "TokenizerInfo",
    "allocate_token_bitmask",
    "apply_token_bitmask",
    "compile",
    "fill_bitmasks",
    "generate",
]
__version__ = "0.1.0"
