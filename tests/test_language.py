"""core.text.language: detection on clear queries, fallback to the default language, settings, empty text."""

from __future__ import annotations

import threading

import pytest

from core.errors import ConfigError
from core.text.language import detect_language, detect_languages
from core.text import language

CLEAR = [
    ("wireless headphones for running", "en"),
    ("zapatillas de running para mujer", "es"),
    ("kaffeemaschine mit milchaufschäumer", "de"),
    ("chaussures de randonnée pour femme", "fr"),
    ("scarpe da ginnastica per bambini", "it"),
    ("tênis de corrida feminino", "pt"),
    ("draadloze koptelefoon voor kinderen", "nl"),
    ("ワイヤレスイヤホン ノイズキャンセリング", "ja"),
    ("无线蓝牙耳机", "zh"),
    ("무선 블루투스 이어폰", "ko"),
    ("słuchawki bezprzewodowe dla dzieci", "pl"),
]
# No language signal: only digits or punctuation, or Latin letters without a vowel.
NO_SIGNAL = ["12345", "30 x 40", "!!! ???", "ps5", "qqqq zzzz"]


@pytest.fixture(scope="module", autouse=True)
def _default_settings():
    """Run with the built-in language list and default; build the detector once for the module."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("RELEVANCE_LANGUAGES", raising=False)
        mp.delenv("RELEVANCE_DEFAULT_LANGUAGE", raising=False)
        language._reset_detector()
        yield
    language._reset_detector()


@pytest.fixture
def settings(monkeypatch):
    """Set RELEVANCE_* variables for one test; the detector is rebuilt before and after."""
    def set_(**env: str) -> None:
        for key, value in env.items():
            monkeypatch.setenv(f"RELEVANCE_{key.upper()}", value)
        language._reset_detector()
    yield set_
    monkeypatch.undo()
    language._reset_detector()


@pytest.mark.parametrize(("text", "expected"), CLEAR, ids=[lang for _, lang in CLEAR])
def test_clear_queries_are_detected(text, expected):
    assert detect_language(text) == expected


@pytest.mark.parametrize("text", NO_SIGNAL)
def test_no_language_signal_falls_back_to_the_default(text):
    assert detect_language(text) == "en"


def test_fallback_is_the_configured_default(settings):
    settings(default_language="DE")
    assert detect_language("12345") == "de"
    assert detect_language("zapatillas de running para mujer") == "es"


def test_language_list_comes_from_the_environment(settings):
    settings(languages="en, fr")
    assert detect_language("zapatillas de running para mujer") in {"en", "fr"}
    assert detect_language("chaussures de randonnée pour femme") == "fr"


def test_a_single_configured_language_is_always_the_answer(settings):
    settings(languages="ja", default_language="ja")
    assert detect_languages(["wireless headphones", "12345"]) == ["ja", "ja"]


def test_unknown_language_code_is_a_config_error(settings):
    settings(languages="en,xx")
    with pytest.raises(ConfigError, match=r"RELEVANCE_LANGUAGES has 'xx'"):
        detect_language("wireless headphones")


@pytest.mark.parametrize("text", ["", "   ", "\t\n"], ids=["empty", "spaces", "tab-newline"])
def test_empty_text_is_rejected(text):
    with pytest.raises(ValueError, match="query text is empty"):
        detect_language(text)


def test_batch_with_an_empty_text_is_rejected_and_names_the_item():
    with pytest.raises(ValueError, match=r"query text is empty \(item 1 of the batch\)"):
        detect_languages(["wireless headphones", " "])
    assert detect_languages([]) == []


def test_non_text_is_a_type_error():
    with pytest.raises(TypeError, match="query text must be a str, got int"):
        detect_language(12345)


@pytest.mark.parametrize("parallel_from", [10**9, 1], ids=["one-thread", "parallel"])
def test_batch_equals_single(monkeypatch, parallel_from):
    monkeypatch.setattr(language, "PARALLEL_FROM", parallel_from)
    texts = [t for t, _ in CLEAR] + NO_SIGNAL + ["tongs", "nike hombre", "iphone 13"]
    assert detect_languages(iter(texts)) == [detect_language(t) for t in texts]


def test_concurrent_first_calls_build_one_detector():
    language._reset_detector()
    seen, barrier = [], threading.Barrier(8)

    def worker():
        barrier.wait()
        seen.append(language._get_detector())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 8 and all(d is seen[0] for d in seen)


@pytest.mark.parametrize("text", ["a" * 1_000_000, "wireless earbuds " * 60_000, "ワイヤレスイヤホン" * 100_000],
                         ids=["one-letter-1MB", "english-1MB", "japanese-900k"])
def test_long_text_is_judged_by_its_beginning(text):
    # a 1 MB repetitive query once held the store's write lock for minutes while lingua read all of it
    from core.text.language import DETECT_CHARS

    assert detect_language(text) == detect_language(text[:DETECT_CHARS])
    assert detect_languages([text, "zapatillas de running para mujer"])[1] == "es"
