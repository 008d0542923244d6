"""Structural tags (``Grammar.from_structural_tag``): the xgrammar / vLLM JSON format.

The fast tests run the byte-level matcher on the format examples of xgrammar's and vLLM's
documentation and compare the free-text scanning (earliest trigger, excludes, overlapping
patterns) with a plain Python reference on random strings. The slow ones check token masks on
the Llama 3 vocabulary: exact against a brute-force check of tokens at free-text, trigger and
schema states, and sound / complete with the hypothesis harness.
"""

from __future__ import annotations

import functools
import json
import random
import re

import numpy as np
import pytest

import grammarlib as gl
from grammarlib.structural_tag import (
    StructuralTagError,
    any_text,
    const_string,
    dispatch,
    grammar,
    json_schema,
    optional,
    or_,
    regex,
    repeat,
    sequence,
    structural_tag,
    tag,
    tags_with_separator,
    triggered_tags,
)

WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}
TIME = {
    "type": "object",
    "properties": {"timezone": {"type": "string"}},
    "required": ["timezone"],
}

# xgrammar's documentation: triggered tags for two functions.
FUNCTIONS = {
    "type": "structural_tag",
    "format": {
        "type": "triggered_tags",
        "triggers": ["<function="],
        "tags": [
            {
                "type": "tag",
                "begin": "<function=get_weather>",
                "content": {"type": "json_schema", "json_schema": WEATHER},
                "end": "</function>",
            },
            {
                "type": "tag",
                "begin": "<function=get_time>",
                "content": {"type": "json_schema", "json_schema": TIME},
                "end": "</function>",
            },
        ],
        "at_least_one": False,
        "stop_after_first": False,
    },
}

# vLLM's older request form (its structural-tag example).
LEGACY = {
    "type": "structural_tag",
    "structures": [
        {
            "begin": "<function=get_weather>",
            "schema": {"type": "object", "properties": {"city": {"type": "string"}}},
            "end": "</function>",
        }
    ],
    "triggers": ["<function="],
}


def tool_call(name: str, arguments: dict) -> dict:
    """Hermes / Qwen style: ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``."""
    schema = {
        "type": "object",
        "properties": {"name": {"const": name}, "arguments": arguments},
        "required": ["name", "arguments"],
        "additionalProperties": False,
    }
    return tag("<tool_call>", json_schema(schema), "</tool_call>")


TOOL_CALLS = triggered_tags(
    ["<tool_call>"], [tool_call("get_weather", WEATHER), tool_call("get_time", TIME)]
)
REASONING = sequence(
    tag("<think>", any_text(), "</think>"),
    json_schema({"type": "object", "properties": {"answer": {"type": "integer"}}}),
)


@functools.cache
def compiled(spec_json: str) -> gl.CompiledGrammar:
    return gl.compile(gl.Grammar.from_structural_tag(json.loads(spec_json)))


def accepts(spec: dict, text: str | bytes) -> bool:
    m = compiled(json.dumps(spec)).matcher()
    data = text.encode() if isinstance(text, str) else text
    return m.accept_bytes(data) and m.can_terminate()


def prefix_ok(spec: dict, text: str) -> bool:
    return compiled(json.dumps(spec)).matcher().accept_string(text)


# -- the documented examples ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Just text, no tool.",
        'I will call a tool now. <function=get_weather>{"city": "San Francisco"}</function>',
        '<function=get_time>{"timezone": "UTC"}</function>',
        '<function=get_weather>{"city": "Paris"}</function> and '
        '<function=get_time>{"timezone": "CET"}</function> done.',
        'a < b, <function is a word, "<function" ends here',
    ],
)
def test_xgrammar_triggered_tags_accepts(text: str) -> None:
    assert accepts(FUNCTIONS, text)


@pytest.mark.parametrize(
    "text",
    [
        "<function=get_stock>{}</function>",  # no such tag after the trigger
        '<function=get_weather>{"town": "Paris"}</function>',  # schema: city required
        '<function=get_weather>{"city": "Paris"}',  # the end is missing
        '<function=get_weather>{"city": "Paris"}</func>',
        "text then <function=",  # a trigger must be followed by a tag
        '<function=get_weather> {"city": "Paris"}</function>',
    ],
)
def test_xgrammar_triggered_tags_refuses(text: str) -> None:
    assert not accepts(FUNCTIONS, text)


def test_free_text_may_hold_trigger_prefixes_but_not_triggers() -> None:
    assert accepts(FUNCTIONS, "a < b and <function is not <functio")
    assert accepts(FUNCTIONS, '<<function=get_time>{"timezone": "x"}</function>')
    assert not accepts(FUNCTIONS, "a <function= b")
    # a prefix of the trigger is a viable prefix, and so is the trigger itself
    assert prefix_ok(FUNCTIONS, "see <function")
    assert prefix_ok(FUNCTIONS, "see <function=get_")
    assert not prefix_ok(FUNCTIONS, "see <function=x")


def test_legacy_vllm_form() -> None:
    assert accepts(LEGACY, 'Sure. <function=get_weather>{"city": "Paris"}</function>')
    assert accepts(LEGACY, "No call needed.")
    assert not accepts(LEGACY, '<function=get_weather>{"city": 3}</function>')
    assert not accepts(LEGACY, "<function=other>{}</function>")
    legacy = gl.Grammar.from_structural_tag(LEGACY)
    modern = gl.Grammar.from_structural_tag(
        triggered_tags(
            ["<function="],
            [
                tag(
                    "<function=get_weather>",
                    json_schema(LEGACY["structures"][0]["schema"]),
                    "</function>",
                )
            ],
        )
    )
    assert legacy.to_text() == modern.to_text()


def test_json_text_and_bare_format_are_the_same() -> None:
    a = gl.Grammar.from_structural_tag(json.dumps(FUNCTIONS))
    b = gl.Grammar.from_structural_tag(FUNCTIONS["format"])
    assert a == b


def test_tool_calls_hermes_style() -> None:
    call = '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'
    assert accepts(TOOL_CALLS, call)
    assert accepts(TOOL_CALLS, f"Let me check.\n{call}\nThe weather is nice.")
    assert accepts(TOOL_CALLS, call + call.replace("Paris", "Rome"))
    assert not accepts(TOOL_CALLS, call.replace("get_weather", "get_time"))  # wrong arguments
    assert not accepts(TOOL_CALLS, call.replace('"city"', '"town"'))
    assert not accepts(TOOL_CALLS, call.replace("get_weather", "get_stock"))
    assert not accepts(TOOL_CALLS, "<tool_call>oops</tool_call>")


def test_at_least_one_and_stop_after_first() -> None:
    call = '<tool_call>{"name": "get_time", "arguments": {"timezone": "UTC"}}</tool_call>'
    tags = TOOL_CALLS["tags"]
    required = triggered_tags(["<tool_call>"], tags, at_least_one=True)
    once = triggered_tags(["<tool_call>"], tags, stop_after_first=True)
    exactly_one = triggered_tags(["<tool_call>"], tags, at_least_one=True, stop_after_first=True)
    assert accepts(required, call) and accepts(required, call + " then text " + call)
    assert not accepts(required, "") and not accepts(required, "text first " + call)
    assert accepts(once, "") and accepts(once, "text " + call)
    assert not accepts(once, call + " more") and not accepts(once, call + call)
    assert accepts(exactly_one, call)
    assert not accepts(exactly_one, "") and not accepts(exactly_one, call + " ")
    assert not accepts(exactly_one, "x" + call)


def test_reasoning_then_answer() -> None:
    assert accepts(REASONING, '<think>2 + 2 is 4, not <think> or </thin</think>{"answer": 4}')
    assert accepts(REASONING, "<think></think>{}")
    assert not accepts(REASONING, '<think>a</think>b</think>{"answer": 4}')
    assert not accepts(REASONING, '{"answer": 4}')
    assert not accepts(REASONING, '<think>x</think>{"answer": "4"}')
    # the reasoning text stops at the first end string
    assert not prefix_ok(REASONING, "<think>a</think>b")


def test_xgrammar_recipe_reasoning_then_tool_calls() -> None:
    spec = sequence(tag("<think>", any_text(), "</think>"), FUNCTIONS["format"])
    call = '<function=get_weather>{"city": "Oslo"}</function>'
    assert accepts(spec, f"<think>The user wants weather.</think>Calling: {call}")
    assert accepts(spec, "<think>no tool</think>Hello!")
    assert not accepts(spec, "<think>x</think><function=nope>")


def test_tag_content_stops_at_the_enclosing_end() -> None:
    spec = tag("<response>", triggered_tags(["<f>"], [tag("<f>", "x", "</f>")]), "</response>")
    assert accepts(spec, "<response>a <f>x</f> b</response>")
    assert not accepts(spec, "<response>a</response>b</response>")
    assert not accepts(spec, "<response><f>y</f></response>")
    several = tag("<a>", any_text(), ["</a>", "</b>"])
    assert accepts(several, "<a>text</b>") and accepts(several, "<a>text</a>")
    assert not accepts(several, "<a>te</b>xt</a>")


def test_any_text_excludes() -> None:
    spec = sequence(any_text(excludes=["STOP", "END"]), const_string("END"))
    assert accepts(spec, "hello worldEND")
    assert accepts(spec, "ST OP ENEND")
    assert not accepts(spec, "a STOP bEND")
    assert not accepts(spec, "aENDbEND")


def test_primitive_and_composite_formats() -> None:
    spec = sequence(
        const_string("Answer: "),
        or_(const_string("yes"), const_string("no")),
        optional(regex(r" \([A-Z]{3}-\d{2}\)")),
        repeat(const_string("!"), 0, 2),
        grammar('root ::= "." | "?"'),
    )
    for text in ["Answer: yes.", "Answer: no (ABC-12)!!?"]:
        assert accepts(spec, text), text
    for text in ["Answer: maybe.", "Answer: yes!!!.", "Answer: yes (AB-12)."]:
        assert not accepts(spec, text), text
    lark = grammar('start: "a"+ "b"')
    assert accepts(lark, "aab") and not accepts(lark, "b")
    assert accepts({"type": "star", "content": const_string("ab")}, "abab")
    assert accepts({"type": "plus", "content": const_string("ab")}, "ab")
    assert not accepts({"type": "plus", "content": const_string("ab")}, "")
    assert accepts({"type": "repeat", "min": 2, "max": -1, "content": const_string("a")}, "aaaa")


def test_tags_with_separator() -> None:
    tags = [tag("<a>", json_schema({"type": "integer"}), "</a>"), tag("<b>", "x", "</b>")]
    spec = tags_with_separator(tags, ",")
    assert accepts(spec, "") and accepts(spec, "<a>1</a>") and accepts(spec, "<a>1</a>,<b>x</b>")
    assert not accepts(spec, "<a>1</a><b>x</b>") and not accepts(spec, "text <a>1</a>")
    assert not accepts(tags_with_separator(tags, ",", at_least_one=True), "")
    once = tags_with_separator(tags, ",", stop_after_first=True)
    assert accepts(once, "<b>x</b>") and not accepts(once, "<b>x</b>,<b>x</b>")


def test_dispatch() -> None:
    spec = dispatch([("<n>", regex(r"\d+</n>"))], excludes=["</r>"])
    assert accepts(spec, "a <n>12</n> b <n>3</n>")
    assert not accepts(spec, "a <n>x</n>") and not accepts(spec, "a </r>")
    once = dispatch([("<n>", regex(r"\d+"))], loop=False)
    assert accepts(once, "ab<n>12") and not accepts(once, "ab<n>12 more")


def test_builder_returns_plain_json_data() -> None:
    spec = structural_tag(TOOL_CALLS)
    assert json.loads(json.dumps(spec)) == spec
    assert spec["format"]["type"] == "triggered_tags"
    assert spec["format"]["tags"][0]["begin"] == "<tool_call>"
    derived = triggered_tags(None, [tag("<a>", "x", "</a>"), tag("<b>", "y", "</b>")])
    assert derived["triggers"] == ["<a>", "<b>"]


def test_free_text_is_utf8_text() -> None:
    assert accepts(FUNCTIONS, "café 中文 🙂")
    assert not accepts(FUNCTIONS, b"\xff\xfe")
    assert not accepts(FUNCTIONS, b"caf\xc3")  # a character cut short cannot end the text
    m = compiled(json.dumps(FUNCTIONS)).matcher()
    assert m.accept_bytes(b"caf\xc3") and not m.can_terminate() and m.accept_bytes(b"\xa9")
    assert not m.accept_bytes(b"\xa9")  # a lone continuation byte
    assert accepts(any_text(), "any 文本") and not accepts(any_text(), b"\x80")
    assert accepts(FUNCTIONS, 'é 中文 <function=get_time>{"timezone": "é"}</function>')


# -- errors name the place in the spec ------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "where", "what"),
    [
        ({"type": "structural_tag"}, "$", "format"),
        ({"type": "structural_tag", "format": {"type": "bogus"}}, "$.format", "unknown format"),
        (sequence(const_string("a"), {"type": "const_string"}), "$.elements[1]", "value"),
        (triggered_tags(["<f="], [tag("<g>", "x", "</g>")]), "$.tags[0].begin", "no trigger"),
        (
            triggered_tags(["<f", "<f="], [tag("<f=a>", "x", "</f>")]),
            "$.tags[0].begin",
            "several triggers",
        ),
        (tag("<a>", {"type": "token", "token": 5}, "</a>"), "$.content", "token-level"),
        (
            sequence(json_schema({"type": "integer", "minimum": 5, "maximum": 3})),
            "$.elements[0].json_schema",
            "",
        ),
        (
            sequence(json_schema({"type": "object", "properties": 3})),
            "$.elements[0].json_schema",
            "",
        ),
        (regex("(unclosed"), "$.pattern", ""),
        (grammar("root ::= ("), "$.grammar", ""),
        ({"type": "any_text", "max_tokens": 10}, "$.max_tokens", "not supported"),
        ({"type": "repeat", "min": 3, "max": 1, "content": const_string("a")}, "$.max", "max"),
        ({"type": "tag", "begin": "a", "content": const_string("b"), "end": 3}, "$", "end"),
        (
            {
                "type": "structural_tag",
                "structures": [{"begin": "<a>", "end": "</a>"}],
                "triggers": ["<a>"],
            },
            "$.structures[0]",
            "schema",
        ),
        ("{not json", "$", "JSON"),
    ],
)
def test_errors_name_the_json_path(spec, where: str, what: str) -> None:
    with pytest.raises(gl.GrammarlibError) as info:
        gl.Grammar.from_structural_tag(spec)
    message = str(info.value)
    assert message.startswith(where + ":") or message.startswith(where + "."), message
    assert what in message


def test_schema_errors_keep_their_class() -> None:
    with pytest.raises(gl.SchemaError):
        gl.Grammar.from_structural_tag(json_schema({"type": "object", "properties": 3}))
    with pytest.raises(StructuralTagError):
        gl.Grammar.from_structural_tag({"type": "tag"})


# -- the scanning semantics against a Python reference --------------------------------------------


def scan_reference(
    triggers: list[str],
    tags: list[tuple[str, str, str]],
    *,
    excludes: tuple[str, ...] = (),
    loop: bool = True,
):
    """Accepts ``text`` when it is free text in which the first trigger occurrence (the one
    ending first) starts a tag ``begin + content + end`` (constant content), and so on."""
    patterns = [*triggers, *excludes]

    def run(text: str, pos: int) -> bool:
        for e in range(pos + 1, len(text) + 1):
            hits = [p for p in patterns if e - len(p) >= pos and text[e - len(p) : e] == p]
            if not hits:
                continue
            if any(p in excludes for p in hits):
                return False
            for t in hits:
                start = e - len(t)
                for begin, content, end in tags:
                    whole = begin + content + end
                    if begin.startswith(t) and text.startswith(whole, start):
                        after = start + len(whole)
                        if run(text, after) if loop else after == len(text):
                            return True
            return False
        return True

    return lambda text: run(text, 0)


SCAN_CASES = [
    (["ab"], [("abc", "", ".")], (), True),
    (["aab"], [("aab", "x", ".")], (), True),
    (["ab", "b"], [("ab", "", "1"), ("b", "", "2")], (), True),
    (["aba"], [("abaa", "b", "a")], ("bb",), True),
    (["ab"], [("ab", "", "")], ("ba",), False),
    (["é<", "ü"], [("é<a", "", "."), ("üb", "中", "é")], ("中中",), True),
]


@pytest.mark.parametrize("case", range(len(SCAN_CASES)))
def test_scanning_matches_the_reference(case: int) -> None:
    triggers, tags, excludes, loop = SCAN_CASES[case]
    tag_specs = [tag(b, const_string(c), e) for b, c, e in tags]
    if loop:
        spec = triggered_tags(triggers, tag_specs, excludes=list(excludes))
    else:
        spec = dispatch(
            [
                (
                    t,
                    or_(
                        *(
                            sequence(const_string(b[len(t) :] + c + e))
                            for b, c, e in tags
                            if b.startswith(t)
                        )
                    ),
                )
                for t in triggers
            ],
            loop=False,
            excludes=list(excludes),
        )
    reference = scan_reference(triggers, tags, excludes=excludes, loop=loop)
    rng = random.Random(case)
    alphabet = sorted(set("".join(triggers + [x for t in tags for x in t] + list(excludes))))
    checked = 0
    for n in range(0, 9):
        for _ in range(150 if n > 2 else 30):
            text = "".join(rng.choice(alphabet) for _ in range(n))
            assert accepts(spec, text) == reference(text), (text, case)
            checked += 1
    assert checked > 900


# -- token masks on a real vocabulary --------------------------------------------------------------


@functools.cache
def llama3() -> tuple[gl.TokenizerInfo, object]:
    tokenizers = pytest.importorskip("tokenizers")
    from grammarlib.masks import assets

    path = assets.tokenizer_json_dir("llama-bpe")
    if path is None:
        pytest.skip("no Llama 3 tokenizer.json")
    tokenizer = tokenizers.Tokenizer.from_file(str(path / "tokenizer.json"))
    return gl.TokenizerInfo.from_huggingface(tokenizer), tokenizer


def encode(text: str) -> list[int]:
    return llama3()[1].encode(text, add_special_tokens=False).ids  # type: ignore[attr-defined]


def check_masks_exact(spec: dict, texts: list[str], *, sample: int = 400, seed: int = 0) -> int:
    """Walk each text token by token; at every state compare the filled mask with a brute-force
    ``accept_token`` on a copy for every token containing ``<`` (triggers and tag ends start
    there), every token the grammar could start with a rare byte, stop tokens, and a random
    sample of the rest. Returns the number of states checked."""
    info, _ = llama3()
    cg = gl.compile(gl.Grammar.from_structural_tag(spec), info)
    rng = random.Random(seed)
    angle = [i for i, b in enumerate(info.token_bytes) if b"<" in b or b">" in b]
    bitmask = gl.allocate_token_bitmask(1, info.vocab_size)
    from grammarlib.masks.bitmask import bits_to_bool

    states = 0
    for text in texts:
        m = cg.matcher()
        for token in [*encode(text), None]:
            m.fill_next_token_bitmask(bitmask)
            allowed = bits_to_bool(bitmask[0], info.vocab_size)
            candidates = set(angle) | set(info.stop_token_ids)
            candidates |= set(rng.sample(range(info.vocab_size), sample))
            on = np.flatnonzero(allowed).tolist()
            candidates |= set(rng.sample(on, min(sample, len(on))))
            for t in candidates:
                assert bool(allowed[t]) == m.copy().accept_token(t), (text, states, t)
            states += 1
            if token is not None:
                assert m.accept_token(token), (text, token)
        assert m.can_terminate()
    return states


def tool_reference(text: str, schemas: dict | None = None) -> bool:
    """The tool-call format of TOOL_CALLS, checked with json and jsonschema."""
    import jsonschema

    schemas = schemas or {"get_weather": WEATHER, "get_time": TIME}
    pos = 0
    while True:
        i = text.find("<tool_call>", pos)
        if i < 0:
            return True
        j = i + len("<tool_call>")
        try:
            value, k = json.JSONDecoder().raw_decode(text, j)
        except ValueError:
            return False
        body = text[j:k]
        outside = re.sub(r'"(\\.|[^"\\])*"', '""', body)
        if re.search(r"\s", outside.replace(", ", ",").replace(": ", ":")):
            return False
        if not isinstance(value, dict) or set(value) != {"name", "arguments"}:
            return False
        schema = schemas.get(value["name"])
        if schema is None or not jsonschema.Draft202012Validator(schema).is_valid(
            value["arguments"]
        ):
            return False
        if not text.startswith("</tool_call>", k):
            return False
        pos = k + len("</tool_call>")


TOOL_TEXTS = [
    "",
    "Hello there",
    "Let me look that up.<tool_call>",
    'Checking. <tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>',
    '<tool_call>{"name": "get_time", "arguments": {"timezone": "Europe/Paris"}}</tool_call>'
    ' and <tool_call>{"name": "get_weather", "arguments": {"city": "Rome"}}</tool_call> ok',
    'a<tool_c <tool <<tool_call>{"name":"get_time","arguments":{"timezone":"UTC"}}</tool_call>',
]


@pytest.mark.slow
def test_masks_exact_tool_calls_llama3() -> None:
    texts = [t for t in TOOL_TEXTS if tool_reference(t) or t.endswith("<tool_call>")]
    texts = [t for t in texts if not t.endswith("<tool_call>")]
    assert check_masks_exact(TOOL_CALLS, texts, sample=300) > 60


@pytest.mark.slow
def test_masks_exact_reasoning_llama3() -> None:
    texts = ['<think>Two and two: 4. Not </thinking>, </think>{"answer": 4}', "<think></think>{}"]
    assert check_masks_exact(REASONING, texts, sample=300) > 20


@pytest.mark.slow
def test_free_text_mask_allows_everything_but_wrong_trigger_starts() -> None:
    info, _ = llama3()
    cg = gl.compile(gl.Grammar.from_structural_tag(TOOL_CALLS), info)
    m = cg.matcher()
    assert m.accept_string("Let me check. ")
    bitmask = gl.allocate_token_bitmask(1, info.vocab_size)
    m.fill_next_token_bitmask(bitmask)
    from grammarlib.masks.bitmask import bits_to_bool

    allowed = bits_to_bool(bitmask[0], info.vocab_size)
    special = set(info.special_ids) - set(info.stop_token_ids)
    refused = [t for t in range(len(info.token_bytes)) if not allowed[t] and t not in special]
    # the only ordinary tokens refused in free text hold the whole trigger and a wrong tag
    # start, or are not UTF-8 (lone continuation bytes)
    wrong_trigger = [t for t in refused if b"<tool_call>" in info.token_bytes[t]]
    not_utf8 = [t for t in refused if not utf8_prefix(info.token_bytes[t])]
    assert sorted(wrong_trigger + not_utf8) == refused
    assert len(wrong_trigger) < 10 and len(not_utf8) < 300
    for t in encode("<tool_call>"):
        assert allowed[t]


def utf8_prefix(data: bytes) -> bool:
    import codecs

    try:
        codecs.getincrementaldecoder("utf-8")().decode(data, final=False)
    except UnicodeDecodeError:
        return False
    return True


@pytest.mark.slow
def test_masks_sound_tool_calls_llama3() -> None:
    from grammarlib.integrations.hypothesis import assert_masks_sound

    info, _ = llama3()
    small = {
        "type": "object",
        "properties": {"city": {"enum": ["Paris", "Rome"]}},
        "required": ["city"],
        "additionalProperties": False,
    }
    spec = triggered_tags(
        ["<tool_call>"],
        [tool_call("get_weather", small)],
        at_least_one=True,
    )

    def reference(text: str) -> bool:
        return text.startswith("<tool_call>") and tool_reference(text, {"get_weather": small})

    assert_masks_sound(
        gl.Grammar.from_structural_tag(spec),
        info,
        reference=reference,
        samples=6,
        max_steps=80,
        stop_probability=0.5,
    )


@pytest.mark.slow
def test_masks_complete_tool_calls_llama3() -> None:
    from grammarlib.integrations.hypothesis import assert_masks_complete

    info, _ = llama3()
    strings = [t for t in TOOL_TEXTS if tool_reference(t)]
    strings += ['<think>hmm</think>{"answer": 12}']
    spec = or_(TOOL_CALLS, REASONING)
    assert_masks_complete(
        gl.Grammar.from_structural_tag(spec), info, tokenize=encode, strings=strings
    )
    # and strings drawn from the grammar (hypothesis), tokenized by the real tokenizer
    for fmt in (TOOL_CALLS, REASONING, LINKS):
        g = gl.Grammar.from_structural_tag(fmt)
        assert_masks_complete(g, info, tokenize=encode, examples=25)


LINKS = triggered_tags(
    ["<a"], [tag('<a href="', regex(r"[a-z/.]+"), '">'), tag("<a>", const_string("!"), "</a>")]
)


@pytest.mark.slow
def test_masks_exact_with_a_trigger_inside_common_tokens() -> None:
    """``<a`` is a token and a part of many (`` <a``, ``<a href``): the free-text mask allows them
    exactly where the rest of the token can start a tag."""
    info, _ = llama3()
    texts = ['See <a href="x/y.html"> and <b>bold</b>, <a>!</a> done', "a<a>!</a>"]
    texts = [t for t in texts if accepts(LINKS, t)]
    assert len(texts) == 2
    assert check_masks_exact(LINKS, texts, sample=200) > 10
    cg = gl.compile(gl.Grammar.from_structural_tag(LINKS), info)
    m = cg.matcher()
    assert m.accept_string("See")
    from grammarlib.masks.bitmask import bits_to_bool

    bitmask = gl.allocate_token_bitmask(1, info.vocab_size)
    m.fill_next_token_bitmask(bitmask)
    allowed = bits_to_bool(bitmask[0], info.vocab_size)
    with_trigger = [i for i, b in enumerate(info.token_bytes) if b"<a" in b]
    ok = {info.token_bytes[i] for i in with_trigger if allowed[i]}
    refused = {info.token_bytes[i] for i in with_trigger if not allowed[i]}
    # Llama 3 has <a, <any, <article, <algorithm: only the first can start a tag here
    assert ok == {b"<a"}, ok
    assert refused and all(b.startswith(b"<a") and len(b) > 2 for b in refused), refused


def test_strings_of_the_grammar_pass_the_reference() -> None:
    from hypothesis import HealthCheck, given, settings

    from grammarlib.integrations.hypothesis import strings

    g = gl.Grammar.from_structural_tag(TOOL_CALLS)

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(strings(g))
    def run(text: str) -> None:
        assert tool_reference(text), text

    run()
    assert tool_reference(g.example())


def test_large_free_text_automata_become_rules(monkeypatch) -> None:
    """Past a size bound the free text is one right-linear rule per automaton state: the same
    language, and the runtime's tail calls keep the stack flat over long texts."""
    from grammarlib import structural_tag as st

    monkeypatch.setattr(st, "_FREE_TEXT_MAX_SIZE", 0)
    spec = dict(FUNCTIONS["format"], excludes=["<|end|>"])
    g = gl.Grammar.from_structural_tag(spec)
    assert any("_text" in name for name in g.rules)
    m = gl.compile(g).matcher()
    call = '<function=get_weather>{"city": "Paris"}</function>'
    assert m.accept_string(("free text é <functio " * 200 + call) * 3) and m.can_terminate()
    assert len(m.state[0]) <= 4
    assert not m.accept_string("<|end|>") and not m.accept_string("<function=x")
    triggers, tags, excludes, _ = SCAN_CASES[5]
    reference = scan_reference(triggers, tags, excludes=excludes)
    small = triggered_tags(
        triggers, [tag(b, const_string(c), e) for b, c, e in tags], excludes=list(excludes)
    )
    for text in ["", "é<a.", "é<", "üb中é中", "中中", "üb中", "aé<a.üb中é", "ü"]:
        assert accepts(small, text) == reference(text), text


def test_empty_end_strings_are_not_excluded() -> None:
    spec = sequence(tag("<a>", any_text(), ["", "</a>"]), const_string("."))
    assert accepts(spec, "<a>x.") and accepts(spec, "<a>x</a>.")


def test_formats_differing_in_property_order_are_not_merged() -> None:
    ab = {"type": "object", "properties": {"a": {"const": 1}, "b": {"const": 2}}}
    ba = {"type": "object", "properties": {"b": {"const": 2}, "a": {"const": 1}}}
    spec = or_(tag("<x>", json_schema(ab), "</x>"), tag("<y>", json_schema(ba), "</y>"))
    assert accepts(spec, '<x>{"a": 1, "b": 2}</x>') and accepts(spec, '<y>{"b": 2, "a": 1}</y>')
    assert not accepts(spec, '<y>{"a": 1, "b": 2}</y>')


def test_json_schema_options() -> None:
    call = '<function=get_weather>{"city": "Paris"}</function>'
    compact = gl.compile(gl.Grammar.from_structural_tag(FUNCTIONS, whitespace="compact"))
    m = compact.matcher()
    assert not m.accept_string(call) and m.accept_string(call.replace(": ", ":"))
    spaced = tag("<f>", json_schema(WEATHER, max_whitespace_cnt=2), "</f>")
    assert accepts(spaced, '<f>{\n "city" :  "x" }</f>')
    assert not accepts(spaced, '<f>{   "city": "x"}</f>')
    two = {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}}
    assert accepts(tag("<f>", json_schema(two, any_order=True), "</f>"), '<f>{"b": 1, "a": 2}</f>')
    assert not accepts(tag("<f>", json_schema(two), "</f>"), '<f>{"b": 1, "a": 2}</f>')
