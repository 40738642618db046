"""`relevance score`: pair sources, resumable Parquet scoring, storing predictions, and Ray Data
scale-out with a tiny teacher on a local Ray."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from core.errors import ImportValidationError
from core.workflows.scoring import PROB_COLS, candidate_pairs, pairs_from_file, score_frame, score_ray, score_resumable


@pytest.fixture
def demo(catalog_url, monkeypatch):
    monkeypatch.setenv("RELEVANCE_DB_URL", catalog_url)
    from core.cache import get_catalog
    return get_catalog()


def test_pairs_file_is_validated_with_row_numbers(demo, tmp_path):
    f = tmp_path / "pairs.csv"
    f.write_text(f"query,product_id\nlamp,{demo.ids[0]}\n  ,{demo.ids[1]}\nlamp,NOPE\n")
    with pytest.raises(ImportValidationError, match=r"row 2: query: empty(.|\n)*row 3: product_id: unknown product_id 'NOPE'"):
        pairs_from_file(f, set(demo.ids))
    f.write_text(f"query,product_id\nlamp,{demo.ids[0]}\nlamp,{demo.ids[0]}\nfan,{demo.ids[1]}\n")
    df = pairs_from_file(f, set(demo.ids))
    assert len(df) == 2 and df["query_id"].str.match(r"q[0-9a-f]{10}").all()


def test_candidates_are_bm25_top_k(demo):
    pairs = candidate_pairs(5, queries=pd.DataFrame({"query_id": ["q1"], "query": ["kindle paperwhite"]}))
    assert len(pairs) == 5
    assert "Kindle" in demo.products.at[pairs["product_id"].iat[0], "title"]


def test_resumable_scoring_skips_finished_parts(demo, tmp_path):
    from core.cache import get_scorer
    pairs = candidate_pairs(30, queries=pd.DataFrame({"query_id": ["q1", "q2"], "query": ["lamp", "fan"]}))
    out = tmp_path / "bm25.parquet"
    calls, steps = [], []

    def part(chunk, advance=lambda n: None):
        calls.append(len(chunk))
        return score_frame(get_scorer("bm25"), chunk, advance=lambda n: (steps.append(n), advance(n)))

    # first run "crashes" after one part: simulate by scoring only the first part by hand
    parts = out.with_name(out.name + ".parts")
    parts.mkdir()
    part(pairs.iloc[:25]).to_parquet(parts / "part-00000.parquet", index=False)
    calls.clear()
    steps.clear()
    result = score_resumable(part, pairs, out, progress=False, part_pairs=25)
    assert calls == [25, len(pairs) - 50], "only the unfinished parts are scored again"
    assert sum(steps) == len(pairs) - 25 and len(steps) > len(calls), "progress moves within a part (per query)"
    assert len(result) == len(pairs) and out.exists() and not parts.exists()
    pd.testing.assert_frame_equal(pd.read_parquet(out), result)


@pytest.fixture
def tiny_teacher_artifacts(request, demo, tmp_path, monkeypatch):
    """artifacts/teacher holding a tiny trained teacher (from test_teacher's fixtures)."""
    trained = request.getfixturevalue("trained")
    art = tmp_path / "artifacts"
    shutil.copytree(trained[0].out, art / "teacher")
    monkeypatch.setenv("RELEVANCE_ARTIFACTS_DIR", str(art))
    return art


def test_score_teacher_locally_and_store(tiny_teacher_artifacts, demo, catalog_url, tmp_path, capsys):
    from core.cli import main
    from core.ingest import import_judgments
    from conftest import count
    f = tmp_path / "j.csv"
    f.write_text("query,product_id,level\n" + "".join(f"lamp,{p},3\n" for p in demo.ids[:12]))
    import_judgments(f, url=catalog_url)
    out = tmp_path / "pred.parquet"
    assert main(["score", "teacher", "--judged", "--out", str(out), "--store"]) == 0
    df = pd.read_parquet(out)
    assert len(df) == 12 and set(PROB_COLS + ["expected", "argmax"]) <= set(df.columns)
    assert ((df[PROB_COLS].sum(axis=1) - 1).abs() < 1e-4).all()
    assert count(catalog_url, "predictions") == 12
    assert main(["score", "teacher", "--judged", "--out", str(out), "--store"]) == 0
    assert count(catalog_url, "predictions") == 12, "scoring again replaces, never duplicates"


def test_score_on_ray_matches_local(tiny_teacher_artifacts, demo):
    import ray
    from core.cache import get_scorer
    pairs = candidate_pairs(6, queries=pd.DataFrame({"query_id": ["q1", "q2"], "query": ["lamp", "fan"]}))
    local = score_frame(get_scorer("teacher"), pairs, demo)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        remote = score_ray("teacher", pairs, actors=2, batch_size=4)
    finally:
        ray.shutdown()
    merged = local.merge(remote, on=["query_id", "product_id"], suffixes=("", "_ray"))
    assert len(merged) == len(pairs)
    assert (merged["expected"] - merged["expected_ray"]).abs().max() < 1e-4


def test_an_unknown_model_name_makes_no_folder(demo, tmp_path, monkeypatch, capsys):
    from core.cli.main import main

    monkeypatch.setenv("RELEVANCE_ARTIFACTS_DIR", str(tmp_path / "artifacts" / "inner"))
    assert main(["score", "../../escaped", "--judged"]) == 2
    assert "unknown model '../../escaped'" in capsys.readouterr().err
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "artifacts").exists()
