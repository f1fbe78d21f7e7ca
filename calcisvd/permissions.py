"""File modes of a calcisvd home, whatever the user's umask.

* ``secrets/`` is 0700 and every file in it 0600 (the pseudonym key, the re-identification
  map and baseline dates identify patients);
* the BIDS dataset and its derivatives are 0644 files in 0755 folders: :func:`apply_umask`
  sets the process umask to 022 at the start of every command (children such as dcm2niix and
  Nipype workers inherit it), so a umask of 000 cannot make them world-writable and a umask
  of 077 cannot hide them from the group's analysts;
* ``quarantine/`` (copies of raw DICOM, identifiers included) and the warehouse (the DuckDB
  file and ``var/parquet``) are not world-readable: folders 0750, the DuckDB file 0640.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import Final

UMASK: Final[int] = 0o022
SECRETS_DIR_MODE: Final[int] = 0o700
SECRET_FILE_MODE: Final[int] = 0o600
PRIVATE_DIR_MODE: Final[int] = 0o750
PRIVATE_FILE_MODE: Final[int] = 0o640


def apply_umask() -> int:
    """Set the process umask to :data:`UMASK`; returns the previous one."""
    return os.umask(UMASK)


def _chmod(path: Path, mode: int) -> None:
    with contextlib.suppress(FileNotFoundError, PermissionError):
        if stat.S_IMODE(os.lstat(path).st_mode) != mode and not path.is_symlink():
            os.chmod(path, mode)


def secure_secrets(secrets_dir: Path) -> None:
    """``secrets/`` 0700 (created if missing) and each file in it 0600."""
    secrets_dir = Path(secrets_dir)
    secrets_dir.mkdir(parents=True, exist_ok=True, mode=SECRETS_DIR_MODE)
    _chmod(secrets_dir, SECRETS_DIR_MODE)
    for entry in secrets_dir.iterdir():
        if entry.is_file() and not entry.is_symlink():
            _chmod(entry, SECRET_FILE_MODE)


def secure_private(folder: Path) -> None:
    """An existing folder holding identifiable or curated data: 0750 (not world-readable)."""
    if Path(folder).is_dir():
        _chmod(Path(folder), PRIVATE_DIR_MODE)


def secure_home(settings) -> None:
    """Apply the modes above to the existing folders of ``settings``' home (changes nothing
    else; folders that do not exist yet are created with these modes when first written)."""
    if settings.secrets_dir and Path(settings.secrets_dir).exists():
        secure_secrets(settings.secrets_dir)
    for folder in (settings.quarantine_dir, settings.parquet_dir):
        if folder:
            secure_private(folder)
    if settings.warehouse_path:
        for path in (Path(settings.warehouse_path), Path(f"{settings.warehouse_path}.wal")):
            if path.is_file():
                _chmod(path, PRIVATE_FILE_MODE)
