"""Distinct object keys: a JSON scanner that remembers the keys of every open object.

JSON Schema validators read an object with a repeated key as one with the last value, so a
grammar of JSON texts that lets a key repeat generates texts that are not what they seem (and
lets a small model write ``"population": 1`` again and again). Key distinctness is not
context-free, so it is checked beside the automaton: a matcher of a grammar with
``distinct_keys`` carries a :data:`Keys` value, advanced byte by byte over the output, that
refuses the closing quote of a key already written in the same object. The output is a valid
JSON prefix (the grammar sees to that), so the scanner only needs to know where strings, keys and
containers begin and end.

A :data:`Keys` value is an immutable tuple ``(mode, escaped, key_bytes, stack)``:

* ``mode``: ``OUTSIDE`` a string, in a ``KEY`` or in a ``VALUE`` string;
* ``escaped``: the previous byte of the string was an unescaped backslash;
* ``key_bytes``: the raw bytes of the key so far (escapes included);
* ``stack``: one entry per open container, innermost last: ``None`` for an array, and
  ``(keys, expecting_key)`` for an object (``keys`` a frozenset of the decoded keys written).
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .runtime import Runtime, State

Keys = tuple  # (mode: int, escaped: bool, key_bytes: bytes, stack: tuple)

OUTSIDE, KEY, VALUE = 0, 1, 2
START: Keys = (OUTSIDE, False, b"", ())

_QUOTE, _BACKSLASH = 0x22, 0x5C


def advance(keys: Keys, data: bytes) -> Keys | None:
    """``keys`` after ``data``, or None where ``data`` closes a key the object already has."""
    mode, escaped, key_bytes, stack = keys
    start = 0  # where the current key's unsaved bytes begin in ``data``
    for i, byte in enumerate(data):
        if mode == OUTSIDE:
            if byte == _QUOTE:
                top = stack[-1] if stack else None
                if top is not None and top[1]:
                    mode, escaped, key_bytes, start = KEY, False, b"", i + 1
                else:
                    mode, escaped = VALUE, False
            elif byte == 0x7B:  # {
                stack = (*stack, (frozenset(), True))
            elif byte == 0x5B:  # [
                stack = (*stack, None)
            elif byte in (0x7D, 0x5D):  # } ]
                stack = stack[:-1]
            elif byte == 0x2C:  # ,
                if stack and stack[-1] is not None:
                    stack = (*stack[:-1], (stack[-1][0], True))
            elif byte == 0x3A and stack and stack[-1] is not None:  # :
                stack = (*stack[:-1], (stack[-1][0], False))
        elif escaped:
            escaped = False
        elif byte == _BACKSLASH:
            escaped = True
        elif byte == _QUOTE:
            if mode == KEY:
                key = decode_key(key_bytes + data[start:i])
                written = stack[-1][0]
                if key in written:
                    return None
                stack = (*stack[:-1], (written | {key}, False))
                key_bytes = b""
            mode = OUTSIDE
    if mode == KEY:
        key_bytes += data[start:]
    return (mode, escaped, key_bytes, stack)


def decode_key(raw: bytes) -> str:
    """The key a JSON string body spells (escapes decoded; lone surrogates kept as they are)."""
    try:
        return json.loads(b'"' + raw + b'"')
    except ValueError:  # partial UTF-8 cannot reach here in a valid text; be exact anyway
        return raw.decode("utf-8", "surrogateescape")


def closes_a_written_key(keys: Keys) -> bool:
    """Whether the scanner is inside a key of an object that already has keys (only then can
    the key being written turn out to be a repeat)."""
    mode, _, _, stack = keys
    return mode == KEY and bool(stack[-1][0])


def may_refuse(keys: Keys) -> bool:
    """Whether a token can be refused for its keys here: some open object has keys (a token
    may close objects and start a key of an outer one)."""
    return any(entry is not None and entry[0] for entry in keys[3])


def key_prefix(keys: Keys) -> tuple[bytes, bool]:
    """The raw bytes of the key being written and whether a backslash is pending."""
    return keys[2], keys[1]


def written_keys(keys: Keys) -> frozenset[str]:
    """The keys of the innermost open object (empty outside objects)."""
    stack = keys[3]
    return stack[-1][0] if stack and stack[-1] is not None else frozenset()


# -- keys that can only end as a written one ---------------------------------------------------

_SHORT_ESCAPES = {'"': b'\\"', "\\": b"\\\\", "/": b"\\/", "\b": b"\\b", "\f": b"\\f",
                  "\n": b"\\n", "\r": b"\\r", "\t": b"\\t"}  # fmt: skip
MAX_VIABILITY_STEPS = 50_000


def _char_spellings(c: str) -> list[bytes]:
    """Every way JSON can write the character ``c`` inside a string (a superset of what any
    escape policy allows; the automaton refuses the others)."""
    out = []
    code = ord(c)
    if c not in '"\\' and code >= 0x20 and not 0xD800 <= code <= 0xDFFF:
        out.append(c.encode("utf-8"))
    if c in _SHORT_ESCAPES:
        out.append(_SHORT_ESCAPES[c])
    units = [code] if code <= 0xFFFF else [0xD800 + ((code - 0x10000) >> 10),
                                           0xDC00 + ((code - 0x10000) & 0x3FF)]  # fmt: skip
    variants = [b""]
    for unit in units:
        hex_digits = f"{unit:04x}"
        cases = [b""]
        for d in hex_digits:
            options = {d.encode(), d.upper().encode()}
            cases = [x + o for x in cases for o in options]
        variants = [v + b"\\u" + h for v in variants for h in cases]
    return out + variants


def continuations(
    key: str, raw_prefix: bytes, is_token_prefix: Callable[[bytes], bool] | None = None
) -> set[bytes] | None:
    """None if no JSON spelling of ``key`` followed by the closing quote starts with
    ``raw_prefix``; else the non-empty byte strings that continue ``raw_prefix`` along such a
    spelling and that ``is_token_prefix`` accepts (the search stops extending a string that no
    token starts with; without the predicate, only whether one spelling matches is decided)."""
    found: set[bytes] = set()
    matched = False
    stack = [(0, b"")]
    while stack:
        i, acc = stack.pop()
        common = min(len(acc), len(raw_prefix))
        if acc[:common] != raw_prefix[:common]:
            continue
        if len(acc) >= len(raw_prefix):
            matched = True
            rest = acc[len(raw_prefix) :]
            if is_token_prefix is None:
                break
            if rest:
                if not is_token_prefix(rest):
                    continue
                found.add(rest)
        if i == len(key):
            stack.append((i + 1, acc + b'"'))
        elif i < len(key):
            stack.extend((i + 1, acc + spelling) for spelling in _char_spellings(key[i]))
    return found if matched else None


def needs_search(keys: Keys) -> bool:
    """Whether the next key of the innermost object is about to be written (or is being
    written) while the object already has keys: only then can the output be a dead end."""
    mode, _, _, stack = keys
    if not stack or stack[-1] is None or not stack[-1][0]:
        return False
    return mode == KEY or (mode == OUTSIDE and stack[-1][1])


def viable(runtime: Runtime, state: State, keys: Keys) -> bool:
    """Whether the key being written, or about to be (scanner ``keys``, automaton ``state``),
    can still end as a key its object does not have. Where a written key could still come out,
    the completions are enumerated through the automaton until one is fresh, a cycle inside
    the key shows there are infinitely many, or none are left."""
    if not needs_search(keys):
        return True
    written = keys[3][-1][0]
    if keys[0] == KEY and not any(continuations(k, keys[2]) is not None for k in written):
        return True
    depth = len(keys[3])
    steps = 0
    path: set[tuple[State, Keys]] = {(state, keys)}
    work = [(state, keys, _bytes_of(runtime.next_bytes(state)))]
    while work:
        current, scanner, pending = work[-1]
        if not pending:
            work.pop()
            path.discard((current, scanner))
            continue
        byte = pending.pop()
        steps += 1
        if steps > MAX_VIABILITY_STEPS:
            from .errors import GrammarTooLargeError

            raise GrammarTooLargeError(
                "deciding whether a JSON object can still get a new key took more than "
                f"{MAX_VIABILITY_STEPS} steps"
            )
        after = advance(scanner, bytes((byte,)))
        if after is None:
            continue  # a written key
        if after[0] == OUTSIDE and scanner[0] == KEY:
            return True  # a fresh key closed
        if len(after[3]) != depth or (after[0] == OUTSIDE and not after[3][-1][1]):
            continue  # left the object or the key position (not a JSON continuation here)
        nxt = runtime.advance(current, byte)
        if nxt is None:
            continue
        if (nxt, after) in path:
            continue
        if after[0] == KEY and any(
            s == nxt and k[0] == KEY and k[1] == after[1] for s, k in path
        ):
            return True  # a cycle inside the key: infinitely many keys, most of them new
        path.add((nxt, after))
        work.append((nxt, after, _bytes_of(runtime.next_bytes(nxt))))
    return False


def _bytes_of(mask: int) -> list[int]:
    return [b for b in range(256) if mask >> b & 1]


# -- token masks ----------------------------------------------------------------------------------


class TokenTables:
    """What the key filter needs of a vocabulary: the tokens with a quote or a comma (only they
    can start or end a key, or lead to a key position), and the tokens sorted by bytes (to find
    the tokens that continue a written key's spelling)."""

    def __init__(self, token_bytes: list[bytes]):
        marked = [i for i, b in enumerate(token_bytes) if 0x22 in b or 0x2C in b]
        self.marked_ids = np.asarray(marked, dtype=np.int64)
        self.sorted_bytes = sorted({b for b in token_bytes if b})
        self.ids_of: dict[bytes, list[int]] = {}
        for i, b in enumerate(token_bytes):
            if b:
                self.ids_of.setdefault(b, []).append(i)

    def is_token_prefix(self, data: bytes) -> bool:
        """Whether some token starts with ``data``."""
        i = bisect.bisect_left(self.sorted_bytes, data)
        return i < len(self.sorted_bytes) and self.sorted_bytes[i].startswith(data)


def candidate_tokens(keys: Keys, tables: TokenTables) -> np.ndarray:
    """The tokens that may be refused for the keys in ``keys``: every token with a quote or a
    comma, and inside a key every token that continues the spelling of a written key from the
    bytes written so far."""
    if keys[0] != KEY:
        return tables.marked_ids
    raw = keys[2]
    extra: set[int] = set()
    for key in keys[3][-1][0]:
        for data in continuations(key, raw, tables.is_token_prefix) or ():
            extra.update(tables.ids_of.get(data, ()))
    if not extra:
        return tables.marked_ids
    return np.union1d(tables.marked_ids, np.fromiter(extra, dtype=np.int64, count=len(extra)))


def filter_mask(
    words: np.ndarray, keys: Keys, tables: TokenTables, allows: Callable[[int], bool]
) -> np.ndarray:
    """``words`` (a packed mask) without the candidate tokens that ``allows`` refuses (a copy
    when anything changes)."""
    ids = candidate_tokens(keys, tables)
    unsigned = words.view(np.uint32)
    allowed = (unsigned[ids >> 5] >> (ids & 31).astype(np.uint32)) & 1
    out: Any = None
    for token in ids[np.flatnonzero(allowed)].tolist():
        if not allows(token):
            if out is None:
                out = words.copy()
            out.view(np.uint32)[token >> 5] &= np.uint32(0xFFFFFFFF ^ (1 << (token & 31)))
    return words if out is None else out
