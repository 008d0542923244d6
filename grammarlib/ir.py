"""The grammar IR: rules whose bodies are regular expressions over byte sets and rule references.

Every front-end (Lark, GBNF, regex, choices, JSON Schema) lowers to this; a whole grammar is a
:class:`GrammarIR` (rules and a start rule). Expressions are small immutable trees;
build them with the smart constructors (:func:`seq`, :func:`alt`, :func:`repeat`,
:func:`literal`, ...) which flatten and simplify, so structurally equal languages often end up as
equal trees and trivial cases never reach the automaton builder.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

ALL_BYTES = (1 << 256) - 1


class Expr:
    """Base class of IR expressions."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Bytes(Expr):
    """One byte from a set; ``mask`` bit ``b`` set means byte ``b`` is allowed."""

    mask: int

    def __repr__(self) -> str:
        return f"Bytes({_describe_mask(self.mask)})"


class _Composite(Expr):
    """A node with children. Its hash is computed once, at construction (children cache theirs),
    and equality checks it first: rules are large trees with shared parts, and normalisation
    hashes and compares them all the time."""

    __slots__ = ()
    _hash: int

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if other.__class__ is not self.__class__ or other._hash != self._hash:  # type: ignore[attr-defined]
            return False
        return self._fields() == other._fields()  # type: ignore[attr-defined]

    def _fields(self) -> tuple:
        raise NotImplementedError


@dataclass(frozen=True, slots=True, eq=False)
class Seq(_Composite):
    """Concatenation. ``Seq(())`` is the empty string."""

    items: tuple[Expr, ...]
    _hash: int = field(init=False, repr=False, compare=False)
    _refs: frozenset[str] | None = field(init=False, repr=False, compare=False)
    _digest: str | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((1, self.items)))
        object.__setattr__(self, "_refs", None)
        object.__setattr__(self, "_digest", None)

    def _fields(self) -> tuple:
        return self.items


@dataclass(frozen=True, slots=True, eq=False)
class Alt(_Composite):
    """Alternation. ``Alt(())`` is the empty language."""

    items: tuple[Expr, ...]
    _hash: int = field(init=False, repr=False, compare=False)
    _refs: frozenset[str] | None = field(init=False, repr=False, compare=False)
    _digest: str | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((2, self.items)))
        object.__setattr__(self, "_refs", None)
        object.__setattr__(self, "_digest", None)

    def _fields(self) -> tuple:
        return self.items


@dataclass(frozen=True, slots=True, eq=False)
class Repeat(_Composite):
    """``item`` repeated ``min`` to ``max`` times (``max=None``: unbounded)."""

    item: Expr
    min: int
    max: int | None
    _hash: int = field(init=False, repr=False, compare=False)
    _refs: frozenset[str] | None = field(init=False, repr=False, compare=False)
    _digest: str | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((3, self.item, self.min, self.max)))
        object.__setattr__(self, "_refs", None)
        object.__setattr__(self, "_digest", None)

    def _fields(self) -> tuple:
        return (self.item, self.min, self.max)


@dataclass(frozen=True, slots=True)
class Ref(Expr):
    """A reference to the rule called ``name``."""

    name: str


class Machine:
    """An automaton that writes its states' expressions when they are first needed (see
    :class:`Lazy`): a language too large to write out whole, such as a pattern under a long
    length bound, whose states are visited a few at a time.

    A subclass keeps the contract that makes it safe to use anywhere an expression can go: every
    state it hands out has a non-empty language (no dead ends), and ``step`` returns the same
    object for the same state (walkers memoise by identity). Machines compare by ``digest``.
    """

    #: Content hash of the machine's definition, the same in every process.
    digest: str = ""

    def step(self, state: Hashable) -> Expr:
        """The language of ``state`` one step on: an alternation whose items are a ``Lazy``-free
        expression followed by a ``Lazy`` successor state, and ``EPSILON`` if ``state`` may
        stop here."""
        raise NotImplementedError

    def accepting(self, state: Hashable) -> bool:
        """Whether the empty string is in the language of ``state``."""
        raise NotImplementedError

    def shortest(self, state: Hashable) -> int:
        """The length in bytes of the shortest string of ``state``'s language."""
        raise NotImplementedError

    def key(self, state: Hashable, horizon: int) -> str:
        """A content hash of what decides how strings of fewer than ``horizon`` bytes read from
        ``state`` (``horizon`` 0: exact), so that states a short string cannot tell apart (deep
        inside a long bounded string) share their token masks."""
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Machine) and other.digest == self.digest

    def __hash__(self) -> int:
        return hash(self.digest)


@dataclass(frozen=True, slots=True)
class Lazy(Expr):
    """State ``state`` of ``machine``: the language ``machine.step(state)`` describes, written
    out only when an automaton, a walker or a witness search reaches it."""

    machine: Machine
    state: Hashable

    def __repr__(self) -> str:
        return f"Lazy({self.machine.digest[:8]}, {self.state!r})"


EPSILON = Seq(())
EMPTY = Alt(())


def byte_set(values: Iterable[int]) -> Bytes:
    """A :class:`Bytes` matching any of ``values``."""
    mask = 0
    for v in values:
        mask |= 1 << v
    return Bytes(mask)


def byte_range(lo: int, hi: int) -> Bytes:
    """A :class:`Bytes` matching ``lo..hi`` inclusive."""
    return Bytes(((1 << (hi + 1)) - 1) ^ ((1 << lo) - 1))


def mask_bytes(mask: int) -> list[int]:
    """The bytes of a byte-set bitmask (bit ``b`` set: byte ``b``), in increasing order."""
    out = []
    while mask:
        low = mask & -mask
        out.append(low.bit_length() - 1)
        mask ^= low
    return out


def literal(data: bytes | str) -> Expr:
    """Exactly the given bytes (a ``str`` is UTF-8 encoded)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    if len(data) == 1:
        return _SINGLE_BYTES[data[0]]
    return Seq(tuple(_SINGLE_BYTES[b] for b in data)) if data else EPSILON


_SINGLE_BYTES = tuple(Bytes(1 << b) for b in range(256))


def seq(*items: Expr) -> Expr:
    """Concatenation of ``items``, flattened; the empty language absorbs everything."""
    out: list[Expr] = []
    for item in items:
        kind = item.__class__
        if kind is Seq:
            out.extend(item.items)  # type: ignore[attr-defined]
        elif (kind is Alt and not item.items) or (kind is Bytes and not item.mask):  # type: ignore[attr-defined]
            return EMPTY
        else:
            out.append(item)
    if len(out) == 1:
        return out[0]
    return Seq(tuple(out))


def alt(*items: Expr) -> Expr:
    """Alternation of ``items``, flattened and deduplicated; byte sets are merged into one."""
    out: list[Expr] = []
    seen: set[Expr] = set()
    mask = 0
    for item in items:
        parts = item.items if isinstance(item, Alt) else (item,)
        for part in parts:
            if isinstance(part, Bytes):
                mask |= part.mask
            elif part not in seen:
                seen.add(part)
                out.append(part)
    if mask:
        out.insert(0, Bytes(mask))
    if len(out) == 1:
        return out[0]
    return Alt(tuple(out))


def repeat(item: Expr, min_count: int, max_count: int | None) -> Expr:
    """``item`` repeated between ``min_count`` and ``max_count`` times (``None``: no bound)."""
    if min_count < 0 or (max_count is not None and max_count < min_count):
        raise ValueError(f"bad repetition bounds {{{min_count},{max_count}}}")
    if max_count == 0 or item == EPSILON:
        return EPSILON
    if item == EMPTY or (isinstance(item, Bytes) and item.mask == 0):
        return EPSILON if min_count == 0 else EMPTY
    if min_count == 1 and max_count == 1:
        return item
    if isinstance(item, Repeat) and item.min <= 1 and item.max is None:
        # (x*){m,n} = x* (n >= 1); (x+){m,n} = x{m,} for m >= 1, and x* for m = 0.
        if item.min == 0:
            return item
        return Repeat(item.item, min_count, None)
    if min_count == 0 and isinstance(item, Alt) and EPSILON in item.items:
        # (x | "")^{0,n} = x^{0,n}: the empty alternative adds nothing.
        return repeat(alt(*(i for i in item.items if i != EPSILON)), 0, max_count)
    return Repeat(item, min_count, max_count)


def optional(item: Expr) -> Expr:
    """``item?``"""
    return repeat(item, 0, 1)


def star(item: Expr) -> Expr:
    """``item*``"""
    return repeat(item, 0, None)


def plus(item: Expr) -> Expr:
    """``item+``"""
    return repeat(item, 1, None)


def refs(expr: Expr) -> Iterator[str]:
    """Names of the rules ``expr`` references, in order of appearance (with repeats)."""
    stack = [expr]
    while stack:
        e = stack.pop()
        if isinstance(e, Ref):
            yield e.name
        elif isinstance(e, (Seq, Alt)):
            stack.extend(reversed(e.items))
        elif isinstance(e, Repeat):
            stack.append(e.item)


def rule_refs(expr: Expr) -> frozenset[str]:
    """The set of rule names ``expr`` references (cached on the node: shared subtrees are
    looked at once)."""
    if isinstance(expr, Ref):
        return frozenset((expr.name,))
    if not isinstance(expr, _Composite):
        return _NO_REFS
    known = expr._refs  # type: ignore[attr-defined]
    if known is not None:
        return known
    # Post-order without recursion: rules can nest deeply.
    stack: list[tuple[Expr, bool]] = [(expr, False)]
    while stack:
        node, ready = stack.pop()
        if node._refs is not None:  # type: ignore[attr-defined]
            continue
        children = node.items if isinstance(node, (Seq, Alt)) else (node.item,)  # type: ignore[attr-defined]
        if not ready:
            stack.append((node, True))
            stack.extend((c, False) for c in children if isinstance(c, _Composite))
            continue
        found: set[str] = set()
        for c in children:
            if isinstance(c, Ref):
                found.add(c.name)
            elif isinstance(c, _Composite):
                found |= c._refs  # type: ignore[attr-defined]
        object.__setattr__(node, "_refs", frozenset(found) if found else _NO_REFS)
    return expr._refs  # type: ignore[attr-defined]


_NO_REFS: frozenset[str] = frozenset()


def content_hash(expr: Expr, memo: dict[int, str] | None = None) -> str:
    """A deterministic hash of ``expr``'s structure (the same in every process). A Merkle hash:
    ``memo`` (by node identity, for nodes that stay alive) makes shared subtrees cost once, and
    composite nodes keep theirs, so subtrees shared between grammars (the JSON Schema
    front-end's memoised strings and numbers) are hashed once per process."""
    if memo is None:
        memo = {}
    stack: list[tuple[Expr, bool]] = [(expr, False)]
    while stack:
        node, ready = stack.pop()
        if id(node) in memo:
            continue
        if isinstance(node, _Composite) and node._digest is not None:  # type: ignore[attr-defined]
            memo[id(node)] = node._digest  # type: ignore[attr-defined]
            continue
        if isinstance(node, (Seq, Alt)):
            children: tuple[Expr, ...] = node.items
        elif isinstance(node, Repeat):
            children = (node.item,)
        else:
            children = ()
        if children and not ready:
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in memo)
            continue
        if isinstance(node, Bytes):
            text = f"b{node.mask:x}"
        elif isinstance(node, Ref):
            text = "r" + repr(node.name)
        elif isinstance(node, Lazy):
            text = "l" + node.machine.key(node.state, 0)
        else:
            inner = ",".join(memo[id(c)] for c in children)
            if isinstance(node, Repeat):
                inner = f"{node.min},{node.max};{inner}"
            tag = {Seq: "s", Alt: "a", Repeat: "m"}[type(node)]
            text = hashlib.blake2b(f"{tag}({inner})".encode(), digest_size=16).hexdigest()
            object.__setattr__(node, "_digest", text)
        memo[id(node)] = text
    return memo[id(expr)]


def size(expr: Expr) -> int:
    """Number of nodes in ``expr``, a rough measure of the automaton it makes."""
    if isinstance(expr, (Seq, Alt)):
        return 1 + sum(size(i) for i in expr.items)
    if isinstance(expr, Repeat):
        copies = expr.max if expr.max is not None else max(expr.min, 1)
        return 1 + size(expr.item) * max(copies, 1)
    return 1


def substitute(
    expr: Expr, mapping: Mapping[str, Expr], memo: dict[int, Expr] | None = None
) -> Expr:
    """``expr`` with each ``Ref(name)`` for ``name`` in ``mapping`` replaced by its expression.

    Subtrees that reference none of the names come back as they are (the same object), and
    ``memo`` (by node identity) makes a shared subtree cost one substitution, not one per use.
    """
    if isinstance(expr, Ref):
        return mapping.get(expr.name, expr)
    # (the keys view, not the frozenset, goes first: it iterates over the smaller side, while
    # frozenset.isdisjoint(dict) walks the whole mapping every time)
    if not isinstance(expr, _Composite) or mapping.keys().isdisjoint(rule_refs(expr)):
        return expr
    if memo is None:
        memo = {}
    done = memo.get(id(expr))
    if done is not None:
        return done
    if isinstance(expr, Seq):
        out = seq(*(substitute(i, mapping, memo) for i in expr.items))
    elif isinstance(expr, Alt):
        out = alt(*(substitute(i, mapping, memo) for i in expr.items))
    else:
        assert isinstance(expr, Repeat)
        out = repeat(substitute(expr.item, mapping, memo), expr.min, expr.max)
    memo[id(expr)] = out
    return out


def nullable(expr: Expr, nullable_rules: set[str] | frozenset[str]) -> bool:
    """Whether ``expr`` matches the empty string, given which rules do."""
    if isinstance(expr, Bytes):
        return False
    if isinstance(expr, Seq):
        return all(nullable(i, nullable_rules) for i in expr.items)
    if isinstance(expr, Alt):
        return any(nullable(i, nullable_rules) for i in expr.items)
    if isinstance(expr, Repeat):
        return expr.min == 0 or nullable(expr.item, nullable_rules)
    if isinstance(expr, Ref):
        return expr.name in nullable_rules
    if isinstance(expr, Lazy):
        return expr.machine.accepting(expr.state)
    raise TypeError(f"not an IR expression: {expr!r}")


def nullable_rules(rules: Mapping[str, Expr]) -> set[str]:
    """The rules that derive the empty string (least fixed point)."""
    return least_fixed_point(rules, nullable)


def least_fixed_point(
    rules: Mapping[str, Expr], holds: Callable[[Expr, set[str]], bool]
) -> set[str]:
    """The least set of rules whose body ``holds`` given the set (a monotone property such as
    "derives the empty string"), by a work list: a rule is looked at again only when a rule it
    references joins the set, not in every round over the whole grammar."""
    users: dict[str, list[str]] = {}
    for name, body in rules.items():
        for ref in rule_refs(body):
            users.setdefault(ref, []).append(name)
    result: set[str] = set()
    todo = list(reversed(list(rules)))
    queued = set(todo)
    while todo:
        name = todo.pop()
        queued.discard(name)
        if name in result or not holds(rules[name], result):
            continue
        result.add(name)
        for user in users.get(name, ()):
            if user not in result and user not in queued:
                queued.add(user)
                todo.append(user)
    return result


# -- whole grammars ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, repr=False)
class GrammarIR:
    """A whole grammar as plain data: the rules, the start rule, where the rules are defined in
    the source text (``positions``: rule name -> (line, column)), ``distinct_keys`` (the
    strings are JSON texts whose objects never repeat a key; see :mod:`grammarlib.json_keys`)
    ``unique_arrays`` (rules, each a JSON array of scalars from its ``[`` to its ``]``,
    whose items are pairwise different; only with ``distinct_keys``) and ``fixed_keys``
    (rules, each one whole object key from quote to quote, that the grammar itself writes at
    most once per object and that no other key of the object can equal, so the matcher need
    not remember them; only with ``distinct_keys``).

    What the front-ends return; :class:`grammarlib.Grammar` wraps one (``Grammar.from_ir``),
    checking that the start rule and every referenced rule are defined. The mappings are
    read-only copies, so a value never changes (it is not hashable: ``Grammar.fingerprint`` is
    the content hash)."""

    rules: Mapping[str, Expr]
    start: str
    positions: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    distinct_keys: bool = False
    unique_arrays: frozenset[str] = frozenset()
    fixed_keys: frozenset[str] = frozenset()

    __hash__ = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        object.__setattr__(self, "rules", MappingProxyType(dict(self.rules)))
        object.__setattr__(self, "positions", MappingProxyType(dict(self.positions)))
        object.__setattr__(self, "unique_arrays", frozenset(self.unique_arrays))
        object.__setattr__(self, "fixed_keys", frozenset(self.fixed_keys))

    def __reduce__(self) -> tuple:
        args = (
            dict(self.rules),
            self.start,
            dict(self.positions),
            self.distinct_keys,
            self.unique_arrays,
            self.fixed_keys,
        )
        return (GrammarIR, args)

    def __repr__(self) -> str:
        return f"<GrammarIR start={self.start!r} rules={len(self.rules)}>"


def to_text(expr: Expr) -> str:
    """A compact regex-like rendering, for debugging and error messages."""
    if isinstance(expr, Bytes):
        return _describe_mask(expr.mask)
    if isinstance(expr, Ref):
        return expr.name
    if isinstance(expr, Lazy):
        return f"<{type(expr.machine).__name__} {expr.state!r}>"
    if isinstance(expr, Seq):
        if not expr.items:
            return '""'
        return " ".join(_paren(i) for i in expr.items)
    if isinstance(expr, Alt):
        if not expr.items:
            return "<empty>"
        return " | ".join(to_text(i) for i in expr.items)
    if isinstance(expr, Repeat):
        inner = _paren(expr.item, repeat=True)
        if (expr.min, expr.max) == (0, None):
            return inner + "*"
        if (expr.min, expr.max) == (1, None):
            return inner + "+"
        if (expr.min, expr.max) == (0, 1):
            return inner + "?"
        hi = "" if expr.max is None else str(expr.max)
        return f"{inner}{{{expr.min},{hi}}}" if expr.max != expr.min else f"{inner}{{{expr.min}}}"
    raise TypeError(f"not an IR expression: {expr!r}")


def _paren(expr: Expr, repeat: bool = False) -> str:
    text = to_text(expr)
    if isinstance(expr, Alt) and len(expr.items) > 1:
        return f"({text})"
    if repeat and isinstance(expr, (Seq, Repeat)) and text != '""':
        return f"({text})"
    return text


def _describe_mask(mask: int) -> str:
    values = [b for b in range(256) if mask >> b & 1]
    if len(values) == 1:
        return repr(bytes(values))[1:]
    runs: list[str] = []
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1] == values[j] + 1:
            j += 1
        lo, hi = bytes([values[i]]), bytes([values[j]])
        runs.append(repr(lo)[2:-1] if i == j else f"{repr(lo)[2:-1]}-{repr(hi)[2:-1]}")
        i = j + 1
    return "[" + "".join(runs) + "]"
