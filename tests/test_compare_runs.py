"""bench/compare_runs.py: two cross-validation runs against each other on the test folds both have."""

from __future__ import annotations

import pytest

from bench.compare_runs import compare
from test_teacher_cv import _fake_run


def test_a_better_run_wins_on_the_common_folds_and_a_run_ties_with_itself(tmp_path):
    # the same seed: the same pairs and levels; B puts more probability on the right level; A has only fold 0
    _fake_run(tmp_path, "a", 0.0, 1000, seed=1, folds=(0,), n_folds=2)
    _fake_run(tmp_path, "b", 0.5, 1000, seed=1, folds=(0, 1), n_folds=2)
    folds, pairs, rows = compare(tmp_path, "a", "b")
    assert folds == [0] and set(pairs["fold"]) == {0}
    by = {r["language"]: r for r in rows}
    assert set(by) == {"all", "en", "es", "ja"}
    assert by["all"]["auc_b"] > by["all"]["auc_a"] and by["all"]["acc_b"] > by["all"]["acc_a"]
    assert by["all"]["p_acc"] < 0.05 and by["all"]["mean_auc_b"] > by["all"]["mean_auc_a"]
    _, _, same = compare(tmp_path, "b", "b")
    assert all(r["p_auc"] == 1 and r["auc_a"] == pytest.approx(r["auc_b"]) for r in same)


def test_runs_over_other_pairs_are_refused(tmp_path):
    _fake_run(tmp_path, "a", 0.0, 1000, seed=1)
    _fake_run(tmp_path, "b", 0.0, 1000, seed=2)  # other levels
    with pytest.raises(SystemExit, match="differ"):
        compare(tmp_path, "a", "b")


def test_averaged_runs_score_like_the_card_and_a_run_with_itself_changes_nothing(tmp_path):
    """bench/ensemble_runs.py: a run alone scores what the card's fold scores say; averaging a run with itself
    changes nothing; averaging in a worse run lands between the two on accuracy."""
    import json

    from bench.ensemble_runs import ensembles
    from core.workflows.cards.cv_runs import fold_scores, mean_auc

    _fake_run(tmp_path, "weak", 0.0, 1000, seed=3, folds=(0, 1), n_folds=2)
    _fake_run(tmp_path, "strong", 0.5, 1000, seed=3, folds=(0, 1), n_folds=2)
    rows = {r["runs"]: r for r in ensembles(tmp_path, ["weak", "strong"], [["strong", "strong"], ["weak", "strong"]])}
    assert set(rows) == {"weak", "strong", "strong+strong", "weak+strong"}
    docs = {n: json.loads((tmp_path / f"{n}.json").read_text()) for n in ("weak", "strong")}
    card = fold_scores(tmp_path, docs)
    for name in ("weak", "strong"):
        assert rows[name]["auc_all"] == pytest.approx(mean_auc(card, name, "all", 1))
        assert rows[name]["auc_es"] == pytest.approx(mean_auc(card, name, "es", 1))
    assert {k: v for k, v in rows["strong+strong"].items() if k != "runs"} == pytest.approx(
        {k: v for k, v in rows["strong"].items() if k != "runs"})
    assert rows["weak"]["acc_all"] < rows["weak+strong"]["acc_all"] <= rows["strong"]["acc_all"] + 1e-9
    assert len(ensembles(tmp_path, ["weak", "strong"])) == 3  # each alone, then the one pair


def test_ensembles_refuse_runs_over_other_pairs(tmp_path):
    from bench.ensemble_runs import ensembles

    _fake_run(tmp_path, "a", 0.0, 1000, seed=1)
    _fake_run(tmp_path, "b", 0.0, 1000, seed=2)
    with pytest.raises(SystemExit, match="differ"):
        ensembles(tmp_path, ["a", "b"])
