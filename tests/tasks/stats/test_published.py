import math

import pytest

from tasks.stats import published as pub
from tasks.stats.hypothesis import r_to_p


@pytest.fixture(scope="module")
def tables():
    return pub.load_published(pub.PACKAGED_TABLES)


def test_packaged_copy_is_verbatim_when_shared_exists():
    shared = pub.default_published_path(pub.Path(__file__).resolve().parents[3])
    if shared != pub.PACKAGED_TABLES:
        assert shared.read_bytes() == pub.PACKAGED_TABLES.read_bytes()
    assert pub.default_published_path(pub.Path("/nonexistent/repo")) == pub.PACKAGED_TABLES


def test_parse_p():
    assert pub.parse_p("<0.001") == (0.001, "<")
    assert pub.parse_p(0.032) == (0.032, "=")


def test_r_p_checks_flag_every_readme_inconsistency(tables):
    df = pub.r_p_checks(tables)
    bad = set(zip(df.loc[~df["consistent"], "table"], df.loc[~df["consistent"], "row"],
                  strict=True))
    assert bad >= pub.README_LISTED
    ok = df[df["table"] == "table2"].set_index("row")["consistent"]
    assert ok["fazekas_total"] and ok["microbleed_count"] and ok["wmh_volume_cm3"]
    row = df.set_index(["table", "row"]).loc[("table4", "fazekas_total_change")]
    assert row["p_from_r"] == pytest.approx(r_to_p(0.33, 126)) and row["p_from_r"] < 0.001
    assert row["n_implied_by_p"] == pytest.approx(42, abs=1)
    assert r_to_p(0.33, int(row["n_implied_by_p"])) == pytest.approx(0.032, abs=0.003)


def test_implied_n_inverts_r_to_p():
    n = pub.implied_n(0.3, r_to_p(0.3, 80))
    assert n == 80
    assert math.isnan(pub.implied_n(0.01, 1e-12))


def test_recomputed_table1_matches_published_and_grade_counts_do_not(tables):
    df = pub.recomputed_from_counts(tables).set_index(["table", "row"])
    t1 = df.loc["table1"]
    assert t1["consistent"].all() and len(t1) == 8
    grade = df.loc[("table2", "periventricular_grade_counts")]
    assert not grade["consistent"] and grade["recomputed_stat"] < 0.2  # published r = 0.43


def test_compare_lines_up_means(tables, frames, fast):
    from tasks.stats.tables import table2, table3, table4

    t2, _ = table2(frames.baseline, fast)
    t3, _ = table3(frames.baseline, fast)
    t4 = table4(frames.change, frames.sessions, frames.baseline, fast)
    cmp = pub.compare(tables, t2.data, t3.data, t4.data)
    means = cmp[(cmp["table"] == "table2") & cmp["quantity"].str.startswith("mean")]
    assert len(means) == 9 and means["within_tolerance"].mean() >= 0.75
    r = cmp[(cmp["table"] == "table2") & (cmp["quantity"] == "r with severity")]
    assert r["same_direction"].all()


def test_compare_grade_proportions_iqr_and_agreement(tables, frames, fast):
    from tasks.stats.tables import table2, table3, table4

    t2, g2 = table2(frames.baseline, fast)
    t3, g3 = table3(frames.baseline, fast)
    t4 = table4(frames.change, frames.sessions, frames.baseline, fast)
    cmp = pub.compare(tables, t2.data, t3.data, t4.data, grade2=g2.data, grade3=g3.data)
    prop = cmp[cmp["quantity"] == "proportion g0_1 none_mild"].iloc[0]
    assert prop["published"] == pytest.approx(29 / 60)
    ours = g2.data.set_index("severity_group").loc["none_mild"]
    assert prop["ours"] == pytest.approx(ours["g0_1_count"] / ours["n"])
    assert {"Q1 severe", "Q3 severe"} <= set(cmp["quantity"])
    agree = pub.paper_agreement(cmp)
    assert agree["means_compared"] == 9
    assert agree["direction_and_significance"]["fazekas_total"] is True
    assert agree["means_within_tolerance"] >= 7


def test_compare_table1(tables, frames, fast):
    from tasks.stats.tables import table1, table2, table3, table4

    t1 = table1(frames.baseline, fast)
    t2, _ = table2(frames.baseline, fast)
    t3, _ = table3(frames.baseline, fast)
    t4 = table4(frames.change, None, frames.baseline, fast)
    cmp = pub.compare(tables, t2.data, t3.data, t4.data, table1=t1.data)
    rows = cmp[cmp["table"] == "table1"].set_index(["row", "quantity"])
    age = rows.loc[("age_years", "mean severe")]
    assert age["published"] == 66.1 and abs(age["relative_difference"]) < 0.1
    base = frames.baseline
    sev = base[base["severity_group"] == "severe"]
    assert rows.loc[("hypertension", "proportion yes severe"), "ours"] == pytest.approx(
        sev["hypertension"].mean())
    assert rows.loc[("smoking", "P"), "published"] == 0.137
