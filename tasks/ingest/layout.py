"""How later stages find images: a cached pybids layout, and a CT-aware session listing."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tasks.ingest.classify import BIDS_NAME

_NAME = re.compile(r"^sub-(?P<sub>[A-Za-z0-9]+)_ses-(?P<ses>[A-Za-z0-9]+)_(?P<rest>.+)\.nii\.gz$")
_REST_TO_KIND = {v: k for k, v in BIDS_NAME.items()}


def preload_pybids() -> None:
    """Import pybids in a background thread (about 0.6 s), e.g. while dcm2niix converts, so
    that the layout refresh at the end of an ingest does not wait for the import."""
    import importlib
    import threading

    threading.Thread(target=importlib.import_module, args=("bids",), daemon=True,
                     name="pybids-import").start()


def get_layout(bids_dir: Path, database_path: Path | None = None, *,
               reset_database: bool = False) -> Any:
    """A ``bids.BIDSLayout`` over ``bids_dir`` backed by the SQLite cache at ``database_path``.

    Pass ``reset_database=True`` after an ingest to re-index. pybids does not know the ``ct``
    suffix; use :func:`list_sessions` for CT.
    """
    from bids import BIDSLayout

    kwargs: dict[str, Any] = {"validate": False}
    if database_path is not None:
        Path(database_path).mkdir(parents=True, exist_ok=True)
        kwargs.update(database_path=str(database_path), reset_database=reset_database)
    return BIDSLayout(str(bids_dir), **kwargs)


def list_sessions(bids_dir: Path) -> list[dict[str, Any]]:
    """Every session with its images: ``[{subject, session, files: {kind: Path}}]``.

    ``kind`` is one of ``T1w``, ``T2w``, ``FLAIR``, ``T2starw``, ``ct``. Sorted by subject, then
    session.
    """
    out = []
    for ses_dir in sorted(Path(bids_dir).glob("sub-*/ses-*")):
        if not ses_dir.is_dir():
            continue
        files: dict[str, Path] = {}
        for nii in sorted((ses_dir / "anat").glob("*.nii.gz")):
            m = _NAME.match(nii.name)
            if m and m.group("rest") in _REST_TO_KIND:
                files[_REST_TO_KIND[m.group("rest")]] = nii
        out.append({"subject": ses_dir.parent.name[4:], "session": ses_dir.name[4:],
                    "files": files})
    return out
