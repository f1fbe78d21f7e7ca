"""Warehouse benchmark: load speed and analyst-view latency.

1. Load: a fake study of N sessions (default 10,000 = 5,000 subjects x 2 visits, with scans and
   sidecars) is written by tests/warehouse/conftest.py:make_fake_study, then
   ``load_derivatives`` runs (read -> stage -> validate with GX -> promote -> Parquet export).
   Bar: <= 10 s (GX import, ~4 s once per process, is timed separately).
2. Views: a warehouse with 1,000,000 ICAC artery rows (~143k sessions) built in SQL and the
   analyst views materialized (as every promotion does); each analyst query runs 30 times.
   Bar: p95 <= 100 ms. The same queries on the live definitions (v_*_live) are timed too.

Run: ``.venv/bin/python -m bench.warehouse [--sessions 10000] [--rows 1000000]``;
writes bench/results/warehouse.json.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "warehouse.json"

VIEW_QUERIES: dict[str, tuple[str, bool]] = {
    "baseline_cohort_by_group": (
        "SELECT severity_group, count(*), avg(fazekas_total), avg(wmh_volume_cm3), "
        "avg(total_calcium_volume_mm3) FROM v_baseline_cohort GROUP BY 1", False),
    "one_year_change_by_group": (
        "SELECT severity_group, count(*), avg(fazekas_total_change), "
        "avg(wmh_volume_cm3_change), avg(microbleed_count_change) "
        "FROM v_one_year_change GROUP BY 1", False),
    "session_measures_subject": (
        "SELECT * FROM v_session_measures WHERE subject = $subject", True),
    "icac_by_artery_summary": (
        "SELECT artery, side, count(*), avg(calcium_volume_mm3), sum(n_plaques) "
        "FROM v_icac_by_artery GROUP BY ALL", False),
    "icac_by_artery_subject": (
        "SELECT * FROM v_icac_by_artery WHERE subject = $subject", True),
    "subject_summary_subject": (
        "SELECT * FROM v_subject_summary WHERE subject = $subject", True),
    "subject_summary_by_group": (
        "SELECT baseline_severity_group, count(*), avg(last_fazekas_total) "
        "FROM v_subject_summary GROUP BY 1", False),
}

BUILD_SQL = """
INSERT INTO subjects
SELECT printf('%010x', i), CASE WHEN i % 2 = 0 THEN 'M' ELSE 'F' END, 45 + i % 35,
       i % 3 = 0, i % 2 = 0, i % 5 = 0, i % 4 = 0, i % 7 = 0, i % 9 = 0, 'bench'
FROM range($n_subjects) t(i);
INSERT INTO sessions
SELECT printf('%010x', i), s.label, CASE WHEN s.k = 0 THEN 'baseline' ELSE 'followup' END,
       s.k * (350 + i % 30), true, true, true, true, true, 5, 'bench'
FROM range($n_subjects) t(i), (VALUES (0, 'M00'), (1, 'M12')) s(k, label);
INSERT INTO icac_artery_measures
SELECT printf('%010x', i), s.label, a.artery, a.side, (i % 50) * 1.5, (i % 50) * 3.1,
       (i % 50) * 0.9, i % 4, 300 + i % 400, (i % 36) * 5, 'bench'
FROM range($n_subjects) t(i), (VALUES ('M00'), ('M12')) s(label),
     (VALUES ('ICA','L'), ('ICA','R'), ('MCA','L'), ('MCA','R'), ('BA','M'), ('VA','L'),
             ('VA','R')) a(artery, side);
INSERT INTO icac_session_measures
SELECT printf('%010x', i), s.label, 'ok', NULL, (i % 50) * 10.5, (i % 50) * 21.7,
       (i % 50) * 6.3, (i % 4) * 7, i % 8, (i % 36) * 5,
       ['none_mild', 'moderate', 'severe'][1 + i % 3], ['MCA', 'BA', 'ICA'][1 + i % 3],
       '0.1.0', 'bench', 'h', 'now', 'bench'
FROM range($n_subjects) t(i), (VALUES ('M00'), ('M12')) s(label);
INSERT INTO svd_measures
SELECT printf('%010x', i), s.label, 'ok', NULL, 5 + i % 20 + s.k, 3 + i % 12, 2 + i % 8,
       i % 4, (i + 1) % 4, i % 4 + (i + 1) % 4, i % 6 + s.k, (i % 6) * 8.5, 'T2starw',
       i % 3, i % 15, i % 4, i % 5, '0.1.0', 'bench', 'h', 'now', 'bench'
FROM range($n_subjects) t(i), (VALUES (0, 'M00'), (1, 'M12')) s(k, label);
"""


def _p95(values: list[float]) -> float:
    return sorted(values)[max(0, int(round(0.95 * len(values))) - 1)]


def bench_load(n_sessions: int, workdir: Path) -> dict:
    """Time load_derivatives on a fake study of ``n_sessions`` (two per subject)."""
    from bench.fake_study import make_fake_study
    from calcisvd.settings import load_settings
    from warehouse.load import load_derivatives

    settings = load_settings(env={}, overrides={"home": workdir / "load"})
    t = time.perf_counter()
    make_fake_study(settings.bids_dir, settings.derivatives_dir, n_sessions // 2, seed=7)
    gen_s = time.perf_counter() - t
    t = time.perf_counter()
    import great_expectations  # noqa: F401 - timed on its own: once per process

    gx_import_s = time.perf_counter() - t
    c = time.process_time()
    first = load_derivatives(settings.warehouse_paths(), build_docs=True)
    first_cpu = time.process_time() - c
    c = time.process_time()
    second = load_derivatives(settings.warehouse_paths(), build_docs=True)
    second_cpu = time.process_time() - c
    assert first.ok and second.ok, first.failure_details + second.failure_details
    return {
        "sessions": n_sessions, "fixture_generation_s": round(gen_s, 2),
        "gx_import_s": round(gx_import_s, 2),
        "first_load_s": round(first.timings_s["total"], 3),
        "first_load_steps_s": {k: round(v, 3) for k, v in first.timings_s.items()},
        "first_load_cpu_s": round(first_cpu, 3),
        "reload_s": round(second.timings_s["total"], 3),
        "reload_cpu_s": round(second_cpu, 3),
        "reload_steps_s": {k: round(v, 3) for k, v in second.timings_s.items()},
        "reload_written_rows": sum(second.written.values()),
        "rows_loaded": first.written, "bar_s": 10.0,
        "pass": first.timings_s["total"] <= 10.0,
    }


def bench_views(n_rows: int, workdir: Path, repeats: int = 30) -> dict:
    """p95 latency of the analyst queries over ``n_rows`` ICAC artery rows."""
    from warehouse import db

    n_subjects = max(1, n_rows // 14)
    path = workdir / "views.duckdb"
    con = db.connect(path)
    t = time.perf_counter()
    with db.transaction(con):
        db.run_script(con, BUILD_SQL, {"n_subjects": n_subjects})
    build_s = time.perf_counter() - t
    t = time.perf_counter()
    with db.transaction(con):  # what every promotion does
        db.refresh_views(con)
    refresh_s = time.perf_counter() - t
    n_measure_rows = con.execute("SELECT count(*) FROM icac_artery_measures").fetchone()[0]
    subject = con.execute("SELECT subject FROM subjects LIMIT 1 OFFSET 1234").fetchone()[0]
    out: dict[str, dict[str, float]] = {}
    live: dict[str, dict[str, float]] = {}
    for name, (sql, with_subject) in VIEW_QUERIES.items():
        params = {"subject": subject} if with_subject else None
        out[name] = _time_query(con, sql, params, repeats)
        # the same query on the live definition (computed from the tables at query time)
        live_sql = re.sub(r"\b(v_[a-z_]+)\b", r"\1_live", sql)
        live[name] = _time_query(con, live_sql, params, max(5, repeats // 3))
    con.close()
    worst = max(v["p95_ms"] for v in out.values())
    return {"icac_artery_rows": n_measure_rows, "subjects": n_subjects,
            "sessions": 2 * n_subjects, "build_s": round(build_s, 2),
            "refresh_materialized_s": round(refresh_s, 3), "queries": out,
            "live_view_queries": live, "worst_p95_ms": worst, "bar_ms": 100.0,
            "pass": worst <= 100.0}


def _time_query(con, sql: str, params, repeats: int) -> dict[str, float]:
    con.execute(sql, params).fetchall()  # warm
    wall, cpu = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        con.execute(sql, params).fetchall()
        wall.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
    return {"p50_ms": round(statistics.median(wall), 2), "p95_ms": round(_p95(wall), 2),
            "cpu_p50_ms": round(statistics.median(cpu), 2)}


def main(argv: list[str] | None = None) -> int:
    """Run both benchmarks and write bench/results/warehouse.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    from calcisvd.env import apply_offline_env

    apply_offline_env()
    with tempfile.TemporaryDirectory(prefix="calcisvd-bench-wh-") as tmp:
        views = bench_views(args.rows, Path(tmp))
        load = bench_load(args.sessions, Path(tmp))
    result = {"load": load, "views": views}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"load {load['sessions']} sessions: {load['first_load_s']} s wall, "
          f"{load['first_load_cpu_s']} s CPU (bar 10 s; GX import {load['gx_import_s']} s "
          f"apart), reload {load['reload_s']} s writing {load['reload_written_rows']} rows")
    print(f"  steps: {load['first_load_steps_s']}")
    print(f"views at {views['icac_artery_rows']} artery rows: worst p95 "
          f"{views['worst_p95_ms']} ms (bar 100 ms)")
    for name, v in views["queries"].items():
        lv = views["live_view_queries"][name]
        print(f"  {name:28s} p50 {v['p50_ms']:7.2f} ms  p95 {v['p95_ms']:7.2f} ms"
              f"   (live definition p95 {lv['p95_ms']:7.2f} ms)")
    return 0 if load["pass"] and views["pass"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
