"""The marker registry (calcisvd.measures.MARKER_REGISTRY) against every place a marker lives.

One check, :func:`marker_gaps`, compares each registered marker with the warehouse schema built
by the real migrations (column and type), its table's Great Expectations suite (column set,
type list, range or allowed values), the analyst views that carry it, and the statistics'
marker list. docs/markers.md "How to add a marker" names the same places; the test that adds a
marker to the registry only shows every one of them as a gap, so the checklist and the check
cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import duckdb
import pytest

from calcisvd.measures import (
    ICAC_SESSION_MEASURES,
    MARKER_REGISTRY,
    SVD_MEASURES,
    MarkerSpec,
    markers_of,
)
from warehouse.db import migrate
from warehouse.sources import COLUMNS

ROOT = Path(__file__).resolve().parents[2]
SUITES = ROOT / "expectations" / "suites"
#: registry dtype -> DuckDB column types and pandas dtypes the suites accept
SQL_TYPES = {"float": {"DOUBLE"}, "int": {"INTEGER", "BIGINT"}, "str": {"VARCHAR"}}
PANDAS_TYPES = {"float": {"float64", "Float64Dtype"},
                "int": {"int32", "int64", "Int32Dtype", "Int64Dtype"},
                "str": {"object", "str"}}
CHANGE_VIEW = "v_one_year_change_live"
#: the places a marker must be declared in, as docs/markers.md names them
PLACES = ("calcisvd/measures.py", "warehouse/migrations", "expectations/suites",
          "warehouse/views/020_analyst_views.sql", "tasks/stats/markers.py")


def _expectations(table: str) -> list[dict]:
    return json.loads((SUITES / f"{table}.json").read_text())["expectations"]


def _view_columns(con, view: str) -> set[str]:
    return {r[0] for r in con.execute(f"DESCRIBE {view}").fetchall()}


def marker_gaps(registry, con, analysed: tuple[str, ...]) -> list[tuple[str, str]]:
    """(place, what is missing) for every registered marker not declared where it must be."""
    gaps: list[tuple[str, str]] = []
    for m in registry:
        cols = dict(con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'main' AND table_name = ?", [m.table]).fetchall())
        if cols.get(m.name) not in SQL_TYPES[m.dtype]:
            gaps.append(("warehouse/migrations",
                         f"{m.table}.{m.name}: {cols.get(m.name)} is not {m.dtype}"))
        exps = _expectations(m.table)
        colset = next(e["kwargs"]["column_set"] for e in exps
                      if e["type"] == "expect_table_columns_to_match_set")
        types = [e["kwargs"]["type_list"] for e in exps
                 if e["type"] == "expect_column_values_to_be_in_type_list"
                 and e["kwargs"]["column"] == m.name]
        between = [(e["kwargs"].get("min_value"), e["kwargs"].get("max_value")) for e in exps
                   if e["type"] == "expect_column_values_to_be_between"
                   and e["kwargs"]["column"] == m.name]
        in_set = [tuple(e["kwargs"]["value_set"]) for e in exps
                  if e["type"] == "expect_column_values_to_be_in_set"
                  and e["kwargs"]["column"] == m.name]
        if m.name not in colset or not types or set(types[0]) != PANDAS_TYPES[m.dtype]:
            gaps.append(("expectations/suites", f"{m.table}.{m.name}: column or type"))
        if m.values is not None and in_set != [tuple(m.values)]:
            gaps.append(("expectations/suites", f"{m.table}.{m.name}: values {in_set}"))
        if m.values is None and (m.low, m.high) != (None, None) and between != [(m.low, m.high)]:
            gaps.append(("expectations/suites", f"{m.table}.{m.name}: range {between}"))
        for view in m.views:
            name = (f"{m.name}_change" if view == CHANGE_VIEW and m.table == "svd_measures"
                    else m.name)
            if name not in _view_columns(con, view):
                gaps.append(("warehouse/views/020_analyst_views.sql", f"{view}.{name}"))
        if m.table == "svd_measures" and m.kind is not None and m.name not in analysed:
            gaps.append(("tasks/stats/markers.py", f"{m.name} not in ORDER"))
    return gaps


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    c = duckdb.connect(str(tmp_path_factory.mktemp("registry") / "w.duckdb"))
    migrate(c)
    yield c
    c.close()


def test_every_registered_marker_is_declared_everywhere(con):
    from tasks.stats.markers import ORDER

    assert marker_gaps(MARKER_REGISTRY, con, ORDER) == []


def test_generated_places_follow_the_registry():
    from tasks.stats.markers import MARKERS

    for table in ("svd_measures", "icac_session_measures", "icac_artery_measures"):
        for m in markers_of(table):
            assert COLUMNS[table][m.name] == m.dtype
    assert list(SVD_MEASURES) == [m.name for m in markers_of("svd_measures")]
    assert list(ICAC_SESSION_MEASURES) == [m.name for m in markers_of("icac_session_measures")]
    analysed = {m.name: m for m in MARKERS}
    for m in markers_of("svd_measures"):
        assert (m.name in analysed) == (m.kind is not None)
        if m.kind is not None:
            assert (analysed[m.name].kind, analysed[m.name].label) == (m.kind, m.label)
    names = [(m.table, m.name) for m in MARKER_REGISTRY]
    assert len(names) == len(set(names))


def test_a_new_marker_shows_every_place_of_the_how_to(con):
    """Adding a marker to the registry alone leaves exactly the documented places to do."""
    from tasks.stats.markers import ORDER

    new = MarkerSpec("cmb_lobar_count", "svd_measures", "count", "int", "Lobar microbleeds",
                     low=0, kind="count", views=("v_session_measures_live", CHANGE_VIEW))
    gaps = marker_gaps((new,), con, ORDER)
    assert {place for place, _ in gaps} == set(PLACES) - {"calcisvd/measures.py"}
    # the documented checklist names the same places, in the same order
    doc = (ROOT / "docs" / "markers.md").read_text()
    section = doc.split("## How to add a marker", 1)[1].split("\n## ", 1)[0]
    steps = re.findall(r"^\d+\. .*?`([^`]+)`", section, flags=re.M)
    assert tuple(steps) == PLACES
    # a wrong range in the registry is a gap too (the check is not vacuous for ranges)
    wrong = dataclasses.replace(markers_of("svd_measures")[0], high=200)
    assert marker_gaps((wrong,), con, ORDER) == [
        ("expectations/suites", "svd_measures.wmh_volume_cm3: range [(0, 300)]")]
