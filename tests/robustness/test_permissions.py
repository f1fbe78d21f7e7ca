"""Issue 24 item 9: file modes of a home under umask 000, 022 and 077 (one CLI run each)."""

from __future__ import annotations

import datetime as dt
import os
import stat
import subprocess
from pathlib import Path

import pytest

from bench.support.cli import REPO, cli_command, cli_env
from bench.support.dicomgen import Patient, write_study


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _run(home: Path, umask: int, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(cli_command(*argv, "--home", str(home)), cwd=REPO,
                          env=cli_env(home), capture_output=True, text=True, timeout=600,
                          check=False, preexec_fn=lambda: os.umask(umask))


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077])
def test_modes_whatever_the_umask(tmp_path, umask):
    home = tmp_path / "home"
    drop = home / "drop"
    write_study(drop, Patient("HOSP0001"), dt.date(2024, 1, 5), visit="v1",
                kinds=("CT", "FLAIR"), localizer=False, dose=False, shape=(16, 16, 6))
    (drop / "junk").mkdir()
    (drop / "junk" / "x.dcm").write_bytes(b"not dicom")
    os.chmod(drop / "junk" / "x.dcm", 0o666)
    proc = _run(home, umask, "ingest", "--no-prefect")
    assert proc.returncode == 4, proc.stderr[-2000:]
    proc = _run(home, umask, "load", "--no-flow")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    secrets = home / "secrets"
    assert _mode(secrets) == 0o700
    files = [p for p in secrets.iterdir() if p.is_file()]
    assert {"pseudonym.key", "reid_map.tsv"} <= {p.name for p in files}
    assert all(_mode(p) == 0o600 for p in files), {p.name: oct(_mode(p)) for p in files}
    bids = home / "bids_dataset"
    for p in [bids, *bids.rglob("*")]:
        if p.name.startswith("."):
            continue
        want = 0o755 if p.is_dir() else 0o644
        assert _mode(p) == want, (p.relative_to(home), oct(_mode(p)))
    quarantine = home / "quarantine"
    assert _mode(quarantine) & 0o007 == 0
    copies = [p for p in quarantine.rglob("*") if p.is_file() and p.name != "reason.json"]
    assert copies  # the junk file, whose drop mode is 0666
    assert all(_mode(p) & 0o007 == 0 for p in copies), {p.name: oct(_mode(p)) for p in copies}
    warehouse = home / "var" / "calcisvd.duckdb"
    assert _mode(warehouse) & 0o007 == 0
    assert _mode(home / "var" / "parquet") & 0o007 == 0
