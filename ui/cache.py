"""Server-wide caches: models through ``st.cache_resource`` over ``core.cache`` (one load per server, shared by
every session), and dashboard figures through ``st.cache_data`` keyed by the store's version."""

from __future__ import annotations

import streamlit as st

from core import cache as core_cache
from core.store.catalog import catalog_version


@st.cache_resource(show_spinner="Loading {name}…", max_entries=8)
def _scorer(name: str, url: str, version: tuple):
    return core_cache.get_scorer(name, url)


def scorer(name: str, url: str):
    """The model ``name`` for this store, loaded once per server and catalog version (GPU when present)."""
    return _scorer(name, url, catalog_version(url))


@st.cache_resource(show_spinner="Loading the teacher's tokenizer…")
def pin_text_builder():
    """(function product -> pin text, description) as the trained teacher reads products.

    Uses the teacher's tokenizer file (``tokenizers``, not transformers: the web server never imports torch)
    and its token budgets (``core.models.teacher.encoding.pin_budget``) without loading its weights; falls
    back to a word-count builder when the tokenizer is not on this machine.
    """
    import json

    from core import config
    from core.models import teacher
    from core.models.teacher.backbones import get_backbone, tokenizer_file
    from core.models.teacher.encoding import pin_budget
    from core.text import pin as text

    meta = config.artifact("teacher") / "teacher.json"
    try:
        saved = json.loads(meta.read_text()) if meta.exists() else {}
        if saved.get("arch") == "biencoder":
            return _passage_builder(saved)
        cfg = teacher.TeacherConfig(**saved["config"]) if saved else teacher.TeacherConfig()
        path = tokenizer_file(cfg.backbone)
        if path is None:
            raise FileNotFoundError(f"no tokenizer.json of {cfg.backbone} on this machine yet")
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(path))
        build = text.tokenizer_builder(tok, pin_budget(get_backbone(cfg.backbone), cfg.max_length,
                                                       cfg.query_max_tokens))
        how = "trained teacher" if meta.exists() else "default teacher configuration (no trained teacher yet)"
        return build, f"as the {how} reads it: {cfg.backbone} tokens, {cfg.max_length}-token input"
    except Exception as exc:  # offline without the backbone: still show the field order, by words
        return text.whitespace_builder(), f"by word counts (the teacher's tokenizer is unavailable: {exc})"


def _passage_builder(meta: dict):
    """The bi-encoder teacher's reading of a product (``core.models.teacher.bienc_model.passage_builder``)."""
    from pathlib import Path

    from tokenizers import Tokenizer

    from core.models.teacher.backbones import tokenizer_file
    from core.models.teacher.bienc_model import passage_builder

    base = meta["biencoder"]["config"]["base"]
    path = Path(base) / "tokenizer.json" if Path(base).is_dir() else tokenizer_file("e5-small-ce")
    if path is None or not path.exists():
        raise FileNotFoundError(f"no tokenizer.json of {base} on this machine yet")
    n = meta["biencoder"]["config"]["max_length"]
    return (passage_builder(meta, Tokenizer.from_file(str(path))),
            f"as the trained bi-encoder teacher reads it: its product fields in e5 tokens, {n}-token input")
