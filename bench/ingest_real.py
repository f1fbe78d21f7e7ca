"""Ingest of the real DICOM exports in ``/work/shared/realdata/dicom`` (issue 18).

For every series of the real exports: was it ingested or skipped with the right label, is
the ingested image's world geometry equal to plain dcm2niix's (affine and voxels), and does
``audit-phi`` on the resulting home give 0 findings (a real de-identified set whose
PatientID/PatientName is the common word "dicom"). ``dcm_qa_ts`` (one file per transfer
syntax) is converted when its ``In/`` folder is present; the JSON says when it is absent.

Writes ``bench/results/ingest_real.json``.
Run: ``nice -n 10 .venv/bin/python -m bench.ingest_real [--data DIR]``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = Path("/work/shared/realdata/dicom")
#: expected outcome per export folder: (outcome, kind or reason words), from each dataset's
#: README: dcm_qa_ge is a 3-D T1w MP-RAGE; dcm_qa_agfa a Siemens ep2d_fid EPI time series
#: (Weisskoff stability QC; its ImageType says PERFUSION), exported directly (Siemens/) and
#: through an Agfa PACS (Agfa/): not a contrast calcisvd uses
EXPECTED = {
    "dcm_qa_ge/In/05_3D_Ax_T1_MP_RAGE_R22": ("ingested", "T1w"),
    "dcm_qa_agfa/Siemens": ("skipped", "perfusion"),
    "dcm_qa_agfa/Agfa": ("skipped", "perfusion"),
}


def _series_of(drop: Path) -> dict[str, list[Path]]:
    import pydicom

    out: dict[str, list[Path]] = {}
    for f in sorted(drop.rglob("*")):
        if not f.is_file():
            continue
        try:
            pydicom.dcmread(f, stop_before_pixels=True, specific_tags=["SeriesInstanceUID"])
        except Exception:
            continue
        out.setdefault(f.parent.relative_to(drop).as_posix(), []).append(f)
    return out


def compare_geometry(ours: Path, ref: Path) -> dict:
    """Shape, largest affine difference (mm) and voxel equality of two NIfTI files."""
    import nibabel as nib
    import numpy as np

    a, b = nib.load(str(ours)), nib.load(str(ref))
    same_shape = a.shape == b.shape
    return {"shape": list(a.shape), "same_shape": same_shape,
            "affine_max_abs_diff_mm": float(np.abs(a.affine - b.affine).max()),
            "voxels_equal": bool(same_shape and np.array_equal(np.asanyarray(a.dataobj),
                                                               np.asanyarray(b.dataobj)))}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; prints a summary and writes the JSON."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=DATA)
    args = ap.parse_args(argv)
    from calcisvd.settings import load_settings
    from tasks.ingest.convert import find_dcm2niix
    from tasks.ingest.pipeline import run_ingest

    result: dict = {"data": str(args.data), "series": [], "transfer_syntaxes": {}}
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        drop = home / "drop"
        for name in sorted(p.name for p in args.data.iterdir() if p.is_dir()):
            shutil.copytree(args.data / name, drop / name,
                            ignore=shutil.ignore_patterns("Ref", "*.md", "LICENSE", "*.sh"))
        settings = load_settings(env={}, overrides={"home": home, "n_procs": 1})
        t0 = time.perf_counter()
        summary = run_ingest(settings)
        result["ingest_seconds"] = round(time.perf_counter() - t0, 2)
        result["summary"] = {k: summary[k] for k in ("ingested", "skipped", "quarantined",
                                                     "skipped_series", "quarantine_reasons")}
        exe = find_dcm2niix()
        nifti = sorted(settings.bids_dir.glob("sub-*/ses-*/anat/*.nii.gz"))
        skipped = [s["reason"] for s in summary["skipped_series"]]
        for folder, files in sorted(_series_of(drop).items()):
            want = EXPECTED.get(folder)
            row: dict = {"folder": folder, "files": len(files), "expected": want}
            ref_dir = Path(tmp) / "ref" / folder.replace("/", "_")
            ref_dir.mkdir(parents=True)
            subprocess.run([exe, "-z", "n", "-b", "n", "-f", "%s", "-o", str(ref_dir),
                            str(drop / folder)], capture_output=True, check=False)
            refs = sorted(ref_dir.glob("*.nii"))
            if want and want[0] == "ingested":
                match = [n for n in nifti if n.name.endswith(f"_{want[1]}.nii.gz")]
                row["outcome"] = "ingested" if match else "missing"
                row["label_ok"] = bool(match)
                if match and refs:
                    row["geometry_vs_dcm2niix"] = compare_geometry(match[0], refs[0])
                    g = row["geometry_vs_dcm2niix"]
                    row["geometry_ok"] = g["same_shape"] and g["affine_max_abs_diff_mm"] < 1e-3
                    side = json.loads(match[0].with_name(
                        match[0].name.replace(".nii.gz", ".json")).read_text())
                    row["geometry_check"] = side.get("GeometryCheck")
            elif want:
                row["outcome"] = "skipped" if any(want[1] in r for r in skipped) else "other"
                row["label_ok"] = row["outcome"] == "skipped"
                row["skip_reasons"] = skipped
            result["series"].append(row)
        ts = args.data / "dcm_qa_ts"
        if (ts / "In").is_dir():
            ts_drop = Path(tmp) / "ts"
            for f in sorted((ts / "In").iterdir()):
                one = Path(tmp) / "tshome" / f.stem
                (one / "drop").mkdir(parents=True)
                shutil.copy2(f, one / "drop" / f.name)
                s = run_ingest(load_settings(env={}, overrides={"home": one, "n_procs": 1}))
                result["transfer_syntaxes"][f.name] = {"ingested": s["ingested"],
                                                       "quarantine": s["quarantine_reasons"]}
            del ts_drop
        else:
            result["transfer_syntaxes"] = {
                "status": "absent",
                "message": f"{ts}/In (the DICOM files) is not present in this session: only "
                           f"Ref/*.json ({len(list((ts / 'Ref').glob('*.json')))} sidecars) and "
                           "no Ref NIfTIs; transfer-syntax conversion not measured here"}
        audit = subprocess.run([str(Path(ROOT / ".venv" / "bin" / "calcisvd")), "audit-phi",
                                "--home", str(home)], capture_output=True, text=True)
        result["audit_phi"] = {"exit_code": audit.returncode,
                               "summary": audit.stdout.splitlines()[0] if audit.stdout else ""}
    checked = [r for r in result["series"] if r.get("expected")]
    result["all_labels_ok"] = all(r.get("label_ok") for r in checked)
    result["all_geometry_ok"] = all(r.get("geometry_ok", True) for r in checked)
    out = ROOT / "bench" / "results" / "ingest_real.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    for r in result["series"]:
        print(f"{r['folder']:<24} {r.get('outcome')!s:<9} label_ok={r.get('label_ok')} "
              f"geometry={r.get('geometry_vs_dcm2niix', '-')}")
    print(f"transfer syntaxes: {result['transfer_syntaxes'].get('status', 'measured')}; "
          f"audit-phi: {result['audit_phi']}")
    return 0 if result["all_labels_ok"] and result["all_geometry_ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
