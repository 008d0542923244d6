"""Token-level machinery: tokenizer vocabularies, the mask store and token bitmasks."""
