"""Concurrent ingests with an analyst querying, and SIGKILL at random moments (issue 10, 2-3).

Both tests compare against one serial, uninterrupted reference: the same drop folder (three
patients with two visits each, a clinical CSV and one broken case of most hostile
categories) ingested once by ``calcisvd ingest`` and loaded by ``calcisvd load``. Every home
uses the same pseudonym key, so equal states give equal BIDS tree hashes.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from bench.support import hostile as H
from bench.support.cli import (
    REPO,
    cli_command,
    cli_env,
    make_settings,
    run_cli,
    warehouse_hash,
)

PATIENTS = [f"GOOD{i:04d}" for i in range(3)]
VISITS = (dt.date(2020, 5, 6), dt.date(2021, 5, 10))
#: broken cases that do not depend on paths outside the drop folder (copied drop stays equal)
CATEGORIES = [c for c in H.CATEGORIES if c != "symlink_outside"]
KILL_SEED = 20261126


def write_drop(drop: Path, outside: Path, *, part: int | None = None) -> None:
    """The test drop folder: ``part=1`` only the first patient, else everything."""
    patients = PATIENTS[:1] if part == 1 else PATIENTS
    for pid in patients:
        for date in VISITS:
            H.write_good_session(drop, pid, date=date)
    if part != 1:
        cases = H.generate(drop, outside, n=len(CATEGORIES), seed=5, categories=CATEGORIES,
                           variants={"non_ascii": "file-names"})  # see test_hostile_inputs
        H.write_clinical(drop, [*PATIENTS, *(c.patient_id for c in cases)])
    else:
        H.write_clinical(drop, PATIENTS)


def state(settings) -> dict:
    """What must be equal between runs: BIDS tree, quarantine ids, leftovers."""
    from tasks.ingest.pipeline import staging_root

    bids = Path(settings.bids_dir)
    return {
        "bids": H.tree_hash(bids),
        "sessions": sorted(p.relative_to(bids).as_posix() for p in bids.glob("sub-*/ses-*")),
        "quarantine": sorted(p.name for p in Path(settings.quarantine_dir).glob("q-*")),
        "leftovers": sorted(p.name for p in bids.rglob(".*")
                            if p.name != ".bidsignore")
        + sorted(p.name for p in staging_root(settings).glob("*")),
    }


#: exit codes of an uninterrupted run over this drop: ingest quarantines its hostile cases
OK = {"ingest": 4, "load": 0}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The serial, uninterrupted run."""
    root = tmp_path_factory.mktemp("reference")
    settings = make_settings(root / "home")
    write_drop(settings.drop_dir, root / "outside")
    seconds = {}
    for argv in (("ingest", "--no-prefect"), ("load", "--no-flow")):
        t = time.monotonic()
        proc = run_cli(settings.home, *argv)
        seconds[argv[0]] = time.monotonic() - t
        assert proc.returncode == OK[argv[0]], proc.stdout + proc.stderr
    st = state(settings)
    assert len(st["sessions"]) >= 2 * len(PATIENTS)
    return {"settings": settings, "state": st, "warehouse": warehouse_hash(settings),
            "seconds": seconds}


def _spawn(home: Path, *argv: str) -> subprocess.Popen:
    return subprocess.Popen(cli_command(*argv, "--home", str(home)), cwd=REPO,
                            env=cli_env(home), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
def test_two_ingests_and_an_analyst_end_like_a_serial_run(reference, tmp_path, capsys):
    from calcisvd.cli import main

    settings = make_settings(tmp_path / "home")
    write_drop(settings.drop_dir, tmp_path / "outside", part=1)
    for argv in (("ingest", "--no-prefect"), ("load", "--no-flow")):
        assert run_cli(settings.home, *argv).returncode in (0, OK[argv[0]])
    write_drop(settings.drop_dir, tmp_path / "outside")
    procs = [_spawn(settings.home, "ingest", "--no-prefect"),
             _spawn(settings.home, "ingest", "--no-prefect")]
    queries = ["SELECT count(*) AS n FROM sessions",
               "SELECT * FROM v_session_measures WHERE subject <> $s"]
    answers, errors, loader = 0, [], None
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if loader is None and procs[0].poll() is not None:
            loader = _spawn(settings.home, "load", "--no-flow")  # a load while analysts read
            procs.append(loader)
        rc = main(["sql", "--home", str(settings.home), "--format", "csv",
                   queries[answers % 2], "--param", "s=x'; DROP TABLE sessions; --"])
        err = capsys.readouterr().err
        answers += 1
        if rc != 0 or (err and "answered from the last Parquet snapshot" not in err):
            errors.append((rc, err[-300:]))
        if loader is not None and all(p.poll() is not None for p in procs):
            break
        time.sleep(0.1)  # an eager analyst, not a busy loop that starves the loader
    outs = [p.communicate(timeout=60)[0] for p in procs]
    rcs = [p.returncode for p in procs]  # the ingest that quarantines the cases says partial
    assert sorted(rcs[:2]) in ([0, 4], [4, 4], [0, 0]) and 4 in rcs[:2] and rcs[2] == 0, outs
    assert errors == []
    assert answers >= 3
    assert run_cli(settings.home, "load", "--no-flow").returncode == 0
    assert state(settings) == reference["state"]
    assert warehouse_hash(settings) == reference["warehouse"]


@pytest.mark.slow
def test_sigkill_during_ingest_converges(reference, tmp_path):
    import gzip

    settings = make_settings(tmp_path / "home")
    write_drop(settings.drop_dir, tmp_path / "outside")
    rnd = random.Random(KILL_SEED)
    duration = reference["seconds"]["ingest"]  # of a whole run, interpreter start included
    delays = sorted(rnd.uniform(0.15, 0.6) * duration for _ in range(3))
    killed = 0
    for delay in delays:
        proc = _spawn(settings.home, "ingest", "--no-prefect")
        time.sleep(delay)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            killed += 1
        proc.communicate(timeout=60)
        for nii in Path(settings.bids_dir).rglob("*.nii.gz"):  # no partial image is visible
            assert len(gzip.decompress(nii.read_bytes())) > 348, nii
    assert killed >= 2, f"the runs ended before the kill ({delays})"
    proc = run_cli(settings.home, "ingest", "--no-prefect")
    assert proc.returncode in (0, 4), proc.stdout + proc.stderr
    assert state(settings) == reference["state"]
    shutil.rmtree(tmp_path / "home", ignore_errors=True)
