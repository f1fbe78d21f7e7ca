"""The locations and worker count the warehouse steps use, as plain values.

Built at the edge (CLI command or flow entry) by :meth:`calcisvd.settings.Settings.warehouse_paths`
and passed down; nothing under ``warehouse/`` reads :mod:`calcisvd.settings`. This module imports
nothing of the project.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class WarehousePaths:
    """Where the warehouse reads from and writes to (paths as the settings resolved them)."""

    home: Path
    bids_dir: Path | None = None
    derivatives_dir: Path | None = None
    quarantine_dir: Path | None = None
    warehouse_path: Path | None = None
    parquet_dir: Path | None = None
    gx_dir: Path | None = None
    n_procs: int = 1
    # folders that ``calcisvd sql --output`` must never write into (warehouse/query.py)
    secrets_dir: Path | None = None
    drop_dir: Path | None = None
    var_dir: Path | None = None
    prefect_home: Path | None = None
    logs_dir: Path | None = None
    truth_dir: Path | None = None

    def replace(self, **changes: Any) -> WarehousePaths:
        """A copy with ``changes`` applied (the object itself is frozen)."""
        return dataclasses.replace(self, **changes)
