"""The dashboard's model sections: quality on the labelled pairs (held-out queries by default, each figure
saying which queries it covers) and "what changed" between two models."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.workflows import analytics, figures, query_scope
from ui import dashboard as dash
from ui import dashboard_charts as charts
from ui.components import table

PAIR_COLUMNS = ["query_id", "query", "language", "product_id", "level"]
SCOPE_LABELS = {"held out": "Held out (not used to train the models shown)",
                "all": "All labelled queries (training queries included)"}


def _scoped(part: pd.DataFrame, keep: set[str]) -> pd.DataFrame:
    return part[part["query_id"].isin(keep)][PAIR_COLUMNS].reset_index(drop=True)


def _caption(part: pd.DataFrame, classes: dict[str, str], raters: set[str], scope: str) -> None:
    qs = set(part["query_id"])
    counts = pd.Series([classes.get(q, "held out") for q in qs], dtype=object).value_counts().to_dict()
    st.caption(query_scope.coverage_caption(counts, len(qs & raters), scope))


def scope_of(url: str, versions: dict, models: tuple[str, ...], sel: dict, labels: pd.DataFrame, scope: str):
    """(query ids kept, class per query, rater-labelled queries, notes, models that can be scored)."""
    have = set(analytics.models_with_predictions(url)) | set(query_scope.UNTRAINED)
    shown = [dash.model_queries(m, versions["predictions"]) for m in models if m in have]
    all_q = set(sel["listwise"]["query_id"]) | set(sel["pointwise"]["query_id"])
    classes = query_scope.classify(all_q, shown)
    keep = all_q if scope == "all" else {q for q, c in classes.items() if c != "training"}
    raters = set(labels.loc[labels["datasets"].astype(str).map(lambda v: analytics.RATERS in v.split(",")), "query_id"])
    usable = [m for m in models if m in have]
    return keep, classes, raters, [m.note for m in shown if m.note], usable


def model_quality(url: str, versions: dict, datasets: tuple, languages: tuple) -> dict | None:
    """The model section; returns what "what changed" needs (the scoped listwise labels, k, scope) or None."""
    parts = dash.modes(url, versions["labels"], datasets, languages)
    if not parts:
        return None
    st.subheader("Model quality on the labelled pairs")
    c1, c2, c3 = st.columns([1, 3, 2])
    k = c1.selectbox("Cut-off k", ["10", "20", "all"], index=1, key="dash_k", disabled="listwise" not in parts,
                     help="`all` ranks each query's whole judged list (the ESCI KDD Cup 2022 task 1 protocol)")
    models = tuple(c2.multiselect("Models", dash.model_options(), default=["teacher", "student", "bm25"],
                                  key="dash_models", help="The first model is the reference of every p-value"))
    scope = c3.radio("Queries", list(SCOPE_LABELS), format_func=SCOPE_LABELS.get, key="dash_scope",
                     help="Held out: only queries no model shown was trained on (from each model's metadata). "
                          "Training queries flatter a model: include them only to see how much.")
    if not models:
        st.info("Pick a model to see its figures.", icon=":material/tune:")
        return None
    min_n = figures.min_queries()
    sel = dash.selection(url, versions["labels"], datasets, languages)
    labels = dash.labels(url, versions["labels"])
    keep, classes, raters, scope_notes, usable = scope_of(url, versions, models, sel, labels, scope)
    for note in scope_notes:
        st.caption(note + ".")
    ref = usable[0] if usable else models[0]
    st.caption(f"Reference model: **{ref}** (p-values are against it; the first model picked that can be scored). Languages with fewer than {min_n} "
               f"queries show \"too few queries (n)\" instead of a figure (setting `RELEVANCE_MIN_QUERIES_FOR_CI`).")
    out = None
    if "listwise" in parts:
        part = _scoped(sel["listwise"], keep)
        st.markdown(f"**Ranking: nDCG@{k}** on {', '.join(parts['listwise'])} (each query's judged products "
                    f"reranked)")
        if part.empty:
            _no_queries(scope)
        else:
            _caption(part, classes, raters, scope)
            result = dash.listwise_per_query(url, versions["predictions"], k, models, part)
            notes(result["skipped"], result["coverage"])
            summary = figures.summary(result, min_n)
            if not summary.empty:
                ref = result["models"][0]
                a, b = st.columns(2)
                for col, gains in ((a, "esci"), (b, "linear")):
                    if (fig := charts.ndcg_chart(summary, gains, min_n)) is not None:
                        col.plotly_chart(fig, key=f"dash_chart_{gains}")
                    else:
                        col.caption(f"No language has {min_n} or more queries here: no {gains} chart.")
                st.caption(f"Accuracy: 5-class argmax against the label in force (models with level probabilities "
                           f"only). p (Holm): paired randomization test against **{ref}**, Holm-corrected.")
                table(charts.ndcg_display(summary, ref), "dash_ndcg", f"ndcg_at_{k}.csv")
            out = {"part": part, "k": k, "scope": scope}
    if "pointwise" in parts:
        _pointwise(url, versions, models, _scoped(sel["pointwise"], keep), parts, classes, raters, scope, min_n)
    return out


def _no_queries(scope: str) -> None:
    if scope == "held out":
        st.info("No held-out queries in this selection: every query here may have been used to train a model "
                "shown (see the notes above). Pick **All labelled queries** to see them, clearly as training "
                "figures, or label new queries in a campaign.", icon=":material/inbox:")
    else:
        st.info("No labelled queries in this selection.", icon=":material/inbox:")


def _pointwise(url, versions, models, part, parts, classes, raters, scope, min_n) -> None:
    st.markdown(f"**Grading single pairs** on {', '.join(parts['pointwise'])}: about one judged product per "
                f"query, so an nDCG per query would mean nothing; instead accuracy and macro-F1 of the predicted "
                f"level, and AUC of the score separating exact (5) from irrelevant (1–2) pairs")
    if part.empty:
        _no_queries(scope)
        return
    _caption(part, classes, raters, scope)
    pointwise, coverage, skipped = dash.pointwise_table(url, versions["predictions"], models, part)
    notes({} if "listwise" in parts else skipped, coverage)
    if pointwise.empty:
        return
    ref = pointwise["model"].iat[0]
    a, b = st.columns(2)
    for col, metric, title, key in ((a, "auc", "AUC exact vs irrelevant", "dash_chart_pw_auc"),
                                    (b, "accuracy", "Accuracy (5 levels)", "dash_chart_pw_acc")):
        fig = charts.pointwise_chart(pointwise, metric, f"{title}, 95% query-bootstrap CI", min_n)
        if fig is not None:
            col.plotly_chart(fig, key=key)
    st.caption(f"95% CIs: bootstrap over queries. Accuracy and macro-F1 need level probabilities (bm25 has none: "
               f"\"—\"). p (Holm): paired bootstrap against **{ref}**, Holm-corrected.")
    table(charts.pointwise_display(pointwise, ref, min_n), "dash_pointwise", "pointwise.csv")


def notes(skipped: dict, coverage: dict) -> None:
    """Captions for the models left out and for stored runs that do not cover every selected pair."""
    for m, why in skipped.items():
        st.caption(f"`{m}` left out: {why}.")
    for m, share in coverage.items():
        if share < 0.999:
            st.caption(f"`{m}`: stored predictions cover {share:.0%} of the labelled pairs "
                       f"(the rest count as level 3).")


def what_changed(url: str, versions: dict, quality: dict | None) -> None:
    """Two models side by side on the same (scoped) queries: per-language nDCG deltas with CIs and p-values."""
    st.subheader("What changed")
    if quality is None:
        st.info("Nothing to compare: pick a model above, and data sets with ranked (listwise) labels.",
                icon=":material/compare_arrows:")
        return
    options = dash.model_options()
    c1, c2, c3 = st.columns(3)
    a = c1.selectbox("From (before)", options, index=options.index("bm25"), key="dash_change_a")
    b = c2.selectbox("To (after)", options, index=options.index("teacher"), key="dash_change_b")
    gains = c3.selectbox("Gains", ["esci", "linear"], key="dash_change_gains")
    if a == b:
        st.info("Pick two different models.", icon=":material/compare_arrows:")
        return
    result = dash.listwise_per_query(url, versions["predictions"], quality["k"], (a, b), quality["part"])
    if set(result["models"]) != {a, b}:
        for m, why in result["skipped"].items():
            st.info(f"`{m}` cannot be compared: {why}.", icon=":material/info:")
        return
    min_n = figures.min_queries()
    df = figures.compare(result, a, b, gains=gains, k=quality["k"], min_n=min_n)
    scope = "held-out queries" if quality["scope"] == "held out" else "all labelled queries (training included)"
    st.caption(f"nDCG@{quality['k']} ({gains}) of **{b}** minus **{a}** on the same {scope}: mean per-query "
               f"difference with its 95% bootstrap CI; p: paired randomization test, Holm-corrected over languages.")
    shown = pd.DataFrame({
        "language": df["language"], "queries": df["n_queries"].astype(int),
        a: [charts.fmt(v) if e else f"too few queries ({n})" for v, e, n in zip(df[a], df["enough"], df["n_queries"])],
        b: [charts.fmt(v) if e else f"too few queries ({n})" for v, e, n in zip(df[b], df["enough"], df["n_queries"])],
        f"{b} − {a} [95% CI]": [charts.with_ci(*t) for t in zip(df["delta"], df["ci_low"], df["ci_high"],
                                                                df["n_queries"], df["enough"])],
        "p (Holm)": [charts.p_text(p) for p in df["p_holm"]],
    })
    table(shown, "dash_changes", f"changes_{a}_to_{b}.csv")
