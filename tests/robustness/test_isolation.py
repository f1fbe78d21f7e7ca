"""Issue 23 item 1: one bad input is quarantined with its reason, every other one proceeds.

Each case of the issue's "Why" sits in one drop folder beside good inputs (two BIDS subjects
and one DICOM CT + T1w study): a session label ``ses-M99999999999``, a ``days_since_baseline``
of ``inf``, one far out of range and one negative, a file path as long as the file system
allows (whose quarantine copy would be longer), and files nobody may read (permission denied;
as root the test drops the capabilities that bypass file modes, with ``setpriv``). One
``calcisvd ingest`` subprocess: exit code 4 (partial), the good sessions are in the dataset,
each bad input is in quarantine with a reason, no traceback.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from bench.support.cli import REPO, cli_command, cli_env, make_settings
from bench.support.isolation_drop import write_drop
from tasks.ingest.quarantine import path_sha256


def run_unprivileged(home: Path, *argv: str) -> subprocess.CompletedProcess:
    """``calcisvd <argv>`` where file modes apply (root loses CAP_DAC_OVERRIDE via setpriv)."""
    cmd = cli_command(*argv, "--home", str(home))
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.fail("setpriv (util-linux) is needed to test permissions as root")
        cmd = [setpriv, "--bounding-set=-dac_override,-dac_read_search", *cmd]
    return subprocess.run(cmd, cwd=REPO, env=cli_env(home), capture_output=True, text=True,
                          timeout=600, check=False)


def _reasons(quarantine_dir: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(quarantine_dir.glob("*/reason.json"))]


def test_each_bad_input_is_quarantined_and_the_good_sessions_are_ingested(tmp_path):
    home = tmp_path / "home"
    settings = make_settings(home)
    bad = write_drop(settings.drop_dir)
    proc = run_unprivileged(home, "ingest", "--no-prefect", "--json")
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert proc.returncode == 4, proc.stdout[-2000:] + proc.stderr[-2000:]
    summary = json.loads(proc.stdout)
    assert summary["status"] == "partial" and summary["failed_sessions"] == 0
    bids = settings.bids_dir
    subjects = sorted(p.name for p in bids.glob("sub-*"))
    assert len(subjects) == 3  # good1, good2 and the DICOM patient
    assert len(list(bids.glob("sub-*/ses-M00/anat/*_FLAIR.nii.gz"))) == 2
    assert len(list(bids.glob("sub-*/ses-M00/anat/*_ct.nii.gz"))) == 1
    assert len(list(bids.glob("sub-*/ses-M00/anat/*_T1w.nii.gz"))) == 1
    assert not list(bids.glob("sub-*/ses-M9*"))
    reasons = _reasons(settings.quarantine_dir)
    by_sha = {h: r for r in reasons for h in r["files_sha256"]}  # records keep no path
    by_file = {f: by_sha[path_sha256(f)] for f in (
        p.relative_to(settings.drop_dir).as_posix() for p in bad.values())
        if path_sha256(f) in by_sha}
    for case, path in bad.items():
        rel = path.relative_to(settings.drop_dir).as_posix()
        assert rel in by_file, f"{case} not quarantined"
        assert by_file[rel]["reason"], case
    for case in ("denied_dicom", "denied_nifti"):
        rel = bad[case].relative_to(settings.drop_dir).as_posix()
        assert "Permission denied" in by_file[rel]["reason"], by_file[rel]
    long_rel = bad["long_name"].relative_to(settings.drop_dir).as_posix()
    folder = next(p.parent for p in settings.quarantine_dir.glob("*/reason.json")
                  if path_sha256(long_rel) in json.loads(p.read_text())["files_sha256"])
    assert (folder / "files" / path_sha256(long_rel)).is_file()  # copied under its hash
    for case in ("overflow_label", "days_inf", "days_99999999999", "days_-40"):
        rel = bad[case].relative_to(settings.drop_dir).as_posix()
        assert "cannot be placed in time" in by_file[rel]["reason"], by_file[rel]
    again = run_unprivileged(home, "ingest", "--no-prefect", "--json")
    assert again.returncode in (0, 4), again.stderr[-2000:]
    assert json.loads(again.stdout)["ingested"] == 0


class _Fragile:
    """A source whose discovery raises whenever its files include one under ``b/bad/``."""

    kind = "test"

    def __init__(self, files):
        self.files = files

    def discover(self, ctx):
        from tasks.ingest.sources.base import Discovery

        if any(f.startswith("b/bad/") for f in self.files):
            raise OverflowError("Python int too large to convert to C int")
        disc = Discovery()
        disc.unchanged = len(self.files)
        return disc


def test_a_source_that_raises_is_narrowed_to_the_failing_folder(tmp_path):
    from tasks.ingest.isolation import discover_isolated
    from tasks.ingest.sources.base import Context

    files = ["a/1.dcm", "a/2.dcm", "b/ok/1.dcm", "b/bad/1.dcm", "b/bad/2.dcm", "c/x/y/1.dcm"]
    for rel in files:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(rel.encode())
    ctx = Context(drop_dir=tmp_path, key=bytes(32), file_cache={}, instances={}, series={})
    disc = discover_isolated(_Fragile(files), ctx)
    assert disc.unchanged == 4  # every other folder was discovered
    [item] = disc.quarantine
    assert item.files == ["b/bad/1.dcm", "b/bad/2.dcm"] and len(item.hashes) == 2
    assert "OverflowError" in item.reason and len(disc.quarantine_rows) == 2
