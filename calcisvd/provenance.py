"""Code version and revision recorded in every output."""

from __future__ import annotations

import hashlib
import subprocess
from functools import lru_cache
from pathlib import Path

from calcisvd import __version__

_REPO = Path(__file__).resolve().parent.parent


@lru_cache(maxsize=1)
def code_revision() -> str:
    """Git commit of the running code (``+dirty`` when modified), or ``unknown``."""
    try:
        sha = subprocess.run(["git", "-C", str(_REPO), "rev-parse", "--short=12", "HEAD"],
                             capture_output=True, text=True, timeout=10, check=True).stdout
        dirty = subprocess.run(["git", "-C", str(_REPO), "status", "--porcelain",
                                "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return sha.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def version_string() -> str:
    """``<version>+<revision>``."""
    return f"{__version__}+{code_revision()}"


#: source files whose content fingerprints the code (:func:`code_fingerprint`)
CODE_SUFFIXES = (".py", ".sql", ".json", ".yaml", ".yml")


@lru_cache(maxsize=8)
def code_fingerprint(folders: tuple[str, ...]) -> str:
    """SHA-256 (16 hex) of the source files under ``folders`` of the repository."""
    h = hashlib.sha256()
    for folder in folders:
        for path in sorted((_REPO / folder).rglob("*")):
            if path.suffix in CODE_SUFFIXES and path.is_file() \
                    and "__pycache__" not in path.parts:
                h.update(path.relative_to(_REPO).as_posix().encode())
                h.update(path.read_bytes())
    return h.hexdigest()[:16]
