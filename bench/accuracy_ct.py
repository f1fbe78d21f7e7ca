"""ICAC accuracy on simulated CTs: calcium volume ICC, severity kappa, dominant location.

Renders ``--n`` simulated baseline CTs (``simulator.render_session``) with seeds
``--seed0 + i`` (default 5000+; the methods were developed on seeds 101-103 and on
``tasks.icac.phantom``), groups and locations balanced (group = i mod 3, location = (i div 3)
mod 3), at ``--resolution`` mm (default 1, the study's), runs
:func:`tasks.icac.pipeline.quantify_ct` on each and compares with the truth.

Metrics (targets of issue 6):

* per-artery calcium volume, ICC(3,1) (two-way mixed, consistency, single measure; Shrout &
  Fleiss 1979) and ICC(2,1) (two-way random, absolute agreement) over all subject x artery
  pairs, against (a) the truth label map's >= 130 HU volume (the quantity the measures contract
  defines: voxels >= 130 HU x voxel volume) and (b) the analytic deposit volume (reported);
  target ICC >= 0.95;
* severity group: linearly weighted Cohen's kappa (none_mild < moderate < severe), >= 0.85;
* dominant location: accuracy over subjects with calcium, >= 90 %;
* also: circumferential extent error, plaque counts, Agatston ICC.

Issue 17 additions: plaque detection sensitivity for plaques of >= ``MIN_PLAQUE_MM3`` (5 mm^3,
analytic deposit volume), overall and for plaques touching bone reported apart (a plaque is
*detected* when at least half of its rendered >= 130 HU voxels are in the measured calcium; it
*touches bone* when a voxel next to it, outside every plaque, is >= 300 HU); calcium found
outside the rendered deposits, mm^3 per subject, and that volume split by where it lies:
within ``BLOOM_REACH_MM`` of a deposit (blooming: the scanner's PSF lifts the deposit's rim
to >= 130 HU, so the contract's >= 130 HU rule counts it on any real image; the ``paper``
protocol renders no PSF) and away from every deposit (false calcium: noise, bone, streaks;
target <= 5); the QC status of each result (``ok``/``review``); and
``--protocol``: a simulator acquisition protocol (``simulator/protocols.py``: ``paper``,
``ct_2.5mm``, ``ct_5mm``, ``ct_bone``, ``ct_100kvp``, ``ct_140kvp``, ``ct_tilt``,
``ct_clinical``) at ``--resolution`` mm. The CT is measured with a sidecar carrying the
slice thickness, the protocol's kVp and the gantry tilt; a tilted CT is first resampled to an
orthogonal grid as ingest does (:func:`as_ingested`), so the tilted path is measured end to
end.

Rendered sessions are cached (``--cache``, default ``var/bench_cache/ct``) so reruns only
re-measure. Writes ``bench/results/accuracy_ct.json`` and prints a summary.
Run: ``.venv/bin/python -m bench.accuracy_ct [--n 24] [--resolution 1.0]``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from bench.truth_grades import icac_grades

ROOT = Path(__file__).resolve().parent.parent
GROUPS = ("none_mild", "moderate", "severe")
MIN_PLAQUE_MM3 = 5.0
#: how far (mm) beyond a deposit's rendered voxels a scanner's point-spread function still
#: lifts tissue to >= 130 HU (blooming). Measured calcium within this reach of a deposit is
#: reported apart from calcium away from every deposit (false calcium). Source: a soft head
#: kernel's PSF, Gaussian sigma about 0.6 mm (FWHM 1.4 mm; the simulator's ``soft`` kernel,
#: ``simulator/protocols.py`` KERNEL), over a 650-1000 HU deposit on 40 HU blood/brain: the
#: blurred edge stays >= 130 HU for 1.05-1.32 sigma = 0.6-0.8 mm beyond the deposit; rounded up
#: to 1 mm and then to whole voxels (:func:`bloom_voxels`). On the tilted tuning seeds
#: 7100-7108 every one of the 213 mm^3 found outside the rendered deposits lay in their
#: 1-voxel (26-neighbour) shell.
BLOOM_REACH_MM = 1.0
LOCATIONS = ("MCA", "BA", "ICA")


def icc(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """ICC(3,1) consistency and ICC(2,1) absolute agreement of two raters (Shrout-Fleiss)."""
    data = np.stack([np.asarray(x, float), np.asarray(y, float)], 1)
    n, k = data.shape
    grand = data.mean()
    ss_r = k * ((data.mean(1) - grand) ** 2).sum()
    ss_c = n * ((data.mean(0) - grand) ** 2).sum()
    ss_t = ((data - grand) ** 2).sum()
    ss_e = ss_t - ss_r - ss_c
    ms_r, ms_c, ms_e = ss_r / (n - 1), ss_c / (k - 1), ss_e / ((n - 1) * (k - 1))
    icc31 = (ms_r - ms_e) / (ms_r + (k - 1) * ms_e)
    icc21 = (ms_r - ms_e) / (ms_r + (k - 1) * ms_e + k * (ms_c - ms_e) / n)
    return {"icc3_1": float(icc31), "icc2_1": float(icc21)}


def weighted_kappa(a: list[str], b: list[str], cats: tuple[str, ...] = GROUPS) -> float:
    """Cohen's kappa with linear weights over ordered categories."""
    k = len(cats)
    idx = {c: i for i, c in enumerate(cats)}
    obs = np.zeros((k, k))
    for u, v in zip(a, b, strict=True):
        obs[idx[u], idx[v]] += 1
    obs /= obs.sum()
    exp = np.outer(obs.sum(1), obs.sum(0))
    w = np.abs(np.subtract.outer(np.arange(k), np.arange(k))) / (k - 1)
    return float(1 - (w * obs).sum() / (w * exp).sum())


def load_or_render(i: int, seed: int, res: float, cache: Path, protocol: str = "paper") -> dict:
    """Rendered CT (HU, affine), truth labels and truth JSON of subject ``i`` (cached)."""
    tag = "" if protocol == "paper" else f"_{protocol}"
    f = cache / f"sub{i:03d}_seed{seed}_res{res:g}{tag}.npz"
    if f.is_file():
        z = np.load(f, allow_pickle=False)
        return {"hu": z["hu"].astype(np.float32), "affine": z["affine"], "labels": z["labels"],
                "truth": json.loads(str(z["truth"])), "kvp": _kvp(protocol)}
    from simulator import render_session

    group, loc = GROUPS[i % 3], LOCATIONS[(i // 3) % 3]
    s = render_session(seed=seed, group=group, location=loc, resolution_mm=res,
                       protocol=protocol)
    hu, aff = s.images["ct"]
    labels = s.masks["calcium_labels"][0]
    ct_clean, _ = s.meta["ct_clean"]
    sp = tuple(float(v) for v in np.linalg.norm(aff[:3, :3], axis=0))
    sp = (sp[0], sp[1], float(abs(np.linalg.det(aff[:3, :3]))) / (sp[0] * sp[1]))  # tilt
    s.truth["grades"] = icac_grades(s.truth, ct_clean, labels, sp)  # truth side, bench-graded
    cache.mkdir(parents=True, exist_ok=True)
    tmp = f.with_name(f.name + ".part.npz")
    np.savez_compressed(tmp, hu=np.round(hu).astype(np.int16), affine=aff,
                        labels=labels.astype(np.int16), truth=json.dumps(s.truth))
    tmp.replace(f)  # atomic: a concurrent reader never sees a half-written file
    return {"hu": np.round(hu).astype(np.float32), "affine": aff, "labels": labels,
            "truth": s.truth, "kvp": _kvp(protocol)}


def _kvp(protocol: str) -> float:
    """Tube voltage (kV) the simulator's ``protocol`` renders the CT at."""
    from simulator.protocols import get

    return float(get(protocol).kvp)


def plaque_detection(hu: np.ndarray, labels: np.ndarray, found: np.ndarray,
                     plaques: list[dict]) -> list[dict]:
    """Per truth plaque: volume, rendered voxels, fraction found, bone contact (bench rules).

    ``found`` is the measured calcium: a boolean mask, or the label map (1..7 in ARTERIES
    order), in which case each plaque also gets ``found_as``: the (artery, side) most of its
    found voxels were given (``None`` when none was found), so a plaque found under the
    neighbouring artery (ICA terminus / M1, vertebrobasilar junction) shows apart from a
    plaque not found. ``bone_gap_mm`` is the simulator's raw truth (outer deposit surface
    to the bone shell; ``None`` for a plaque not turned towards bone).
    """
    from scipy import ndimage

    from calcisvd.measures import ARTERIES

    lab_map = None if found.dtype == bool else found
    found = found > 0 if lab_map is not None else found

    out = []
    boxes = ndimage.find_objects(labels.astype(np.int32))
    for p in plaques:
        k = int(p["label"])
        box = boxes[k - 1] if k - 1 < len(boxes) else None
        if box is None:
            out.append({"label": k, "artery": p["artery"], "side": p["side"],
                        "volume_mm3": p.get("volume_mm3"), "bone_gap_mm": p.get("bone_gap_mm"),
                        "rendered_voxels": 0, "found_fraction": 0.0, "touches_bone": False,
                        **({"found_as": None} if lab_map is not None else {})})
            continue
        box = tuple(slice(max(0, b.start - 2), b.stop + 2) for b in box)
        m = labels[box] == k
        ring = ndimage.binary_dilation(m, structure=np.ones((3, 3, 3), bool)) & (labels[box] == 0)
        row = {"label": k, "artery": p["artery"], "side": p["side"],
               "volume_mm3": p.get("volume_mm3"), "bone_gap_mm": p.get("bone_gap_mm"),
               "rendered_voxels": int(m.sum()),
               "found_fraction": float((found[box] & m).sum() / max(1, m.sum())),
               "touches_bone": bool((hu[box][ring] >= 300.0).any())}
        if lab_map is not None:
            got = lab_map[box][m & found[box]]
            row["found_as"] = (list(ARTERIES[int(np.bincount(got).argmax()) - 1])
                               if got.size else None)
        out.append(row)
    return out


def bloom_voxels(spacing: tuple[float, ...]) -> int:
    """Dilation steps (26-neighbourhood) that cover :data:`BLOOM_REACH_MM` on a grid of
    ``spacing`` mm: 1 at 1 mm, 2 at 0.5 mm."""
    return max(1, int(np.ceil(BLOOM_REACH_MM / min(spacing) - 1e-9)))


def calcium_off_deposits(found: np.ndarray, labels: np.ndarray,
                         spacing: tuple[float, ...]) -> dict[str, float]:
    """Measured calcium outside every rendered deposit (mm^3), split by where it lies:
    ``beside`` = within the PSF's reach of a deposit (:data:`BLOOM_REACH_MM`, blooming: what
    the >= 130 HU rule gives on any blurred image), ``away`` = farther (false calcium: noise,
    bone, streaks)."""
    from scipy import ndimage

    dep = np.asarray(labels) > 0
    near = ndimage.binary_dilation(dep, np.ones((3, 3, 3), bool),
                                   iterations=bloom_voxels(spacing))
    found = np.asarray(found) > 0
    vox = float(np.prod(spacing))
    return {"beside": float((found & near & ~dep).sum() * vox),
            "away": float((found & ~near).sum() * vox)}


def as_ingested(d: dict) -> dict:
    """A gantry-tilted (sheared) CT as ingest hands it on: resampled to an orthogonal grid
    along the slice normal by :func:`tasks.ingest.geometry.resample_sheared` (through the
    acquired slices, an in-plane spline shift; fill = the image minimum, whole HU kept), the
    truth labels nearest-neighbour onto the same grid; ``tilt`` (degrees) and
    ``geometry_check`` (what ingest writes as ``GeometryCheck`` once it has rebuilt a tilted
    stack from its DICOM slice positions; here the simulator's sheared affine is exact) for
    the sidecar. An untilted CT is returned as it is."""
    from scipy.ndimage import affine_transform

    from tasks.icac.ctqc import tilt_from_affine
    from tasks.ingest.geometry import resample_sheared, sheared_check_note

    aff = np.asarray(d["affine"], float)
    tilt = tilt_from_affine(aff)
    if tilt <= 0.1:
        return {**d, "tilt": tilt}
    hu, target = resample_sheared(d["hu"], aff, float(d["hu"].min()))
    mapping = np.linalg.inv(aff) @ target
    labels = affine_transform(np.asarray(d["labels"]), mapping[:3, :3], offset=mapping[:3, 3],
                              output_shape=hu.shape, order=0, cval=0)
    return {**d, "hu": np.rint(hu).astype(np.float32), "affine": target,
            "labels": labels.astype(np.int16), "tilt": tilt,
            "geometry_check": sheared_check_note(tilt)}


def evaluate(i: int, d: dict, kvp: float = 120.0) -> dict:
    """Run the chain on one subject (a tilted CT resampled as ingest does, its tilt in the
    sidecar) and pair its measures with the truth."""
    from calcisvd.measures import ARTERIES
    from tasks.icac.pipeline import quantify_ct

    d = as_ingested(d)
    aff = np.asarray(d["affine"], float)
    sp = tuple(float(s) for s in np.linalg.norm(aff[:3, :3], axis=0))
    t0 = time.perf_counter()
    side = {"KVP": kvp, "SliceThickness": sp[2], "GantryDetectorTilt": round(d["tilt"], 2)}
    if d.get("geometry_check"):
        side["GeometryCheck"] = d["geometry_check"]
    r = quantify_ct(d["hu"], sp, aff, sidecar=side)
    dt = time.perf_counter() - t0
    truth = d["truth"]
    tr = truth["icac"]
    grades = truth.get("grades") or icac_grades(truth)
    plaques = truth["plaques"]
    vox = float(np.prod(sp))
    rows = []
    for label, ((artery, side), m, t) in enumerate(
            zip(ARTERIES, r.measures["arteries"], tr["arteries"], strict=True), start=1):
        ks = [p["label"] for p in plaques if p["artery"] == artery and p["side"] == side]
        tmask = np.isin(d["labels"], ks) if ks else np.zeros(d["labels"].shape, bool)
        got = r.calcium == label
        rows.append({
            "artery": artery, "side": side,
            "volume": m["calcium_volume_mm3"],
            "truth_rendered_volume": float(tmask.sum() * vox),
            "truth_deposit_volume": t["calcium_volume_mm3"],
            "overlap_volume": float((tmask & got).sum() * vox),
            "agatston": m["agatston"],
            "truth_agatston": grades.get("agatston_by_artery", {}).get(f"{artery}_{side}"),
            "n_plaques": m["n_plaques"], "truth_n_plaques": t["n_plaques"],
            "truth_n_visible": int(len(np.setdiff1d(np.unique(d["labels"][tmask]), [0]))),
            "extent": m["circumferential_extent_deg"],
            "truth_extent": t["circumferential_extent_deg"],
        })
    return {
        "subject": i, "seconds": dt, "arteries": rows,
        "status": r.measures["status"], "reason": r.measures["reason"],
        "qc": {k: v for k, v in r.measures.items() if k.startswith("qc_")},
        "plaques": plaque_detection(d["hu"], np.asarray(d["labels"]), r.calcium, plaques),
        "calcium_off_deposits_mm3": calcium_off_deposits(r.calcium, d["labels"], sp),
        "severity": r.measures["severity_group"], "truth_severity": grades["severity_group"],
        "dominant": r.measures["dominant_location"],
        "truth_dominant": grades["dominant_location"],
        "max_extent": r.measures["max_circumferential_extent_deg"],
        "truth_max_extent": tr["max_circumferential_extent_deg"],
        "total_volume": r.measures["total_calcium_volume_mm3"],
        "truth_total_rendered": tr.get("rendered_calcium_volume_mm3"),
        "truth_total_deposit": tr["total_calcium_volume_mm3"],
    }


def summarise(subjects: list[dict]) -> dict:
    """Aggregate metrics over subjects."""
    rows = [a for s in subjects for a in s["arteries"]]

    def col(name):
        return np.array([a[name] for a in rows], float)

    vol = col("volume")
    out = {
        "n_subjects": len(subjects),
        "volume_vs_rendered": icc(vol, col("truth_rendered_volume")),
        "volume_vs_deposit": icc(vol, col("truth_deposit_volume")),
        "agatston": icc(col("agatston"), col("truth_agatston")),
        "severity_weighted_kappa_linear": weighted_kappa(
            [s["severity"] for s in subjects], [s["truth_severity"] for s in subjects]),
        "severity_accuracy": float(np.mean([s["severity"] == s["truth_severity"]
                                            for s in subjects])),
    }
    with_calc = [s for s in subjects if s["truth_dominant"] is not None]
    out["dominant_location_accuracy"] = float(np.mean(
        [s["dominant"] == s["truth_dominant"] for s in with_calc])) if with_calc else None
    conf = {f"{t}->{m}": 0 for t in GROUPS for m in GROUPS}
    for s in subjects:
        conf[f"{s['truth_severity']}->{s['severity']}"] += 1
    out["severity_confusion"] = conf
    ext = np.array([(s["max_extent"], s["truth_max_extent"]) for s in subjects], float)
    out["max_extent_mae_deg"] = float(np.abs(ext[:, 0] - ext[:, 1]).mean())
    fp = col("volume") - col("overlap_volume")
    out["false_positive_volume_mm3_per_subject"] = float(fp.sum() / len(subjects))
    off = [s.get("calcium_off_deposits_mm3") for s in subjects]
    if all(off):
        # the volume above split: blooming beside the deposits, false calcium away from them
        # (the two need not add up to it: calcium on one artery's deposit named as another's
        # counts above and in neither here)
        out["calcium_beside_deposits_mm3_per_subject"] = float(
            np.mean([o["beside"] for o in off]))
        out["false_calcium_away_from_deposits_mm3_per_subject"] = float(
            np.mean([o["away"] for o in off]))
    tv = col("truth_rendered_volume")
    out["rendered_volume_recall"] = float(col("overlap_volume").sum() / max(tv.sum(), 1e-9))
    out["seconds_per_subject_mean"] = float(np.mean([s["seconds"] for s in subjects]))
    big = [p for s in subjects for p in s.get("plaques", [])
           if (p["volume_mm3"] or 0.0) >= MIN_PLAQUE_MM3]

    def sens(ps: list[dict]) -> dict:
        hit = sum(p["found_fraction"] >= 0.5 for p in ps)
        return {"n": len(ps), "detected": int(hit),
                "sensitivity": float(hit / len(ps)) if ps else None}

    touch = [p for p in big if p["touches_bone"]]
    out["plaque_detection_ge5mm3"] = {
        "all": sens(big), "bone_touching": sens(touch),
        "not_touching_bone": sens([p for p in big if not p["touches_bone"]]),
        # bone-touching plaques by the simulator's raw bone gap (outer surface to the shell)
        "bone_touching_gap_0": sens([p for p in touch if p.get("bone_gap_mm") == 0.0]),
        "bone_touching_gap_gt0": sens([p for p in touch if (p.get("bone_gap_mm") or 0) > 0]),
        "bone_touching_not_turned": sens([p for p in touch if p.get("bone_gap_mm") is None]),
        # detected, but most found voxels given to another artery (location assignment)
        "detected_under_other_artery": int(sum(
            p["found_fraction"] >= 0.5 and p.get("found_as") is not None
            and tuple(p["found_as"]) != (p["artery"], p["side"]) for p in big))}
    out["status_counts"] = {st: sum(s.get("status") == st for s in subjects)
                            for st in ("ok", "review")}
    out["targets"] = {"volume_icc": 0.95, "severity_kappa": 0.85, "dominant_accuracy": 0.90,
                      "plaque_sensitivity": 0.90, "bone_touching_sensitivity": 0.80,
                      "false_positive_mm3_per_subject": 5.0}
    return out


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    from calcisvd.env import apply_offline_env

    apply_offline_env()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=24)
    ap.add_argument("--resolution", type=float, default=1.0, help="voxel size in mm")
    ap.add_argument("--seed0", type=int, default=5000)
    ap.add_argument("--start", type=int, default=0,
                    help="first subject index i (group i mod 3, location (i div 3) mod 3)")
    ap.add_argument("--cache", type=Path, default=ROOT / "var" / "bench_cache" / "ct")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "accuracy_ct.json")
    ap.add_argument("--protocol", default="paper",
                    help="simulator acquisition protocol (simulator/protocols.py)")
    args = ap.parse_args(argv)
    subjects = []
    for i in range(args.start, args.start + args.n):
        d = load_or_render(i, args.seed0 + i, args.resolution, args.cache, args.protocol)
        s = evaluate(i, d, kvp=d["kvp"])
        subjects.append(s)
        print(f"subject {i:3d}: truth {s['truth_severity']:>9s}/{s['truth_dominant']}, "
              f"measured {s['severity']:>9s}/{s['dominant']}, volume {s['total_volume']:.0f} "
              f"(rendered truth {s['truth_total_rendered']}), {s['seconds']:.1f} s", flush=True)
    summary = summarise(subjects)
    result = {"benchmark": "accuracy_ct", "resolution_mm": args.resolution,
              "protocol": args.protocol,
              "seeds": [args.seed0 + args.start, args.seed0 + args.start + args.n - 1],
              "summary": summary,
              "subjects": subjects}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    s = summary
    print(f"\nICAC accuracy, {s['n_subjects']} simulated subjects at {args.resolution:g} mm")
    print(f"  per-artery volume ICC(3,1)/ICC(2,1) vs rendered >=130 HU truth: "
          f"{s['volume_vs_rendered']['icc3_1']:.3f}/{s['volume_vs_rendered']['icc2_1']:.3f}"
          f"  (target >= 0.95)")
    print(f"  per-artery volume ICC(3,1)/ICC(2,1) vs analytic deposit volume: "
          f"{s['volume_vs_deposit']['icc3_1']:.3f}/{s['volume_vs_deposit']['icc2_1']:.3f}")
    print(f"  severity weighted kappa (linear): {s['severity_weighted_kappa_linear']:.3f}"
          f"  (target >= 0.85); accuracy {s['severity_accuracy']:.2f}")
    print(f"  dominant location accuracy: {s['dominant_location_accuracy']:.2f}"
          f"  (target >= 0.90)")
    print(f"  calcium/subject outside the rendered deposits "
          f"{s['false_positive_volume_mm3_per_subject']:.1f} mm^3: within "
          f"{BLOOM_REACH_MM:g} mm of one (blooming) "
          f"{s['calcium_beside_deposits_mm3_per_subject']:.1f}, away from all (false calcium) "
          f"{s['false_calcium_away_from_deposits_mm3_per_subject']:.1f} (target <= 5)")
    print(f"  max extent MAE {s['max_extent_mae_deg']:.1f} deg; recall "
          f"{s['rendered_volume_recall']:.2f}; {s['seconds_per_subject_mean']:.1f} s/subject")
    pd = s["plaque_detection_ge5mm3"]
    print(f"  plaques >= {MIN_PLAQUE_MM3:g} mm^3 detected: {pd['all']['sensitivity']} "
          f"(n {pd['all']['n']}; target >= 0.90); touching bone: "
          f"{pd['bone_touching']['sensitivity']} (n {pd['bone_touching']['n']}; >= 0.80); "
          f"not touching {pd['not_touching_bone']['sensitivity']}; detected under another "
          f"artery {pd['detected_under_other_artery']}")
    print(f"  QC status: {s['status_counts']}")
    print(f"  wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
