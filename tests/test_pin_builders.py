"""Pin texts as the teacher reads them, built two ways that must agree: the web server's builder
(``ui.cache.pin_text_builder``: the teacher's ``tokenizer.json`` through ``tokenizers``, without torch) and the
training one (``core.text.pin.tokenizer_builder`` over the transformers tokenizer, as ``PairEncoder`` uses it).
Both now go through ``tokenizer_builder``, which takes either kind of tokenizer.

The expected texts were recorded from both paths before their building code was merged into that one function
(issue 14 review); they pin the behaviour: Japanese, Chinese and Korean text, punctuation spacing, empty and NaN fields,
and long fields cut at their own budget and at the whole text's.
"""

from __future__ import annotations

import pytest

from core.text import pin

PRODUCTS = [
    {"product_id": "en-long", "title": "Anker USB-C charger , 65W ( 2 pack ) .", "brand": "Anker", "color": "black",
     "category": "Electronics > Chargers",
     "bullet_points": "Fast charging . Foldable plug ; works with iPhone 15 , Pixel 8 ! " * 6,
     "description": "A long description that keeps going " * 40, "caption": "a black charger on a white table",
     "top_queries": "usb c charger, 65w charger"},
    {"product_id": "en-short", "title": "Yoga mat", "brand": "Gaiam", "color": float("nan"), "category": None,
     "description": "Non-slip , 6mm thick.", "caption": "a purple mat rolled up", "top_queries": "yoga mat thick"},
    {"product_id": "ja", "title": "無印良品 ステンレス 保温 マグカップ 350ml（ホワイト）", "brand": "無印良品", "color": "白",
     "category": "キッチン用品", "bullet_points": "・真空二重構造で飲み物の温度を長時間キープします。" * 5,
     "description": "毎日使いやすいシンプルなデザインのマグカップです。食洗機対応。" * 10, "caption": None,
     "top_queries": float("nan")},
    {"product_id": "ja-title-over-budget", "title": "【2024年最新版】" + "ワイヤレスイヤホン Bluetooth5.3 ノイズキャンセリング " * 4,
     "brand": "ソニー", "description": "高音質。"},
    {"product_id": "zh", "title": "小米 手环 8 智能运动 心率 血氧 监测", "brand": "小米",
     "description": "超长续航，支持多种运动模式。" * 30},
    {"product_id": "ko", "title": "삼성 갤럭시 버즈2 프로 무선 이어폰", "brand": "", "color": "  ",
     "description": "노이즈 캔슬링 " * 50},
]

EXPECTED = {
    'en-long': ('title: Anker USB-C charger , 65W ( 2 pack ) . | brand: Anker | color: black'
                ' | category: Electronics > Chargers'
                ' | features: Fast charging . Foldable plug ; works with iPhone 15 , Pixel 8 ! Fast chargin'
                'g . Foldable plug ; works with iPhone 15 , Pixel 8 ! Fast charging . Foldable plug ; works'
                ' with iPhone 15 , Pixel 8 ! Fast charging . Fold …'
                ' | description: A long description …'),
    'en-short': ('title: Yoga mat | brand: Gaiam | description: Non-slip , 6mm thick.'
                 ' | image: a purple mat rolled up | searched as: yoga mat thick'),
    'ja': ('title: 無印良品 ステンレス 保温 マグカップ 350ml（ホワイト） | brand: 無印良品 | color: 白 | category: キッチン用品'
           ' | features: ・真空二重構造で飲み物の温度を長時間キープします。・真空二重構造で飲み物の温度を長時間キープします。・真空二重構造で飲み物の温度を長時間キープします。・真'
           '空二重構造で飲み物の温度を長時間キー …'),
    'ja-title-over-budget': ('title: 【2024年最新版】ワイヤレスイヤホン Bluetooth5.3 ノイズキャンセリング '
                             'ワイヤレスイヤホン Bluetooth5.3 ノイズキャンセリング ワイヤレスイヤホ …'
                             ' | brand: ソニー | description: 高音質。'),
    'zh': ('title: 小米 手环 8 智能运动 心率 血氧 监测 | brand: 小米'
           ' | description: 超长续航,支持多种运动模式。超长续航,支持多种运动模式。超长续航,支持多种运动模式。超长续航,支持多种运动模式。超长续航,支持多种运动模式。超长续航'
           ',支持多种运动模式。超长续 …'),
    'ko': ('title: 삼성 갤럭시 버즈2 프로 무선 이어폰'
           ' | description: 노이즈 캔슬링 노이즈 캔슬링 노이즈 캔슬링 노이즈 캔슬링 노이즈 캔슬링 노이즈 캔슬링 노이즈 캔슬링 노이즈 캔슬링 노이즈 캔슬링 노 …'),
}


@pytest.fixture
def ui_builder(tmp_path, monkeypatch):
    """The web server's builder for the default teacher configuration (no trained teacher in the artifacts)."""
    import ui.cache

    monkeypatch.setenv("RELEVANCE_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    ui.cache.pin_text_builder.clear()
    build, how = ui.cache.pin_text_builder()
    ui.cache.pin_text_builder.clear()
    assert how.startswith("as the default teacher configuration") and "e5-small-ce tokens" in how, how
    return build


@pytest.fixture
def core_builder(tokenizer, ui_builder):
    """The training path's builder (``PairEncoder.pin``) with the same budget."""
    return pin.tokenizer_builder(tokenizer, max_tokens=ui_builder.max_tokens)


def test_the_budget_is_the_default_teachers():
    from core.models.teacher import TeacherConfig
    from core.models.teacher.backbones import get_backbone
    from core.models.teacher.encoding import pin_budget

    cfg = TeacherConfig()
    assert pin_budget(get_backbone(cfg.backbone), cfg.max_length, cfg.query_max_tokens) == 92


@pytest.mark.parametrize("product", PRODUCTS, ids=[p["product_id"] for p in PRODUCTS])
def test_the_web_server_and_training_build_the_same_pin_text(product, ui_builder, core_builder):
    assert ui_builder.max_tokens == core_builder.max_tokens == 92
    assert ui_builder(product) == core_builder(product) == EXPECTED[product["product_id"]]


@pytest.mark.parametrize("product", PRODUCTS, ids=[p["product_id"] for p in PRODUCTS])
def test_one_builder_takes_either_kind_of_tokenizer(product, tokenizer):
    from tokenizers import Tokenizer

    from core.models.teacher.backbones import tokenizer_file

    fast = Tokenizer.from_file(str(tokenizer_file("e5-small-ce")))
    assert pin.tokenizer_builder(fast, 92)(product) == pin.tokenizer_builder(tokenizer, 92)(product) \
        == EXPECTED[product["product_id"]]


def test_anything_else_is_refused_with_what_to_load():
    from core.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match=r"expected a transformers tokenizer or a tokenizers\.Tokenizer, "
                                                r"got str; load one with"):
        pin.tokenizer_builder("e5-small-ce")
