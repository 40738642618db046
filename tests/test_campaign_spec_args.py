"""``core.cli.campaigns.create_args``: a ``CampaignSpec`` written as the arguments of ``relevance campaign create``
(how the web server starts a campaign as a background job), read back by the real parser and
``spec_from_args`` (what the command itself does) into the same spec.

Every field of ``CampaignSpec`` is round-tripped at a value other than its default, so a field added to the spec
without its option (or with an option the writer and the reader disagree on) fails here.
"""

from __future__ import annotations

from dataclasses import fields, replace

import pytest

from core.campaigns import CampaignSpec
from core.cli.campaigns import create_args, spec_from_args
from core.cli.main import build_parser
from core.errors import InvalidInputError

# a value other than the default for every field of CampaignSpec (each valid on its own)
NON_DEFAULT = {
    "name": "spring ja-en",
    "kind": "side_by_side",
    "strategy": "disagreement",
    "n_tasks": 37,
    "languages": ("ja", "en"),
    "raters": ("rita", "sam", "yuki"),
    "overlap_k": 2,
    "overlap_share": 0.35,
    "gold_ratio": 0.125,
    "gold_sources": ("gold", "import:trusted"),
    "n_gold": 7,
    "lease_seconds": 1234,
    "models": ("student", "bm25", "teacher"),
    "measure": "js",
    "candidates": "bm25",
    "bm25_k": 33,
    "rerank_depth": 55,
    "pool_depth": 6,
    "sbs_k": 4,
    "unlabelled_only": True,
    "seed": 42,
    "created_by": "rex",
    "dataset": "esci_us",
    "instructions": "Rate **carefully**: 日本語の説明も読むこと。\n\n- 5: exact\n- 1: irrelevant",
}
FIELDS = [f.name for f in fields(CampaignSpec)]


def parse(args: list[str]) -> CampaignSpec:
    """What ``relevance ARGS`` would create: the real parser, then the command's own reading."""
    ns = build_parser().parse_args(args)
    assert (ns.command, ns.action) == ("campaign", "create")
    return spec_from_args(ns)


def round_trip(spec: CampaignSpec, tmp_path) -> CampaignSpec:
    return parse(create_args(spec, tmp_path / "instructions.md"))


def test_every_field_has_a_value_other_than_its_default_here():
    missing = set(FIELDS) - set(NON_DEFAULT)
    assert not missing, f"CampaignSpec has new fields {sorted(missing)}: give each a non-default value in NON_DEFAULT"
    assert set(NON_DEFAULT) == set(FIELDS)
    defaults = CampaignSpec(name="x")
    for name in FIELDS:
        assert NON_DEFAULT[name] != getattr(defaults, name), name


@pytest.mark.parametrize("name", FIELDS)
def test_each_field_survives_the_command_line(name, tmp_path):
    spec = CampaignSpec(**({"name": "c"} | {name: NON_DEFAULT[name]}))
    assert getattr(spec, name) == NON_DEFAULT[name]  # the spec kept the value as given
    assert round_trip(spec, tmp_path) == spec


def test_all_fields_at_once_survive_the_command_line(tmp_path):
    grade = CampaignSpec(**(NON_DEFAULT | {"kind": "grade"}))  # gold items are for grade campaigns only
    side_by_side = CampaignSpec(**(NON_DEFAULT | {"strategy": "language-stratified", "gold_ratio": 0.0}))
    for spec in (grade, side_by_side):
        assert round_trip(spec, tmp_path) == spec
    assert (tmp_path / "instructions.md").read_text(encoding="utf-8") == NON_DEFAULT["instructions"]


def test_a_default_spec_leaves_out_its_empty_values():
    spec = CampaignSpec(name="c")
    args = create_args(spec)
    assert parse(args) == parse(["campaign", "create", "c"]) == spec
    empty = ("--languages", "--raters", "--gold-ratio", "--n-gold", "--unlabelled-only", "--seed", "--dataset",
             "--created-by", "--instructions")
    assert not set(args) & set(empty), args
    assert args[:5] == ["campaign", "create", "c", "--kind", "grade"]  # set values are spelled out


def test_the_job_line_names_the_campaign_and_spells_lists_with_commas():
    spec = CampaignSpec(name="sbs", kind="side_by_side", languages=("es", "en"), models=("teacher", "bm25"),
                        created_by="rex")
    args = create_args(spec)
    assert args[:3] == ["campaign", "create", "sbs"]
    assert args[args.index("--models") + 1] == "teacher,bm25" and args[args.index("--languages") + 1] == "es,en"
    assert args[args.index("--created-by") + 1] == "rex"


@pytest.mark.parametrize("changes", [{"name": "-dash"}, {"created_by": "-bob"}, {"seed": -3},
                                     {"gold_sources": ()}, {"overlap_share": 0.0}, {"dataset": "--x"}],
                         ids=["name", "created_by", "negative seed", "no gold sources", "zero share", "dataset"])
def test_values_that_look_like_options_or_empty_lists_survive(changes, tmp_path):
    spec = replace(CampaignSpec(name="c"), **changes)
    assert round_trip(spec, tmp_path) == spec


def test_instructions_need_a_file_to_travel_in():
    spec = CampaignSpec(name="c", instructions="Read the query twice.")
    with pytest.raises(InvalidInputError, match="instructions_file"):
        create_args(spec)
