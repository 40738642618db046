"""Pin text: fields in priority order, each within its token budget; missing fields left out."""

import pytest

from core.text.pin import FIELD_ORDER, whitespace_builder


def test_fields_in_priority_order_with_labels():
    b = whitespace_builder(100)
    text = b({"product_id": "P", "description": "soft cotton", "title": "Kitchen towels", "brand": "Acme",
              "color": "blue", "bullet_points": "6 pack"})
    assert text == "title: Kitchen towels | brand: Acme | color: blue | features: 6 pack | description: soft cotton"


@pytest.mark.parametrize("missing", [None, "", "   ", float("nan")], ids=["none", "empty", "blank", "nan"])
def test_missing_fields_are_left_out(missing):
    text = whitespace_builder(50)({"title": "Lamp", "brand": missing, "color": "red"})
    assert text == "title: Lamp | color: red"


def test_long_description_cannot_push_out_the_title_or_brand():
    long = " ".join(f"w{i}" for i in range(1000))
    b = whitespace_builder(120)
    parts = dict(b.parts({"title": "Ceiling fan without light", "brand": "Breeze", "description": long,
                          "bullet_points": long}))
    assert parts["title"] == "Ceiling fan without light" and parts["brand"] == "Breeze"
    budgets = {label: budget for _, label, budget in FIELD_ORDER}
    assert len(parts["features"].split()) == budgets["features"] + 1  # + the "…" marker
    total = sum(len(t.replace(" …", "").split()) for t in parts.values())
    assert total <= 120


def test_total_cap_drops_the_least_informative_fields_first():
    words = lambda n: " ".join(["x"] * n)  # noqa: E731
    parts = whitespace_builder(60).parts({"title": words(40), "brand": "b", "color": "c", "category": words(10),
                                          "description": words(50), "top_queries": "q"})
    labels = [label for label, _ in parts]
    assert labels[:4] == ["title", "brand", "color", "category"]
    assert "searched as" not in labels, "the lowest-priority field is the one cut"
    assert dict(parts)["title"] == words(40)


def test_japanese_text_is_cut_by_characters_not_kept_whole():
    """Without spaces a Japanese description used to be one "word", so no budget ever cut it."""
    desc = "取っ手のとれるフライパンセットガス火対応" * 10  # 200 characters, no space
    parts = dict(whitespace_builder(60).parts({"title": "Pan", "description": desc}))
    assert parts["description"] == desc[:59] + " …"  # 60 units in all: 1 for the title, 59 characters


def test_word_budget_of_spaced_text_is_unchanged():
    b = whitespace_builder(3)
    assert b({"title": "one two three four"}) == "title: one two three …"
