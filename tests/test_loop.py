"""The loop from raters back to the models: a campaign filled by concurrent raters becomes training
data (consensus), and `relevance train teacher` trains on it."""

from __future__ import annotations

import json
import threading

import pytest
from test_campaigns import RATERS, seed, spec

from core.campaigns import create_campaign, next_task, submit_grade
from core.campaigns.consensus import training_labels
from core.cli import main


@pytest.fixture
def store(sqlite_url, monkeypatch):
    monkeypatch.setenv("RELEVANCE_DB_URL", sqlite_url)
    return seed(sqlite_url)


def test_campaign_labels_flow_into_teacher_training(store, tiny_encoder, tmp_path):
    create_campaign(spec(n_tasks=8, overlap_k=2, overlap_share=1.0), url=store)
    errors = []

    def rater(name: str, level: int):
        try:
            while (t := next_task("c", name, url=store)) is not None:
                submit_grade(t.assignment_id, name, level, seconds=0.5, url=store)
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=rater, args=(n, 4)) for n in RATERS]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    labels = training_labels(store)
    human = labels[labels["source"] == "human"]
    # overlap 2 on every task and raters who agree: every consensus label has two votes
    assert len(human) >= 1 and (human["n_raters"] == 2).all() and (human["level"] == 4).all()

    out = tmp_path / "teacher"
    rc = main(["train", "teacher", "--backbone", tiny_encoder, "--epochs", "1", "--batch-size", "8",
               "--dev-fraction", "0.4", "--max-length", "48", "--out", str(out)])
    assert rc == 0
    meta = json.loads((out / "teacher.json").read_text())
    assert meta["train_pairs"] + meta["dev_pairs"] == len(labels), "every label in force is used, raters' included"
    assert (out / "model_card.md").read_text().count("| teacher |") >= 1
