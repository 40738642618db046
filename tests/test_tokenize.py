"""core.text.tokenize: \\w+ words for spaced scripts, character bigrams for CJK runs, bm25s-ready corpora."""

import re
import time

import pytest

from core.text.tokenize import Tokenized, bm25_tokenize, bm25_words, has_cjk, words


@pytest.mark.parametrize("text, expected", [
    ("取っ手なし", ["取っ", "っ手", "手な", "なし"]),
    ("取っ手のとれる", ["取っ", "っ手", "手の", "のと", "とれ", "れる"]),
    ("iPhone 15 ケース", ["iphone", "15", "ケー", "ース"]),
    ("iPhone15ケース", ["iphone15", "ケー", "ース"]),
    ("ｉＰｈｏｎｅ１５ ｹｰｽ", ["iphone15", "ケー", "ース"]),  # full-width Latin, half-width kana (NFKC)
    ("靴 赤", ["靴", "赤"]),  # a one-character run stays a unigram
    ("无线蓝牙耳机", ["无线", "线蓝", "蓝牙", "牙耳", "耳机"]),
    ("가방을 샀어요", ["가방", "방을", "샀어", "어요"]),
    ("Straße", ["strasse"]),  # case-folded
], ids=["ja-nashi", "ja-toreru", "mixed-spaced", "mixed-glued", "fullwidth", "ja-unigrams", "zh", "ko",
        "casefold"])
def test_hand_worked_tokens(text, expected):
    assert words(text) == expected


def test_japanese_variants_now_share_a_token():
    a, b = set(words("取っ手なし")), set(words("取っ手のとれる"))
    assert a & b == {"取っ", "っ手"}
    old = re.compile(r"\w+").findall
    assert not set(old("取っ手なし")) & set(old("取っ手のとれる"))  # the \w+ runs shared nothing


@pytest.mark.parametrize("text", [
    "Towels for Bath", "power steering hose", "Nutra Bullet blender, 600W (2-pack) x 3",
    "café crème brûlée", "O'Reilly's 3.5mm jack_cable",
], ids=["title", "lower", "punct-numbers", "accents", "apostrophe-underscore"])
def test_spaced_text_is_unchanged_from_the_old_lowercased_w_runs(text):
    assert words(text) == re.findall(r"\w+", text.lower())


@pytest.mark.parametrize("text", [
    "", " ", "\t\n  \u3000", "\x00", "\x00\x00abc\x00", "😀🎉", "a😀b", "\ud800", "e\u0301", "…・「」",
], ids=["empty", "space", "whitespace-ideographic", "nul", "nul-around", "emoji", "emoji-inside", "lone-surrogate",
        "combining", "punctuation"])
def test_odd_strings_never_crash(text):
    out = words(text)
    assert isinstance(out, list) and all(isinstance(t, str) and t for t in out)
    assert set(bm25_words(text)) <= set(out)
    assert len(bm25_tokenize([text]).ids) == 1


@pytest.mark.parametrize("value, expected", [(None, []), (float("nan"), []), (12.5, ["12", "5"])],
                         ids=["none", "nan", "number"])
def test_non_strings(value, expected):
    assert words(value) == expected


@pytest.mark.parametrize("char", ["あ", "a", "漢", "한", " "], ids=["kana", "latin", "han", "hangul", "space"])
def test_long_repeated_character_is_linear(char):
    text = char * 200_000
    t0 = time.perf_counter()
    out = words(text)
    assert time.perf_counter() - t0 < 0.5
    assert len(out) == {"あ": 199_999, "漢": 199_999, "한": 199_999, "a": 1, " ": 0}[char]


@pytest.mark.parametrize("text, expected", [
    ("tfal フライパン", True), ("Towels for Bath", False), ("", False), ("가방", True), ("ｹｰｽ", True),
    ("中", True),
], ids=["ja", "en", "empty", "ko", "halfwidth-kana", "han"])
def test_has_cjk(text, expected):
    assert has_cjk(text) is expected


def test_deterministic():
    text = "tfal フライパン 取っ手なし 26cm ガス火専用 Towels for Bath 无线蓝牙耳机"
    assert words(text) == words(text) and bm25_tokenize([text, text]) == bm25_tokenize([text, text])


@pytest.mark.parametrize("text", [
    "Towels for Bath", "The best of the best: a 2-pack of USB-C cables, it's 1 m long", "I am a towel",
], ids=["title", "stopwords-numbers", "one-letter"])
def test_bm25_words_match_bm25s_on_english(text):
    bm25s = pytest.importorskip("bm25s")
    assert bm25_words(text) == bm25s.tokenize(text, stopwords="en", return_ids=False, show_progress=False)[0]


def test_bm25_words_keep_cjk_unigrams_and_drop_stopwords():
    assert bm25_words("the 靴 of a フライパン") == ["靴", "フラ", "ライ", "イパ", "パン"]
    assert bm25_words("the towel", stopwords=None) == ["the", "towel"]
    assert bm25_words("the towel", stopwords={"towel"}) == ["the"]


def test_bm25_tokenize_ids_and_vocab():
    tok = bm25_tokenize(["取っ手なし the pan", "", "pan pan"])
    assert isinstance(tok, Tokenized)
    assert tok.vocab == {"取っ": 0, "っ手": 1, "手な": 2, "なし": 3, "pan": 4}
    assert tok.ids == [[0, 1, 2, 3, 4], [], [4, 4]]
    assert bm25_tokenize("pan") == Tokenized([[0]], {"pan": 0})


def test_bm25s_index_matches_japanese_across_phrasings():
    bm25s = pytest.importorskip("bm25s")
    docs = ["ティファール フライパン 取っ手のとれる 26cm", "Towels for Bath, 6 pack", "无线蓝牙耳机 黑色",
            "가방을 샀어요"]
    retriever = bm25s.BM25()
    retriever.index(bm25_tokenize(docs), show_progress=False)
    for query, best in [("フライパン 取っ手なし", 0), ("bath towel", 1), ("蓝牙耳机", 2), ("가방", 3)]:
        known = [t for t in bm25_words(query) if t in retriever.vocab_dict]
        scores = retriever.get_scores(known)
        assert scores.argmax() == best and scores[best] > 0, query
