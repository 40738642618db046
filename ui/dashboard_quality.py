"""The dashboard's model sections: quality on the labelled pairs (held-out queries by default, each figure
saying which queries it covers), "what changed" between two models or between the labels of two dates, and the
models against the raters' consensus on the same terms."""

from __future__ import annotations

from datetime import datetime, timezone

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
            out = {"part": part, "k": k, "scope": scope, "datasets": tuple(parts["listwise"]),
                   "languages": languages, "models": tuple(usable)}
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


COMPARE = {"models": "two models", "dates": "two label dates"}
NO_LISTWISE = "Nothing to compare: pick a model above, and data sets with ranked (listwise) labels."


def what_changed(url: str, versions: dict, quality: dict | None) -> None:
    """Two models on the same (scoped) queries, or one model against the labels of two dates: per-language nDCG
    deltas with CIs and p-values."""
    st.subheader("What changed")
    mode = st.radio("Compare", list(COMPARE), format_func=COMPARE.get, horizontal=True, key="dash_change_mode",
                    help="Two models on the same labels, or one model against the labels in force at two dates "
                         "(what the raters' work changed in its figures)")
    if mode == "dates":
        _label_dates(url, versions, quality)
        return
    if quality is None:
        st.info(NO_LISTWISE, icon=":material/compare_arrows:")
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
    st.caption(f"nDCG@{quality['k']} ({gains}) of **{b}** minus **{a}** on the same {_scope_text(quality)}: mean "
               f"per-query difference with its 95% bootstrap CI; p: paired randomization test, Holm-corrected over "
               f"languages.")
    table(charts.change_display(df, a, b), "dash_changes", f"changes_{a}_to_{b}.csv")


def _scope_text(quality: dict) -> str:
    return "held-out queries" if quality["scope"] == "held out" else "all labelled queries (training included)"


def _label_dates(url: str, versions: dict, quality: dict | None) -> None:
    first = dash.first_rater_day(url, versions["labels"])
    if first is None:
        st.info("No rater labels yet, so no label dates to compare: create a grade campaign on **Data and "
                "campaigns** and let raters grade it on **Rate**; then pick a date before their work and one after "
                "to see what their labels changed in a model's figures.", icon=":material/event:")
        return
    if quality is None:
        st.info(NO_LISTWISE, icon=":material/compare_arrows:")
        return
    options, today = dash.model_options(), datetime.now(timezone.utc).date()
    default = quality["models"][0] if quality["models"] else "teacher"
    c1, c2, c3, c4 = st.columns(4)
    model = c1.selectbox("Model", options, index=options.index(default) if default in options else 0,
                         key="dash_dates_model")
    day_a = c2.date_input("Labels as of (before)", value=min(first, today), max_value=today, key="dash_dates_a",
                          help="The labels in force at the end of this day (UTC); default: the day of the first "
                               "rater label")
    day_b = c3.date_input("Labels as of (after)", value=today, max_value=today, key="dash_dates_b",
                          help="The labels in force at the end of this day (UTC)")
    gains = c4.selectbox("Gains", ["esci", "linear"], key="dash_dates_gains")
    if day_a >= day_b:
        st.info("Pick a \"before\" date earlier than the \"after\" date.", icon=":material/event:")
        return
    before, after = (_dated(url, versions, quality, model, day) for day in (day_a, day_b))
    min_n = figures.min_queries()
    out = dash.dates_change(url, versions["predictions"], model, quality["k"], gains, min_n, before, after)
    ch = out["changes"]
    removed = f", {ch['removed']} removed" if ch["removed"] else ""
    st.caption(f"From {day_a} to {day_b}: {ch['added']} labels added, {ch['changed']} changed{removed}, on "
               f"{ch['n_queries']} queries (labels in force on the pairs of this selection).")
    for m, why in out["skipped"].items():
        st.info(f"`{m}` cannot be compared: {why}.", icon=":material/info:")
    if out["skipped"]:
        return
    if out["table"].empty:
        st.info(f"No query of this selection was labelled at both dates (the first rater label is from {first}): "
                f"pick an earlier \"after\" or a later \"before\" date, or other data sets or languages.",
                icon=":material/event:")
        return
    left = [f"{n} labelled only on {d}" for n, d in ((out["only_before"], day_a), (out["only_after"], day_b)) if n]
    st.caption(f"nDCG@{quality['k']} ({gains}) of **{model}** against the labels in force at the end of {day_a} and "
               f"of {day_b} (UTC) on the {out['n_common']} {_scope_text(quality)} labelled at both dates, "
               f"{out['common_changed']} of them with labels added or changed in between"
               f"{' (left out: ' + ', '.join(left) + ')' if left else ''}. The delta is the mean per-query "
               f"difference ({day_b} − {day_a}) with its 95% bootstrap CI; p: paired randomization test, "
               f"Holm-corrected over languages.")
    notes({}, {model: min(out["coverage"].values())} if out["coverage"] else {})
    table(charts.change_display(out["table"], "before", "after", str(day_a), str(day_b)), "dash_date_changes",
          f"changes_{model}_{day_a}_to_{day_b}.csv")


def _dated(url: str, versions: dict, quality: dict, model: str, day) -> pd.DataFrame:
    """The listwise labels of the section's data sets and languages in force at the end of ``day``, held-out queries
    of ``model`` only unless the section shows all."""
    labels = analytics.select_labels(dash.labels_as_of(url, versions["labels"], day), quality["datasets"],
                                     quality["languages"])
    if quality["scope"] == "held out":
        classes = query_scope.classify(labels["query_id"], [dash.model_queries(model, versions["predictions"])])
        labels = labels[labels["query_id"].map(classes) != "training"]
    return labels[PAIR_COLUMNS].reset_index(drop=True)


def vs_raters(url: str, versions: dict, languages: tuple) -> None:
    """The models picked above against the raters' consensus, on the section's languages and queries."""
    models = tuple(st.session_state.get("dash_models", ("teacher", "student")))
    scope = st.session_state.get("dash_scope", "held out")
    if not models:
        st.info("Pick a model above to compare its stored predictions with the raters.", icon=":material/tune:")
        return
    min_n = figures.min_queries()
    out = dash.vs_raters(url, versions["labels"] + versions["predictions"], models, languages, scope, min_n)
    held = "held-out " if scope == "held out" else ""
    if out["empty"] == "no consensus":
        st.info("No raters' consensus yet: create a grade campaign on **Data and campaigns** and let raters grade it "
                "on **Rate** (a pair with an open flag waits until a researcher resolves it).", icon=":material/inbox:")
    elif out["empty"] == "no queries":
        st.info(f"No rater-labelled {held}queries in this selection: pick other languages above"
                f"{', or **All labelled queries**' if held else ''}.", icon=":material/inbox:")
    elif out["empty"] == "no predictions":
        st.info("No model picked above has stored predictions on the rated pairs: score them with "
                "`relevance score MODEL --judged --store` (or on **Models and jobs**).", icon=":material/inbox:")
    if out["empty"]:
        return
    n = sum(out["classes"].values())
    st.caption(query_scope.coverage_caption(out["classes"], n, scope) + " The raters' consensus of every campaign, "
               "in the languages picked above (the data-set filter does not apply: these are the raters' labels).")
    notes(out["skipped"], {})
    st.caption(f"nDCG@10 ranks each query's rated pairs by the model's expected level; accuracy: argmax = the "
               f"consensus level; within one: |argmax − level| ≤ 1. Languages with fewer than {min_n} queries show "
               f"\"too few queries (n)\".")
    table(charts.vs_raters_display(out["table"]), "dash_humans", "models_vs_raters.csv")
