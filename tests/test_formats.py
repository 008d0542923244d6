"""``grammarlib.formats``: each JSON Schema ``format`` language is exact.

* The JSON-Schema-Test-Suite (draft 2020-12, optional/format, from the ``jsonschema`` 4.26.0 sdist):
  every string instance is accepted iff valid (leap seconds only with ``leap_seconds=True``).
* Soundness: random strings drawn from each expression pass ``jsonschema.FormatChecker`` and the
  stdlib parsers (``datetime``, ``ipaddress``, ``uuid``).
* Exactness: differential fuzzing against checkers that implement the same grammar (rfc3987 for
  URIs, ``ipaddress``, fqdn, jsonpointer, rfc3339-validator) and exhaustive calendar checks.
"""

from __future__ import annotations

import calendar
import ipaddress
import json
import random
import re
import subprocess
import sys
import tarfile
import tempfile
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from functools import cache, partial
from pathlib import Path

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import grammarlib as gl
from grammarlib import ir
from grammarlib.charsets import utf8_expr
from grammarlib.formats import FORMATS, MAX_LENGTH, format_expr
from grammarlib.integrations.hypothesis import strings
from grammarlib.regex import CharLeaf as _Chars

SUITE_VERSION = "4.26.0"
SUITE_PATH = "json/tests/draft2020-12/optional/format"
# The draft 2020-12 checker: a bare ``jsonschema.FormatChecker()`` checks ``time`` with the draft 3
# rule (``%H:%M:%S``, no offset), as the class-level registry keeps the last registration.
CHECKER = jsonschema.Draft202012Validator.FORMAT_CHECKER


# -- helpers -------------------------------------------------------------------------------------


def _suite_root() -> Path:
    try:
        from grammarlib.masks.cache import cache_dir

        base = cache_dir()
    except ImportError:
        base = None
    return (base or Path(tempfile.gettempdir()) / "grammarlib") / f"jsonschema-{SUITE_VERSION}"


@cache
def suite_dir() -> Path:
    """The suite's optional/format directory, extracted from the jsonschema sdist (downloaded
    once with pip into the grammarlib cache directory); skips only if pip cannot download it."""
    target = _suite_root() / "format"
    if (target / "date.json").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
        cmd += [f"jsonschema=={SUITE_VERSION}", "-d", tmp, "-q"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        sdists = list(Path(tmp).glob("jsonschema-*.tar.gz"))
        if proc.returncode != 0 or not sdists:
            pytest.skip(f"pip could not download the jsonschema sdist: {proc.stderr[-500:]}")
        prefix = f"jsonschema-{SUITE_VERSION}/{SUITE_PATH}/"
        staging = Path(tmp) / "format"
        staging.mkdir()
        with tarfile.open(sdists[0]) as tar:
            for member in tar.getmembers():
                name = member.name[len(prefix) :]
                if member.name.startswith(prefix) and "/" not in name and name.endswith(".json"):
                    data = tar.extractfile(member)
                    assert data is not None
                    (staging / name).write_bytes(data.read())
        try:
            staging.rename(target)  # atomic: concurrent runs see all files or none
        except OSError:
            if not (target / "date.json").exists():
                raise
    return target


def lower(expr: ir.Expr) -> ir.Expr:
    """Character level to UTF-8 bytes."""
    if isinstance(expr, _Chars):
        return utf8_expr(expr.chars)
    if isinstance(expr, ir.Seq):
        return ir.seq(*(lower(i) for i in expr.items))
    if isinstance(expr, ir.Alt):
        return ir.alt(*(lower(i) for i in expr.items))
    if isinstance(expr, ir.Repeat):
        return ir.repeat(lower(expr.item), expr.min, expr.max)
    raise AssertionError(f"unexpected node {expr!r}")


@cache
def compiled(name: str, leap_seconds: bool = False) -> gl.CompiledGrammar:
    expr = lower(format_expr(name, leap_seconds=leap_seconds))
    return gl.compile(gl.Grammar({"start": expr}, "start"))


def accepts(name: str, s: str, leap_seconds: bool = False) -> bool:
    m = compiled(name, leap_seconds).matcher()
    return m.accept_string(s) and m.can_terminate()


def sample(expr: ir.Expr, rng: random.Random) -> str:
    """A random string of ``expr``'s language (unbounded repeats: geometric, mean about 2)."""
    if isinstance(expr, _Chars):
        ranges = expr.chars
        lo, hi = rng.choice(ranges) if rng.random() < 0.8 else ranges[0]
        return chr(rng.randint(lo, hi))
    if isinstance(expr, ir.Seq):
        return "".join(sample(i, rng) for i in expr.items)
    if isinstance(expr, ir.Alt):
        return sample(rng.choice(expr.items), rng)
    if isinstance(expr, ir.Repeat):
        if expr.max is None:
            n = expr.min
            while rng.random() < 0.6:
                n += 1
        else:
            n = rng.randint(expr.min, expr.max)
        return "".join(sample(expr.item, rng) for _ in range(n))
    raise AssertionError(f"unexpected node {expr!r}")


def samples(name: str, n: int, leap_seconds: bool = False, seed: int = 0) -> list[str]:
    rng = random.Random(f"{name}/{seed}")
    expr = format_expr(name, leap_seconds=leap_seconds)
    return [sample(expr, rng) for _ in range(n)]


def fuzz(alphabet: str, n: int, max_len: int, seed: str) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choices(alphabet, k=rng.randint(0, max_len))) for _ in range(n)]


def mutants(name: str, n: int, alphabet: str, seed: int = 0) -> list[str]:
    """Near misses: strings of the language with zero to three random edits (delete, insert or
    replace a character from ``alphabet``, or repeat a slice)."""
    rng = random.Random(f"{name}/mutants/{seed}")
    out = []
    for s in samples(name, n, seed=seed + 100):
        for _ in range(rng.choice((0, 1, 1, 2, 3))):
            i = rng.randint(0, len(s))
            j = min(len(s), i + rng.randint(1, 4))
            op = rng.randrange(4)
            if op == 0:
                s = s[:i] + s[i + 1 :]
            elif op == 1:
                s = s[:i] + rng.choice(alphabet) + s[i:]
            elif op == 2:
                s = s[:i] + rng.choice(alphabet) + s[i + 1 :]
            else:
                s = s[:j] + s[i:j] + s[j:]
        out.append(s)
    return out


def checker_ok(s: str, name: str) -> bool:
    return CHECKER.conforms(s, name)


def is_leap_second(s: str) -> bool:
    return re.search(r"\d\d:\d\d:60", s) is not None


# -- API ------------------------------------------------------------------------------------------


def test_formats_listed():
    assert {"date", "time", "date-time", "duration", "email", "hostname", "ipv4", "ipv6"} <= FORMATS
    assert {"uuid", "uri", "uri-reference"} <= FORMATS
    assert not {"regex", "idn-hostname", "idn-email"} & FORMATS


def test_unknown_format_raises():
    with pytest.raises(KeyError, match="unsupported format 'color'"):
        format_expr("color")


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_expressions_are_ref_free(name):
    assert_ref_free(format_expr(name))


def assert_ref_free(expr: ir.Expr) -> None:
    stack = [expr]
    while stack:
        e = stack.pop()
        assert isinstance(e, (_Chars, ir.Seq, ir.Alt, ir.Repeat)), e
        if isinstance(e, (ir.Seq, ir.Alt)):
            stack.extend(e.items)
        elif isinstance(e, ir.Repeat):
            stack.append(e.item)


# -- the JSON-Schema-Test-Suite -------------------------------------------------------------------


def suite_cases(name: str) -> list[tuple[str, bool]]:
    groups = json.loads((suite_dir() / f"{name}.json").read_text())
    cases = [(t["data"], t["valid"]) for g in groups for t in g["tests"]]
    return [(d, v) for d, v in cases if isinstance(d, str)]


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_suite(name):
    cases = suite_cases(name)
    assert cases
    for s, valid in cases:
        # Leap seconds are left out by default (jsonschema's checker rejects them).
        assert accepts(name, s) == (valid and not is_leap_second(s)), s


# The leap-second automata have about 11,000 states and take seconds to build.
@pytest.mark.slow
@pytest.mark.parametrize("name", ["time", "date-time"])
def test_suite_leap_seconds(name):
    cases = suite_cases(name)
    assert any(valid and is_leap_second(s) for s, valid in cases)
    for s, valid in cases:
        assert accepts(name, s, leap_seconds=True) == valid, s
    assert_ref_free(format_expr(name, leap_seconds=True))


# -- soundness: sampled strings pass the checker (and stdlib parsers) -----------------------------


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_samples_pass_checker(name):
    assert name in CHECKER.checkers
    for s in samples(name, 300):
        assert accepts(name, s), s
        if len(s) <= MAX_LENGTH.get(name, len(s)):
            assert checker_ok(s, name), s


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_hypothesis_strings_pass_checker(data):
    """The byte-level derivations of ``grammarlib.integrations.hypothesis`` pass the checker too."""
    name = data.draw(st.sampled_from(sorted(FORMATS)))
    s = data.draw(strings(compiled(name).grammar, max_leaves=60))
    assert accepts(name, s), s
    if len(s) <= MAX_LENGTH.get(name, len(s)):
        assert checker_ok(s, name), (name, s)


def test_samples_pass_stdlib():
    for s in samples("date", 300):
        assert date.fromisoformat(s).isoformat() == s
    for s in samples("date-time", 300):
        assert datetime.fromisoformat(s.upper()).tzinfo is not None, s
    for s in samples("time", 300):
        assert datetime.fromisoformat("2000-01-01T" + s.upper()).tzinfo is not None, s
    for s in samples("ipv4", 300):
        assert str(ipaddress.IPv4Address(s)) == s
    for s in samples("ipv6", 300):
        ipaddress.IPv6Address(s)
    for s in samples("uuid", 300):
        assert str(uuid.UUID(s)) == s.lower()


@pytest.mark.slow
def test_leap_second_samples():
    """With ``leap_seconds``, every ``:60`` is at 23:59 UTC; the rest passes the checker."""
    found = 0
    for name in ("time", "date-time"):
        for s in samples(name, 400, leap_seconds=True):
            assert accepts(name, s, leap_seconds=True), s
            text = s.upper() if name == "date-time" else "2000-01-01T" + s.upper()
            if is_leap_second(text):
                found += 1
                m = re.search(r"(\d\d):(\d\d):60(?:\.\d+)?(Z|([+-])(\d\d):(\d\d))$", text)
                assert m, s
                local = int(m[1]) * 60 + int(m[2])
                off = 0 if m[3] == "Z" else int(m[5]) * 60 + int(m[6])
                utc = (local - off if m[4] == "+" else local + off) % 1440
                assert utc == 23 * 60 + 59, s
            else:
                assert checker_ok(s, name), s
    assert found > 100


# -- exactness ------------------------------------------------------------------------------------


def test_date_calendar_exhaustive():
    years = [1, 4, 100, 400, 1900, 1999, 2000, 2023, 2024, 2100, 9996, 9999]
    for y in years:
        for mo in range(0, 14):
            for d in range(0, 33):
                s = f"{y:04d}-{mo:02d}-{d:02d}"
                try:
                    expected = date.fromisoformat(s) is not None
                except ValueError:
                    expected = False
                assert accepts("date", s) == expected, s
    for y in range(0, 10000):
        assert accepts("date", f"{y:04d}-02-29") == (y > 0 and calendar.isleap(y)), y
    assert not accepts("date", "0000-01-01")


@pytest.mark.slow
def test_leap_second_every_offset():
    """For every offset, exactly the local time that is 23:59 UTC takes ``:60``."""
    rng = random.Random(1)
    utc = datetime(2000, 1, 1, 23, 59)
    for sign in "+-":
        for off in range(1440):
            text = f"{sign}{off // 60:02d}:{off % 60:02d}"
            delta = timedelta(minutes=off if sign == "+" else -off)
            local = (utc + delta).strftime("%H:%M")
            assert accepts("time", f"{local}:60{text}", leap_seconds=True), text
            assert not accepts("time", f"{local}:60{text}")
            other = rng.randrange(1440)
            wrong = f"{other // 60:02d}:{other % 60:02d}"
            if wrong != local:
                assert not accepts("time", f"{wrong}:60.5{text}", leap_seconds=True), text
    for s in ("23:59:60Z", "23:59:60.25z", "23:59:60+00:00", "23:59:60-00:00"):
        assert accepts("time", s, leap_seconds=True), s
    assert not accepts("time", "23:59:61Z", leap_seconds=True)


@pytest.mark.slow
def test_leap_second_offsets_exhaustive():
    """For every local time, the offsets that may follow ``HH:MM:60`` are exactly those for which
    a ``datetime`` oracle puts the time at 23:59 UTC (all 2,880 numeric offsets and ``Z``/``z``),
    enumerated from the automaton itself; and that automaton stays the minimal one."""
    from grammarlib.regular import CharDFA

    dfa = CharDFA.from_expr(format_expr("time", leap_seconds=True))
    assert dfa.num_states < 12_000  # six states per local minute plus the offset texts
    day = datetime(2000, 1, 2)
    expected: dict[str, set[str]] = {}
    for sign in "+-":
        for off in range(1440):
            # local - offset = UTC, so local = 23:59 UTC + offset
            local = day.replace(hour=23, minute=59) + timedelta(
                minutes=off if sign == "+" else -off
            )
            text = f"{sign}{off // 60:02d}:{off % 60:02d}"
            expected.setdefault(local.strftime("%H:%M"), set()).add(text)
    expected["23:59"] |= {"Z", "z"}
    assert len(expected) == 1440 and sum(map(len, expected.values())) == 2882

    def offsets(prefix: str, suffix: str = "") -> set[str]:
        found = {suffix} if suffix and dfa.accepts(prefix + suffix) else set()
        if len(suffix) < 6:
            for c in "+-Zz:0123456789" if suffix else "+-Zz":  # (digits would extend a fraction)
                if dfa.accepts_prefix(prefix + suffix + c):
                    found |= offsets(prefix, suffix + c)
        return found

    for local, texts in expected.items():
        assert offsets(local + ":60") == texts, local
        assert offsets(local + ":60.25") == texts, local
    for s in ("23:59:60Z", "15:59:60-08:00", "01:29:60+01:30", "23:29:60+23:30", "00:29:60-23:30"):
        assert dfa.accepts(s), s
    for s in ("22:59:60Z", "23:58:60Z", "23:59:60+01:00", "23:59:60-00:30", "23:59:61Z"):
        assert not dfa.accepts(s), s
    # date-time: the same times after any date (the leap second's date is not restricted).
    both = CharDFA.from_expr(format_expr("date-time", leap_seconds=True))
    assert both.accepts("1998-12-31T15:59:60.123-08:00") and both.accepts("2024-02-29t23:59:60z")
    assert not both.accepts("1998-12-31T22:59:60Z") and not both.accepts("1998-12-31T23:58:60Z")


def agree(name: str, cases: list[str], oracle: Callable[[str], bool]) -> None:
    """``accepts(name, s) == oracle(s)`` for every case, and each answer is given at least 5% of
    the time (so the cases really probe the boundary)."""
    yes = 0
    for s in cases:
        got = accepts(name, s)
        assert got == oracle(s), (name, s, got)
        yes += got
    assert len(cases) // 20 <= yes <= len(cases) - len(cases) // 20, (name, yes, len(cases))


def test_time_matches_checker():
    """Non-leap times: the language is exactly rfc3339-validator's (which has no leap seconds)."""
    cases = fuzz("0129:.+-Zz5", 1000, 16, "time") + mutants("time", 3000, "0123456789:.+-Zzt")
    rng = random.Random(2)
    for _ in range(2000):
        t = f"{rng.randrange(25):02d}:{rng.randrange(61):02d}:{rng.randrange(61):02d}"
        t += rng.choice(["", ".5", ".", ".123456789"])
        cases.append(
            t + rng.choice(["Z", "z", "", "+00:00", "-23:59", "+24:00", "-00:60", "+5:00"])
        )
    agree("time", cases, partial(checker_ok, name="time"))


def test_date_time_matches_checker():
    agree(
        "date-time",
        mutants("date-time", 4000, "0123456789-:T.Zz+t"),
        partial(checker_ok, name="date-time"),
    )


def test_date_matches_checker():
    agree("date", mutants("date", 4000, "0123456789-"), partial(checker_ok, name="date"))


def test_duration():
    valid = ["P1Y", "P1Y2M", "P1Y2M3D", "P1M3D", "P3D", "P1W", "PT1H", "PT1H2M", "PT1H2M3S"]
    valid += ["PT2M3S", "PT3S", "P1DT1S", "P1Y2M3DT4H5M6S", "P0010Y"]
    invalid = ["P1Y3D", "PT1H3S", "P1W1D", "P1WT1H", "P1.5Y", "-P1Y", "p1y", "P1y", "PT1H2M3S4S"]
    invalid += ["P0003-02-01T00:00:00", "P1Y2M3DT", "P1D1Y", "PT", "P", ""]
    for s in valid:
        assert accepts("duration", s) and checker_ok(s, "duration"), s
    for s in invalid:
        assert not accepts("duration", s), s
    # isoduration is weaker (fractions, signs, alternative forms): soundness only.
    cases = fuzz("PYMDWTHS01", 2000, 10, "duration") + mutants("duration", 3000, "PYMDWTHS01.,-")
    accepted = [s for s in cases if accepts("duration", s)]
    assert len(accepted) > 1000
    for s in accepted:
        assert checker_ok(s, "duration"), s


def _ipv4_ok(s: str) -> bool:
    try:
        return str(ipaddress.IPv4Address(s)) == s
    except ValueError:
        return False


def test_ipv4_matches_ipaddress():
    cases = fuzz("0125.", 1000, 16, "ipv4") + mutants("ipv4", 3000, "0123456789.")
    agree("ipv4", cases, _ipv4_ok)
    agree("ipv4", cases, partial(checker_ok, name="ipv4"))


def _ipv6_ok(s: str) -> bool:
    try:
        return not ipaddress.IPv6Address(s).scope_id
    except ValueError:
        return False


def test_ipv6_matches_ipaddress():
    rng = random.Random(3)
    for _ in range(500):
        a = ipaddress.IPv6Address(rng.getrandbits(128) & ~((1 << rng.randrange(129)) - 1))
        tail = str(ipaddress.IPv4Address(int(a) & 0xFFFFFFFF))
        for s in (
            str(a),
            a.exploded,
            a.exploded.upper(),
            a.exploded.rsplit(":", 2)[0] + ":" + tail,
        ):
            assert accepts("ipv6", s), s
    cases = fuzz("0f:.1", 5000, 18, "ipv6") + fuzz("1:", 2000, 18, "ipv6b")
    cases += fuzz("0:1.2", 2000, 24, "ipv6c") + mutants("ipv6", 5000, "0123456789abcdefABG:.%")
    agree("ipv6", cases, _ipv6_ok)
    agree("ipv6", cases, partial(checker_ok, name="ipv6"))
    assert not accepts("ipv6", "fe80::1%eth0")


def test_hostname_matches_fqdn():
    """fqdn (the checker) also accepts a trailing dot; otherwise the languages agree up to 253."""
    cases = fuzz("a0-.", 2000, 12, "host") + mutants("hostname", 3000, "aZ09-._")
    cases += ["a" * 63, "a" * 64, "a-" * 31 + "a", ("a" * 63 + ".") * 3 + "a" * 61]
    long = [s for s in cases if len(s) > 253]
    assert long and not any(checker_ok(s, "hostname") for s in long)
    short = [s for s in cases if len(s) <= 253]
    agree("hostname", short, lambda s: checker_ok(s, "hostname") and not s.endswith("."))
    too_long = ("a" * 63 + ".") * 3 + "a" * 62
    assert len(too_long) == 254 and accepts("hostname", too_long)
    assert not checker_ok(too_long, "hostname")  # hence MAX_LENGTH
    assert MAX_LENGTH == {"hostname": 253}


ATEXT = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~")


def _snum(s: str) -> bool:
    return 1 <= len(s) <= 3 and s.isascii() and s.isdigit() and int(s) <= 255


def _ipv4_5321(s: str) -> bool:
    parts = s.split(".")
    return len(parts) == 4 and all(map(_snum, parts))


def _ipv6_5321(s: str) -> bool:
    """RFC 5321 ``IPv6-addr`` written independently: ``::`` stands for at least two groups."""
    limit = 8
    if "." in s:
        cut = s.rfind(":") + 1
        if not cut or not _ipv4_5321(s[cut:]):
            return False
        # keep "::" whole; drop a single separating ":" before the IPv4 part
        limit, s = 6, s[:cut] if s[:cut].endswith("::") else s[: cut - 1]

    def groups(text: str) -> list[str] | None:
        parts = text.split(":") if text else []
        ok = all(1 <= len(p) <= 4 and all(c in "0123456789abcdefABCDEF" for c in p) for p in parts)
        return parts if ok else None

    if "::" in s:
        left, _, right = s.partition("::")
        a, b = groups(left), groups(right)
        return a is not None and b is not None and len(a) + len(b) <= limit - 2
    g = groups(s)
    return g is not None and len(g) == limit


def _email_ok(s: str) -> bool:
    """RFC 5321 ``Mailbox`` written procedurally (no General-address-literal)."""
    if s.startswith('"'):
        i = 1
        while i < len(s) and s[i] != '"':
            if s[i] == "\\":
                i += 1
                if i == len(s) or not " " <= s[i] <= "~":
                    return False
            elif not " " <= s[i] <= "~":
                return False
            i += 1
        if i >= len(s):
            return False
        local, rest = s[: i + 1], s[i + 1 :]
        if not rest.startswith("@"):
            return False
        domain = rest[1:]
    else:
        local, at, domain = s.partition("@")
        if not at or not all(part and set(part) <= ATEXT for part in local.split(".")):
            return False
    if domain.startswith("[") and domain.endswith("]"):
        inner = domain[1:-1]
        if inner[:5].lower() == "ipv6:":
            return _ipv6_5321(inner[5:])
        return _ipv4_5321(inner)
    label = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?", re.ASCII)
    return all(label.fullmatch(part) for part in domain.split("."))


def test_email():
    valid = ['"a\\"b"@x', '""@x', "a@[1.2.3.4]", "a@[001.2.3.255]", "a@[ipv6:1:2:3:4:5:6:7:8]"]
    valid += ["a@[IPv6:1::]", "a@[IPv6:1:2:3:4:5:6:1.2.3.4]", "a@[IPv6:1:2::3:4:1.2.3.4]"]
    valid += ["!#$%&'*+-/=?^_`{|}~@a-b.c", "a@1", "a@b-c", '"\\\\"@x', "a@[IPv6:::1.2.3.4]"]
    invalid = ["a@", "@x", "a@-x", "a@x-", "a@x..y", "a@x.", "a b@x", '"a"b"@x', '"\\"@x']
    invalid += ["a@[1.2.3.256]", "a@[1.2.3]", "a@[IPv6:1:2:3:4:5:6:7::]", "a@[IPv6:1::2:3:4:5:6:7]"]
    invalid += ["a@[IPv6:1:2:3:4:5::1.2.3.4]", "a@[IPv6::1]", "a@[x:y]", "é@x", "a@é", "a@b@c"]
    for s in valid:
        assert accepts("email", s) and _email_ok(s), s
    for s in invalid:
        assert not accepts("email", s) and not _email_ok(s), s
    alphabet = 'a1.-@"\\ [].:IPv6fé'
    cases = mutants("email", 6000, alphabet) + fuzz(alphabet, 1000, 12, "email")
    agree("email", cases, _email_ok)
    assert all(checker_ok(s, "email") for s in cases if accepts("email", s))


def test_uri_matches_rfc3987():
    alphabet = "a:/?#[]@%1F.v-!~é "
    for name in ("uri", "uri-reference"):
        cases = fuzz(alphabet, 1000, 14, name) + mutants(name, 3000, alphabet)
        cases += mutants("iri-reference", 300, alphabet)
        cases += ["http://[::1]:80/", "a://[v1.x]", "a://[V1.x]", "a://[1.2.3.4]", "a:%zz"]
        agree(name, cases, partial(checker_ok, name=name))


def test_iri_matches_rfc3987():
    alphabet = "a:/?#[]@%1é\ue000\U000f0000 "
    for name in ("iri", "iri-reference"):
        cases = fuzz(alphabet, 1000, 12, name) + mutants(name, 3000, alphabet)
        agree(name, cases, partial(checker_ok, name=name))


def test_json_pointers_match_checker():
    cases = fuzz("/~01a#", 2000, 10, "ptr") + mutants("json-pointer", 2000, "/~01a#")
    agree("json-pointer", cases, partial(checker_ok, name="json-pointer"))
    cases = [n + s for s in cases[:1000] for n in ("", "0", "10", "101")]
    cases += mutants("relative-json-pointer", 2000, "/~01a#")
    agree("relative-json-pointer", cases, partial(checker_ok, name="relative-json-pointer"))


def test_uuid():
    rng = random.Random(4)
    for _ in range(200):
        u = uuid.UUID(int=rng.getrandbits(128))
        assert accepts("uuid", str(u)) and accepts("uuid", str(u).upper())
        assert not accepts("uuid", u.hex) and not accepts("uuid", "{" + str(u) + "}")
        assert not accepts("uuid", u.urn)
