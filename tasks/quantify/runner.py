"""Quantify one session: run the CT and MRI Nipype workflows, write derivatives.

No Prefect here: ``flows/quantify.py`` calls :func:`quantify_session` once per session. A
failure of one modality is recorded (``status: failed`` with the reason) and the other modality
is still measured; a missing modality gives ``status: missing``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from calcisvd.measures import ICAC_SESSION_MEASURES, MR_CONTRASTS, SVD_MEASURES
from calcisvd.provenance import code_revision, version_string
from tasks.quantify.derivatives import ensure_dataset_description, write_session_derivatives
from tasks.quantify.sessions import Session, failure_kind, inputs_hash, method_version

log = logging.getLogger("calcisvd.quantify")


def _collect_outputs(**fields):
    """The values that reached a workflow's ``outputnode`` (undefined ones left out)."""
    return fields


#: name of the node :func:`run_workflow` adds to collect the outputnode's values
COLLECT_NODE = "collect_outputs"


def run_workflow(wf: Any, plugin: str, plugin_args: dict[str, Any] | None) -> dict[str, Any]:
    """Run a Nipype workflow and return the defined values connected to its ``outputnode``.

    Nipype drops identity nodes from the execution graph, so a ``Function`` node that takes
    every outputnode field is added behind it (public API: ``connect``, ``Node.result``);
    a field whose source did not produce it (a missing contrast, a mask not measurable on
    the session's slices) is left out.
    """
    from nipype.interfaces.utility import Function
    from nipype.pipeline import engine as pe

    outputnode = wf.get_node("outputnode")
    if outputnode is None:
        raise RuntimeError(f"workflow {wf.name} has no outputnode")
    fields = list(outputnode.outputs.copyable_trait_names())
    collect = wf.get_node(COLLECT_NODE)
    if collect is None:
        collect = pe.Node(Function(input_names=fields, output_names=["out"],
                                   function=_collect_outputs), name=COLLECT_NODE)
        wf.connect([(outputnode, collect, [(f, f) for f in fields])])
    graph = wf.run(plugin=plugin, plugin_args=plugin_args or {})
    ran = [n for n in graph.nodes() if n.name == COLLECT_NODE]
    if not ran:
        raise RuntimeError(f"{wf.name}: the outputs were not collected")
    return dict(ran[0].result.outputs.out)


def configure_nipype(work_dir: Path, verbose: bool = False) -> None:
    """Quiet, fast Nipype: WARNING-level workflow logs (INFO when verbose), short polling,
    crash files as text under ``<work_dir>/crash``."""
    from nipype import config
    from nipype import logging as nlogging

    level = "INFO" if verbose else "WARNING"
    config.set("logging", "workflow_level", level)
    config.set("logging", "interface_level", level)
    config.set("execution", "poll_sleep_duration", "0.1")
    config.set("execution", "crashfile_format", "txt")
    config.set("execution", "crashdump_dir", str(Path(work_dir) / "crash"))
    config.set("monitoring", "enabled", "false")
    nlogging.update_logging(config)


def redact_crash_reports(work_dir: Path, base: Path) -> int:
    """Nipype's crash reports under ``<work_dir>/crash`` (text: :func:`configure_nipype`)
    hold the exception and the failing node's inputs, and its node reports under the
    session's folder ``base`` (``_report/report.rst``) the inputs and errors: each is
    rewritten through the one redaction step (calcisvd/redact.py) as soon as the workflow
    has failed, so a value registered at ingest never stays in the work folder. The node
    pickles there (``result_*.pklz`` holds the traceback) cannot be rewritten: those holding
    such a value are removed (Nipype re-runs the node). Returns how many files changed."""
    from calcisvd.redact import redact_files, remove_identifying_pickles

    return (redact_files([*sorted((Path(work_dir) / "crash").glob("crash-*.txt")),
                          *sorted(Path(base).rglob("_report/report.rst"))])
            + remove_identifying_pickles(sorted(Path(base).rglob("*.pklz"))))


def session_work_dir(work_dir: Path, session: Session) -> Path:
    """``<work_dir>/<session>/<method version>``: Nipype reuses a node's cached result when
    its inputs are unchanged, whatever the code, so the folder is keyed on the measuring
    code too; folders of other versions of the session are removed."""
    import shutil

    root = Path(work_dir) / session.label
    version = method_version()
    if root.is_dir():
        for old in root.iterdir():
            if old.name != version and old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
            elif old.name != version:
                old.unlink(missing_ok=True)
    return root / version


def _empty(names: dict[str, str], status: str, reason: str,
           exc: BaseException | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"status": status, "reason": reason}
    if exc is not None:  # transient (machine: retried next run) or data (stays failed)
        out["failure"] = failure_kind(exc)
    out.update({k: None for k in names})
    return out


def _failure_reason(exc: BaseException) -> str:
    """A one-line reason from a Nipype crash (its message ends with the original error),
    through the one redaction step (calcisvd/redact.py): it is stored in measures JSON and
    the warehouse."""
    from calcisvd.redact import redact

    text = str(exc).strip().splitlines()
    last = [t for t in text if t.strip()]
    return redact(last[-1] if last else type(exc).__name__)[:500]


def quantify_session(
    session: Session,
    *,
    derivatives_dir: Path,
    work_dir: Path,
    plugin: str = "Linear",
    plugin_args: dict[str, Any] | None = None,
    run_all: Callable[[list[tuple]], list[Any]] | None = None,
    omp_nthreads: int = 1,
) -> dict[str, Any]:
    """Measure ICAC (CT) and SVD (MRI) for one session and write its derivatives.

    ``run_all([(fn, args), ...])`` (e.g. :func:`tasks.quantify.pool.run_all_in_workers`)
    runs the CT and the MRI workflow at the same time, each in its own process (the
    pipeline does so when fewer sessions than cores are waiting); without it they run one
    after the other here. The measures are the same either way.

    ``omp_nthreads`` is the threads of one node (the workflows' ``omp_nthreads``; MultiProc
    reserves that many of its ``plugin_args["n_procs"]`` per node).

    Returns a summary: subject, session, statuses, seconds and the measures path. The
    session's work folder is held by this run alone (:mod:`tasks.quantify.worklock`); a
    session held by another live run raises :class:`~tasks.quantify.worklock.SessionBusy`
    (transient: nothing is written, the session is redone by the next run).
    """
    import shutil
    from contextlib import ExitStack

    from tasks.quantify.worklock import SessionBusy, session_lock

    with ExitStack() as stack:
        try:
            stale = stack.enter_context(session_lock(Path(work_dir), session.label))
        except SessionBusy:
            raise
        except OSError:  # an unusable work folder: the workflows record a transient failure
            stale = False
        base = session_work_dir(Path(work_dir), session)
        if stale:  # a node killed halfway may have left partial outputs
            shutil.rmtree(base, ignore_errors=True)
            log.warning("%s: work folder left by an interrupted run; measured afresh",
                        session.label)
        return _quantify_session(session, derivatives_dir=derivatives_dir, work_dir=work_dir,
                                 base=base, plugin=plugin, plugin_args=plugin_args,
                                 run_all=run_all, omp_nthreads=omp_nthreads)


def svg_names(files: list[str] | None) -> dict[str, str]:
    """SVG reportlets keyed by their name (``desc-<name>_reportlet.svg`` -> ``<name>``)."""
    out = {}
    for f in files or []:
        stem = Path(f).name.removesuffix("_reportlet.svg")
        out[stem.removeprefix("desc-")] = f
    return out


#: (measures, images, reportlets) of one modality
Measured = tuple[dict[str, Any], dict[str, Any], dict[str, Any]]


def measure_ct(session: Session, base: Path, plugin: str, plugin_args: dict[str, Any] | None,
               work_dir: Path, omp_nthreads: int = 1) -> Measured:
    """The CT workflow of a session: (ICAC measures, images, reportlets); a failure is
    recorded in the measures (``status: failed``), not raised."""
    from tasks.workflows.ct import init_ct_icac_wf

    configure_nipype(work_dir, verbose=log.isEnabledFor(logging.DEBUG))
    images: dict[str, Any] = {}
    reportlets: dict[str, Any] = {}
    if "ct" in session.files:
        try:
            wf = init_ct_icac_wf(name="ct_icac_wf", omp_nthreads=omp_nthreads)
            wf.base_dir = str(base)
            wf.inputs.inputnode.ct_file = str(session.files["ct"])
            out = run_workflow(wf, plugin, plugin_args)
            icac = dict(out["measures"])
            images.update({k: out.get(k) for k in ("calcium_dseg", "artery_regions",
                                                   "intracranial_mask")})
            if out.get("reportlet"):
                reportlets["icac"] = out["reportlet"]
            reportlets.update(svg_names(out.get("svg_reportlets")))
        except Exception as exc:  # recorded, not raised: the MRI is still measured
            redact_crash_reports(work_dir, base)
            log.warning("%s: CT quantification failed: %s", session.label, _failure_reason(exc))
            icac = _empty(ICAC_SESSION_MEASURES, "failed", _failure_reason(exc), exc)
            icac["arteries"] = []
    else:
        icac = _empty(ICAC_SESSION_MEASURES, "missing", "no CT in this session")
        icac["arteries"] = []
    return icac, images, reportlets


def measure_mri(session: Session, base: Path, plugin: str, plugin_args: dict[str, Any] | None,
                work_dir: Path, omp_nthreads: int = 1) -> Measured:
    """The MRI workflow of a session: (SVD measures, images, reportlets); a failure is
    recorded in the measures (``status: failed``), not raised."""
    from tasks.workflows.mri import init_mri_svd_wf

    configure_nipype(work_dir, verbose=log.isEnabledFor(logging.DEBUG))
    images: dict[str, Any] = {}
    reportlets: dict[str, Any] = {}
    if any(k in session.files for k in MR_CONTRASTS):
        try:
            wf = init_mri_svd_wf(has_t1w="T1w" in session.files, has_t2w="T2w" in session.files,
                                 has_flair="FLAIR" in session.files,
                                 has_t2starw="T2starw" in session.files, name="mri_svd_wf",
                                 omp_nthreads=omp_nthreads)
            wf.base_dir = str(base)
            for key in MR_CONTRASTS:
                if key in session.files:
                    setattr(wf.inputs.inputnode, key.lower(), str(session.files[key]))
            out = run_workflow(wf, plugin, plugin_args)
            svd = dict(out["measures"])
            images.update({k: out.get(k) for k in ("wmh_mask", "microbleed_mask", "lacune_mask",
                                                   "pvs_mask", "ventricle_mask", "brain_mask")})
            for i, png in enumerate(out.get("reportlets") or []):
                reportlets[f"svd{i + 1}" if i else "svd"] = png
            reportlets.update(svg_names(out.get("svg_reportlets")))
        except Exception as exc:
            redact_crash_reports(work_dir, base)
            log.warning("%s: MRI quantification failed: %s", session.label,
                        _failure_reason(exc))
            svd = _empty(SVD_MEASURES, "failed", _failure_reason(exc), exc)
    else:
        svd = _empty(SVD_MEASURES, "missing", "no MRI in this session")
    return svd, images, reportlets


def _quantify_session(session: Session, *, derivatives_dir: Path, work_dir: Path, base: Path,
                      plugin: str, plugin_args: dict[str, Any] | None,
                      run_all: Callable[[list[tuple]], list[Any]] | None = None,
                      omp_nthreads: int = 1) -> dict[str, Any]:
    t0 = time.perf_counter()
    started = datetime.now(UTC).isoformat(timespec="seconds")
    args = (session, base, plugin, plugin_args, work_dir, omp_nthreads)
    if run_all is not None and "ct" in session.files \
            and any(k in session.files for k in MR_CONTRASTS):
        # the two workflows share nothing but the session's folder: one process each
        (icac, ct_images, ct_reportlets), (svd, mr_images, mr_reportlets) = run_all(
            [(measure_ct, args), (measure_mri, args)])
    else:
        icac, ct_images, ct_reportlets = measure_ct(*args)
        svd, mr_images, mr_reportlets = measure_mri(*args)
    from calcisvd.redact import redact

    for doc in (icac, svd):  # reasons from worker processes: redacted here, where they are kept
        if isinstance(doc.get("reason"), str):
            doc["reason"] = redact(doc["reason"])
    images = {**ct_images, **mr_images}
    reportlets = {**ct_reportlets, **mr_reportlets}

    pipeline = {
        "name": "calcisvd", "version": version_string(), "code_revision": code_revision(),
        "method_version": method_version(), "inputs_hash": inputs_hash(session),
        "inputs": {k: str(Path(v).name) for k, v in sorted(session.files.items())},
        "created": started, "seconds": None,
    }
    ensure_dataset_description(derivatives_dir, version_string())
    pipeline["seconds"] = round(time.perf_counter() - t0, 2)
    path = write_session_derivatives(derivatives_dir, session, icac=icac, svd=svd,
                                     pipeline=pipeline, images=images, reportlets=reportlets)
    return {"subject": session.subject, "session": session.session,
            "icac_status": icac["status"], "svd_status": svd["status"],
            "icac_reason": icac.get("reason"), "svd_reason": svd.get("reason"),
            "icac_failure": icac.get("failure"), "svd_failure": svd.get("failure"),
            "seconds": pipeline["seconds"], "measures": str(path)}
