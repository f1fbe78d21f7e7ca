"""Robustness benchmark: hostile inputs, SIGKILL at random points, privacy audit (issue 10).

Part 1, hostile inputs: ``--cases`` (default 200) generated cases of every category of
``bench/support/hostile.py`` plus one good study in one drop folder, ingested by
``calcisvd ingest --no-prefect`` in a subprocess. Counts: cases tried, quarantined (every file
named by a reason), handled safely (valid studies with hostile identifiers), not quarantined,
crashes (a run that does not exit 0), whether the good session is in the dataset, and the
peak memory of the ingest process. A crashing run is repeated without the cases that crash it
so that the other cases are still counted.

Part 2, kill and converge, on a small simulated cohort (``calcisvd simulate --subjects 3
--resolution 4`` by default): a reference home runs ingest, quantify and load once; a second
home (the same drop, pseudonym key and simulator truth) is killed with SIGKILL (the whole
process group) in ingest, quantify, load, validate, warehouse restore and analyze, then each
stage is rerun to completion. The kills are triggered by observed progress
(``bench/killpoints.py``: log lines and new files of the stage, a target drawn in the event
span of an uninterrupted run), and a stage is killed until its ``--kills`` points landed (at
most twice as many tries); a point counts only when the command was still working. Compared:
the BIDS tree hash (without derivatives), the sessions, the re-identification map, the
warehouse contents (curated tables ordered by key, run ids and load times left out), every
CSV table of the report (``truth_*`` included), duplicate keys, partial files, staging
leftovers. To keep the run short the quantify kills work on the derivatives of
``--requantify`` sessions plus one more session deleted before each attempt (the others are
copied from the reference, as a rerun would find them up to date). ``--frozen-code`` runs
every subprocess on a copy of the code (others edit the tree meanwhile); ``--code DIR
--reference HOME`` reuse an earlier copy and its reference.

Part 3: ``calcisvd audit-phi`` on both homes.

Writes bench/results/robustness.json; run as ``.venv/bin/python -m bench.robustness``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "robustness.json"


#: where the subprocesses import calcisvd from (a frozen copy with --frozen-code)
CODE = {"root": REPO}
FROZEN_PARTS = ("calcisvd", "tasks", "flows", "warehouse", "expectations")


def freeze_code(dest: Path) -> Path:
    """Copy the packages to ``dest`` so that edits made meanwhile do not change the results."""
    for part in FROZEN_PARTS:
        shutil.copytree(REPO / part, dest / part,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    CODE["root"] = dest
    return dest


def _env(home: Path) -> dict[str, str]:
    from bench.support.cli import cli_env

    env = cli_env(home)
    env["PYTHONPATH"] = str(CODE["root"])
    return env


def _cli(home: Path, *argv: str, timeout: float = 3600) -> subprocess.CompletedProcess:
    from bench.support.cli import cli_command

    return subprocess.run(cli_command(*argv, "--home", str(home)), cwd=CODE["root"],
                          env=_env(home), capture_output=True, text=True, timeout=timeout,
                          check=False)


# ---- part 1 ----------------------------------------------------------------------------------

def hostile_inputs(root: Path, n_cases: int, seed: int) -> dict[str, Any]:
    """Generate and ingest the hostile cases; returns the counts."""
    from bench.support import hostile as H
    from bench.support.cli import make_settings
    from tasks.ingest.deid import load_or_create_key, pseudonym

    settings = make_settings(root / "home")
    t = time.perf_counter()
    cases = H.generate(settings.drop_dir, root / "outside", n=n_cases, seed=seed)
    H.write_good_session(settings.drop_dir)
    gen_s = time.perf_counter() - t
    outside_before = H.tree_listing(root / "outside")
    t = time.perf_counter()
    runs, crashes, removed = [], 0, []
    for _attempt in range(3):
        proc = _cli(settings.home, "ingest", "--no-prefect", "--json")
        ok = proc.returncode in OK_INGEST
        summary = {}
        if ok:
            summary = json.loads(proc.stdout[proc.stdout.index("{"):])
        runs.append({"returncode": proc.returncode,
                     "error": "" if ok else (proc.stderr.strip().splitlines() or [""])[-1][:200]})
        if ok:
            break
        crashes += 1
        # known crash: a dangling symlink (tasks/ingest/sources/base.py stat_row)
        for c in cases:
            for f in c.files:
                p = settings.drop_dir / f
                if p.is_symlink() and not p.exists():
                    p.unlink()
                    removed.append(c.case_id)
    ingest_s = time.perf_counter() - t
    peak_child_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    outcomes = H.case_outcomes(cases, settings.quarantine_dir)
    per_cat: dict[str, dict[str, int]] = {}
    quarantined = safe = missing = partial = 0
    not_quarantined: list[dict] = []
    for c in cases:
        cat = per_cat.setdefault(c.category, {"tried": 0, "quarantined": 0, "not": 0})
        cat["tried"] += 1
        left = H.unquarantined_files(c, outcomes)
        if c.case_id in removed:
            cat["not"] += 1
            missing += 1
            not_quarantined.append({**c.as_dict(), "why": "crashed the run"})
        elif outcomes[c.case_id] and not left:
            cat["quarantined"] += 1
            quarantined += 1
        elif c.expect == "safe" and not outcomes[c.case_id]:
            safe += 1
        else:
            cat["not"] += 1
            missing += 1
            partial += bool(outcomes[c.case_id])
            not_quarantined.append({**c.as_dict(), "files_not_named": len(left)})
    sub = pseudonym(load_or_create_key(settings.pseudonym_key_path), H.GOOD_PATIENT)
    good = sorted(p.name for p in (settings.bids_dir / f"sub-{sub}" / "ses-M00" / "anat")
                  .glob("*.nii.gz"))
    return {
        "home": str(settings.home), "cases_tried": len(cases), "quarantined": quarantined,
        "handled_safely": safe, "not_quarantined": missing,
        "not_quarantined_but_some_files_quarantined": partial, "crashes": crashes,
        "crash_runs": runs, "cases_removed_after_crash": len(set(removed)),
        "good_session_ingested": len(good) == 2,
        "outside_unchanged": H.tree_listing(root / "outside") == outside_before,
        "quarantine_folders": len(list(settings.quarantine_dir.glob("q-*"))),
        "ingest_summary": {k: summary.get(k) for k in ("ingested", "skipped", "quarantined",
                                                       "quarantine_reasons", "skip_reasons")},
        "by_category": per_cat,
        "not_quarantined_cases": not_quarantined[:60],
        "peak_child_rss_mb": round(peak_child_mb, 1),
        "seconds": {"generate": round(gen_s, 1), "ingest": round(ingest_s, 1)},
    }


def isolation_cases(root: Path) -> dict[str, Any]:
    """Issue 23's run-wide failures, each beside good sessions, in one unprivileged ingest
    (``tests/robustness/test_isolation.py``): every case quarantined, no good session lost."""
    from bench.support.cli import cli_command, make_settings
    from bench.support.isolation_drop import write_drop

    settings = make_settings(root / "home")
    bad = write_drop(settings.drop_dir)
    cmd = cli_command("ingest", "--no-prefect", "--json", "--home", str(settings.home))
    if os.geteuid() == 0 and shutil.which("setpriv"):
        cmd = [shutil.which("setpriv"), "--bounding-set=-dac_override,-dac_read_search", *cmd]
    proc = subprocess.run(cmd, cwd=CODE["root"], env=_env(settings.home), capture_output=True,
                          text=True, timeout=900, check=False)
    reasons = [json.loads(p.read_text()) for p in settings.quarantine_dir.glob("*/reason.json")]
    from tasks.ingest.quarantine import path_sha256  # records keep hashed paths only

    named = {f for r in reasons if r.get("reason") for f in r["files_sha256"]}
    cases = {k: path_sha256(v.relative_to(settings.drop_dir).as_posix()) in named
             for k, v in bad.items()}
    good = len(list(settings.bids_dir.glob("sub-*/ses-M00/anat/*.nii.gz")))
    return {"cases_tried": len(cases), "quarantined_with_reason": sum(cases.values()),
            "cases": cases, "returncode": proc.returncode,
            "crashes": int(proc.returncode not in OK_INGEST or "Traceback" in proc.stderr),
            "good_images_ingested": good, "good_images_expected": 4,
            "good_sessions_lost": max(0, 4 - good)}


# ---- part 2 ----------------------------------------------------------------------------------

def snapshot(settings) -> dict[str, Any]:
    """BIDS hash (no derivatives), sessions, warehouse hash, duplicates, leftovers."""
    from bench.support import hostile as H
    from bench.support.cli import warehouse_hash
    from tasks.ingest.pipeline import staging_root

    bids = Path(settings.bids_dir)
    out: dict[str, Any] = {
        "bids": H.tree_hash(bids, skip=[bids / "derivatives"]),
        "sessions": sorted(p.relative_to(bids).as_posix() for p in bids.glob("sub-*/ses-*")),
        "measures": sorted(p.name for p in Path(settings.derivatives_dir)
                           .glob("sub-*/ses-*/*_measures.json")),
        "leftovers": sorted(p.relative_to(bids).as_posix() for p in bids.rglob(".*")
                            if p.name != ".bidsignore")
        + sorted(p.name for p in staging_root(settings).glob("*")),
    }
    partial = 0
    for nii in bids.rglob("*.nii.gz"):
        try:
            gzip.decompress(nii.read_bytes())
        except (OSError, EOFError):
            partial += 1
    for js in bids.rglob("*.json"):
        try:
            json.loads(js.read_text())
        except ValueError:
            partial += 1
    out["partial_files"] = partial
    if Path(settings.warehouse_path).exists():
        import duckdb

        from warehouse.load import CURATED

        out["warehouse"] = warehouse_hash(settings)
        con = duckdb.connect(str(settings.warehouse_path), read_only=True)
        try:
            dup = 0
            rows = {}
            for table, (keys, _, _, _) in CURATED.items():
                n, d = con.execute(f"SELECT count(*), count(DISTINCT ({', '.join(keys)})) "
                                   f"FROM {table}").fetchone()
                dup += n - d
                rows[table] = n
            out["duplicate_rows"] = dup
            out["rows"] = rows
            out["warehouse_sessions"] = sorted(
                f"{s}/{t}" for s, t in con.execute("SELECT subject, session FROM sessions")
                .fetchall())
        finally:
            con.close()
    return out


CODE_COLUMNS = ("inputs_hash", "code_version", "code_revision")


def warehouse_differences(a: Path, b: Path, limit: int = 20) -> list[str]:
    """Cells that differ between two warehouses (curated tables, by key; run ids, load times
    and code-identity columns left out)."""
    import duckdb

    from warehouse.load import CURATED

    out: list[str] = []
    ca = duckdb.connect(str(a), read_only=True)
    cb = duckdb.connect(str(b), read_only=True)
    try:
        for table, (keys, _, _, skip) in CURATED.items():
            cols = [d[0] for d in ca.execute(f"SELECT * FROM {table} LIMIT 0").description
                    if d[0] not in skip and d[0] not in CODE_COLUMNS]
            q = f"SELECT {', '.join(cols)} FROM {table} ORDER BY {', '.join(keys)}"
            ra, rb = ca.execute(q).fetchall(), cb.execute(q).fetchall()
            if len(ra) != len(rb):
                out.append(f"{table}: {len(ra)} vs {len(rb)} rows")
            for x, y in zip(ra, rb, strict=False):
                key = tuple(v for c, v in zip(cols, x, strict=True) if c in keys)
                out += [f"{table}{key}.{c}: {u} vs {v}"
                        for c, u, v in zip(cols, x, y, strict=True) if u != v]
    finally:
        ca.close()
        cb.close()
    return out[:limit]


#: exit codes of an ingest run that worked: 0 ok, 4 partial (some input quarantined)
OK_INGEST = (0, 4)


def _require(proc: subprocess.CompletedProcess, what: str) -> None:
    ok = OK_INGEST if what.startswith("ingest") else (0,)
    if proc.returncode not in ok:
        raise RuntimeError(f"{what} failed ({proc.returncode}): {proc.stdout[-800:]}"
                           f"{proc.stderr[-800:]}")


def build_reference(home: Path, subjects: int, seed: int, resolution: float) -> float:
    """simulate + ingest + quantify + load in ``home`` (fixed pseudonym key); returns the
    seconds the ingest command took (the kill window of ingest is drawn inside it)."""
    from bench.support.cli import make_settings

    make_settings(home)
    _require(_cli(home, "simulate", "--subjects", str(subjects), "--seed", str(seed),
                  "--resolution", str(resolution)), "simulate")
    t0 = time.perf_counter()
    _require(_cli(home, "ingest", "--no-prefect"), "ingest")
    ingest_s = time.perf_counter() - t0
    _require(_cli(home, "quantify", "--n-procs", "1"), "quantify")
    _require(_cli(home, "load", "--no-flow"), "load")
    return ingest_s


# ---- part 3 ----------------------------------------------------------------------------------

def audit(home: Path) -> dict[str, Any]:
    """``calcisvd audit-phi --home`` findings."""
    proc = _cli(home, "audit-phi")
    m = re.search(r"(\d+) finding\(s\)", proc.stdout)
    return {"home": str(home), "returncode": proc.returncode,
            "findings": int(m.group(1)) if m else None,
            "first_lines": proc.stdout.strip().splitlines()[:12]}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write bench/results/robustness.json."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, default=200)
    p.add_argument("--seed", type=int, default=20261126)
    p.add_argument("--subjects", type=int, default=3)
    p.add_argument("--resolution", type=float, default=4.0)
    p.add_argument("--kills", default="14,12,12,12,6,12",
                   help="kill points wanted (each stage tries at most twice as many): "
                        "ingest,quantify,load[,validate[,restore[,analyze]]]")
    p.add_argument("--requantify", type=int, default=1,
                   help="sessions whose derivatives the quantify kills work on")
    p.add_argument("--reference", type=Path, default=None,
                   help="an existing home after simulate+ingest+quantify (fixed key)")
    p.add_argument("--reference-ingest-s", type=float, default=None,
                   help="seconds the --reference home's ingest took (sets the ingest kill "
                        "window)")
    p.add_argument("--workdir", type=Path, default=None)
    p.add_argument("--skip-kills", action="store_true")
    p.add_argument("--frozen-code", action="store_true",
                   help="run the subprocesses on a copy of the code taken at the start "
                        "(others may edit the tree meanwhile)")
    p.add_argument("--code", type=Path, default=None,
                   help="an existing frozen copy (the one the --reference home was built with)")
    args = p.parse_args(argv)
    from calcisvd.env import apply_offline_env

    apply_offline_env()
    root = args.workdir or Path(tempfile.mkdtemp(prefix="calcisvd-robustness-"))
    root.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    result: dict[str, Any] = {"seed": args.seed, "frozen_code": args.frozen_code}
    if args.code:
        CODE["root"] = args.code.resolve()
        result["frozen_code"] = True
    elif args.frozen_code:
        freeze_code(root / "code")
    result["hostile"] = hostile_inputs(root / "hostile", args.cases, args.seed)
    print(f"hostile: {result['hostile']['cases_tried']} cases, "
          f"{result['hostile']['quarantined']} quarantined, "
          f"{result['hostile']['handled_safely']} handled safely, "
          f"{result['hostile']['not_quarantined']} not quarantined, "
          f"{result['hostile']['crashes']} crash(es)", flush=True)
    result["isolation"] = isolation_cases(root / "isolation")
    print(f"isolation: {result['isolation']['quarantined_with_reason']}/"
          f"{result['isolation']['cases_tried']} quarantined with a reason, "
          f"{result['isolation']['good_sessions_lost']} good image(s) lost", flush=True)
    if not args.skip_kills:
        reference = args.reference
        ingest_s = None
        if reference is None:
            reference = root / "reference"
            ingest_s = build_reference(reference, args.subjects, args.seed % 1000,
                                       args.resolution)
        counts = [int(x) for x in args.kills.split(",")] + [0] * 6
        names = ("ingest", "quantify", "load", "validate", "restore", "analyze")
        kills = dict(zip(names, counts[:6], strict=True))
        from bench.robustness_kills import kill_and_converge

        result["kills"] = kill_and_converge(root, reference, kills,
                                            args.requantify, args.seed,
                                            ingest_s or args.reference_ingest_s)
        result["audit_phi"] = [audit(reference), audit(root / "killed")]
    result["audit_phi_hostile"] = audit(root / "hostile" / "home")
    result["seconds"] = round(time.perf_counter() - t0, 1)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    result["cpu_seconds"] = round(time.process_time() + children.ru_utime + children.ru_stime, 1)
    result["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    result["size"] = {"subjects": args.subjects, "resolution_mm": args.resolution,
                      "hostile_cases": args.cases}
    h, k = result["hostile"], result.get("kills", {})
    result["counts"] = {
        "cases_tried": h["cases_tried"], "quarantined": h["quarantined"],
        "handled_safely": h["handled_safely"], "not_quarantined": h["not_quarantined"],
        "crashes": h["crashes"] + result["isolation"]["crashes"],
        "isolation_cases": result["isolation"]["cases_tried"],
        "isolation_quarantined": result["isolation"]["quarantined_with_reason"],
        "good_sessions_lost": result["isolation"]["good_sessions_lost"],
        "kill_points": k.get("kill_points"),
        "kill_points_by_stage": k.get("kill_points_by_stage"),
        "kill_attempts": k.get("kill_attempts_total"),
        "sessions_lost": k.get("sessions_lost"), "duplicate_rows": k.get("duplicate_rows"),
        "lost_rows": k.get("lost_rows"),
        "differences": None if not k else (
            int(not k["bids_equal"]) + int(not k["measures_equal"])
            + int(not k["warehouse_equal"]) + len(k["warehouse_value_differences"])
            + len(k["analyze"].get("tables_differing", []))),
        "phi_findings": sum(a["findings"] or 0 for a in result.get("audit_phi", [])),
        "phi_findings_hostile_home": result["audit_phi_hostile"]["findings"],
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(json.dumps(result["counts"], indent=2))
    if k:
        print(f"converged: bids {k['bids_equal']}, warehouse {k['warehouse_equal']}, "
              f"partial files {k['partial_files']}, leftovers {len(k['leftovers'])}")
    print(f"wrote {RESULTS.relative_to(REPO)} in {result['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
