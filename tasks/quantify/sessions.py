"""Which sessions need quantification: discovery in the BIDS tree and change detection.

A session is (re)quantified when it has no ``measures.json`` yet, or when the hash of its input
images and of the measuring code differs from the one recorded in its ``measures.json``, or
when a modality failed for a transient reason (``failure: transient``: the machine, not the
data: out of memory, a killed worker, a full disk...). A modality that failed on its data
(``failure: data``) stays failed, with its reason, until the images or the code change, or
the caller asks to retry failed sessions (``retry_failed``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from calcisvd.io import sha256_files
from calcisvd.measures import BIDS_SUFFIXES

#: source folders whose code decides the numbers; a change there re-quantifies sessions
METHOD_PACKAGES = ("tasks/icac", "tasks/svd", "tasks/interfaces", "tasks/workflows",
                   "tasks/quantify")
_REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Session:
    """One BIDS session and its anatomical images by modality key (``calcisvd.measures``)."""

    subject: str
    session: str
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """``sub-X_ses-Y``."""
        return f"sub-{self.subject}_ses-{self.session}"


def discover_sessions(bids_dir: Path) -> list[Session]:
    """All ``sub-*/ses-*`` sessions with at least one known anatomical image, sorted."""
    out: list[Session] = []
    for ses_dir in sorted(Path(bids_dir).glob("sub-*/ses-*")):
        if not ses_dir.is_dir():
            continue
        sub = ses_dir.parent.name[4:]
        ses = ses_dir.name[4:]
        files: dict[str, Path] = {}
        for key, tail in BIDS_SUFFIXES.items():
            hit = ses_dir / "anat" / f"sub-{sub}_ses-{ses}_{tail}.nii.gz"
            if hit.is_file():
                files[key] = hit
        if files:
            out.append(Session(sub, ses, files))
    return out


@lru_cache(maxsize=1)
def method_version() -> str:
    """Short hash of the measuring code (``METHOD_PACKAGES``) and the package version."""
    from calcisvd import __version__

    h = hashlib.sha256(__version__.encode())
    for pkg in METHOD_PACKAGES:
        for src in sorted((_REPO / pkg).rglob("*.py")):
            h.update(str(src.relative_to(_REPO)).encode())
            h.update(src.read_bytes())
    return h.hexdigest()[:16]


def inputs_hash(session: Session, hash_file: Any = None) -> str:
    """Hash over the session's input images and the method version (``hash_file``: path ->
    SHA-256 of its content, default: read the file)."""
    return sha256_files(session.files.values(), extra=method_version(), hash_file=hash_file)


def measures_path(derivatives_dir: Path, session: Session) -> Path:
    """Where the session's measures JSON lives."""
    return (Path(derivatives_dir) / f"sub-{session.subject}" / f"ses-{session.session}"
            / f"{session.label}_measures.json")


#: exception names of failures caused by the machine rather than the data (retried next run);
#: Nipype re-raises a node's error as text, so names are matched in the message too
TRANSIENT_ERROR_NAMES: frozenset[str] = frozenset({
    "OSError", "IOError", "BlockingIOError", "ChildProcessError", "ConnectionError",
    "BrokenPipeError", "ConnectionAbortedError", "ConnectionRefusedError",
    "ConnectionResetError", "InterruptedError", "PermissionError", "ProcessLookupError",
    "TimeoutError", "MemoryError", "BrokenProcessPool", "KeyboardInterrupt", "SystemExit",
})


def failure_kind(exc: BaseException) -> str:
    """``transient`` for machine trouble (the exception or the error Nipype re-raised as
    text is one of ``TRANSIENT_ERROR_NAMES``), ``data`` for anything else."""
    for cls in type(exc).__mro__:
        if cls.__name__ in TRANSIENT_ERROR_NAMES:
            return "transient"
    lines = [t.strip() for t in str(exc).splitlines() if t.strip()]
    for line in reversed(lines[-5:]):
        name = line.split(":", 1)[0].rsplit(".", 1)[-1]
        if name in TRANSIENT_ERROR_NAMES:
            return "transient"
    return "data"


def failed_parts(doc: dict) -> dict[str, dict]:
    """The ``icac``/``svd`` blocks of a measures document whose status is ``failed``."""
    return {part: doc[part] for part in ("icac", "svd")
            if isinstance(doc.get(part), dict) and doc[part].get("status") == "failed"}


def needs_quantification(derivatives_dir: Path, session: Session,
                         retry_failed: bool = False, hash_file: Any = None) -> tuple[bool, str]:
    """Whether the session must be (re)quantified, and why, as ``(flag, reason)``
    (``hash_file``: as in :func:`inputs_hash`).

    A failed modality is retried when its failure was transient, or with ``retry_failed``;
    a data failure otherwise stays, with the reason ``failed: ...``.
    """
    path = measures_path(derivatives_dir, session)
    if not path.is_file():
        return True, "no results yet"
    try:
        doc = json.loads(path.read_text())
        recorded = doc["pipeline"]["inputs_hash"]
    except (ValueError, KeyError, TypeError):
        return True, "previous results unreadable"
    if recorded != inputs_hash(session, hash_file):
        return True, "inputs or code changed"
    failed = failed_parts(doc)
    if not failed:
        return False, "up to date"
    reasons = "; ".join(f"{part} {block.get('failure', 'data')} failure: {block.get('reason')}"
                        for part, block in failed.items())
    if any(block.get("failure") == "transient" for block in failed.values()):
        return True, f"retry after {reasons}"
    if retry_failed:
        return True, f"retry requested after {reasons}"
    return False, f"failed ({reasons}); retried when its images or the code change, or with " \
                  "--retry-failed"
