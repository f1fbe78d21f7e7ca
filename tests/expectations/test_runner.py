"""The expectation suites and the GX runner on small DataFrames."""

from __future__ import annotations

import pandas as pd
import pytest

from expectations import runner
from warehouse.sources import COLUMNS, frame


def test_suites_are_valid_gx_suites():
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    names = runner.suite_names()
    assert set(names) >= {"subjects", "sessions", "scans", "icac_artery_measures",
                          "icac_session_measures", "svd_measures", "session_integrity",
                          "measure_integrity", "change_arithmetic", "batch_profile"}
    for name in names:
        spec = runner.load_suite_spec(name)
        assert spec["name"] == name and spec["meta"]["scope"] in {"batch", "merged"}
        for exp in spec["expectations"]:
            ExpectationConfiguration(type=exp["type"], kwargs=exp["kwargs"]).to_domain_obj()


@pytest.fixture(scope="module")
def gx_dir(tmp_path_factory):
    """One GX context for this module."""
    return tmp_path_factory.mktemp("gx")


def _svd(**over):
    row = {"subject": "a", "session": "M00", "status": "ok", "wmh_volume_cm3": 12.5,
           "wmh_pv_volume_cm3": 7.0, "wmh_deep_volume_cm3": 5.5, "fazekas_pv": 2,
           "fazekas_deep": 1, "fazekas_total": 3, "microbleed_count": 2,
           "microbleed_volume_mm3": 17.0, "microbleed_contrast": "T2starw", "lacune_count": 1,
           "pvs_count": 4, "pv_punctate_grade": 2, "svd_score": 2}
    row.update(over)
    return row


def _frame(rows):
    df = frame("svd_measures", rows)
    df["run_id"] = "r"
    return df


@pytest.mark.parametrize(("bad", "expected"), [
    ({"wmh_volume_cm3": 301.0}, "expect_column_values_to_be_between(wmh_volume_cm3)"),
    ({"fazekas_deep": 4}, "expect_column_values_to_be_in_set(fazekas_deep)"),
    ({"fazekas_total": 7}, "expect_column_values_to_be_in_set(fazekas_total)"),
    ({"lacune_count": -1}, "expect_column_values_to_be_between(lacune_count)"),
    ({"subject": None}, "expect_column_values_to_not_be_null(subject)"),
    ({"status": "done"}, "expect_column_values_to_be_in_set(status)"),
])
def test_svd_suite_names_the_failure(gx_dir, bad, expected):
    good = _frame([_svd(), _svd(session="M12", fazekas_total=6, fazekas_pv=3, fazekas_deep=3)])
    report = runner.validate_frames({"svd_measures": good}, gx_dir=gx_dir,
                                    target="staging", build_docs=False)
    assert report.success, report.failed_names()
    broken = _frame([_svd(), _svd(session="M12", **bad)])
    report = runner.validate_frames({"svd_measures": broken}, gx_dir=gx_dir,
                                    target="staging", run_name=f"t-{bad}", build_docs=True)
    assert report.failed_names() == [f"svd_measures.{expected}"]
    fail = report.failures[0]
    assert fail.unexpected_count == 1 or expected.startswith("expect_column_values_to_not")
    assert report.docs_index is not None and report.docs_index.is_file()
    assert "FAILED" in report.markdown() and expected in report.markdown()


def test_type_expectation_catches_wrong_dtype(gx_dir):
    df = _frame([_svd()])
    df["fazekas_total"] = df["fazekas_total"].astype(object).map(str)
    report = runner.validate_frames({"svd_measures": df}, gx_dir=gx_dir,
                                    target="staging", build_docs=False)
    assert ("svd_measures.expect_column_values_to_be_in_type_list(fazekas_total)"
            in report.failed_names())


def test_subject_age_range(gx_dir):
    rows = [{"subject": "a", "sex": "M", "age": 17, "smoking": "yes"},
            {"subject": "b", "sex": "F", "age": 64.0, "smoking": "no"}]
    df = frame("subjects", rows)
    df["run_id"] = "r"
    assert list(df.columns) == [*COLUMNS["subjects"], "run_id"]
    report = runner.validate_frames({"subjects": df}, gx_dir=gx_dir,
                                    target="staging", build_docs=False)
    assert report.failed_names() == ["subjects.expect_column_values_to_be_between(age)"]
    assert pd.isna(df.loc[0, "hypertension"])


def _forget_context(path):
    key = path.resolve()
    runner._CONTEXTS.pop(key, None)
    runner._REGISTERED.pop(key, None)
    runner._SUITE_PAGES.pop(key, None)


@pytest.mark.parametrize("damage", ["empty suite", "half suite", "empty result", "bad yml"])
def test_a_store_left_broken_by_a_kill_is_repaired(tmp_path, damage):
    """A load killed while GX wrote its stores must not stop the next load."""
    gx = tmp_path / "gx"
    df = _frame([_svd()])
    assert runner.validate_frames({"svd_measures": df}, gx_dir=gx, target="staging",
                                  run_name="one", build_docs=True).success
    suite = gx / "gx" / "expectations" / "svd_measures.json"
    results = sorted((gx / "gx" / "uncommitted" / "validations").rglob("*.json"))
    assert suite.is_file() and results
    if damage == "empty suite":
        suite.write_text("")
    elif damage == "half suite":
        suite.write_text(suite.read_text()[:200])
    elif damage == "empty result":
        results[0].write_text("")
    else:
        yml = gx / "gx" / "great_expectations.yml"
        yml.write_text(yml.read_text()[:50] + "\n  : [")
    _forget_context(gx)  # the next load is a new process
    report = runner.validate_frames({"svd_measures": df}, gx_dir=gx, target="staging",
                                    run_name="two", build_docs=True)
    assert report.success and report.docs_index.is_file()
    if damage == "bad yml":
        assert len(list(gx.glob("gx.broken-*"))) == 1


def test_validation_only_validates_frames():
    """No module of expectations/ opens a database: the warehouse fetches the frames
    (warehouse/suite_frames.py) and the runner validates what it is given (issue 21 item 5)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "expectations"
    found = set()
    for f in sorted(root.glob("*.py")):
        for node in ast.walk(ast.parse(f.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            found |= {(f.name, n) for n in names if n.split(".")[0] == "duckdb"
                      or n in ("warehouse.db", "warehouse.resource")}
    assert found == set(), found
