"""core.metrics: nDCG through ranx checked by hand and against scikit-learn, CIs, tests, Holm."""

import math
from math import log2

import numpy as np
import pytest
from sklearn.metrics import ndcg_score

from core.metrics import (
    GAIN_SCHEMES,
    bootstrap_ci,
    classification_scores,
    expected_level,
    gain,
    holm,
    ndcg_per_query,
    paired_p_value,
    parse_ks,
    summarize,
)

# Two tiny queries. Run order q1: c, a, b; q2: z (unjudged), y, x.
QRELS = {"q1": {"a": 5, "b": 4, "c": 1}, "q2": {"x": 3, "y": 2}}
RUN = {"q1": {"c": 0.9, "a": 0.8, "b": 0.1}, "q2": {"z": 3.0, "y": 2.0, "x": 1.0}}
L3 = log2(3)  # discount of rank 2 (1.58496); rank 1 -> log2(2) = 1, rank 3 -> log2(4) = 2

# Hand arithmetic. Gains: linear a,b,c = 4,3,0 and x,y = 2,1; exp a,b,c = 15,7,0 and x,y = 3,1;
# esci a,b,c = 1,0.1,0 and x,y = 0.01,0.
HAND = {
    # q1 @2: (0 + 4/L3) / (4 + 3/L3) = 2.5237/5.8928 = 0.4283; all: (2.5237 + 3/2) / 5.8928 = 0.6828
    # q2 @2: (0 + 1/L3) / (2 + 1/L3) = 0.6309/2.6309 = 0.2398; all: (0.6309 + 2/2) / 2.6309 = 0.6199
    ("linear", 2): {"q1": (4 / L3) / (4 + 3 / L3), "q2": (1 / L3) / (2 + 1 / L3)},
    ("linear", None): {"q1": (4 / L3 + 3 / 2) / (4 + 3 / L3), "q2": (1 / L3 + 2 / 2) / (2 + 1 / L3)},
    # q1 @2: (15/L3) / (15 + 7/L3) = 9.4640/19.4165 = 0.4874; all: (9.4640 + 7/2) / 19.4165 = 0.6677
    # q2 @2: (1/L3) / (3 + 1/L3) = 0.6309/3.6309 = 0.1738; all: (0.6309 + 3/2) / 3.6309 = 0.5869
    ("exp", 2): {"q1": (15 / L3) / (15 + 7 / L3), "q2": (1 / L3) / (3 + 1 / L3)},
    ("exp", None): {"q1": (15 / L3 + 7 / 2) / (15 + 7 / L3), "q2": (1 / L3 + 3 / 2) / (3 + 1 / L3)},
    # q1 @2: (1/L3) / (1 + 0.1/L3) = 0.6309/1.0631 = 0.5935; all: (0.6309 + 0.1/2) / 1.0631 = 0.6405
    # q2 @2: x (the only gain) is at rank 3 -> 0; all: (0.01/2) / 0.01 = 0.5
    ("esci", 2): {"q1": (1 / L3) / (1 + 0.1 / L3), "q2": 0.0},
    ("esci", None): {"q1": (1 / L3 + 0.1 / 2) / (1 + 0.1 / L3), "q2": 0.5},
}


@pytest.mark.parametrize(("gains", "k"), list(HAND), ids=[f"{g}@{k or 'all'}" for g, k in HAND])
def test_ndcg_matches_hand_computation(gains, k):
    assert ndcg_per_query(QRELS, RUN, k, gains) == pytest.approx(HAND[gains, k], abs=1e-12)


def test_ndcg_perfect_ranking_is_one():
    run = {"q1": {"a": 3.0, "b": 2.0, "c": 1.0}, "q2": {"x": 2.0, "y": 1.0}}
    for gains in GAIN_SCHEMES:
        assert ndcg_per_query(QRELS, run, None, gains) == pytest.approx({"q1": 1.0, "q2": 1.0})


def _random_case(seed, n_queries=40):
    rng = np.random.default_rng(seed)
    qrels, run = {}, {}
    for q in range(n_queries):
        n_judged, n_unjudged = rng.integers(2, 15), rng.integers(0, 4)
        qrels[f"q{q}"] = {f"p{i}": int(rng.integers(1, 6)) for i in range(n_judged)}
        run[f"q{q}"] = {f"p{i}": float(rng.random()) for i in range(n_judged + n_unjudged)}
    return qrels, run


@pytest.mark.parametrize("gains", GAIN_SCHEMES)
@pytest.mark.parametrize("k", [1, 3, 10, None], ids=["k1", "k3", "k10", "all"])
def test_ndcg_agrees_with_sklearn(gains, k):
    qrels, run = _random_case(seed=7)
    ours = ndcg_per_query(qrels, run, k, gains)
    positive = {q for q, docs in qrels.items() if any(gain(lvl, gains) > 0 for lvl in docs.values())}
    assert set(ours) == positive and len(positive) > 30
    for q in positive:
        # sklearn takes the gains themselves as y_true and uses the same 1/log2(rank+1) discount.
        y_true = [gain(qrels[q][p], gains) if p in qrels[q] else 0.0 for p in run[q]]
        expected = ndcg_score([y_true], [list(run[q].values())], k=k)
        assert ours[q] == pytest.approx(expected, abs=1e-9), q


@pytest.mark.parametrize(
    ("gains", "excluded"),
    [("esci", {"only_1", "only_1_2"}), ("linear", {"only_1"}), ("exp", {"only_1"})],
    ids=GAIN_SCHEMES,
)
def test_queries_with_zero_ideal_dcg_are_excluded(gains, excluded):
    qrels = {"ok": {"a": 5}, "only_1": {"a": 1, "b": 1}, "only_1_2": {"a": 2, "b": 1}}
    run = {q: {"a": 1.0, "b": 0.5} for q in qrels}
    assert set(ndcg_per_query(qrels, run, 10, gains)) == set(qrels) - excluded


def test_queries_missing_from_run_score_zero():
    qrels = {"q1": {"a": 5}, "absent": {"a": 5}, "empty": {"a": 4}}
    run = {"q1": {"a": 1.0}, "empty": {}, "not_judged": {"a": 1.0}}
    assert ndcg_per_query(qrels, run, 20, "linear") == {"q1": 1.0, "absent": 0.0, "empty": 0.0}
    assert ndcg_per_query({"absent": {"a": 5}}, {}, None, "esci") == {"absent": 0.0}


def test_ties_are_broken_by_product_id_whatever_the_dict_order():
    qrels = {"q": {"a": 1, "b": 5, "c": 3}}
    # Order a, b, c with linear gains 0, 4, 2: (0 + 4/L3 + 2/2) / (4 + 2/L3) = 3.5237/5.2619 = 0.6697
    expected = (4 / L3 + 1) / (4 + 2 / L3)
    for order in ("abc", "cba", "bca"):
        run = {"q": {p: 1.0 for p in order}}
        assert ndcg_per_query(qrels, run, None, "linear")["q"] == pytest.approx(expected)


@pytest.mark.parametrize(
    ("qrels", "run", "k", "gains", "match"),
    [
        (QRELS, RUN, 10, "dcg", "unknown gain scheme 'dcg'; supported: esci, linear, exp"),
        (QRELS, RUN, 0, "linear", "k must be a positive integer or None"),
        ({"q": {"a": 6}}, RUN, 10, "linear", "query 'q': expected a level of the 5-point scale"),
        ({"q": {"a": 5}}, {"q": {"a": math.nan}}, 10, "linear", "got NaN for products"),
    ],
    ids=["scheme", "k0", "level", "nan"],
)
def test_ndcg_rejects_bad_input(qrels, run, k, gains, match):
    with pytest.raises(ValueError, match=match):
        ndcg_per_query(qrels, run, k, gains)


@pytest.mark.parametrize(
    ("scheme", "expected"),
    [("esci", [0, 0, 0.01, 0.1, 1]), ("linear", [0, 1, 2, 3, 4]), ("exp", [0, 1, 3, 7, 15])],
    ids=GAIN_SCHEMES,
)
def test_gain_tables(scheme, expected):
    assert [gain(level, scheme) for level in range(1, 6)] == expected


@pytest.mark.parametrize(
    ("args", "match"),
    [((3, "ndcg"), "supported: esci, linear, exp"), ((0, "linear"), "got 0"), ((True, "exp"), "got True")],
    ids=["scheme", "level0", "bool"],
)
def test_gain_rejects_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        gain(*args)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [("20,all", [20, None]), (" 5, 10 ,ALL", [5, 10, None]), ([10, "all", None, 10], [10, None]), (20, [20])],
    ids=["text", "spaces", "list", "int"],
)
def test_parse_ks(spec, expected):
    assert parse_ks(spec) == expected


@pytest.mark.parametrize("spec", ["20,", "0", "-5", "2.5", "twenty", [True]], ids=str)
def test_parse_ks_rejects_bad_values(spec):
    with pytest.raises(ValueError, match="positive integer or 'all'"):
        parse_ks(spec)


@pytest.mark.parametrize(
    ("p", "expected"),
    [
        ([0.01, 0.04, 0.03], [0.03, 0.06, 0.06]),  # sorted .01*3, .03*2, max(.04*1, .06)
        ([0.5, 0.6], [1.0, 1.0]),  # .5*2 = 1, then max(.6, 1)
        ([0.2, 0.001, 0.02, 0.9], [0.4, 0.004, 0.06, 0.9]),  # .001*4, .02*3, .2*2, max(.9, .4)
        ([], []),
    ],
    ids=["brief", "capped", "four", "empty"],
)
def test_holm(p, expected):
    assert holm(p) == pytest.approx(expected)


def test_holm_rejects_probabilities_out_of_range():
    with pytest.raises(ValueError, match=r"p-values must lie in \[0, 1\]"):
        holm([0.5, 1.5])


def test_bootstrap_ci_contains_mean_and_narrows_with_more_queries():
    rng = np.random.default_rng(3)
    small, large = rng.random(20), rng.random(2000)
    (lo_s, hi_s), (lo_l, hi_l) = bootstrap_ci(small), bootstrap_ci(large)
    assert lo_s < small.mean() < hi_s and lo_l < large.mean() < hi_l
    assert hi_l - lo_l < (hi_s - lo_s) / 4
    assert bootstrap_ci(small, seed=1) == bootstrap_ci(small, seed=1)
    assert bootstrap_ci([0.7, 0.7, 0.7]) == pytest.approx((0.7, 0.7))


def test_bootstrap_ci_rejects_empty():
    with pytest.raises(ValueError, match="non-empty list of finite numbers"):
        bootstrap_ci([])


def test_paired_p_value():
    rng = np.random.default_rng(5)
    base = rng.random(50)
    better = base + 0.1 + rng.normal(0, 0.02, 50)
    assert paired_p_value(better, base) < 0.01
    assert paired_p_value(base, base.copy()) == 1.0
    # Exact for small n: d = [1, 2] -> |±1 ±2| = 3, 1, 1, 3, so p = 2/4; d = [1, 1, 1] -> p = 2/8.
    assert paired_p_value([1, 2], [0, 0]) == 0.5
    assert paired_p_value([1, 1, 1], [0, 0, 0]) == 0.25


def test_paired_p_value_is_large_without_a_difference_and_seeded():
    rng = np.random.default_rng(6)
    a, b = rng.random(200), rng.random(200)
    assert paired_p_value(a, a[::-1]) > 0.9  # same mean, differences sum to 0
    assert paired_p_value(a, b, seed=3) == paired_p_value(a, b, seed=3)


def test_paired_p_value_rejects_length_mismatch():
    with pytest.raises(ValueError, match="got 2 and 3 values"):
        paired_p_value([1, 2], [1, 2, 3])


def test_classification_scores():
    # accuracy 4/5; F1 per level: 1 -> 1, 2 -> 1, 3 -> P 1, R 1/2 -> 2/3, 4 -> absent -> 0,
    # 5 -> P 1/2, R 1 -> 2/3; macro = (1 + 1 + 2/3 + 0 + 2/3) / 5 = 2/3
    scores = classification_scores([1, 2, 3, 3, 5], [1, 2, 3, 5, 5])
    assert scores == pytest.approx({"accuracy": 0.8, "macro_f1": 2 / 3})


@pytest.mark.parametrize(
    ("y_true", "y_pred", "match"),
    [([1, 2], [1], "got 2 and 1"), ([1, 6], [1, 2], "got 6")],
    ids=["length", "level"],
)
def test_classification_scores_rejects_bad_input(y_true, y_pred, match):
    with pytest.raises(ValueError, match=match):
        classification_scores(y_true, y_pred)


def test_expected_level():
    probs = [[0, 0, 0, 0, 1], [0.2] * 5, [0.5, 0.5, 0, 0, 0]]
    np.testing.assert_allclose(expected_level(probs), [5.0, 3.0, 1.5])
    with pytest.raises(ValueError, match=r"shape \(n, 5\).*got shape \(4,\)"):
        expected_level([0.25] * 4)
    with pytest.raises(ValueError, match="apply softmax"):
        expected_level([[1, 2, 3, 4, 5]])


def test_summarize():
    out = summarize({"q1": 0.5, "q2": 1.0, "q3": 0.75})
    assert out["mean"] == pytest.approx(0.75) and out["n_queries"] == 3
    assert 0.5 <= out["ci_low"] <= 0.75 <= out["ci_high"] <= 1.0
    empty = summarize({})
    assert empty["n_queries"] == 0 and math.isnan(empty["mean"])


def test_summarize_does_not_depend_on_the_order_of_the_queries():
    rng = np.random.default_rng(3)
    values = {f"q{i}": float(v) for i, v in enumerate(rng.random(40))}
    shuffled = dict(sorted(values.items(), key=lambda kv: kv[1]))
    assert list(shuffled) != list(values)
    assert summarize(values, seed=1) == summarize(shuffled, seed=1)
