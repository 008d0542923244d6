"""Token-level machinery: tokenizer vocabularies, the mask store and token bitmasks."""

from .tokenizer import TokenizerInfo

__all__ = ["TokenizerInfo"]
