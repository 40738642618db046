"""CSV downloads and exports neutralise spreadsheet formulas (issue 15, item 9)."""

from __future__ import annotations

import pandas as pd
import pytest

from core.safe_csv import neutralise, to_csv

PLANTED = ["=HYPERLINK(\"http://x.invalid\",\"click\")", "+SUM(1,2)", "-2+3", "@SUM(A1:A9)", "\t=1", "\r=1"]


@pytest.mark.parametrize("cell", PLANTED)
def test_formula_cells_become_text(cell):
    out = neutralise(pd.DataFrame({"query": [cell], "level": [5]}))
    assert out.at[0, "query"] == "'" + cell and out.at[0, "level"] == 5


def test_plain_text_and_numbers_are_unchanged(tmp_path):
    df = pd.DataFrame({"query": ["usb cable", "a=b", None], "score": [-0.5, 1.0, 2.0]})
    assert neutralise(df).equals(df)
    to_csv(df, tmp_path / "x.csv")
    assert pd.read_csv(tmp_path / "x.csv")["score"].tolist() == [-0.5, 1.0, 2.0]  # negative numbers stay numbers


def test_export_labels_writes_no_formula(catalog_url, tmp_path):
    from core.campaigns.consensus import export_labels
    from core.ingest import import_judgments
    from core.store.session import session_scope
    from db.models import Product
    from sqlalchemy import select

    with session_scope(catalog_url) as s:
        pid = s.scalar(select(Product.product_id).limit(1))
    (tmp_path / "j.csv").write_text(f'query,product_id,level\n"=HYPERLINK(""http://x.invalid"")",{pid},5\n'
                                    f'"@SUM(A1:A9)",{pid},4\n')
    import_judgments(tmp_path / "j.csv", url=catalog_url)
    export_labels(tmp_path / "out.csv", catalog_url)
    text = (tmp_path / "out.csv").read_text()
    assert "'=HYPERLINK" in text and "'@SUM" in text
    assert not any(line.startswith(("=", "@", "+")) or ",=" in line or ",@" in line for line in text.splitlines())
