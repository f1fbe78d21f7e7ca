"""Issue 23 item 5: disk full, read-only homes and missing permissions end in one sentence.

Disk full is real: the home lives on a 48 MB tmpfs (mounted by the test; root is needed for
``mount``), filled up with a filler file before ``calcisvd ingest``. Then the filler is
removed and the rerun must give the same dataset as a run that never lacked space. The
read-only home drops root's file-mode override (``setpriv``), like an ordinary user.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from bench.support import hostile as H
from bench.support.cli import make_settings, run_cli
from bench.support.dicomgen import Patient, write_study
from tests.robustness.test_isolation import run_unprivileged


def _drop(drop: Path) -> None:
    for k, pid in enumerate(("HOSP0001", "HOSP0002")):
        write_study(drop, Patient(pid), dt.date(2024, 1, 5 + k), visit="v1",
                    kinds=("CT", "FLAIR", "T1w"), localizer=False, dose=False,
                    shape=(32, 32, 12), seed=k)


@pytest.fixture
def tmpfs(tmp_path):
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root: the disk-full case cannot be staged here")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _one_sentence(stderr: str) -> str:
    lines = [ln for ln in stderr.strip().splitlines() if ln.startswith("calcisvd ")]
    assert "Traceback" not in stderr, stderr[-3000:]
    assert len(lines) == 1, stderr[-3000:]
    return lines[0]


def test_disk_full_says_so_and_the_rerun_converges(tmp_path, tmpfs):
    reference = make_settings(tmp_path / "reference")
    _drop(reference.drop_dir)
    assert run_cli(reference.home, "ingest", "--no-prefect").returncode == 0

    settings = make_settings(tmpfs / "home")
    _drop(settings.drop_dir)
    filler = tmpfs / "filler"
    free = shutil.disk_usage(tmpfs).free
    with open(filler, "wb") as fh:  # leave ~300 kB: the key and ledger fit, the images not
        fh.truncate(0)
        chunk = b"\0" * (1 << 20)
        left = free - 300_000
        while left > 0:
            fh.write(chunk[:min(len(chunk), left)])
            left -= len(chunk)
    proc = run_cli(settings.home, "ingest", "--no-prefect")
    assert proc.returncode == 5, proc.stdout[-2000:] + proc.stderr[-2000:]
    sentence = _one_sentence(proc.stderr)
    assert "needs more free disk space" in sentence and str(tmpfs) in sentence, sentence
    filler.unlink()
    proc = run_cli(settings.home, "ingest", "--no-prefect")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    skip = [settings.bids_dir / "derivatives"]
    assert H.tree_hash(settings.bids_dir, skip) == H.tree_hash(reference.bids_dir, skip)
    assert not list(settings.bids_dir.parent.glob(".bids_dataset.staging/*"))


def test_a_read_only_home_says_what_is_needed(tmp_path):
    settings = make_settings(tmp_path / "home")
    _drop(settings.drop_dir)
    for folder in [settings.home, *(p for p in settings.home.rglob("*") if p.is_dir())]:
        os.chmod(folder, 0o555)
    try:
        for argv in (("status", "--no-prefect"), ("ingest", "--no-prefect")):
            proc = run_unprivileged(settings.home, *argv)
            assert proc.returncode == 5, (argv, proc.stdout[-1500:] + proc.stderr[-1500:])
            sentence = _one_sentence(proc.stderr)
            assert "needs read and write permission" in sentence, sentence
            assert str(settings.home) in sentence
    finally:
        for folder in [settings.home, *(p for p in settings.home.rglob("*") if p.is_dir())]:
            os.chmod(folder, 0o755)
