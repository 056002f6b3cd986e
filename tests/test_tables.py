"""factroots.tables: one definition of each table, one reader with a one-line error."""

from __future__ import annotations

import pandas as pd
import pytest

from factroots.errors import FactrootsError
from factroots.tables import NEURONS, PREDICTIONS, TRACE, is_correct, read_table


def test_every_table_has_its_columns_once():
    for table in (TRACE, PREDICTIONS, NEURONS):
        assert len(set(table.columns)) == len(table.columns) > 5


def test_a_missing_file_is_one_line_naming_the_table(tmp_path):
    with pytest.raises(FactrootsError) as err:
        read_table(tmp_path / "no.parquet", NEURONS)
    assert str(err.value) == f"neurons file not found: {tmp_path / 'no.parquet'}"


def test_a_missing_column_is_one_line_naming_the_column_and_the_writer(tmp_path):
    path = tmp_path / "t.parquet"
    frame = pd.DataFrame({c: [] for c in TRACE.columns}).drop(columns=["status", "mode"])
    frame.to_parquet(path)
    with pytest.raises(FactrootsError) as err:
        read_table(path, TRACE)
    assert str(err.value) == (
        f"{path} is not a trace table (missing mode, status; written by factroots trace)"
    )
    with pytest.raises(FactrootsError, match="^the trace frame is not a trace table"):
        read_table(frame, TRACE)


def test_a_file_that_is_not_parquet_is_one_line(tmp_path):
    path = tmp_path / "p.parquet"
    path.write_text("lang,uuid\n")
    with pytest.raises(FactrootsError, match="is not a predictions table .not parquet") as err:
        read_table(path, PREDICTIONS)
    assert "\n" not in str(err.value)


def test_a_frame_with_every_column_comes_back_as_it_is():
    frame = pd.DataFrame({c: [] for c in NEURONS.columns})
    assert read_table(frame, NEURONS) is frame


def test_correct_means_every_mask_predicted_as_the_object_token_in_order():
    assert is_correct((5,), [5])
    assert is_correct([1, 2], (1, 2))
    assert not is_correct([2, 1], [1, 2])
    assert not is_correct([1], [1, 2])
