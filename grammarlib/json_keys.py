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

Arrays of scalars whose items must differ (``uniqueItems``; the grammar's ``unique_arrays``
rules) are scanned as objects whose keys are the items: ``(items, expecting_item)``, a string
item read in ``KEY`` mode, a number or literal in ``SCALAR`` mode (it ends at the delimiter
after it and is compared by value, :func:`scalar_key`), each refused when it repeats one. The
byte scanner cannot tell such an array from another by its ``[``; the caller tells it which
brackets open one (:meth:`KeyChecker.allows` asks the automaton).

Most keys need not be remembered at all. A JSON Schema grammar writes each named property at
most once per object (in schema order, or once each in any order) and its extra keys are never a
named one, so it lists the rules of named keys as ``fixed_keys``; the caller tells the scanner
which closing quotes only such rules read (:meth:`KeyChecker.allows` asks the automaton), and
the scanner neither checks nor keeps those keys. An object with named keys only then has no
keys to check, and its masks need no filtering, unless the vocabulary has tokens that can close
two keys of one object by themselves (:func:`may_repeat_by_itself`; none of the real
vocabularies we test with has one).
"""

from __future__ import annotations

import bisect
import collections
import functools
import json
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING

import numpy as np

from .ir import mask_bytes

if TYPE_CHECKING:
    from .runtime import Runtime, State

Keys = tuple  # (mode: int, escaped: bool, key_bytes: bytes, stack: tuple)

OUTSIDE, KEY, VALUE, SCALAR = 0, 1, 2, 3
START: Keys = (OUTSIDE, False, b"", ())

_QUOTE, _BACKSLASH, _OPEN_BRACKET = 0x22, 0x5C, 0x5B
_SCALAR_START = frozenset(b"-0123456789tfn")  # how a number or literal item begins
_SCALAR_BYTES = frozenset(b"0123456789+-.eEtruefalsn")  # ... and what it is made of
_SCALAR_MASK = sum(1 << b for b in _SCALAR_BYTES)
_BLANKS = frozenset(b" \t\n\r")


def advance(
    keys: Keys,
    data: bytes,
    opens_unique_array: Callable[[int], bool] | None = None,
    closes_fixed_key: Callable[[int], bool] | None = None,
) -> Keys | None:
    """``keys`` after ``data``, or None where ``data`` closes a key the object already has (or
    an item a unique array already has). Asked about indices of ``data``, in increasing order
    (see :meth:`KeyChecker.allows`): ``opens_unique_array``, at each ``[`` outside a string,
    whether it opens an array of distinct items; ``closes_fixed_key``, at each quote that closes
    a key, whether that key is one the grammar never repeats (a fixed key: neither checked nor
    kept). Without them, no array is one of distinct items and every key is checked."""
    mode, escaped, key_bytes, stack = keys
    start = 0  # where the current key's (or scalar item's) unsaved bytes begin in ``data``
    for i, byte in enumerate(data):
        if mode == SCALAR:
            if byte in _SCALAR_BYTES:
                continue
            item = scalar_key(key_bytes + data[start:i])  # a delimiter ends the item
            written = stack[-1][0]
            if item in written:
                return None
            stack = (*stack[:-1], (written | {item}, False))
            mode, key_bytes = OUTSIDE, b""
        if mode == OUTSIDE:
            if byte in _SCALAR_START and stack and stack[-1] is not None and stack[-1][1]:
                # a number or literal where a key or item goes: an item of a unique array
                mode, key_bytes, start = SCALAR, b"", i
            elif byte == _QUOTE:
                top = stack[-1] if stack else None
                if top is not None and top[1]:
                    mode, escaped, key_bytes, start = KEY, False, b"", i + 1
                else:
                    mode, escaped = VALUE, False
            elif byte == 0x7B:  # {
                stack = (*stack, (frozenset(), True))
            elif byte == 0x5B:  # [
                unique = opens_unique_array is not None and opens_unique_array(i)
                stack = (*stack, (frozenset(), True) if unique else None)
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
                written = stack[-1][0]
                if closes_fixed_key is None or not closes_fixed_key(i):
                    key = decode_key(key_bytes + data[start:i])
                    if key in written:
                        return None
                    written = written | {key}
                stack = (*stack[:-1], (written, False))
                key_bytes = b""
            mode = OUTSIDE
    if mode in (KEY, SCALAR):
        key_bytes += data[start:]
    return (mode, escaped, key_bytes, stack)


def scalar_key(raw: bytes) -> tuple[str, str]:
    """What a number or literal item is compared by: numbers by value (``1``, ``1.0`` and
    ``10e-1`` are one item, as ``uniqueItems`` means), ``true``/``false``/``null`` by name;
    never equal to a string item (strings are compared as ``str``)."""
    if raw[:1] in (b"t", b"f", b"n"):
        return ("literal", raw.decode("ascii"))
    value = Decimal(raw.decode("ascii"))
    return ("number", "0" if value == 0 else str(value.normalize()))


def decode_key(raw: bytes) -> str:
    """The key a JSON string body spells (escapes decoded; lone surrogates kept as they are)."""
    try:
        return json.loads(b'"' + raw + b'"')
    except ValueError:  # partial UTF-8 cannot reach here in a valid text; be exact anyway
        return raw.decode("utf-8", "surrogateescape")


def may_refuse(keys: Keys) -> bool:
    """Whether a token can be refused for its keys here by a key written before it: some open
    object has keys (a token may close objects and start a key of an outer one). A token can
    also repeat a key by itself (:func:`may_repeat_by_itself`)."""
    return any(entry is not None and entry[0] for entry in keys[3])


def may_repeat_by_itself(data: bytes) -> bool:
    """Whether the token ``data`` can close two keys of one object in a JSON text, from some
    scanner position (then it may repeat a key where no object has keys yet: ``":{"a":1,"a"``).
    Conservative: the keys are not compared."""
    if data.count(_QUOTE) < 3:  # a key finished and a whole one, at least
        return False
    for mode, escaped, expecting in (
        (OUTSIDE, False, True), (OUTSIDE, False, False), (KEY, False, False),
        (KEY, True, False), (VALUE, False, False), (VALUE, True, False),
    ):  # fmt: skip
        # per open level, innermost last: [expecting a key (None: an array), keys closed]
        levels: list[list] = [[expecting, 0]]
        after_key = False  # a key has just closed: a colon must come next
        for byte in data:
            level = levels[-1]
            if after_key and byte not in _BLANKS:
                if byte != 0x3A:
                    break  # not JSON: the token cannot be read from this position
                after_key = False
            if mode == OUTSIDE:
                if byte == _QUOTE:
                    mode, escaped = (KEY if level[0] else VALUE), False
                elif byte in (0x7B, 0x5B):
                    levels.append([True if byte == 0x7B else None, 0])
                elif byte in (0x7D, 0x5D):
                    levels.pop()
                    if not levels:  # the level around the start, which has no keys either
                        levels.append([False, 0])
                elif byte == 0x2C and level[0] is not None:
                    level[0] = True
                elif byte == 0x3A and level[0] is not None:
                    level[0] = False
            elif escaped:
                escaped = False
            elif byte == _BACKSLASH:
                escaped = True
            elif byte == _QUOTE:
                if mode == KEY:
                    level[0], after_key = False, True
                    level[1] += 1
                    if level[1] >= 2:
                        return True
                mode = OUTSIDE
    return False


# -- keys that can only end as a written one ---------------------------------------------------

_SHORT_ESCAPES = {'"': b'\\"', "\\": b"\\\\", "/": b"\\/", "\b": b"\\b", "\f": b"\\f",
                  "\n": b"\\n", "\r": b"\\r", "\t": b"\\t"}  # fmt: skip
MAX_VIABILITY_STEPS = 50_000
_MAX_CACHED = 4096
_MAX_FILTERED = 256  # filtered masks kept per grammar (a Llama 3 mask is 16 KB)


@functools.lru_cache(maxsize=4096)
def _char_spellings(c: str) -> tuple[bytes, ...]:
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
        cases = [b""]
        for d in f"{unit:04x}":
            options = {d.encode(), d.upper().encode()}
            cases = [x + o for x in cases for o in options]
        variants = [v + b"\\u" + h for v in variants for h in cases]
    return (*out, *variants)


def continuations(
    key: str, raw_prefix: bytes, is_token_prefix: Callable[[bytes], bool] | None = None
) -> set[bytes] | None:
    """None if no JSON spelling of ``key`` followed by the closing quote starts with
    ``raw_prefix``; else the non-empty byte strings that continue ``raw_prefix`` along such a
    spelling and that ``is_token_prefix`` accepts (the search stops extending a string that no
    token starts with; without the predicate, only whether one spelling matches is decided)."""
    if raw_prefix.isascii() and b"\\" not in raw_prefix and key.isascii():
        plain = key.encode() + b'"'  # the common case: one spelling matters for the prefix test
        if is_token_prefix is None and '"' not in key and "\\" not in key:
            ok = plain.startswith(raw_prefix) and all(ord(c) >= 0x20 for c in key)
            if ok or not any(ord(c) < 0x20 or c == "/" for c in key):
                return set() if ok else None
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
    return mode in (KEY, SCALAR) or (mode == OUTSIDE and stack[-1][1])


def _fast_decode(raw: bytes) -> str:
    if b"\\" not in raw:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return decode_key(raw)


def _finishing(steps, colour: dict, mark: tuple):  # type: ignore[no-untyped-def]
    """``steps``, then ``mark`` coloured done (it has left the depth-first path)."""
    yield from steps
    colour[mark] = 2


_UNKNOWN, _HARMLESS, _OTHER, _CLOSER, _AT_KEY = -1, 0, 1, 2, 3


class Relevance:
    """How the marked tokens of a vocabulary meet the keys of the open objects for one scanner
    shape (mode, escape, what each open level expects; not the keys written, nor the state):
    for marked token ``i`` (a position in ``marked_ids``), ``kinds[i]`` is one of harmless,
    other (checked in full), closer (closes key ``closed[groups[i]]`` of the innermost
    object) or at-key (ends where a key starts: ``at_key[groups[i]]`` holds its closed key and
    the blank scanner after it; whether that is harmless depends on the state). Unknown (-1)
    until the token is first met."""

    def __init__(self, size: int):
        self.kinds = np.full(size, _UNKNOWN, dtype=np.int8)
        self.groups = np.zeros(size, dtype=np.int32)
        self.closed: list[tuple[str, bytes]] = []
        self._closed_index: dict[tuple[str, bytes], int] = {}
        self.at_key: list[tuple[tuple[str, bytes] | None, Keys | None]] = []

    def learn(self, position: int, keys: Keys, data: bytes, unique_arrays: bool) -> None:
        """Classify the marked token at ``position`` (bytes ``data``) for ``keys``' shape."""
        closed, other, at_key = _relevance(keys, data, unique_arrays)
        if not other and at_key:
            blank = tuple(None if e is None else (frozenset(), e[1]) for e in keys[3])
            self.groups[position] = len(self.at_key)
            self.at_key.append((closed, advance((keys[0], keys[1], b"", blank), data)))
            self.kinds[position] = _AT_KEY
            return
        if other:
            self.kinds[position] = _OTHER
        elif closed is not None:
            group = self._closed_index.get(closed)
            if group is None:
                group = self._closed_index[closed] = len(self.closed)
                self.closed.append(closed)
            self.groups[position] = group
            self.kinds[position] = _CLOSER
        else:
            self.kinds[position] = _HARMLESS


class VocabularyTables:
    """What the key checker (and completions) need of a vocabulary, built once per tokenizer:
    the tokens with a quote or comma (only they can start or end a key or reach a key position),
    and, on first use, the tokens by bytes and in sorted order."""

    def __init__(self, token_bytes: list[bytes] | tuple[bytes, ...]):
        self.token_bytes = token_bytes
        marked = [i for i, b in enumerate(token_bytes) if 0x22 in b or 0x2C in b]
        self.marked_ids = np.asarray(marked, dtype=np.int64)
        self.marked_words = self.marked_ids >> 5  # where each one's bit is in a packed mask
        self.marked_shifts = (self.marked_ids & 31).astype(np.uint32)
        # how each marked token meets the keys, per scanner shape (see KeyChecker): filled as
        # tokens are met, shared by every grammar compiled for the vocabulary
        self.relevance: dict[tuple, Relevance] = {}
        # the tokens that may repeat a key by themselves (few or none in real vocabularies)
        self.self_repeating = np.asarray(
            [i for i in marked if may_repeat_by_itself(token_bytes[i])], dtype=np.int64
        )

    def ids_with_bytes(self, data: bytes) -> tuple[int, ...]:
        """The ids of the tokens whose bytes are ``data`` (usually one; SentencePiece byte
        fallbacks repeat single bytes)."""
        if not data:
            return ()
        repeated = self._repeated.get(data)
        if repeated is not None:
            return repeated
        token = self._last_id.get(data)
        return () if token is None else (token,)

    @functools.cached_property
    def _last_id(self) -> dict[bytes, int]:
        # Built at C speed (a dict of lists over a 262k vocabulary took half a second); the
        # few bytes that several tokens share are listed in ``_repeated``.
        return dict(zip(self.token_bytes, range(len(self.token_bytes)), strict=True))

    @functools.cached_property
    def _repeated(self) -> dict[bytes, tuple[int, ...]]:
        if len(self._last_id) == len(self.token_bytes):
            return {}
        shared = {b for b, n in collections.Counter(self.token_bytes).items() if n > 1}
        out: dict[bytes, list[int]] = {}
        for i in [i for i, b in enumerate(self.token_bytes) if b in shared]:
            out.setdefault(self.token_bytes[i], []).append(i)
        return {b: tuple(ids) for b, ids in out.items()}

    @functools.cached_property
    def sorted_bytes(self) -> list[bytes]:
        """The distinct non-empty token bytes, sorted."""
        return sorted(b for b in self._last_id if b)

    def is_token_prefix(self, data: bytes) -> bool:
        """Whether some token starts with ``data``."""
        sorted_bytes = self.sorted_bytes
        i = bisect.bisect_left(sorted_bytes, data)
        return i < len(sorted_bytes) and sorted_bytes[i].startswith(data)


_TABLES: dict[str, VocabularyTables] = {}
_TABLES_LOCK = threading.Lock()


def vocabulary_tables(key: str, token_bytes: list[bytes] | tuple[bytes, ...]) -> VocabularyTables:
    """The :class:`VocabularyTables` of a tokenizer (``key``: its fingerprint), shared by every
    grammar compiled for it."""
    with _TABLES_LOCK:
        tables = _TABLES.get(key)
        if tables is None:
            if len(_TABLES) >= 8:
                _TABLES.clear()
            tables = _TABLES[key] = VocabularyTables(token_bytes)
    return tables


class KeyChecker:
    """Distinct keys for one compiled grammar and vocabulary: whether a key position can still
    get a new key, and the token masks without the tokens that would repeat one.

    Two things are memoised by automaton state, because they do not depend on the keys
    written: whether the keys that can be written from a state are infinitely many (then a
    fresh one always exists), and, per state and scanner position, the few allowed tokens that
    can close a key or lead to a key position at all (the only ones a written key can refuse).
    """

    def __init__(
        self,
        runtime: Runtime,
        vocabulary: VocabularyTables,
        unique_arrays: frozenset[str] = frozenset(),
        fixed_keys: frozenset[str] = frozenset(),
    ):
        self.runtime = runtime
        self.unique_arrays = unique_arrays
        self.fixed_keys = fixed_keys
        self.vocabulary = vocabulary
        self.token_bytes = vocabulary.token_bytes
        self.marked_ids = vocabulary.marked_ids
        self._infinite: dict[tuple[State, Keys], bool] = {}
        self._viable: dict[tuple, bool] = {}  # by state, scanner position and written keys
        self._continuations: dict[tuple[bytes, frozenset[str]], set[int]] = {}
        self._relevant: dict[tuple, tuple[_Closers, list[int]]] = {}
        self._filtered: dict[tuple[State, Keys], np.ndarray] = {}
        self._reading: dict[tuple[State, int], bool] = {}

    # -- what the automaton tells the scanner --

    def _state_at(self, state: State, data: bytes) -> Callable[[int], State | None]:
        """The automaton state before ``data[index]`` (``data`` read from ``state``; None once a
        byte is refused), for indices asked in increasing order: the automaton is followed only
        as far as the scanner asks, so a token it asks nothing about costs nothing."""
        runtime = self.runtime
        reached = [state, 0]  # the state before data[reached[1]]

        def state_at(index: int) -> State | None:
            current, position = reached
            while position < index and current is not None:
                current = runtime.advance(current, data[position])
                position += 1
            reached[0], reached[1] = current, position
            return current

        return state_at

    def _opens_unique_array(self, state: State) -> bool:
        """Whether a ``[`` read in ``state`` opens a unique array: some frame of a unique-array
        rule consumes it. Where another frame could consume it too (a schema allowing two kinds
        of arrays here, which the JSON Schema front-end refuses), the items are kept distinct:
        every output is still valid."""
        return self._frames_reading(state, _OPEN_BRACKET, self.unique_arrays, any)

    def _closes_fixed_key(self, state: State) -> bool:
        """Whether every frame that can read a quote in ``state`` is one of a fixed-key rule.
        Where another frame could read it too (a key that one branch of the grammar names and
        another takes as an extra key), the key is checked and kept like any other."""
        return self._frames_reading(state, _QUOTE, self.fixed_keys, all)

    def _frames_reading(
        self, state: State, byte: int, rules: frozenset[str], quantifier: Callable
    ) -> bool:
        """``quantifier`` (any or all) over the frames of ``state`` that can read ``byte``:
        whether the frame's rule is in ``rules``. Memoised by state and byte."""
        memo = (state, byte)
        known = self._reading.get(memo)
        if known is None:
            automaton = self.runtime.automaton
            frame_rules, next_bytes = automaton.frame_rule, automaton.next_bytes
            owned = [frame_rules[f] in rules for f, _ in state[0] if next_bytes[f] >> byte & 1]
            known = bool(owned) and quantifier(owned)
            if len(self._reading) >= _MAX_CACHED:
                self._reading.clear()
            self._reading[memo] = known
        return known

    # -- viability --

    def viable(self, state: State, keys: Keys) -> bool:
        """Whether the key being written, or about to be, can still end as a key its object
        does not have."""
        if not needs_search(keys):
            return True
        if keys[0] != SCALAR and self._has_infinitely_many_keys(state, keys):
            return True
        written = keys[3][-1][0]
        memo = (state, keys[0], keys[1], keys[2], written)
        known = self._viable.get(memo)
        if known is None:
            raw = keys[2]
            if (
                keys[0] == KEY
                and raw
                and not any(continuations(k, raw) is not None for k in _strings(written))
            ):
                known = True  # no written key can come out of this one
            else:
                known = self._search(state, keys, written)
            if len(self._viable) >= _MAX_CACHED:
                self._viable.clear()
            self._viable[memo] = known
        return known

    def _has_infinitely_many_keys(self, state: State, keys: Keys) -> bool:
        """Whether infinitely many keys can be completed from here (a cycle inside a key).
        The search stays at the innermost object's level, so the levels around it do not
        matter: the scanner is cut to that one (no keys), which also shares the answer between
        depths."""
        top = keys[3][-1]
        canonical = (keys[0], keys[1], b"", (None if top is None else (frozenset(), top[1]),))
        memo = (state, keys[0], keys[1], canonical[3][0])
        known = self._infinite.get(memo)
        if known is None:
            known = self._has_cycle(state, canonical)
            if len(self._infinite) >= _MAX_CACHED:
                self._infinite.clear()
            self._infinite[memo] = known
        return known

    def _key_steps(self, state: State, scanner: Keys, depth: int):  # type: ignore[no-untyped-def]
        """The (byte, automaton state, scanner) steps that stay at the key position or inside
        the key of the object at ``depth``, short of closing the key."""
        runtime = self.runtime
        for byte in mask_bytes(runtime.next_bytes(state)):
            if scanner[0] == KEY and byte == _QUOTE and not scanner[1]:
                continue
            if scanner[0] == SCALAR and byte not in _SCALAR_BYTES:
                continue  # the delimiter that would end the item
            after = advance(scanner, bytes((byte,)))
            if after is None or len(after[3]) != depth:
                continue
            if after[0] == OUTSIDE and not after[3][-1][1]:
                continue  # not a key position (not a JSON continuation here anyway)
            nxt = runtime.advance(state, byte)
            if nxt is not None:
                yield byte, nxt, after

    def _has_cycle(self, state: State, keys: Keys) -> bool:
        """Whether a cycle inside a key is reachable from here (then infinitely many keys can be
        written, all but finitely many of them new): depth-first with colours, so every
        (state, scanner position) is visited once."""
        depth = len(keys[3])
        start = (state, keys[0], keys[1])
        colour = {start: 1}  # 1: on the path, 2: done
        work = [(keys, iter(self._key_steps(state, keys, depth)))]
        steps = 0
        while work:
            step = next(work[-1][1], None)
            if step is None:
                work.pop()
                continue
            steps += 1
            self._count(steps)
            _, nxt, after = step
            mark = (nxt, after[0], after[1])
            seen = colour.get(mark)
            if seen == 1 and after[0] == KEY:
                return True
            if seen is not None:
                continue
            colour[mark] = 1
            canonical = (after[0], after[1], b"", after[3])
            work.append((canonical, _finishing(iter(self._key_steps(nxt, canonical, depth)),
                                               colour, mark)))  # fmt: skip
        return False

    def _search(self, state: State, keys: Keys, written: frozenset[str]) -> bool:
        """Whether the key being written, or about to be, can end as one not in ``written``.
        Only paths whose bytes can still spell a written key are followed: as soon as one
        cannot, every key it completes is new."""
        depth = len(keys[3])
        work = [iter(self._key_steps(state, keys, depth))]
        steps = 0
        if self._closes_fresh(state, keys, written):
            return True
        strings = _strings(written)
        while work:
            step = next(work[-1], None)
            if step is None:
                work.pop()
                continue
            steps += 1
            self._count(steps)
            _, nxt, after = step
            if after[0] == KEY and not any(continuations(k, after[2]) is not None for k in strings):
                return True  # no written key is spelled this way: any completion is new
            if self._closes_fresh(nxt, after, written):
                return True
            work.append(iter(self._key_steps(nxt, after, depth)))
        return False

    def _closes_fresh(self, state: State, scanner: Keys, written: frozenset) -> bool:
        """Whether the closing quote (the delimiter after a number or literal item) can come
        now and end a key or item not in ``written``."""
        if scanner[0] == SCALAR:
            ends = self.runtime.next_bytes(state) & ~_SCALAR_MASK
            return bool(ends) and scalar_key(scanner[2]) not in written
        if scanner[0] != KEY or scanner[1] or not (self.runtime.next_bytes(state) >> _QUOTE & 1):
            return False
        return _fast_decode(scanner[2]) not in written

    @staticmethod
    def _count(steps: int) -> None:
        if steps > MAX_VIABILITY_STEPS:
            from .errors import GrammarTooLargeError

            raise GrammarTooLargeError(
                "deciding whether a JSON object can still get a new key took more than "
                f"{MAX_VIABILITY_STEPS} steps"
            )

    # -- masks --

    def may_refuse(self, keys: Keys) -> bool:
        """Whether a token may be refused for the keys or items it writes after ``keys``.
        With unique arrays, always: one token can write two equal items (``","","`` after
        ``["``); the same goes for keys where the vocabulary has tokens that close two."""
        return bool(self.unique_arrays or self.vocabulary.self_repeating.size) or may_refuse(keys)

    def filter(self, words: np.ndarray, state: State, keys: Keys) -> np.ndarray:
        """``words`` (the packed mask of ``state``) without the tokens the keys refuse (a copy
        when anything changes; callers only read it). Memoised by state and keys: inside an
        unbounded string the automaton stays in one state and the keys do not change."""
        memo = (state, keys)
        known = self._filtered.get(memo)
        if known is not None:
            return known
        out = self._filter(words, state, keys)
        if len(self._filtered) >= _MAX_FILTERED:
            self._filtered.clear()
        self._filtered[memo] = out
        return out

    def _filter(self, words: np.ndarray, state: State, keys: Keys) -> np.ndarray:
        if self.unique_arrays and _at_scalar_item(keys):
            return self._filter_all(words, state, keys)
        if not self.unique_arrays and not may_refuse(keys):  # no key written before: only
            candidates = self.vocabulary.self_repeating  # a token can repeat one, by itself
            allowed = words.view(np.uint32)[candidates >> 5] >> (candidates & 31).astype(np.uint32)
            tokens = candidates[(allowed & 1).astype(bool)].tolist()
            return _without(words, [t for t in tokens if not self._allows(state, keys, t)])
        closers, others = self._relevant_tokens(words, state, keys)
        refused = closers.refused(keys[2], keys[3][-1][0]) if closers else []
        extra = list(others)
        if keys[0] == KEY and not self._has_infinitely_many_keys(state, keys):
            extra += self._continuation_tokens(words, keys)
        for token in extra:
            if not self._allows(state, keys, token):
                refused.append(token)
        return _without(words, refused)

    def allows(self, before: State, after: State, keys: Keys, data: bytes) -> Keys | None:
        """The scanner after ``data`` (the automaton goes from ``before`` to ``after`` on it),
        or None where ``data`` repeats a key or an item, or leads to a key or item position with
        no fresh one left."""
        state_at = self._state_at(before, data)
        opens_unique_array = _asking(state_at, self._opens_unique_array, self.unique_arrays)
        closes_fixed_key = _asking(state_at, self._closes_fixed_key, self.fixed_keys)
        scanner = advance(keys, data, opens_unique_array, closes_fixed_key)
        if scanner is None or not needs_search(scanner):
            return scanner
        return scanner if self.viable(after, scanner) else None

    def _allows(self, state: State, keys: Keys, token: int) -> bool:
        data = self.token_bytes[token]
        after = self.runtime.advance_bytes(state, data)
        return after is not None and self.allows(state, after, keys, data) is not None

    def _relevant_tokens(
        self, words: np.ndarray, state: State, keys: Keys
    ) -> tuple[_Closers, list[int]]:
        """The allowed tokens a written key may refuse here: those that close one key of the
        innermost object (by the bytes of :func:`_relevance`), and the others, checked in full.
        Tokens that end at a key position where infinitely many keys can come are harmless.
        Memoised by state and scanner shape; how each token meets the shape is learnt once per
        vocabulary (:class:`Relevance`), so a new state only looks up its allowed tokens and
        checks the few that end at a key position."""
        shape = tuple(None if e is None else e[1] for e in keys[3])
        memo = (state, keys[0], keys[1], shape)
        known = self._relevant.get(memo)
        if known is not None:
            return known
        ids = self.marked_ids
        vocabulary = self.vocabulary
        allowed = words.view(np.uint32)[vocabulary.marked_words] >> vocabulary.marked_shifts
        positions = np.flatnonzero(allowed & 1)
        unique_arrays = bool(self.unique_arrays)
        table = self._relevance_table((unique_arrays, keys[0], keys[1], shape))
        kinds = table.kinds[positions]
        for p in positions[kinds == _UNKNOWN].tolist():
            table.learn(p, keys, self.token_bytes[int(ids[p])], unique_arrays)
        kinds = table.kinds[positions]
        others: list[int] = ids[positions[kinds == _OTHER]].tolist()
        closers: dict[tuple[str, bytes], list[int]] = {}
        closing = positions[kinds == _CLOSER]
        for token, group in zip(ids[closing].tolist(), table.groups[closing].tolist(), strict=True):
            closers.setdefault(table.closed[group], []).append(token)
        at_key = positions[kinds == _AT_KEY]
        for token, group in zip(ids[at_key].tolist(), table.groups[at_key].tolist(), strict=True):
            # ends where a key starts: harmless where that object's keys are infinitely many
            closed, scanner = table.at_key[group]
            after = self.runtime.advance_bytes(state, self.token_bytes[token])
            if after is None or scanner is None:
                continue
            if len(scanner[3]) != len(keys[3]) or not self._has_infinitely_many_keys(
                after, scanner
            ):
                others.append(token)
            elif closed is not None:
                closers.setdefault(closed, []).append(token)
        known = (_Closers.of(closers), others)
        if len(self._relevant) >= _MAX_CACHED:
            self._relevant.clear()
        self._relevant[memo] = known
        return known

    def _relevance_table(self, shape: tuple) -> Relevance:
        tables = self.vocabulary.relevance
        table = tables.get(shape)
        if table is None:
            if len(tables) >= _MAX_CACHED:
                tables.clear()
            table = tables[shape] = Relevance(len(self.marked_ids))
        return table

    def _filter_all(self, words: np.ndarray, state: State, keys: Keys) -> np.ndarray:
        """``words`` without every allowed token that accepting would refuse: inside a number
        or literal item, or where one may start, any byte can end it (a delimiter, a blank)."""
        unsigned = words.view(np.uint32)
        ids = np.flatnonzero(np.unpackbits(unsigned.view(np.uint8), bitorder="little"))
        refused = [
            t
            for t in ids.tolist()
            if t < len(self.token_bytes) and not self._allows_any(state, keys, t)
        ]
        return _without(words, refused)

    def _allows_any(self, state: State, keys: Keys, token: int) -> bool:
        """``_allows`` for any allowed token (stop and special tokens have no bytes: kept)."""
        return not self.token_bytes[token] or self._allows(state, keys, token)

    def _continuation_tokens(self, words: np.ndarray, keys: Keys) -> list[int]:
        """Allowed tokens that continue a written key's spelling without closing it."""
        memo = (keys[2], keys[3][-1][0])
        out = self._continuations.get(memo)
        if out is None:
            out = set()
            for key in _strings(keys[3][-1][0]):
                for data in continuations(key, keys[2], self._is_token_prefix) or ():
                    out.update(self.vocabulary.ids_with_bytes(data))
            if len(self._continuations) >= _MAX_CACHED:
                self._continuations.clear()
            self._continuations[memo] = out
        unsigned = words.view(np.uint32)
        return [t for t in out if unsigned[t >> 5] >> (t & 31) & 1]

    def _is_token_prefix(self, data: bytes) -> bool:
        return self.vocabulary.is_token_prefix(data)


class _Closers:
    """The allowed tokens of a state that close a key of the innermost object, by what they
    close, indexed so that the tokens refused by the written keys are found by looking the
    keys up (a handful) rather than by decoding every closed key (thousands after a quote)."""

    __slots__ = ("escaped", "full", "full_text", "odd", "raw", "raw_text")

    def __init__(self) -> None:
        # tokens that finish the key being written with these bytes (no escape in them)
        self.raw: dict[bytes, list[int]] = {}
        # tokens that hold a whole key with these bytes (no escape in them)
        self.full: dict[bytes, list[int]] = {}
        # with an escape: tokens that finish the key with bytes spelling this text, and tokens
        # that hold a whole key spelling this text (decoded once, here)
        self.raw_text: dict[str, list[int]] = {}
        self.full_text: dict[str, list[int]] = {}
        # of those with an escape, the ones whose bytes do not decode alone or start with a low
        # surrogate (it pairs with a high one before it): decoded with the key's bytes each time
        self.odd: list[tuple[tuple[str, bytes], list[int]]] = []
        # all those with an escape, by bytes (decoded one by one where the key's bytes so far
        # stop inside an escape or a character)
        self.escaped: list[tuple[tuple[str, bytes], list[int]]] = []

    @classmethod
    def of(cls, closers: dict[tuple[str, bytes], list[int]]) -> _Closers:
        out = cls()
        for closed, ids in closers.items():
            how, part = closed
            if b"\\" not in part:
                (out.raw if how == "raw" else out.full)[part] = ids
                continue
            out.escaped.append((closed, ids))
            text = _decoded_body(part)
            if text is None or (how == "raw" and text and _is_low_surrogate(text[0])):
                out.odd.append((closed, ids))
            else:
                (out.raw_text if how == "raw" else out.full_text).setdefault(text, []).extend(ids)
        return out

    def __bool__(self) -> bool:
        return bool(self.raw or self.full or self.escaped)

    def refused(self, raw: bytes, written: frozenset) -> list[int]:
        """The tokens that close a key in ``written`` (``raw``: the bytes of the key being
        written so far). Without escapes, bytes spell one key: a key's UTF-8 bytes find its
        tokens; bytes that are not UTF-8 never spell a key that encodes. A token with an escape
        finishes the key with the text it spells, when ``raw`` stops between two characters."""
        out: list[int] = []
        strings = _strings(written)
        spelled = []
        for key in strings:
            try:
                spelled.append(key.encode("utf-8"))
            except UnicodeEncodeError:  # (a lone surrogate, from an escape): decode them all
                return self._refused_by_decoding(raw, written)
        escaped = b"\\" in raw
        # what the key so far spells, where it stops between two characters (not inside an
        # escape or a UTF-8 sequence): then a token with an escape appends the text it spells
        # (tokens whose text starts with a low surrogate, which pairs with a high one before
        # it, are among the odd ones)
        prefix = _decoded_body(raw) if escaped or self.raw_text else None
        if escaped and prefix is None:
            return self._refused_by_decoding(raw, written)
        for key, data in zip(strings, spelled, strict=True):
            out.extend(self.full.get(data, ()))
            out.extend(self.full_text.get(key, ()))
            if escaped:  # a token's plain bytes only append to what the body spells
                if key.startswith(prefix):
                    out.extend(self.raw.get(key[len(prefix) :].encode("utf-8"), ()))
            elif data.startswith(raw):
                out.extend(self.raw.get(data[len(raw) :], ()))
            if prefix is not None and key.startswith(prefix):
                out.extend(self.raw_text.get(key[len(prefix) :], ()))
        if prefix is None and self.raw_text:  # (the key so far stops inside a UTF-8 sequence)
            undecided = [g for g in self.escaped if g[0][0] == "raw" or g in self.odd]
            return out + _decoded_refusals(undecided, raw, written)
        return out + _decoded_refusals(self.odd, raw, written)

    def _refused_by_decoding(self, raw: bytes, written: frozenset) -> list[int]:
        groups = [*((("raw", p), ids) for p, ids in self.raw.items()),
                  *((("full", p), ids) for p, ids in self.full.items()), *self.escaped]  # fmt: skip
        return _decoded_refusals(groups, raw, written)


def _asking(
    state_at: Callable[[int], State | None], test: Callable[[State], bool], rules: frozenset[str]
) -> Callable[[int], bool] | None:
    """``test`` of the automaton state at an index of the bytes being scanned (False once they
    are refused), or None where the grammar lists no ``rules`` for the test to find."""
    if not rules:
        return None
    return lambda index: (state := state_at(index)) is not None and test(state)


def _is_low_surrogate(c: str) -> bool:
    return "\udc00" <= c <= "\udfff"


def _decoded_body(raw: bytes) -> str | None:
    """What the JSON string body ``raw`` spells, or None where it stops inside an escape or a
    UTF-8 sequence (then what follows can change how its end reads)."""
    try:
        return json.loads(b'"' + raw + b'"')
    except ValueError:
        return None


def _decoded_refusals(
    groups: list[tuple[tuple[str, bytes], list[int]]], raw: bytes, written: frozenset
) -> list[int]:
    """The tokens of ``groups`` (by what they close) whose closed key, decoded, is written."""
    out: list[int] = []
    for (how, part), ids in groups:
        if _fast_decode(raw + part if how == "raw" else part) in written:
            out.extend(ids)
    return out


def _without(words: np.ndarray, refused: list[int]) -> np.ndarray:
    """The packed mask ``words`` without the ``refused`` tokens (a copy; ``words`` itself when
    nothing is refused)."""
    if not refused:
        return words
    out = words.copy()
    bits = out.view(np.uint32)
    for token in refused:
        bits[token >> 5] &= np.uint32(0xFFFFFFFF ^ (1 << (token & 31)))
    return out


def _strings(written: frozenset) -> list[str]:
    """The string keys or items of ``written`` (a unique array also holds number and literal
    items, as :func:`scalar_key` tuples)."""
    return [k for k in written if isinstance(k, str)]


def _at_scalar_item(keys: Keys) -> bool:
    """Whether a number or literal item of a unique array is being written, or may start
    (at a key or item position; keys are strings, so digits there mean an item)."""
    mode, _, _, stack = keys
    if mode == SCALAR:
        return True
    return mode == OUTSIDE and bool(stack) and stack[-1] is not None and stack[-1][1]


def _relevance(
    keys: Keys, data: bytes, unique_arrays: bool = False
) -> tuple[tuple[str, bytes] | None, bool, bool]:
    """How a token can meet the keys of the open objects, whatever they are:
    ``(closed, other, at_key)``. ``closed``: the key of the innermost object it closes, as
    ``("raw", bytes)`` (the bytes finish the key being written) or ``("full", bytes)`` (the
    whole key is in the token); ``other``: it meets keys in a way the caller must check in
    full (two keys closed in one object, a key after leaving the innermost object, a key closed
    in an object the token opens); ``at_key``: it ends at a key position of the innermost object
    or inside a key it started there (after closing at most one). A key started in an object
    the token opens meets no written key. A token that stays inside the key being written is
    ``(None, False, False)``: it can only matter where the keys are finitely many, which the
    caller handles. With ``unique_arrays``, any ``[`` may open an array whose items are
    scanned like keys, so a string after one is met in full."""
    mode, escaped, _, stack = keys
    depth = len(stack)
    expecting = [None if e is None else e[1] for e in stack]
    closed: tuple[str, bytes] | None = None
    key_start: int | None = None
    moved = False  # left the innermost object (a later key at this depth is another object's)
    nested = False  # the key being read is one of an object this token opened
    for i, byte in enumerate(data):
        if mode == OUTSIDE:
            if unique_arrays and expecting and expecting[-1] and byte in _SCALAR_START:
                return None, True, False  # a number or literal item: checked in full
            if byte == _QUOTE:
                if expecting and expecting[-1]:
                    if moved:
                        return None, True, False
                    nested = len(expecting) > depth
                    mode, escaped = KEY, False
                    if not nested:
                        key_start = i + 1
                else:
                    mode, escaped = VALUE, False
            elif byte in (0x7B, 0x5B):
                expecting.append(True if byte == 0x7B or unique_arrays else None)
            elif byte in (0x7D, 0x5D):
                if not expecting:
                    return None, True, False
                expecting.pop()
                moved = moved or len(expecting) < depth
            elif byte == 0x2C and expecting and expecting[-1] is not None:
                expecting[-1] = True
            elif byte == 0x3A and expecting and expecting[-1] is not None:
                expecting[-1] = False
        elif escaped:
            escaped = False
        elif byte == _BACKSLASH:
            escaped = True
        elif byte == _QUOTE:
            if mode == KEY:
                if closed is not None or nested:
                    return None, True, False
                closed = ("raw", data[:i]) if key_start is None else ("full", data[key_start:i])
                expecting[-1] = False
            mode = OUTSIDE
    open_level = bool(expecting) and len(expecting) <= depth and bool(expecting[-1])
    at_key = open_level and (mode == OUTSIDE or (mode == KEY and key_start is not None))
    if at_key and moved:
        return None, True, False
    return closed, False, at_key
