"""A drop folder with good inputs and one of each isolation case of issue 23 item 1 (a session
label that overflows, impossible ``days_since_baseline``, a path at PATH_MAX, files nobody may
read), used by ``tests/robustness/test_isolation.py`` and ``bench/robustness.py``."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from bench.support.hostile_series import GOOD_PATIENT, write_good_session, write_nifti

BAD_DAYS = {"bad2": "inf", "bad3": "99999999999", "bad4": "-40"}


def _bids_image(ds: Path, sub: str, ses: str, rng) -> Path:
    path = ds / f"sub-{sub}" / f"ses-{ses}" / "anat" / f"sub-{sub}_ses-{ses}_FLAIR.nii.gz"
    return write_nifti(path, rng.random((16, 16, 16)) * 100)


def _long_path_file(drop: Path) -> Path:
    """A file whose path is just inside PATH_MAX (4096) in the drop folder."""
    folder = drop / "deep"
    while 4090 - len(os.fsencode(folder)) - 1 > 250 + 251:  # room after the separator
        folder = folder / ("d" * 250)
    room = 4090 - len(os.fsencode(folder)) - 1
    if room > 250:
        folder = folder / ("e" * (room - 251))
    folder.mkdir(parents=True)
    path = folder / ("f" * 250)
    assert len(os.fsencode(path)) == 4090
    path.write_bytes(b"not a dicom file" * 4)
    return path


def write_drop(drop: Path) -> dict[str, Path]:
    """Good and bad inputs; returns the bad ones by case name."""
    rng = np.random.default_rng(0)
    ds = drop / "bidsin"
    ds.mkdir(parents=True)
    (ds / "dataset_description.json").write_text(json.dumps({"Name": "x",
                                                             "BIDSVersion": "1.10.0"}))
    _bids_image(ds, "good1", "M00", rng)
    _bids_image(ds, "good2", "M00", rng)
    write_good_session(drop)
    bad = {"overflow_label": _bids_image(ds, "bad1", "M99999999999", rng)}
    for sub, days in BAD_DAYS.items():
        bad[f"days_{days}"] = _bids_image(ds, sub, "X", rng)
        (ds / f"sub-{sub}" / f"sub-{sub}_sessions.tsv").write_text(
            f"session_id\tdays_since_baseline\nses-X\t{days}\n")
    bad["long_name"] = _long_path_file(drop)
    denied_dicom = drop / "denied" / "a" / "img.dcm"
    shutil.copytree(drop / "good" / GOOD_PATIENT, drop / "denied" / "a" / "study")
    denied_dicom.write_bytes(b"\0" * 128 + b"DICM" + b"\0" * 64)
    denied_nifti = drop / "nifti" / "P9" / "20210101" / "flair.nii.gz"
    write_nifti(denied_nifti, rng.random((16, 16, 16)) * 100)
    for p in (denied_dicom, denied_nifti):
        p.chmod(0)
    bad["denied_dicom"] = denied_dicom
    bad["denied_nifti"] = denied_nifti
    return bad
