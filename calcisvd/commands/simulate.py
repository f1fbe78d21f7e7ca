"""`calcisvd simulate`: write a simulated hospital export (DICOM + clinical CSV) into drop/."""

from __future__ import annotations

import argparse

from calcisvd.settings import Settings

HELP = "write a simulated hospital export (DICOM + clinical CSV) into drop/"
DESCRIPTION = """Write a simulated hospital export (DICOM + clinical CSV) into drop/.

Simulates a cohort like the reference study (../shared/paper): patients in three
intracranial-calcification groups (none/mild, moderate, severe; 60/35/31 scaled to N) with a
dominant location (MCA/BA/ICA), clinical covariates after Table 1 and small-vessel-disease
markers after Tables 2 and 4. Each visit (baseline and, by default, a one-year follow-up) is
a head CT (GE LightSpeed VCT, 120 kVp, 200 mA) and a brain MRI (Siemens Skyra 3T: T1w, T2w,
FLAIR, T2*) rendered from the MNI152 templates with arteries, calcified plaques, white-matter
hyperintensities, microbleeds, lacunes and perivascular spaces.

Writes:
  <drop>/pacs_<date>/DICOM/PA*/ST*/SE*/IM*   DICOM as a PACS export (with scouts, dose reports)
  <drop>/clinical/clinical_<date>.csv        the EHR export, keyed by hospital patient ID
  <truth>/cohort.json, <truth>/<patient>/<visit>/truth.json + masks   ground truth
The pipeline never reads <truth> (default: <home>/simulated_truth). Rerunning with the same
options skips visits already written; an interrupted run can simply be rerun. Other options
on an existing export are refused: add --overwrite to start again.

Examples:
  calcisvd simulate                                  # settings defaults (12 subjects, 2 mm)
  calcisvd simulate --subjects 126 --seed 7          # the paper's cohort size
  calcisvd simulate --subjects 3 --resolution 4 --no-follow-up   # seconds, for a quick look
  calcisvd simulate --messy   # add duplicates, a truncated file, a missing follow-up, ...
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `calcisvd simulate`."""
    parser.add_argument("--subjects", type=int, default=None,
                        help="number of patients (default: settings sim_subjects)")
    parser.add_argument("--seed", type=int, default=None,
                        help="random seed; the same seed gives the same export (default: "
                             "settings sim_seed)")
    parser.add_argument("--resolution", type=float, default=None, metavar="MM",
                        help="voxel size in mm: 1 like the paper, 2 for the demo, 3-4 for tests "
                             "(default: settings sim_resolution_mm)")
    parser.add_argument("--no-follow-up", dest="follow_up", action="store_false", default=None,
                        help="baseline visits only (default: settings sim_follow_up)")
    parser.add_argument("--messy", action="store_true",
                        help="add real-export faults: duplicate series, a missing follow-up, a "
                             "truncated file, a non-image DICOM, non-DICOM files, sagittal and "
                             "oblique series (recorded in <truth>/messy.json)")
    parser.add_argument("--overwrite", action="store_true",
                        help="delete the existing drop/ and truth folders first")
    parser.add_argument("--protocol", default="paper", metavar="NAME",
                        help="acquisition protocol (simulator/protocols.py, docs/simulator.md): "
                             "paper (default, 3-D isotropic), paper_graded, clinical2d, "
                             "clinical2d_flair_stripped, stripped3d, stripped3d_flair, "
                             "ct_2.5mm, ct_5mm, ct_bone, ct_100kvp, ct_140kvp, ct_tilt, "
                             "ct_clinical")
    parser.add_argument("--procs", type=int, default=None,
                        help="worker processes (default: settings n_procs)")


#: a new home is created (as `calcisvd init` does) rather than refused
CREATES_HOME = True


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the command; returns the process exit code."""
    from calcisvd.commands.init import init_home

    init_home(settings)
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from simulator.export import (
        OptionsChanged,
        check_options,
        remove_tree,
        simulate_cohort,
    )

    n = args.subjects if args.subjects is not None else settings.sim_subjects
    seed = args.seed if args.seed is not None else settings.sim_seed
    res = args.resolution if args.resolution is not None else settings.sim_resolution_mm
    follow = args.follow_up if args.follow_up is not None else settings.sim_follow_up
    procs = args.procs or settings.n_procs
    console = Console(stderr=True)
    if n < 1 or res <= 0:
        console.print("calcisvd simulate: --subjects must be >= 1 and --resolution > 0")
        return 2
    assert settings.drop_dir is not None and settings.truth_dir is not None
    if args.overwrite:
        remove_tree(settings.drop_dir)
        remove_tree(settings.truth_dir)
    try:
        from simulator import protocols

        protocols.get(args.protocol)
        check_options(settings.truth_dir, seed=seed, n_subjects=n, resolution_mm=res,
                      follow_up=follow, messy=args.messy,
                      **({} if args.protocol == "paper" else {"protocol": args.protocol}))
    except (OptionsChanged, ValueError) as exc:
        console.print(f"calcisvd simulate: {exc}")
        return 2
    console.print(f"simulating {n} patients (seed {seed}, {res:g} mm, "
                  f"{'with' if follow else 'no'} follow-up{', messy' if args.messy else ''}) "
                  f"into {settings.drop_dir}")
    with Progress(TextColumn("{task.description}"), BarColumn(),
                  TextColumn("{task.completed}/{task.total} patients"), TimeElapsedColumn(),
                  console=console) as bar:
        task = bar.add_task("simulate", total=n)
        summary = simulate_cohort(
            n, seed, res, settings.drop_dir, settings.truth_dir, follow_up=follow,
            messy=args.messy, n_procs=max(1, min(procs, n)), protocol=args.protocol,
            progress=lambda done, total: bar.update(task, completed=done))
    console.print(f"wrote {summary['n_sessions']} visits ({summary['rendered']} rendered now), "
                  f"clinical CSV {summary['clinical_csv']}; truth in {summary['truth_dir']}")
    for f in summary["faults"]:
        console.print(f"  messy: {f['fault']} ({f.get('patient_id', '')})")
    return 0
