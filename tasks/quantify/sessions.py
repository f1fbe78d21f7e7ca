"""Which sessions need quantification: discovery in the BIDS tree and change detection.

A session is (re)quantified when it has no ``measures.json`` yet, or when the hash of its input
images and of the measuring code differs from the one recorded in its ``measures.json``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

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


def inputs_hash(session: Session) -> str:
    """Hash over the session's input images and the method version."""
    return sha256_files(session.files.values(), extra=method_version())


def measures_path(derivatives_dir: Path, session: Session) -> Path:
    """Where the session's measures JSON lives."""
    return (Path(derivatives_dir) / f"sub-{session.subject}" / f"ses-{session.session}"
            / f"{session.label}_measures.json")


def needs_quantification(derivatives_dir: Path, session: Session) -> tuple[bool, str]:
    """Whether the session must be (re)quantified, and why, as ``(flag, reason)``."""
    path = measures_path(derivatives_dir, session)
    if not path.is_file():
        return True, "no results yet"
    try:
        recorded = json.loads(path.read_text())["pipeline"]["inputs_hash"]
    except (ValueError, KeyError, TypeError):
        return True, "previous results unreadable"
    if recorded != inputs_hash(session):
        return True, "inputs or code changed"
    return False, "up to date"
