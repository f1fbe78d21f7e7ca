"""Series that arrive over time: quiet period, partly written files, held-back halves.

Real files from the simulator (`calcisvd simulate`, 1 patient at 4 mm), real dcm2niix.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nibabel as nib
import pydicom
import pytest

from calcisvd.status import format_status, waiting_status
from tasks.ingest.layout import list_sessions
from tasks.ingest.pipeline import run_ingest
from tests.tasks.ingest.ingest_fixtures import make_settings

BIN = Path(sys.executable).parent
#: quiet period of the slow-copy test: longer than a copy plus one ingest run on a busy machine
QUIET_S = 8.0


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> dict[str, list[Path]]:
    """The simulator's drop folder: {"root": [drop], "<description>": [files sorted]}."""
    home = tmp_path_factory.mktemp("sim") / "home"
    env = {**os.environ, "CALCISVD_HOME": str(home), "CALCISVD_SIM_FOLLOW_UP": "no"}
    proc = subprocess.run([str(BIN / "calcisvd"), "simulate", "--subjects", "1",
                           "--resolution", "4"], env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    if proc.returncode != 0:
        pytest.fail(f"calcisvd simulate failed: {proc.stderr[-300:]}")
    drop = home / "drop"
    series: dict[str, list[Path]] = {"root": [drop]}
    for f in sorted(p for p in drop.rglob("*") if p.is_file() and "clinical" not in p.parts):
        ds = pydicom.dcmread(f, stop_before_pixels=True)
        series.setdefault(str(ds.SeriesDescription), []).append(f)
    return series


def _ct(export) -> list[Path]:
    return next(v for k, v in export.items() if k.startswith("HEAD ROUTINE"))


def _by_position(files: list[Path]) -> list[Path]:
    return sorted(files, key=lambda f: float(pydicom.dcmread(
        f, stop_before_pixels=True).ImagePositionPatient[2]))


def _copy(export, files, drop: Path, *, edit=None) -> None:
    root = export["root"][0]
    for f in files:
        out = drop / f.relative_to(root)
        out.parent.mkdir(parents=True, exist_ok=True)
        if edit is None:
            shutil.copyfile(f, out)
        else:
            ds = pydicom.dcmread(f)
            edit(ds)
            ds.save_as(out)


def _everything_but(export, held: list[Path]) -> list[Path]:
    keep = set(map(str, held))
    return [f for k, v in export.items() if k != "root" for f in v if str(f) not in keep]


def _kinds(settings) -> dict[str, Path]:
    sessions = list_sessions(settings.bids_dir)
    return sessions[0]["files"] if sessions else {}


def test_slow_copy_waits_for_the_quiet_period(export, tmp_path):
    """A CT copied in two parts, one file half written: nothing of it is ingested or
    quarantined until no file changed for ``ingest_quiet_s``; then the whole series is."""
    settings = make_settings(tmp_path / "home").replace(ingest_quiet_s=QUIET_S)
    drop = settings.drop_dir
    ct = _by_position(_ct(export))
    others = _everything_but(export, ct)
    _copy(export, others, drop)
    for f in others:  # the rest of the export arrived long ago
        os.utime(drop / f.relative_to(export["root"][0]), ns=(1, 1))
    # the ctime of those files is recent too: wait for it to age before the CT arrives
    time.sleep(QUIET_S + 0.2)
    _copy(export, ct[:10], drop)
    part = drop / ct[10].relative_to(export["root"][0])
    part.write_bytes(ct[10].read_bytes()[:1500])  # a file half written
    s1 = run_ingest(settings)
    assert s1["quarantined"] == 0, s1["quarantine_reasons"]
    assert s1["waiting"] >= 1
    assert "ct" not in _kinds(settings) and "T1w" in _kinds(settings)
    assert any("still" in w["reason"] for w in s1["waiting_series"])
    assert waiting_status(settings) and "waiting for the next ingest" in format_status(
        {"home": "h", "backlog": {"to_quantify": [], "to_load": [], "failed_measurements": [],
                                  "warehouse_readable": False},
         "warehouse": None, "quarantine": [], "skipped_series": {},
         "waiting": waiting_status(settings)})
    _copy(export, ct[10:], drop)  # the copy goes on (the half-written file is completed)
    s2 = run_ingest(settings)
    assert (s2["ingested"], s2["quarantined"], s2["waiting"]) == (0, 0, 1)
    time.sleep(QUIET_S + 0.2)
    s3 = run_ingest(settings)
    assert (s3["ingested"], s3["quarantined"], s3["waiting"]) == (1, 0, 0)
    img = nib.load(_kinds(settings)["ct"])
    assert img.shape[2] == len(ct)  # every slice, not the first third
    assert waiting_status(settings) == []


def test_held_back_half_with_images_in_acquisition_waits(export, tmp_path):
    """A CT whose header announces its image count (ImagesInAcquisition, as GE writes it)
    and of which only the lower half arrived waits, and is ingested whole later."""
    settings = make_settings(tmp_path / "home")  # no quiet period: the header decides
    drop = settings.drop_dir
    ct = _by_position(_ct(export))

    def announce(ds):
        ds.ImagesInAcquisition = len(ct)

    _copy(export, _everything_but(export, ct), drop)
    _copy(export, ct[: len(ct) // 2], drop, edit=announce)
    s1 = run_ingest(settings)
    assert s1["quarantined"] == 0 and s1["waiting"] == 1
    assert "ImagesInAcquisition" in s1["waiting_series"][0]["reason"]
    assert "ct" not in _kinds(settings)
    _copy(export, ct[len(ct) // 2:], drop, edit=announce)
    s2 = run_ingest(settings)
    assert (s2["ingested"], s2["quarantined"], s2["waiting"]) == (1, 0, 0)
    assert nib.load(_kinds(settings)["ct"]).shape[2] == len(ct)


def test_every_other_slice_waits_for_the_rest(export, tmp_path):
    """Every other T1w slice (positions evenly spaced at twice SpacingBetweenSlices): the
    series is incomplete, waits, and is ingested with every slice when the rest arrives."""
    settings = make_settings(tmp_path / "home")
    drop = settings.drop_dir
    t1 = _by_position(export["t1_se_tra"])
    _copy(export, _everything_but(export, t1), drop)
    _copy(export, t1[::2], drop)
    s1 = run_ingest(settings)
    assert s1["quarantined"] == 0 and s1["waiting"] == 1, s1
    assert "SpacingBetweenSlices" in s1["waiting_series"][0]["reason"]
    assert "T1w" not in _kinds(settings) and "ct" in _kinds(settings)
    _copy(export, t1[1::2], drop)
    s2 = run_ingest(settings)
    assert (s2["ingested"], s2["quarantined"], s2["waiting"]) == (1, 0, 0)
    assert nib.load(_kinds(settings)["T1w"]).shape[2] == len(t1)


def test_series_grown_after_ingestion_is_reconverted_whole(export, tmp_path):
    """Images of an ingested series that arrive after it was ingested (past any quiet period):
    the series is converted again, whole, and replaces the image (whose hash changes, so
    quantify redoes the session); the rest of the session is untouched."""
    from tasks.quantify.sessions import discover_sessions as q_sessions
    from tasks.quantify.sessions import inputs_hash

    settings = make_settings(tmp_path / "home")
    drop = settings.drop_dir
    ct = _by_position(_ct(export))
    _copy(export, _everything_but(export, ct), drop)
    _copy(export, ct[:-3], drop)  # no header count here: the short CT looks whole
    assert run_ingest(settings)["ingested"] == 5
    assert nib.load(_kinds(settings)["ct"]).shape[2] == len(ct) - 3
    t1_before = _kinds(settings)["T1w"].stat()
    hash_before = inputs_hash(q_sessions(settings.bids_dir)[0])
    _copy(export, ct[-3:], drop)
    s2 = run_ingest(settings)
    assert (s2["ingested"], s2["reconverted"], s2["quarantined"]) == (1, 1, 0), s2
    assert nib.load(_kinds(settings)["ct"]).shape[2] == len(ct)
    assert _kinds(settings)["T1w"].stat().st_ino == t1_before.st_ino
    assert inputs_hash(q_sessions(settings.bids_dir)[0]) != hash_before
    s3 = run_ingest(settings)
    assert (s3["ingested"], s3["quarantined"], s3["dataset_changed"]) == (0, 0, False)


def test_grown_series_without_its_earlier_images_is_flagged(export, tmp_path):
    """New images of an ingested series whose earlier images left the drop folder cannot be
    converted whole: they are flagged (quarantine category ``grown``), never merged."""
    settings = make_settings(tmp_path / "home")
    drop = settings.drop_dir
    ct = _by_position(_ct(export))
    _copy(export, _everything_but(export, ct), drop)
    _copy(export, ct[:-3], drop)
    assert run_ingest(settings)["ingested"] == 5
    for f in ct[:-3]:
        (drop / f.relative_to(export["root"][0])).unlink()
    _copy(export, ct[-3:], drop)
    s2 = run_ingest(settings)
    assert s2["quarantine_reasons"] == {"grown": 1}
    assert nib.load(_kinds(settings)["ct"]).shape[2] == len(ct) - 3
