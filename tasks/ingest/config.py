"""What ingest reads and writes, as plain values.

Built at the edge (CLI command or flow entry) by :meth:`calcisvd.settings.Settings.ingest_config`
and passed down; nothing under ``tasks/`` reads :mod:`calcisvd.settings`. The values and their
defaults are the settings' (``calcisvd/settings.py``): there are no defaults here. This module
imports nothing of the project.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class IngestConfig:
    """Folders, files and options of one ingest (paths as the settings resolved them)."""

    home: Path
    drop_dir: Path | None
    bids_dir: Path | None
    derivatives_dir: Path | None
    quarantine_dir: Path | None
    var_dir: Path | None
    secrets_dir: Path | None
    pseudonym_key_path: Path
    reid_map_path: Path
    # made private with the home (calcisvd.permissions.secure_home)
    parquet_dir: Path | None
    warehouse_path: Path | None
    n_procs: int
    ingest_heuristics: Path | None
    ingest_undated: str
    ingest_placeholder_ids: str
    ingest_ct_max_thickness_mm: float
    ingest_quiet_s: float
    ingest_max_file_mib: int
