"""The garbage-collector pause around compiles: nested and failing uses restore the state the
program had, and a program that turned the collector off keeps it off."""

import gc
import threading

import pytest

import grammarlib as gl
from grammarlib.collector import collection_paused
from grammarlib.errors import SchemaError


@pytest.fixture(autouse=True)
def _restore_collector():
    was = gc.isenabled()
    yield
    if was:
        gc.enable()
    else:
        gc.disable()


def test_paused_inside_resumed_after_nested_uses():
    gc.enable()
    with collection_paused():
        assert not gc.isenabled()
        with collection_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer pause still holds
    assert gc.isenabled()


def test_a_program_that_turned_the_collector_off_keeps_it_off():
    gc.disable()
    with collection_paused():
        pass
    assert not gc.isenabled()


def test_resumed_after_a_compile_error():
    gc.enable()
    with pytest.raises(SchemaError):
        gl.Grammar.from_json_schema({"type": "strnig"})
    assert gc.isenabled()
    with pytest.raises(gl.GrammarError):
        gl.Grammar.from_lark("start: undefined_rule")
    assert gc.isenabled()


def test_concurrent_compiles_share_one_pause():
    gc.enable()
    inside = threading.Barrier(2)
    seen = []

    def work():
        with collection_paused():
            inside.wait(timeout=10)  # both threads are inside their pause
            seen.append(gc.isenabled())
            inside.wait(timeout=10)  # neither has left yet

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == [False, False]
    assert gc.isenabled()


def test_compiling_pauses_the_collector(monkeypatch):
    """The front-end runs with the collector paused (observed from inside it)."""
    from grammarlib import jsonschema

    states = []
    real = jsonschema.schema_to_grammar

    def spy(*args, **kwargs):
        states.append(gc.isenabled())
        return real(*args, **kwargs)

    monkeypatch.setattr(jsonschema, "schema_to_grammar", spy)
    gc.enable()
    gl.Grammar.from_json_schema({"type": "array", "items": {"type": "integer"}, "maxItems": 7919})
    assert states == [False]
    assert gc.isenabled()
