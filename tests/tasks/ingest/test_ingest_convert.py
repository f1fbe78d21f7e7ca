"""dcm2niix output selection and deterministic, scrubbed NIfTI output."""

from __future__ import annotations

import gzip
import json

import nibabel as nib
import numpy as np
import pydicom

from tasks.ingest.convert import collect_outputs, finalize_nifti, split_inputs


def test_collect_outputs_prefers_corrected_and_magnitude(tmp_path):
    for name in ("1.2.3.nii", "1.2.3_ph.nii", "4.5.nii", "4.5_Tilt_1.nii", "6.7_e1.nii",
                 "6.7_e2.nii", "1.2.34.nii"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "1.2.3.json").write_text(json.dumps({"Modality": "MR"}))
    out = collect_outputs(tmp_path, ["1.2.3", "4.5", "6.7", "8.9"])
    assert out["1.2.3"].nifti.name == "1.2.3.nii"
    assert out["1.2.3"].sidecar == {"Modality": "MR"}
    assert out["4.5"].nifti.name == "4.5_Tilt_1.nii"  # gantry-tilt corrected copy
    assert "2 volumes" in out["6.7"]
    assert "could not convert" in out["8.9"]


def test_finalize_is_deterministic_and_scrubbed(tmp_path):
    img = nib.Nifti1Image(np.arange(24, dtype=np.int16).reshape(2, 3, 4), np.eye(4))
    img.header["descrip"] = b"TE=25;Time=102001.000"
    img.header["aux_file"] = b"Zyxwvu"
    src = tmp_path / "a.nii"
    nib.save(img, src)
    finalize_nifti(src, tmp_path / "x.nii.gz")
    finalize_nifti(src, tmp_path / "y.nii.gz")
    a, b = (tmp_path / "x.nii.gz").read_bytes(), (tmp_path / "y.nii.gz").read_bytes()
    assert a == b
    raw = gzip.decompress(a)
    assert b"Time=" not in raw and b"Zyxwvu" not in raw
    back = nib.load(tmp_path / "x.nii.gz")
    assert np.array_equal(np.asarray(back.dataobj), np.arange(24).reshape(2, 3, 4))


def test_split_inputs_uses_pure_series_folders(tmp_path):
    pure, mixed = tmp_path / "S1", tmp_path / "S2"
    pure.mkdir()
    mixed.mkdir()
    a = [pure / "1", pure / "2"]
    b = [mixed / "1"]
    for f in [*a, *b, mixed / "localizer"]:
        f.write_bytes(b"")
    direct, linked = split_inputs({"uid-a": a, "uid-b": b})
    assert direct == [pure]
    assert list(linked) == ["uid-b"]


def test_one_call_per_session_and_a_missed_series_is_tried_alone(tmp_path):
    """The series of a session go through one dcm2niix call; a series that call does not
    convert (here a dose report, which dcm2niix ignores) is retried alone and gets a reason,
    while the good series of the session are converted."""
    import datetime as dt

    from bench.support import dicomgen
    from tasks.ingest.plan import SessionPlan
    from tasks.ingest.session import _convert
    from tasks.ingest.sources.base import SeriesInput

    drop = tmp_path / "drop"
    p = dicomgen.Patient("P-ONE")
    day = dt.date(2024, 1, 2)
    t1 = dicomgen.write_series(drop / "st" / "t1", p, "1.2.3", day, "T1w", 1)
    flair = dicomgen.write_series(drop / "st" / "flair", p, "1.2.3", day, "FLAIR", 2)
    mixed = drop / "st" / "mixed"  # a folder shared with a dose report: files linked one by one
    swi = dicomgen.write_series(mixed, p, "1.2.3", day, "SWI", 3)
    dose = dicomgen.write_dose_report(mixed, p, "1.2.3", day)

    def series(name, files):
        uid = str(pydicom.dcmread(files[0], stop_before_pixels=True).SeriesInstanceUID)
        return SeriesInput(key=name, kind=name, reason="", series_uid=uid,
                           files=[str(f.relative_to(drop)) for f in files])

    sp = SessionPlan("s", "M00", 0, "2024-01-02",
                     [series("T1w", t1), series("FLAIR", flair), series("T2starw", swi),
                      series("dose", [dose])])
    work = tmp_path / "work"
    out = _convert(sp, drop, work)
    assert {k for k, v in out.items() if not isinstance(v, str)} == {"T1w", "FLAIR", "T2starw"}
    assert "could not convert" in out["dose"]
    # one staging folder: the two pure series folders linked whole, the mixed one per file
    assert sorted(p.name for p in (work / "in").iterdir()) == ["000", "001", "d000", "d001"]
    assert (work / "in" / "d000").is_symlink()
    assert (work / "alone0" / "in").is_dir()  # the retry ran for the dose report only
    assert not (work / "alone1").exists()
