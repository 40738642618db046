"""The failure explorer's detail panel: the product, the pin text the teacher read, the student's features, and the
query's note (what it means) for the raters."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core import config
from core.cache import get_catalog
from ui.components import as_text, product_card
from ui.flags import note_editor


def detail(row: pd.Series, models: list[str]) -> None:
    url = config.db_url()
    st.markdown(f"**{as_text(row['query'])}** ({as_text(row['language'])}) → {as_text(row['product_id'])}: human "
                f"level **{row['level']}** ({as_text(row['source'])}, {row['n_raters']} rater(s)); " +
                ", ".join(f"{m} expects {row[f'{m}_expected']:.2f}" for m in models if f"{m}_expected" in row))
    product = get_catalog(url).rows([row["product_id"]]).iloc[0].to_dict()
    left, right = st.columns(2, gap="large")
    with left:
        product_card(product)
    with right:
        from ui.cache import pin_text_builder

        build, how = pin_text_builder()
        st.markdown("**Pin text the teacher read**")
        st.code(build(product), language=None, wrap_lines=True)
        st.caption(how)
        if st.button("Show the student's features", key="failures_features", icon=":material/functions:"):
            student_features(row["query"], row["product_id"], models)
    note_editor(row["query_id"], row["query"], key=f"failures_note_{row['query_id']}")


def student_features(query: str, product_id: str, models: list[str]) -> None:
    """The dense features of the pair (``core.models.features``) as the first selected trained student computes
    them (its saved feature configuration), else with the default configuration; computed on demand."""
    import json

    try:
        from core.models.features import FeatureConfig, shared_builder
        from core.models.student import feature_config

        cfg, whose = FeatureConfig(), "default feature configuration (no trained student selected)"
        for m in models:
            meta = config.artifact(m) / "student.json"
            if meta.exists():
                cfg, whose = feature_config(json.loads(meta.read_text())["schema"]), f"as `{m}` computes them"
                break
        fb = shared_builder(get_catalog(config.db_url()), cfg)
        with st.spinner("Computing features…"):
            dense, _, _ = fb.parts(query, [product_id])
    except Exception as exc:  # the student's stack may be missing pieces on this machine
        st.warning(f"Student features are not available: {exc}")
        return
    st.dataframe(pd.DataFrame({"feature": fb.dense_names, "value": dense[0]}), hide_index=True,
                 width="stretch", height=300)
    st.caption(f"{whose}; plus {len(fb.names) - len(fb.dense_names)} embedding features ({fb.cfg.encoder})")
