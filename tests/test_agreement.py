"""Agreement statistics: equal to the reference packages (krippendorff, scikit-learn) on random multi-rater data,
hand-computed tiny cases, per-rater flags, the external-file reader and `relevance agreement --json`."""

from __future__ import annotations

import itertools
import json
import math

import krippendorff
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from core.campaigns.consensus import consensus
from core.cli import main
from core.errors import ImportValidationError
from core.ingest import read_ratings
from core.metrics import agreement as agr

# Krippendorff (2011), "Computing Krippendorff's alpha-reliability", section C: 4 coders, 12 units, missing values.
K2011 = [[1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
         [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
         [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
         [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None]]


def frame(matrix, raters=None) -> pd.DataFrame:
    """raters × items matrix (None = missing) -> item, rater, level rows."""
    raters = raters or [f"r{i}" for i in range(len(matrix))]
    return pd.DataFrame([(f"i{j}", raters[i], int(v)) for i, row in enumerate(matrix) for j, v in enumerate(row)
                         if v is not None and not (isinstance(v, float) and math.isnan(v))],
                        columns=["item", "rater", "level"])


def random_ratings(seed: int, raters: int, items: int, missing: float, levels=agr.LEVELS) -> np.ndarray:
    """raters × items, each rater near a per-item truth (so agreement is neither 0 nor 1), NaN where missing."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, len(levels), items)
    noise = rng.integers(-1, 2, (raters, items)) * (rng.random((raters, items)) < 0.5)
    idx = np.clip(truth + noise, 0, len(levels) - 1)
    m = np.asarray(levels, dtype=float)[idx]
    m[rng.random((raters, items)) < missing] = np.nan
    return m


def reference_kappa(m: np.ndarray, levels, min_shared: int) -> float:
    kappas = []
    for a, b in itertools.combinations(range(len(m)), 2):
        both = ~np.isnan(m[a]) & ~np.isnan(m[b])
        if both.sum() >= min_shared and len(set(m[a, both]) | set(m[b, both])) > 1:
            kappas.append(cohen_kappa_score(m[a, both], m[b, both], labels=list(levels), weights="quadratic"))
    return float(np.mean(kappas))


def reference_pairwise(m: np.ndarray, levels) -> tuple[float, float]:
    rank = {lv: i for i, lv in enumerate(levels)}
    same = near = total = 0
    for col in m.T:
        vals = [rank[v] for v in col if not np.isnan(v)]
        for x, y in itertools.combinations(vals, 2):
            total, same, near = total + 1, same + (x == y), near + (abs(x - y) <= 1)
    return same / total, near / total


def test_hand_worked_alpha_kappa_and_shares():
    """Two raters, three items: (1, 1), (2, 2), (1, 2), worked on paper.

    Krippendorff's α (ordinal): coincidences o11 = o22 = 2, o12 = o21 = 1; n1 = n2 = 3, n = 6;
    δ²(1, 2) = (n1 + n2 − (n1 + n2)/2)² = 9; α = 1 − (n − 1)·Σ o·δ² / Σ n_c·n_k·δ² = 1 − 5·18/162 = 4/9.
    Quadratic κ: observed (1,1), (2,2), (1,2) a third each, so Σ w·O = w12/3; expected from the marginals
    (A: 2/3, 1/3; B: 1/3, 2/3): E12 = 4/9, E21 = 1/9, Σ w·E = w12·5/9; κ = 1 − (1/3)/(5/9) = 2/5.
    Exact agreement 2/3, within one level 3/3.
    """
    report = agr.agreement(frame([[1, 2, 1], [1, 2, 2]]), min_shared=1)
    assert report.alpha_ordinal == pytest.approx(4 / 9, abs=1e-12)
    assert report.kappa_quadratic == pytest.approx(2 / 5, abs=1e-12)
    assert (report.exact, report.within_one) == (pytest.approx(2 / 3), pytest.approx(1.0))


def test_hand_worked_perfect_and_reversed_pairs():
    """Full agreement gives α = κ = 1; two raters who swap levels 1 and 2 on two items give κ = −1
    (observed disagreement w12 everywhere, expected half of it) and exact agreement 0."""
    same = agr.agreement(frame([[1, 3, 5], [1, 3, 5]]), min_shared=1)
    assert same.alpha_ordinal == pytest.approx(1.0) and same.kappa_quadratic == pytest.approx(1.0)
    swapped = agr.agreement(frame([[1, 2], [2, 1]]), min_shared=1)
    assert swapped.kappa_quadratic == pytest.approx(-1.0) and swapped.exact == 0.0 and swapped.within_one == 1.0


@pytest.mark.parametrize("seed, raters, items, missing, levels", [
    (0, 3, 40, 0.0, agr.LEVELS),
    (1, 5, 60, 0.3, agr.LEVELS),
    (2, 8, 100, 0.6, agr.LEVELS),
    (3, 4, 50, 0.2, (1, 3, 4, 5)),
], ids=["3x40_full", "5x60_30pct_missing", "8x100_60pct_missing", "esci_domain"])
def test_equals_the_reference_packages_on_random_multi_rater_data(seed, raters, items, missing, levels):
    m = random_ratings(seed, raters, items, missing, levels)
    report = agr.agreement(frame(m.tolist()), levels=levels, min_shared=10)
    assert report.alpha_ordinal == pytest.approx(krippendorff.alpha(reliability_data=m, value_domain=list(levels),
                                                                     level_of_measurement="ordinal"), abs=1e-12)
    assert report.kappa_quadratic == pytest.approx(reference_kappa(m, levels, 10), abs=1e-12)
    exact, within = reference_pairwise(m, levels)
    assert (report.exact, report.within_one) == (pytest.approx(exact), pytest.approx(within))
    assert report.n_items_multi == int(((~np.isnan(m)).sum(axis=0) >= 2).sum())


def test_krippendorff_2011_worked_example_gives_ordinal_alpha_0_815():
    assert round(agr.krippendorff_alpha(frame(K2011)), 3) == 0.815


@pytest.mark.parametrize("matrix, kappa, exact, within", [
    ([[1, 2], [2, 1]], -1.0, 0.0, 1.0),
    ([[1, 3, 5], [1, 3, 5]], 1.0, 1.0, 1.0),
    ([[3], [3], [4]], 0.0, 1 / 3, 1.0),
    ([[1, 5], [5, 1], [1, 5]], -1 / 3, 1 / 3, 1 / 3),
], ids=["swapped", "identical", "one_item_three_raters", "opposites"])
def test_tiny_hand_computed_cases(matrix, kappa, exact, within):
    # swapped: O = [[0,1],[1,0]], E = [[.5,.5],[.5,.5]], w = (i-j)^2 -> kappa = 1 - 2/1 = -1.
    # opposites: rater pairs (0,1) -1, (0,2) 1, (1,2) -1 -> mean -1/3; each item has 1 agreeing pair of 3.
    # one item rated 3, 3, 4: pair (3,3) has one level (kappa undefined, left out); each (3,4) pair has O = E at
    # (3,4), so kappa = 1 - 1/1 = 0; exact 1 of 3 pairs, all within one.
    report = agr.agreement(frame(matrix), min_shared=1)
    assert report.kappa_quadratic == pytest.approx(kappa, nan_ok=True)
    assert (report.exact, report.within_one) == (pytest.approx(exact), pytest.approx(within))


def test_alpha_is_undefined_without_pairable_variation():
    assert math.isnan(agr.krippendorff_alpha(frame([[3, 3], [3, 3]])))
    assert math.isnan(agr.krippendorff_alpha(frame([[1, 2, 3], [None, None, None]])))


def test_kappa_skips_rater_pairs_sharing_too_few_items():
    report = agr.agreement(frame([[1, 2, 3, None], [1, 2, 4, None], [None, None, 5, 1]]), min_shared=3)
    assert report.kappa_pairs == 1


def test_per_rater_figures_and_flags():
    # ann and bob agree on every item; cat always says 5. Gold on items 0-4 is ann's level.
    ratings = frame([[1, 2, 3, 1, 2, 3], [1, 2, 3, 1, 2, 3], [5, 5, 5, 5, 5, 5]], ["ann", "bob", "cat"])
    ratings["seconds"] = np.arange(len(ratings), dtype=float)
    ratings["gold_level"] = ratings["item"].map({f"i{j}": [1, 2, 3, 1, 2][j] for j in range(5)})
    rep = agr.rater_report(ratings).set_index("rater")
    assert rep.loc["ann", ["n_labels", "consensus_agreement", "gold_accuracy", "n_gold"]].tolist() == [6, 1.0, 1.0, 5]
    assert rep.loc["cat", "consensus_agreement"] == 0.0 and rep.loc["cat", "gold_accuracy"] == 0.0
    assert rep.loc["ann", "median_seconds"] == 2.5
    # cat's shares (5: 1.0) against everyone's (1, 2, 3: 2/9 each, 5: 1/3): TVD = 2/3
    assert rep.loc["cat", "level_tvd"] == pytest.approx(2 / 3)
    assert rep.loc["cat", "flags"] == ["gold accuracy 0.00 < 0.50 on 5 gold items",
                                       "agreement with consensus 0.00 < 0.40 on 6 shared items",
                                       "level distribution differs from everyone's (TVD 0.67 > 0.50)"]
    assert not rep.loc["ann", "flagged"] and rep.loc["cat", "flagged"]


@pytest.mark.parametrize("weights, expected", [(None, 1), ({"a": 1, "b": 3}, 5), ({"a": 1, "b": 1}, 1)],
                         ids=["lower_median", "weighted_towards_b", "equal_weights"])
def test_consensus_is_the_lower_weighted_median(weights, expected):
    got = consensus(pd.DataFrame({"item": ["x", "x"], "rater": ["a", "b"], "level": [1, 5]}), weights)
    assert got[["level", "n_raters", "agreement"]].values.tolist() == [[expected, 2, 0.5]]


def test_wilson_interval_known_values():
    assert agr.wilson_interval(5, 10) == (pytest.approx(0.2366, abs=1e-4), pytest.approx(0.7634, abs=1e-4))
    assert agr.wilson_interval(0, 0) == (pytest.approx(math.nan, nan_ok=True), pytest.approx(math.nan, nan_ok=True))


@pytest.mark.parametrize("ratings, match", [
    (pd.DataFrame({"item": [1], "level": [3]}), r"need the columns item, rater, level; missing rater"),
    (pd.DataFrame({"item": [1], "rater": ["a"], "level": [7]}), r"levels must be one of \[1, 2, 3, 4, 5\]; got \[7\]"),
    (pd.DataFrame({"item": [1, 1], "rater": ["a", "a"], "level": [3, 4]}), r"1 repeated \(item, rater\) ratings"),
], ids=["missing_column", "level_out_of_range", "repeated"])
def test_bad_ratings_tables_are_refused(ratings, match):
    with pytest.raises(ValueError, match=match):
        agr.agreement(ratings)


# ------------------------------------------------------------------------------------------ files and CLI

def test_file_with_doc_id_and_esci_scale_counts_steps_on_that_scale(tmp_path):
    f = tmp_path / "l.csv"
    f.write_text("query,doc_id,rater,esci_label\nshoes,P1,a,I\nshoes,P1,b,C\nshoes,P2,a,S\nshoes,P2,b,E\n")
    ratings, levels = read_ratings(f)
    assert levels == (1, 3, 4, 5) and ratings["level"].tolist() == [1, 3, 4, 5]
    report = agr.agreement(ratings, levels=levels, min_shared=1)
    assert (report.exact, report.within_one) == (0.0, 1.0)  # I-C and S-E are neighbours on the ESCI scale


@pytest.mark.parametrize("text, match", [
    ("query,product_id,level\nshoes,P1,3\n", r"agreement needs a 'rater' column"),
    ("query,product_id,rater,level\nshoes,P1,a,3\nshoes,P2,,4\n", r"row 2: rater: missing rater"),
    ("query,product_id,rater,level\nshoes,P1,a,9\n", r"row 1: level: '9' is not on the 5pt scale"),
    ("query,product_id,rater,level\nshoes,P1,a,3\nshoes,P1,a,4\n", r"duplicate judgment"),
], ids=["no_rater_column", "empty_rater", "level_out_of_range", "duplicate"])
def test_bad_label_files_list_their_rows(tmp_path, text, match):
    f = tmp_path / "bad.csv"
    f.write_text(text)
    with pytest.raises(ImportValidationError, match=match):
        read_ratings(f)


def test_cli_agreement_json_matches_the_reference(tmp_path, capsys):
    m = random_ratings(7, 4, 30, 0.25)
    df = frame(m.tolist(), ["ann", "bob", "cat", "dan"])
    df["query"] = "q " + df["item"]
    df["product_id"] = "P1"
    path, out = tmp_path / "labels.csv", tmp_path / "a.json"
    df[["query", "product_id", "rater", "level"]].to_csv(path, index=False)
    assert main(["agreement", "--labels", str(path), "--json", str(out)]) == 0
    got = json.loads(out.read_text())
    assert {"alpha_ordinal", "kappa_quadratic", "exact", "within_one", "n_items_multi", "raters"} <= set(got)
    assert got["alpha_ordinal"] == pytest.approx(krippendorff.alpha(reliability_data=m, value_domain=[1, 2, 3, 4, 5],
                                                                     level_of_measurement="ordinal"))
    assert got["kappa_quadratic"] == pytest.approx(reference_kappa(m, agr.LEVELS, 5))
    assert [r["rater"] for r in got["raters"]] == ["ann", "bob", "cat", "dan"]
    assert "Krippendorff's alpha (ordinal)" in capsys.readouterr().out
    assert main(["agreement", "--labels", str(tmp_path / "missing.csv")]) == 2
    assert "no such file" in capsys.readouterr().err
